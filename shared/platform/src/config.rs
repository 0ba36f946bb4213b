//! Component configuration from Spin variables (declared in `spin.toml`,
//! set with `SPIN_VARIABLE_<NAME>` or `--variable`).

use std::time::Duration;

use cp_http::ApiError;

use crate::{Failure, Platform};

/// Kubernetes client settings: `kube_url`, `kube_namespace`, `kube_token`,
/// `kube_timeout_ms` (per call, default 10 s).
pub fn kube_config<P: Platform>(platform: &P) -> Result<cp_kube::KubeConfig, Failure> {
    let base_url = platform.variable("kube_url").ok_or_else(|| {
        Failure::with_cause(
            ApiError::Upstream("the Kubernetes API is not configured".into()),
            "the kube_url variable is not set",
        )
    })?;
    let namespace = platform
        .variable("kube_namespace")
        .unwrap_or_else(|| "opencrane".into());
    let timeout = platform
        .variable("kube_timeout_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(cp_kube::KubeConfig::DEFAULT_TIMEOUT, Duration::from_millis);
    let mut config = cp_kube::KubeConfig::new(base_url, namespace).with_timeout(timeout);
    if let Some(token) = platform.variable("kube_token") {
        config = config.with_token(token);
    }
    Ok(config)
}

/// The Spin variable holding the master key of secrets at rest (32 bytes,
/// base64; see `cp_crypto::MasterKey`).
pub const SECRETS_KEY_VARIABLE: &str = "secrets_key";

/// Why the master key cannot be used (a deployment matter; the text names
/// the variable, never a value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretsKeyError {
    /// Unset or empty.
    #[error("the `secrets_key` variable is not set")]
    Missing,
    /// Not base64 of 32 bytes.
    #[error("the `secrets_key` variable is not a base64-encoded 32-byte key")]
    Invalid,
}

/// The component's master key for secrets at rest.
pub fn secrets_key<P: Platform>(platform: &P) -> Result<cp_crypto::MasterKey, SecretsKeyError> {
    secrets_key_from(platform.variable(SECRETS_KEY_VARIABLE).as_deref())
}

fn secrets_key_from(text: Option<&str>) -> Result<cp_crypto::MasterKey, SecretsKeyError> {
    let text = text.ok_or(SecretsKeyError::Missing)?;
    cp_crypto::MasterKey::from_base64(text).map_err(|_| SecretsKeyError::Invalid)
}

/// The master key for a feature that cannot work without it: a deployment
/// without a usable key is a 503 (a dependency is missing, not the client's
/// fault, and retrying after configuring it works) whose message says what
/// cannot be done (`what`) and names the variable, never a value.
pub fn require_secrets_key<P: Platform>(
    platform: &P,
    what: &str,
) -> Result<cp_crypto::MasterKey, crate::Failure> {
    secrets_key(platform).map_err(|e| unavailable(what, e))
}

fn unavailable(what: &str, e: SecretsKeyError) -> crate::Failure {
    crate::Failure::with_cause(
        cp_http::ApiError::Unavailable(format!(
            "{what}: {e}; configure it (32 random bytes, base64)"
        )),
        e.to_string(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_missing_or_bad_master_key_is_a_503_naming_the_variable() {
        for text in [None, Some("not base64!"), Some("c2hvcnQ=")] {
            let err = secrets_key_from(text).unwrap_err();
            let failure = unavailable("provider keys cannot be stored", err);
            assert_eq!(failure.error.status(), 503, "{text:?}");
            let message = failure.error.to_string();
            assert!(message.contains("`secrets_key`"), "{message}");
            assert!(
                message.starts_with("provider keys cannot be stored: "),
                "{message}"
            );
            if let Some(t) = text {
                assert!(!message.contains(t) && !failure.cause.unwrap().contains(t));
            }
        }
        assert!(secrets_key_from(Some("dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmctISE=")).is_ok());
    }
}
