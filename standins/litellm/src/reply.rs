//! Answers, and the error bodies LiteLLM's proxy (a FastAPI application)
//! sends:
//!
//! - a `ProxyException`: `{"error": {"message", "type", "param", "code"}}`
//!   where `code` is the HTTP status as a string (LiteLLM stringifies it so
//!   OpenAI clients parse it) and `param` the offending parameter, the
//!   string `"None"` when the exception came from a plain `HTTPException`;
//! - FastAPI's request validation error (422):
//!   `{"detail": [{"type", "loc", "msg", "input"}]}`;
//! - FastAPI's routing errors: `{"detail": "Not Found"}` (404),
//!   `{"detail": "Method Not Allowed"}` (405).

use bytes::Bytes;
use hyper::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

/// One answer, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        // Serialising plain data (maps, strings, numbers) cannot fail.
        let body = serde_json::to_vec(value).unwrap_or_default();
        Self {
            status,
            body: Bytes::from(body),
        }
    }

    /// `204`-style empty answer (the admin endpoints use it).
    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: Bytes::new(),
        }
    }
}

/// The `type` of a `ProxyException` (LiteLLM's `ProxyErrorTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType {
    /// `auth_error`
    Auth,
    /// `bad_request_error`
    BadRequest,
    /// `not_found_error`
    NotFound,
    /// `internal_server_error` (also what LiteLLM labels a converted
    /// `HTTPException` with, whatever its status)
    Internal,
}

impl ErrorType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth_error",
            Self::BadRequest => "bad_request_error",
            Self::NotFound => "not_found_error",
            Self::Internal => "internal_server_error",
        }
    }
}

/// A `ProxyException` answer.
pub(crate) fn proxy_error(
    status: StatusCode,
    message: &str,
    kind: ErrorType,
    param: Option<&str>,
) -> Reply {
    Reply::json(
        status,
        &json!({"error": {
            "message": message,
            "type": kind.as_str(),
            "param": param,
            "code": status.as_u16().to_string(),
        }}),
    )
}

/// An `HTTPException(status, detail={"error": message})` as LiteLLM's
/// `handle_exception_on_proxy` converts it: the message is Python's `str()`
/// of the detail dict, the type `internal_server_error`, the param `"None"`.
pub(crate) fn http_exception(status: StatusCode, message: &str) -> Reply {
    let detail = format!("{{'error': {}}}", py_repr(message));
    proxy_error(status, &detail, ErrorType::Internal, Some("None"))
}

/// An authentication failure (`user_api_key_auth`): 401 `auth_error`.
pub(crate) fn auth_error(message: &str) -> Reply {
    proxy_error(
        StatusCode::UNAUTHORIZED,
        &format!("Authentication Error, {message}"),
        ErrorType::Auth,
        Some("None"),
    )
}

/// A FastAPI request validation error for one field.
pub(crate) fn validation_error(loc: &[&str], kind: &str, msg: &str, input: Value) -> Reply {
    Reply::json(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({"detail": [{"type": kind, "loc": loc, "msg": msg, "input": input}]}),
    )
}

/// FastAPI's answer for a path no route matches.
pub(crate) fn not_found() -> Reply {
    Reply::json(StatusCode::NOT_FOUND, &json!({"detail": "Not Found"}))
}

/// FastAPI's answer for a known path with another method.
pub(crate) fn method_not_allowed() -> Reply {
    Reply::json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"detail": "Method Not Allowed"}),
    )
}

/// Python's `repr()` of a string: single quotes unless the text holds a
/// single quote and no double quote.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn proxy_errors_carry_the_status_as_a_string_code() {
        let r = proxy_error(
            StatusCode::NOT_FOUND,
            "Key not found in database",
            ErrorType::NotFound,
            Some("key"),
        );
        assert_eq!(r.status, 404);
        assert_eq!(
            body(&r),
            json!({"error": {"message": "Key not found in database", "type": "not_found_error",
                             "param": "key", "code": "404"}})
        );
    }

    #[test]
    fn converted_http_exceptions_show_the_python_dict() {
        let r = http_exception(StatusCode::NOT_FOUND, "No keys found");
        assert_eq!(
            body(&r)["error"],
            json!({"message": "{'error': 'No keys found'}", "type": "internal_server_error",
                   "param": "None", "code": "404"})
        );
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("say \"x\" it's"), "'say \"x\" it\\'s'");
    }

    #[test]
    fn validation_errors_are_fastapi_shaped() {
        let r = validation_error(
            &["query", "page"],
            "greater_than_equal",
            "Input should be greater than or equal to 1",
            json!("0"),
        );
        assert_eq!(r.status, 422);
        assert_eq!(body(&r)["detail"][0]["loc"], json!(["query", "page"]));
    }
}
