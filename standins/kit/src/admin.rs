//! The stand-ins' own endpoints under `/_standin/`, over a [`Handle`]'s
//! fault rules and request log (not part of any upstream API, never
//! faulted, never logged, no credential needed):
//!
//! | request | effect |
//! |---|---|
//! | `GET /_standin/faults` | installed rules with their hit counts: `[{"id":1,"method":"POST","pathContains":"/tenants","times":1,"kind":"status","status":503,"hits":0}]` |
//! | `POST /_standin/faults` | install a [`Fault`] (JSON body); 201 with the rule |
//! | `DELETE /_standin/faults` | remove every rule; 204 |
//! | `DELETE /_standin/faults/{id}` | remove one rule; 204, or 404 |
//! | `GET /_standin/requests` | the request log: `[{"method":"POST","path":"/apis/...","status":201}]` |
//! | `DELETE /_standin/requests` | clear the request log; 204 |
//!
//! One copy keeps the endpoints the same for every stand-in; each words
//! the answers in its own reply type ([`AdminReply`]), its errors in a
//! shape that cannot be mistaken for an API answer.

use hyper::{Method, StatusCode};
use serde::Serialize;

use crate::faults::{Fault, FaultRule};
use crate::server::{Handle, ADMIN_PREFIX};

/// How a stand-in words the answers of its `/_standin/` endpoints.
pub trait AdminReply {
    /// A JSON answer (200 with a list, 201 with an installed rule).
    fn json<T: Serialize>(status: StatusCode, value: &T) -> Self;
    /// `204 No Content`, after a removal.
    fn no_content() -> Self;
    /// A refused request (400, 404), in the stand-in's admin error shape.
    fn error(status: StatusCode, message: String) -> Self;
}

impl Handle {
    /// Answers one request under [`ADMIN_PREFIX`] (see the table above).
    pub fn admin<R: AdminReply>(&self, method: &Method, path: &str, body: &[u8]) -> R {
        let rest = path.strip_prefix(ADMIN_PREFIX).unwrap_or_default();
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match (method, segments.as_slice()) {
            (&Method::GET, ["faults"]) => R::json(StatusCode::OK, &self.faults()),
            (&Method::POST, ["faults"]) => {
                let fault: Fault = match serde_json::from_slice(body) {
                    Ok(f) => f,
                    Err(e) => {
                        return R::error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}"))
                    }
                };
                if let Err(e) = fault.validate() {
                    return R::error(StatusCode::BAD_REQUEST, format!("invalid fault: {e}"));
                }
                // The rule as installed: nothing has matched it yet.
                let id = self.inject(fault.clone());
                R::json(StatusCode::CREATED, &FaultRule { id, fault, hits: 0 })
            }
            (&Method::DELETE, ["faults"]) => {
                self.clear_faults();
                R::no_content()
            }
            (&Method::DELETE, ["faults", id]) => match id.parse::<u64>() {
                Ok(id) if self.remove_fault(id) => R::no_content(),
                Ok(id) => R::error(StatusCode::NOT_FOUND, format!("no fault rule {id}")),
                Err(_) => R::error(StatusCode::BAD_REQUEST, format!("invalid fault id {id:?}")),
            },
            (&Method::GET, ["requests"]) => R::json(StatusCode::OK, &self.requests()),
            (&Method::DELETE, ["requests"]) => {
                self.clear_requests();
                R::no_content()
            }
            _ => R::error(
                StatusCode::NOT_FOUND,
                format!("unknown stand-in admin endpoint {method} {path}"),
            ),
        }
    }
}
