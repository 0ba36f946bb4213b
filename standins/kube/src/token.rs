//! `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`: the
//! TokenRequest API (`authentication.k8s.io/v1`).
//!
//! A real cluster answers with a JWT signed by the service-account issuer
//! key. The stand-in has no such key: its token is JWT-shaped (header,
//! claims and an empty signature, `"alg": "none"`) with the same claims a
//! real one carries (`aud`, `exp`, `iat`, `nbf`, `iss`, `jti`, `sub`,
//! `kubernetes.io`), so code that only reads the claims behaves the same,
//! while anything that verifies the signature rejects it, as it should.

use serde_json::{json, Value};

use crate::encoding::base64url_encode;
use crate::registry::{self, State};
use crate::resources::SERVICE_ACCOUNTS;
use crate::status::{ApiError, FieldError};
use crate::store::str_at;

/// The API server's default audience and issuer (`--api-audiences`
/// defaults to the service-account issuer).
pub(crate) const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// Issues a token for ServiceAccount `namespace/name`; 201 on success.
pub(crate) fn create_token(
    state: &State,
    namespace: &str,
    name: &str,
    mut body: Value,
) -> Result<Value, ApiError> {
    if body.is_null() {
        body = json!({});
    }
    registry::check_type_meta(
        &mut body,
        "authentication.k8s.io/v1",
        "TokenRequest",
        "authentication.k8s.io",
        false,
    )?;
    let service_account = state
        .store
        .get(&SERVICE_ACCOUNTS, namespace, name)
        .ok_or_else(|| ApiError::not_found(&SERVICE_ACCOUNTS, name))?;

    let expiration = match body.pointer("/spec/expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!(
                "TokenRequest in version \"v1\" cannot be handled as a TokenRequest: json: cannot unmarshal {v} into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64"
            ))
        })?,
    };
    let invalid = |detail: &str| {
        ApiError::invalid(
            "TokenRequest.authentication.k8s.io",
            "authentication.k8s.io",
            "TokenRequest",
            name,
            &[FieldError::invalid(
                "spec.expirationSeconds",
                expiration,
                detail,
            )],
        )
    };
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid("may not specify a duration less than 10 minutes"));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let audiences: Vec<Value> = match body.pointer("/spec/audiences").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![json!(DEFAULT_AUDIENCE)],
    };
    let bound = body
        .pointer("/spec/boundObjectRef")
        .cloned()
        .unwrap_or(Value::Null);

    let issued = chrono::Utc::now();
    let expires = issued + chrono::Duration::seconds(expiration);
    let claims = json!({
        "aud": audiences,
        "exp": expires.timestamp(),
        "iat": issued.timestamp(),
        "nbf": issued.timestamp(),
        "iss": DEFAULT_AUDIENCE,
        "jti": uuid::Uuid::new_v4().to_string(),
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": str_at(service_account, "/metadata/uid")},
        },
        "sub": format!("system:serviceaccount:{namespace}:{name}"),
    });
    let header = json!({"alg": "none", "typ": "JWT", "kid": "cp-kube-standin"});
    let token = format!(
        "{}.{}.",
        base64url_encode(header.to_string().as_bytes()),
        base64url_encode(claims.to_string().as_bytes())
    );

    let mut metadata = body
        .get("metadata")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.insert("creationTimestamp".into(), Value::Null);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": metadata,
        "spec": {
            "audiences": audiences,
            "expirationSeconds": expiration,
            "boundObjectRef": bound,
        },
        "status": {
            "token": token,
            "expirationTimestamp": expires.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        },
    }))
}
