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
