//! `meta.k8s.io/v1` `Status` objects: the body of every error (and of a
//! successful custom-resource or Deployment DELETE), shaped exactly as
//! `k8s.io/apimachinery/pkg/api/errors` builds them so that clients which
//! match on `reason`, `code` or `details` behave as against a real cluster.

use hyper::StatusCode;
use serde::Serialize;
use serde_json::Value;

use crate::resources::ResourceType;

/// A `Status` object (`{"kind":"Status","apiVersion":"v1",...}`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Status {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    metadata: serde_json::Map<String, Value>,
    pub(crate) status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) message: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) details: Option<Details>,
    /// 0 on a success Status from DELETE, where the real server omits it.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) code: u16,
}

fn is_zero(code: &u16) -> bool {
    *code == 0
}

/// `StatusDetails`. Note the real API's quirk, kept here: `kind` holds the
/// *resource* (`tenants`) for NotFound/AlreadyExists/Conflict and the
/// *kind* (`Tenant`) for Invalid.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Details {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) causes: Vec<Cause>,
    #[serde(rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub(crate) retry_after_seconds: Option<u32>,
}

/// `StatusCause`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Cause {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) field: String,
}

/// One field validation error (`field.Error` in the real code base). Its
/// rendering follows `field.Error.Error()` and `ErrorBody()`.
#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) kind: FieldErrorKind,
}

#[derive(Debug, Clone)]
pub(crate) enum FieldErrorKind {
    /// `Required value[: detail]`.
    Required(String),
    /// `Invalid value: <value>: detail`.
    Invalid { value: Value, detail: String },
    /// An OpenAPI type mismatch; rendered like `Invalid`.
    TypeInvalid { value: Value, detail: String },
    /// `Unsupported value: <value>: supported values: "a", "b"`.
    NotSupported { value: Value, allowed: Vec<String> },
}

impl FieldError {
    pub(crate) fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Required(detail.into()),
        }
    }

    pub(crate) fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::Invalid {
                value: value.into(),
                detail: detail.into(),
            },
        }
    }

    pub(crate) fn type_invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::TypeInvalid {
                value: value.into(),
                detail: detail.into(),
            },
        }
    }

    pub(crate) fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        allowed: Vec<String>,
    ) -> Self {
        Self {
            field: field.into(),
            kind: FieldErrorKind::NotSupported {
                value: value.into(),
                allowed,
            },
        }
    }

    fn reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Required(_) => "FieldValueRequired",
            FieldErrorKind::Invalid { .. } => "FieldValueInvalid",
            FieldErrorKind::TypeInvalid { .. } => "FieldValueTypeInvalid",
            FieldErrorKind::NotSupported { .. } => "FieldValueNotSupported",
        }
    }

    /// The message without the field path, as in a `StatusCause`.
    fn body(&self) -> String {
        match &self.kind {
            FieldErrorKind::Required(detail) if detail.is_empty() => "Required value".into(),
            FieldErrorKind::Required(detail) => format!("Required value: {detail}"),
            FieldErrorKind::Invalid { value, detail }
            | FieldErrorKind::TypeInvalid { value, detail } => {
                format!("Invalid value: {}: {detail}", render_value(value))
            }
            FieldErrorKind::NotSupported { value, allowed } => {
                let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
                format!(
                    "Unsupported value: {}: supported values: {}",
                    render_value(value),
                    quoted.join(", ")
                )
            }
        }
    }

    /// `field: body`, as `field.Error.Error()` prints it.
    fn full(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }
}

/// Go's `%#v`-ish rendering that the real messages use: strings quoted,
/// numbers and booleans bare.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// An API error: an HTTP status plus the `Status` body that goes with it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} {}", .0.code, .0.message)]
pub(crate) struct ApiError(pub(crate) Box<Status>);

impl ApiError {
    fn new(
        code: StatusCode,
        reason: &'static str,
        message: String,
        details: Option<Details>,
    ) -> Self {
        Self(Box::new(Status {
            kind: "Status",
            api_version: "v1",
            metadata: serde_json::Map::new(),
            status: "Failure",
            message,
            reason,
            details,
            code: code.as_u16(),
        }))
    }

    pub(crate) fn http_status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub(crate) fn body(&self) -> &Status {
        &self.0
    }

    fn resource_details(rt: &ResourceType, name: &str) -> Details {
        Details {
            name: name.to_string(),
            group: rt.group.to_string(),
            kind: rt.plural.to_string(),
            ..Details::default()
        }
    }

    /// `tenants.opencrane.io "x" not found`.
    pub(crate) fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} {name:?} not found", rt.qualified_resource()),
            Some(Self::resource_details(rt, name)),
        )
    }

    /// A path the server does not serve at all.
    pub(crate) fn unknown_path() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource".into(),
            Some(Details::default()),
        )
    }

    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            Some(Details::default()),
        )
    }

    /// `tenants.opencrane.io "x" already exists`.
    pub(crate) fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} {name:?} already exists", rt.qualified_resource()),
            Some(Self::resource_details(rt, name)),
        )
    }

    /// `Operation cannot be fulfilled on tenants.opencrane.io "x": <why>`.
    pub(crate) fn conflict(
        qualified_resource: &str,
        group: &str,
        resource: &str,
        name: &str,
        why: &str,
    ) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!("Operation cannot be fulfilled on {qualified_resource} {name:?}: {why}"),
            Some(Details {
                name: name.to_string(),
                group: group.to_string(),
                kind: resource.to_string(),
                ..Details::default()
            }),
        )
    }

    /// The optimistic-concurrency conflict every client retries on.
    pub(crate) fn modified(rt: &ResourceType, name: &str) -> Self {
        Self::conflict(
            &rt.qualified_resource(),
            rt.group,
            rt.plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Tenant.opencrane.io "x" is invalid: ...` with one cause per error.
    pub(crate) fn invalid(
        qualified_kind: &str,
        group: &str,
        kind: &str,
        name: &str,
        errors: &[FieldError],
    ) -> Self {
        let summary = match errors {
            [one] => one.full(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(FieldError::full)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{qualified_kind} {name:?} is invalid: {summary}"),
            Some(Details {
                name: name.to_string(),
                group: group.to_string(),
                kind: kind.to_string(),
                causes: errors
                    .iter()
                    .map(|e| Cause {
                        reason: e.reason(),
                        message: e.body(),
                        field: e.field.clone(),
                    })
                    .collect(),
                ..Details::default()
            }),
        )
    }

    /// `Invalid` for an object of `rt`.
    pub(crate) fn invalid_object(rt: &ResourceType, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid(&rt.qualified_kind(), rt.group, rt.kind, name, errors)
    }

    /// A 422 that is not about one object's fields (a JSON patch that
    /// cannot be applied), as `NewGenericServerResponse` builds it.
    pub(crate) fn unprocessable(rt: &ResourceType, name: &str, server_message: String) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "the server rejected our request due to an error in our request".into(),
            Some(Details {
                name: name.to_string(),
                group: rt.group.to_string(),
                kind: rt.plural.to_string(),
                causes: vec![Cause {
                    reason: "UnexpectedServerResponse",
                    message: server_message,
                    field: String::new(),
                }],
                ..Details::default()
            }),
        )
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message.into(), None)
    }

    /// 415 listing what the endpoint accepts, in the real server's words.
    pub(crate) fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
            None,
        )
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized".into(),
            None,
        )
    }

    pub(crate) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
            None,
        )
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(Details {
                causes: vec![Cause {
                    reason: "",
                    message,
                    field: String::new(),
                }],
                ..Details::default()
            }),
        )
    }

    /// An error with an arbitrary HTTP status, for injected faults. The
    /// reason and message follow what the real server (or
    /// `NewGenericServerResponse` on the client side) uses for that code.
    pub(crate) fn for_code(code: u16, cause: &str) -> Self {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (reason, message) = match status.as_u16() {
            400 => ("BadRequest", cause.to_string()),
            401 => ("Unauthorized", "Unauthorized".to_string()),
            403 => ("Forbidden", format!("forbidden: {cause}")),
            404 => ("NotFound", "the server could not find the requested resource".to_string()),
            405 => ("MethodNotAllowed", "the server does not allow this method on the requested resource".to_string()),
            409 => ("Conflict", format!("Operation cannot be fulfilled: {cause}")),
            410 => ("Expired", cause.to_string()),
            422 => ("Invalid", cause.to_string()),
            429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later".to_string()),
            500 => return Self::internal(cause),
            503 => ("ServiceUnavailable", "the server is currently unable to handle the request".to_string()),
            504 => ("Timeout", format!("the server was unable to return a response in the time allotted, but may still be processing the request ({cause})")),
            _ => ("", format!("the server responded with the status code {code} ({cause})")),
        };
        let details = match status.as_u16() {
            // The real server sends Retry-After on these; the details carry it too.
            429 | 503 | 504 => Some(Details {
                retry_after_seconds: Some(1),
                ..Details::default()
            }),
            _ => None,
        };
        Self::new(status, reason, message, details)
    }

    /// Seconds for a `Retry-After` header, when the status carries one.
    pub(crate) fn retry_after(&self) -> Option<u32> {
        self.0.details.as_ref().and_then(|d| d.retry_after_seconds)
    }
}

/// The success `Status` a DELETE of a custom resource or Deployment answers
/// with (`finalizeDelete` in `genericregistry.Store`): no `code`, and
/// `details.kind` is the resource.
pub(crate) fn delete_success(rt: &ResourceType, name: &str, uid: &str) -> Status {
    Status {
        kind: "Status",
        api_version: "v1",
        metadata: serde_json::Map::new(),
        status: "Success",
        message: String::new(),
        reason: "",
        details: Some(Details {
            name: name.to_string(),
            group: rt.group.to_string(),
            kind: rt.plural.to_string(),
            uid: uid.to_string(),
            ..Details::default()
        }),
        code: 0,
    }
}
