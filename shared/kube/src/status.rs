//! The Kubernetes `Status` object: the body of every API error.

use serde::{Deserialize, Serialize};

use crate::object::null_as_default;

/// `meta/v1 Status`, e.g.
/// `{"kind":"Status","status":"Failure","reason":"NotFound","code":404,…}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    /// Always `Status` for a real one; used to tell it from other JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Usually `v1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Success` or `Failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Human-readable description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Machine-readable CamelCase reason (`NotFound`, `AlreadyExists`,
    /// `Conflict`, `Invalid`, `Forbidden`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The HTTP status code the server meant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Which object, and which fields for `Invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
}

impl Status {
    /// Parses a response body as a `Status`, or `None` when it is not one
    /// (HTML from a proxy, empty body, other JSON).
    pub(crate) fn from_body(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Self>(body)
            .ok()
            .filter(|status| status.kind.as_deref() == Some("Status"))
    }
}

/// `Status.details`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusDetails {
    /// Name of the object concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// API group of the object concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Resource (plural, lower case) of the object concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// UID of the object concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Field-level causes, for `Invalid`.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub causes: Vec<StatusCause>,
    /// Server's hint for when to retry (429, some 5xx).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
}

/// One entry of `Status.details.causes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StatusCause {
    /// e.g. `FieldValueInvalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// JSON path of the field, e.g. `spec.email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn recognises_a_status_body() {
        let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"tenants.opencrane.io \"acme\" not found","reason":"NotFound",
            "details":{"name":"acme","group":"opencrane.io","kind":"tenants"},"code":404}"#;
        let status = Status::from_body(body).unwrap();
        assert_eq!(status.reason.as_deref(), Some("NotFound"));
        assert_eq!(status.code, Some(404));
        assert_eq!(status.details.unwrap().kind.as_deref(), Some("tenants"));
    }

    #[test]
    fn other_bodies_are_not_a_status() {
        assert_eq!(Status::from_body(b"<html>502 Bad Gateway</html>"), None);
        assert_eq!(Status::from_body(b""), None);
        assert_eq!(Status::from_body(br#"{"message":"hi"}"#), None);
    }
}
