//! How the stand-in words the answers of its own endpoints under
//! `/_standin/` (`cp_standin_kit::Handle::admin` serves them; not part of
//! the Kubernetes API, never faulted, never logged, no bearer token
//! needed).
//!
//! Errors here are `{"error": "..."}`, not Kubernetes `Status` objects, so
//! they cannot be mistaken for API answers.

use cp_standin_kit::AdminReply;
use hyper::StatusCode;
use serde::Serialize;
use serde_json::json;

use crate::handlers::Reply;

impl AdminReply for Reply {
    fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        Reply::json(status, value)
    }

    fn no_content() -> Self {
        let mut reply = Reply::text(StatusCode::NO_CONTENT, "");
        reply.content_type = "application/json";
        reply
    }

    fn error(status: StatusCode, message: String) -> Self {
        Reply::json(status, &json!({"error": message}))
    }
}
