//! Built-in API types we use: `autoscaling/v1 Scale` (suspend/resume a
//! tenant's Deployment) and `authentication.k8s.io/v1 TokenRequest`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::object::ObjectMeta;
use crate::secret::SecretToken;

/// `autoscaling/v1 Scale`, the `scale` subresource of a Deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Scale {
    /// `autoscaling/v1`.
    pub api_version: String,
    /// `Scale`.
    pub kind: String,
    /// Name, namespace and `resourceVersion` of the Deployment.
    pub metadata: ObjectMeta,
    /// Desired replicas.
    pub spec: ScaleSpec,
    /// Observed replicas.
    pub status: ScaleStatus,
}

/// `Scale.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleSpec {
    /// Desired replicas. The server omits the field when it is 0
    /// (`omitempty`), so absent means zero — a suspended tenant.
    pub replicas: i32,
}

/// `Scale.status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScaleStatus {
    /// Replicas currently running.
    pub replicas: i32,
    /// Label selector of the pods, in string form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// A token minted through the TokenRequest API. `Debug` is safe to log.
#[derive(Debug, Clone)]
pub struct ServiceAccountToken {
    /// The token (a JWT); expose it only to hand it to its holder.
    pub token: SecretToken,
    /// When the API server stops accepting it.
    pub expiration_timestamp: DateTime<Utc>,
}

/// The request body of `POST …/serviceaccounts/{name}/token`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenRequest<'a> {
    pub(crate) api_version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) spec: TokenRequestSpec<'a>,
}

/// `TokenRequest.spec`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenRequestSpec<'a> {
    pub(crate) audiences: &'a [String],
    pub(crate) expiration_seconds: i64,
}

impl<'a> TokenRequest<'a> {
    pub(crate) fn new(audiences: &'a [String], expiration_seconds: i64) -> Self {
        Self {
            api_version: "authentication.k8s.io/v1",
            kind: "TokenRequest",
            spec: TokenRequestSpec {
                audiences,
                expiration_seconds,
            },
        }
    }
}

/// The part of the TokenRequest response we read. Not `Debug`: it holds the
/// plaintext token.
#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) status: TokenResponseStatus,
}

/// `TokenRequest.status`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenResponseStatus {
    pub(crate) token: String,
    pub(crate) expiration_timestamp: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn zero_replicas_are_omitted_by_the_server() {
        let scale: Scale = serde_json::from_value(json!({
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": "acme"}, "spec": {}, "status": {"replicas": 0}
        }))
        .unwrap();
        assert_eq!(scale.spec.replicas, 0);
        assert_eq!(scale.status.selector, None);
    }

    #[test]
    fn token_request_body() {
        let audiences = vec!["openclaw".to_owned()];
        assert_eq!(
            serde_json::to_value(TokenRequest::new(&audiences, 600)).unwrap(),
            json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"audiences": ["openclaw"], "expirationSeconds": 600}
            })
        );
    }
}
