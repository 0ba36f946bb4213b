//! How the stand-in words the answers of its own endpoints under
//! `/_standin/` (`cp_standin_kit::Handle::admin` serves them; not part of
//! LiteLLM's API, never faulted, never logged, no key needed).
//!
//! Errors here are `{"detail": "..."}` without LiteLLM's `error` object,
//! so they cannot be mistaken for API answers.

use cp_standin_kit::AdminReply;
use hyper::StatusCode;
use serde::Serialize;
use serde_json::json;

use crate::reply::Reply;

impl AdminReply for Reply {
    fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        Reply::json(status, value)
    }

    fn no_content() -> Self {
        Reply::empty(StatusCode::NO_CONTENT)
    }

    fn error(status: StatusCode, message: String) -> Self {
        Reply::json(status, &json!({"detail": message}))
    }
}
