//! The stand-in's own HTTP endpoints under `/_standin/` (not part of the
//! Kubernetes API, never faulted, never logged, no bearer token needed):
//!
//! | request | effect |
//! |---|---|
//! | `GET /_standin/faults` | installed rules: `[{"id":1,"method":"POST","pathContains":"/tenants","times":1,"kind":"status","status":503,"hits":0}]` |
//! | `POST /_standin/faults` | install a [`Fault`] (JSON body); 201 with the rule |
//! | `DELETE /_standin/faults` | remove every rule; 204 |
//! | `DELETE /_standin/faults/{id}` | remove one rule; 204, or 404 |
//! | `GET /_standin/requests` | the request log: `[{"method":"POST","path":"/apis/...","status":201}]` |
//! | `DELETE /_standin/requests` | clear the request log; 204 |
//!
//! Errors here are `{"error": "..."}`, not Kubernetes `Status` objects, so
//! they cannot be mistaken for API answers.

use cp_standin_kit::{Fault, FaultRule, Handle, ADMIN_PREFIX};
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::handlers::{ApiRequest, Reply};

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    Reply::json(status, &json!({"error": message.into()}))
}

fn no_content() -> Reply {
    let mut reply = Reply::text(StatusCode::NO_CONTENT, "");
    reply.content_type = "application/json";
    reply
}

/// Answers one admin request.
pub(crate) fn handle(standin: &Handle, req: &ApiRequest) -> Reply {
    let rest = req.path.strip_prefix(ADMIN_PREFIX).unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (&req.method, segments.as_slice()) {
        (&Method::GET, ["faults"]) => Reply::json(StatusCode::OK, &standin.faults()),
        (&Method::POST, ["faults"]) => {
            let fault: Fault = match serde_json::from_slice(&req.body) {
                Ok(f) => f,
                Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}")),
            };
            if let Err(e) = fault.validate() {
                return error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}"));
            }
            // The rule as installed: nothing has matched it yet.
            let id = standin.inject(fault.clone());
            Reply::json(StatusCode::CREATED, &FaultRule { id, fault, hits: 0 })
        }
        (&Method::DELETE, ["faults"]) => {
            standin.clear_faults();
            no_content()
        }
        (&Method::DELETE, ["faults", id]) => match id.parse::<u64>() {
            Ok(id) if standin.remove_fault(id) => no_content(),
            Ok(id) => error(StatusCode::NOT_FOUND, format!("no fault rule {id}")),
            Err(_) => error(StatusCode::BAD_REQUEST, format!("invalid fault id {id:?}")),
        },
        (&Method::GET, ["requests"]) => Reply::json(StatusCode::OK, &standin.requests()),
        (&Method::DELETE, ["requests"]) => {
            standin.clear_requests();
            no_content()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!(
                "unknown stand-in admin endpoint {} {}",
                req.method, req.path
            ),
        ),
    }
}
