//! What can go wrong talking to the API server, and how an error response
//! maps onto it.

use cp_http::outbound::{OutboundResponse, TransportError};

use crate::status::Status;

/// A failed Kubernetes API call.
///
/// The variants follow what a caller does next: `NotFound`/`AlreadyExists`/
/// `Conflict`/`Invalid` are answers about the object (the API maps them to
/// 404/409/409/422 for its own clients); `Rejected` is the API server
/// refusing *us* (e.g. 403: the control plane's service account lacks a
/// permission — a deployment problem, not the client's fault);
/// `ServerError`, `Transport` and `Decode` mean the upstream failed.
///
/// No message contains a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// 404: the object (or its kind, when the CRD is not installed) does not
    /// exist.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// Kind we asked for, e.g. `Tenant`.
        kind: &'static str,
        /// Name we asked for (empty for a list).
        name: String,
    },
    /// 409 with reason `AlreadyExists`: a create hit an existing name.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// Kind we tried to create.
        kind: &'static str,
        /// Name we tried to create.
        name: String,
    },
    /// Any other 409 (reason `Conflict`): the `resourceVersion` we sent is
    /// stale, or a delete precondition (UID) did not hold. Re-read and retry
    /// the whole read-modify-write, not just the request.
    #[error("{kind} {name:?} conflict: {message}")]
    Conflict {
        /// Kind we wrote.
        kind: &'static str,
        /// Name we wrote.
        name: String,
        /// The server's explanation.
        message: String,
    },
    /// 422: the object failed validation (CRD schema, immutable field, …).
    #[error("invalid object: {message}")]
    Invalid {
        /// The server's explanation, naming the fields.
        message: String,
    },
    /// Any other non-success answer, mostly 4xx: 400, 401, 403, 405, 410
    /// (expired `continue` token), 415, 429, …
    #[error("Kubernetes API rejected the request: {code} {reason}: {message}")]
    Rejected {
        /// HTTP status code.
        code: u16,
        /// The Status reason (`Forbidden`, `Unauthorized`, …) or, without a
        /// Status body, the HTTP reason phrase.
        reason: String,
        /// The server's explanation.
        message: String,
    },
    /// 5xx.
    #[error("Kubernetes API server error {code}: {message}")]
    ServerError {
        /// HTTP status code.
        code: u16,
        /// The server's (or proxy's) explanation.
        message: String,
    },
    /// No answer: timeout, connection failure, destination not allowed.
    #[error("Kubernetes API unreachable: {0}")]
    Transport(#[from] TransportError),
    /// A success answer whose body is not what the API promises.
    #[error("unexpected Kubernetes API response: {0}")]
    Decode(String),
    /// Refused before sending: the arguments cannot make a valid request
    /// (empty name, object without `metadata.resourceVersion` for a
    /// replace, …). A bug in the caller, never retryable.
    #[error("invalid Kubernetes request: {0}")]
    InvalidRequest(String),
}

impl KubeError {
    /// Whether repeating the same request later may succeed: 5xx, 429, a
    /// timeout or a connection failure. A destination denied by the host's
    /// `allowed_outbound_hosts` is configuration and stays denied; a
    /// `Conflict` needs a fresh read, not a blind retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::ServerError { .. } | Self::Rejected { code: 429, .. } => true,
            Self::Transport(error) => !matches!(error, TransportError::Denied(_)),
            _ => false,
        }
    }

    /// The HTTP status of the upstream answer, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::NotFound { .. } => Some(404),
            Self::AlreadyExists { .. } | Self::Conflict { .. } => Some(409),
            Self::Invalid { .. } => Some(422),
            Self::Rejected { code, .. } | Self::ServerError { code, .. } => Some(*code),
            Self::Transport(_) | Self::Decode(_) | Self::InvalidRequest(_) => None,
        }
    }

    /// Maps a non-success response about `kind`/`name` to an error. The HTTP
    /// code decides the variant (a proxy may answer without a Status body);
    /// the Status body, when present, supplies reason and message.
    pub(crate) fn from_response(
        response: &OutboundResponse,
        kind: &'static str,
        name: &str,
    ) -> Self {
        let code = response.status;
        let status = Status::from_body(&response.body).unwrap_or_default();
        let reason = status
            .reason
            .filter(|reason| !reason.is_empty())
            .unwrap_or_else(|| reason_phrase(code).to_owned());
        let message = status
            .message
            .filter(|message| !message.is_empty())
            .unwrap_or_else(|| body_excerpt(&response.body, code));
        let name = name.to_owned();
        match code {
            404 => Self::NotFound { kind, name },
            409 if reason == "AlreadyExists" => Self::AlreadyExists { kind, name },
            409 => Self::Conflict {
                kind,
                name,
                message,
            },
            422 => Self::Invalid { message },
            500..=599 => Self::ServerError { code, message },
            // 4xx, and the odd 1xx/3xx a misconfigured proxy might send:
            // none gets better by retrying.
            _ => Self::Rejected {
                code,
                reason,
                message,
            },
        }
    }
}

/// How much of a non-Status error body goes into a message: enough to
/// recognise a proxy's error page, not enough to flood a log line.
const EXCERPT_CHARS: usize = 200;

/// A short, single-line excerpt of an error body that is not a Status (a
/// proxy's HTML page, plain text), or the reason phrase when it is empty.
/// Error bodies never carry our token: the server does not echo headers.
fn body_excerpt(body: &[u8], code: u16) -> String {
    let text = String::from_utf8_lossy(body);
    let excerpt: String = text
        .split_whitespace()
        .flat_map(|word| word.chars().chain(std::iter::once(' ')))
        .filter(|c| !c.is_control())
        .take(EXCERPT_CHARS)
        .collect();
    let excerpt = excerpt.trim_end();
    if excerpt.is_empty() {
        reason_phrase(code).to_owned()
    } else {
        excerpt.to_owned()
    }
}

/// The standard reason phrase of the codes an API server or a proxy in front
/// of it sends.
fn reason_phrase(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> OutboundResponse {
        OutboundResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn excerpt_is_one_bounded_line() {
        let page = format!(
            "<html>\n<head>\t<title>502</title></head>{}</html>",
            "x".repeat(500)
        );
        let excerpt = body_excerpt(page.as_bytes(), 502);
        assert!(excerpt.starts_with("<html> <head> <title>502</title></head>xx"));
        assert_eq!(excerpt.chars().count(), EXCERPT_CHARS);
        assert_eq!(body_excerpt(b"  \n", 503), "ServiceUnavailable");
    }

    #[test]
    fn the_http_code_wins_over_a_non_status_json_body() {
        let error = KubeError::from_response(&response(403, r#"{"message":"x"}"#), "Tenant", "a");
        assert_eq!(
            error,
            KubeError::Rejected {
                code: 403,
                reason: "Forbidden".into(),
                message: r#"{"message":"x"}"#.into(),
            }
        );
    }

    #[test]
    fn redirects_are_not_retryable() {
        let error = KubeError::from_response(&response(302, ""), "Tenant", "a");
        assert!(matches!(error, KubeError::Rejected { code: 302, .. }));
        assert!(!error.is_retryable());
    }

    #[test]
    fn http_status_reflects_the_variant() {
        assert_eq!(
            KubeError::from_response(&response(409, ""), "Tenant", "a").http_status(),
            Some(409)
        );
        assert_eq!(
            KubeError::Transport(TransportError::Timeout).http_status(),
            None
        );
    }
}
