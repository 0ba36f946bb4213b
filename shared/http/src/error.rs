//! Typed API errors and their one mapping to HTTP (status, `code`, message).
//!
//! Domain crates define their own error enums and convert into [`ApiError`];
//! this is the only place a status code or machine code is chosen. Messages
//! are written for API clients: they never carry internals (SQL, upstream
//! bodies, secrets). `Internal` carries nothing; the cause is logged by the
//! pipeline with the request id.

use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request (`spec.weight`, `email`, `limit`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything a request can fail with, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400 `VALIDATION_ERROR`, naming each bad field.
    #[error("{message}")]
    Validation {
        /// Summary.
        message: String,
        /// The invalid fields.
        fields: Vec<FieldError>,
    },
    /// 401 `UNAUTHORIZED`.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `FORBIDDEN`.
    #[error("{0}")]
    Forbidden(String),
    /// 403 `DATASET_DENIED`: a policy forbids a dataset membership.
    #[error("{0}")]
    DatasetDenied(String),
    /// 403 `FIELD_FORBIDDEN`: the caller's role may not set these fields
    /// (operator-only or admin-only), each named.
    #[error("{message}")]
    FieldForbidden {
        /// Summary.
        message: String,
        /// The refused fields and why.
        fields: Vec<FieldError>,
    },
    /// 403 `LIMIT_EXCEEDED`: values above the caller's limits, each named.
    #[error("{message}")]
    LimitExceeded {
        /// Summary.
        message: String,
        /// The fields over their limit, and the limit.
        fields: Vec<FieldError>,
    },
    /// 404 `<KIND>_NOT_FOUND` (`TENANT_NOT_FOUND`, ...).
    #[error("{} '{id}' not found", kind_words(kind))]
    NotFound {
        /// Upper-snake resource kind (`TENANT`, `MCP_SERVER`): the code is
        /// `<kind>_NOT_FOUND`, the message says `mcp server 'x' not found`.
        kind: &'static str,
        /// The name or id that was not found.
        id: String,
    },
    /// 404 `NOT_FOUND`: no such route.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// 405 `METHOD_NOT_ALLOWED` with an `Allow` header.
    #[error("method {method} is not allowed here")]
    MethodNotAllowed {
        /// The refused method.
        method: String,
        /// Methods the path accepts.
        allow: Vec<String>,
    },
    /// 409 `CONFLICT`: wrong state, duplicate name, stale `If-Match`.
    #[error("{0}")]
    Conflict(String),
    /// 413 `PAYLOAD_TOO_LARGE`.
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415 `UNSUPPORTED_MEDIA_TYPE`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422 `IDEMPOTENCY_KEY_REUSED`.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    /// 429 `RATE_LIMITED` with `Retry-After`.
    #[error("{message}")]
    RateLimited {
        /// What was limited.
        message: String,
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// 402 `BUDGET_EXCEEDED`.
    #[error("{0}")]
    BudgetExceeded(String),
    /// A client error (4xx) with a code of its own, for refusals a client
    /// must tell apart from the generic ones (`EMAIL_NOT_VERIFIED`,
    /// `DUPLICATE_SESSION_COOKIE`, ...).
    #[error("{message}")]
    Refused {
        /// The HTTP status (a 4xx).
        status: u16,
        /// The machine-readable code.
        code: &'static str,
        /// What was refused and what to do.
        message: String,
    },
    /// 502 `UPSTREAM_ERROR`: Kubernetes or another upstream failed.
    #[error("{0}")]
    Upstream(String),
    /// 503 `UNAVAILABLE`: the database (or another dependency) is down.
    #[error("{0}")]
    Unavailable(String),
    /// 500 `INTERNAL_ERROR`; never says why (the cause is logged).
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// A validation error for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// A validation error for several fields.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let message = match fields.as_slice() {
            [one] => format!("invalid {}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", fields.len()),
        };
        Self::Validation { message, fields }
    }

    /// `<KIND>_NOT_FOUND`, e.g. `not_found("TENANT", "acme")`.
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            kind,
            id: id.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation { .. } => 400,
            Self::Unauthorized(_) => 401,
            Self::BudgetExceeded(_) => 402,
            Self::Forbidden(_)
            | Self::DatasetDenied(_)
            | Self::FieldForbidden { .. }
            | Self::LimitExceeded { .. } => 403,
            Self::NotFound { .. } | Self::RouteNotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::IdempotencyKeyReused => 422,
            Self::RateLimited { .. } => 429,
            Self::Refused { status, .. } => *status,
            Self::Internal => 500,
            Self::Upstream(_) => 502,
            Self::Unavailable(_) => 503,
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> String {
        match self {
            Self::Validation { .. } => "VALIDATION_ERROR".into(),
            Self::Unauthorized(_) => "UNAUTHORIZED".into(),
            Self::BudgetExceeded(_) => "BUDGET_EXCEEDED".into(),
            Self::Forbidden(_) => "FORBIDDEN".into(),
            Self::DatasetDenied(_) => "DATASET_DENIED".into(),
            Self::FieldForbidden { .. } => "FIELD_FORBIDDEN".into(),
            Self::LimitExceeded { .. } => "LIMIT_EXCEEDED".into(),
            Self::NotFound { kind, .. } => format!("{kind}_NOT_FOUND"),
            Self::RouteNotFound(_) => "NOT_FOUND".into(),
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED".into(),
            Self::Conflict(_) => "CONFLICT".into(),
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE".into(),
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE".into(),
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED".into(),
            Self::RateLimited { .. } => "RATE_LIMITED".into(),
            Self::Refused { code, .. } => (*code).into(),
            Self::Internal => "INTERNAL_ERROR".into(),
            Self::Upstream(_) => "UPSTREAM_ERROR".into(),
            Self::Unavailable(_) => "UNAVAILABLE".into(),
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> String {
        match self {
            Self::NotFound { kind, id } => {
                format!(
                    "{} '{id}' not found",
                    kind.to_ascii_lowercase().replace('_', " ")
                )
            }
            other => other.to_string(),
        }
    }

    /// The field errors (empty unless the error is about fields).
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Validation { fields, .. }
            | Self::FieldForbidden { fields, .. }
            | Self::LimitExceeded { fields, .. } => fields,
            _ => &[],
        }
    }
}

/// `MCP_SERVER` as words: `mcp server`.
fn kind_words(kind: &str) -> String {
    kind.to_ascii_lowercase().replace('_', " ")
}

/// The error envelope of API.md.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Human-readable message.
    pub error: String,
    /// Machine-readable code (`TENANT_NOT_FOUND`, `VALIDATION_ERROR`, ...).
    pub code: String,
    /// Optional extra detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id, also in the `X-Request-Id` header.
    pub request_id: String,
    /// Present on errors about fields only (`VALIDATION_ERROR`,
    /// `FIELD_FORBIDDEN`, `LIMIT_EXCEEDED`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub field_errors: Vec<FieldError>,
}

impl ApiError {
    /// Renders the error as the API.md envelope with its status and headers.
    pub fn to_response(&self, request_id: &str) -> crate::ApiResponse {
        let body = ErrorBody {
            error: self.message(),
            code: self.code(),
            detail: None,
            request_id: request_id.to_owned(),
            field_errors: self.field_errors().to_vec(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = crate::ApiResponse::json(self.status(), bytes);
        match self {
            Self::RateLimited {
                retry_after_secs, ..
            } => resp.set_header("retry-after", retry_after_secs.to_string()),
            Self::MethodNotAllowed { allow, .. } => resp.set_header("allow", allow.join(", ")),
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_variant_maps_to_status_and_code() {
        let cases = [
            (
                ApiError::invalid("email", "required"),
                400,
                "VALIDATION_ERROR",
            ),
            (ApiError::Unauthorized("x".into()), 401, "UNAUTHORIZED"),
            (ApiError::BudgetExceeded("x".into()), 402, "BUDGET_EXCEEDED"),
            (ApiError::Forbidden("x".into()), 403, "FORBIDDEN"),
            (ApiError::DatasetDenied("x".into()), 403, "DATASET_DENIED"),
            (
                ApiError::FieldForbidden {
                    message: "x".into(),
                    fields: vec![FieldError::new("policyRef", "operator")],
                },
                403,
                "FIELD_FORBIDDEN",
            ),
            (
                ApiError::LimitExceeded {
                    message: "x".into(),
                    fields: vec![FieldError::new("resources.cpu", "above 4")],
                },
                403,
                "LIMIT_EXCEEDED",
            ),
            (ApiError::not_found("TENANT", "a"), 404, "TENANT_NOT_FOUND"),
            (ApiError::RouteNotFound("/x".into()), 404, "NOT_FOUND"),
            (
                ApiError::MethodNotAllowed {
                    method: "PATCH".into(),
                    allow: vec!["GET".into()],
                },
                405,
                "METHOD_NOT_ALLOWED",
            ),
            (ApiError::Conflict("x".into()), 409, "CONFLICT"),
            (
                ApiError::PayloadTooLarge { limit: 1 },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (
                ApiError::UnsupportedMediaType("x".into()),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                ApiError::IdempotencyKeyReused,
                422,
                "IDEMPOTENCY_KEY_REUSED",
            ),
            (
                ApiError::RateLimited {
                    message: "slow down".into(),
                    retry_after_secs: 3,
                },
                429,
                "RATE_LIMITED",
            ),
            (
                ApiError::Refused {
                    status: 403,
                    code: "EMAIL_NOT_VERIFIED",
                    message: "x".into(),
                },
                403,
                "EMAIL_NOT_VERIFIED",
            ),
            (ApiError::Internal, 500, "INTERNAL_ERROR"),
            (ApiError::Upstream("x".into()), 502, "UPSTREAM_ERROR"),
            (ApiError::Unavailable("x".into()), 503, "UNAVAILABLE"),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.code(), code, "{err:?}");
        }
    }

    #[test]
    fn envelope_has_request_id_and_field_errors_only_on_validation() {
        let resp = ApiError::invalid("spec.weight", "must be positive").to_response("req-1");
        assert_eq!(resp.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["code"], "VALIDATION_ERROR");
        assert_eq!(v["requestId"], "req-1");
        assert_eq!(v["fieldErrors"][0]["field"], "spec.weight");
        assert_eq!(v["error"], "invalid spec.weight: must be positive");

        let resp = ApiError::not_found("TENANT", "acme").to_response("req-2");
        let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["error"], "tenant 'acme' not found");
        assert!(v.get("fieldErrors").is_none());
    }

    #[test]
    fn rate_limit_and_405_carry_their_headers() {
        let resp = ApiError::RateLimited {
            message: "too many".into(),
            retry_after_secs: 7,
        }
        .to_response("r");
        assert_eq!(resp.header("retry-after"), Some("7"));
        let resp = ApiError::MethodNotAllowed {
            method: "PATCH".into(),
            allow: vec!["GET".into(), "PUT".into()],
        }
        .to_response("r");
        assert_eq!(resp.header("allow"), Some("GET, PUT"));
    }

    #[test]
    fn internal_error_says_nothing() {
        let resp = ApiError::Internal.to_response("r");
        let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["error"], "internal error");
    }
}
