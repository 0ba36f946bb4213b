//! Where the API server is and how to authenticate to it.

use std::time::Duration;

use crate::secret::SecretToken;

/// How to reach the Kubernetes API server.
///
/// `Debug` is safe to log: the token prints as `<redacted>`.
#[derive(Debug, Clone)]
pub struct KubeConfig {
    /// Scheme and authority, e.g. `https://kubernetes.default.svc` or
    /// `http://127.0.0.1:6443`. A trailing slash is ignored.
    pub base_url: String,
    /// The namespace every namespaced request goes to.
    pub namespace: String,
    /// Sent as `Authorization: Bearer …` when set and not empty.
    pub token: Option<SecretToken>,
    /// Upper bound for each exchange (the transport enforces it).
    pub timeout: Duration,
}

impl KubeConfig {
    /// The timeout used by [`KubeConfig::new`]: long enough for a loaded API
    /// server, short enough that a request handler still answers in time.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A configuration without a token and with [`Self::DEFAULT_TIMEOUT`].
    pub fn new(base_url: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            namespace: namespace.into(),
            token: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Sets the bearer token.
    pub fn with_token(mut self, token: impl Into<SecretToken>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The base URL without trailing slashes, ready to have a path appended.
    pub(crate) fn base(&self) -> &str {
        self.base_url.trim_end_matches('/')
    }

    /// The token to send, if any; an empty one counts as none so we never
    /// send a bare `Bearer `.
    pub(crate) fn bearer(&self) -> Option<&str> {
        self.token
            .as_ref()
            .filter(|token| !token.is_empty())
            .map(SecretToken::expose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_show_the_token() {
        let config = KubeConfig::new("https://k8s", "ns").with_token("very-secret-token");
        let printed = format!("{config:?} {config:#?}");
        assert!(!printed.contains("very-secret-token"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn base_drops_trailing_slashes() {
        assert_eq!(KubeConfig::new("http://h:1//", "n").base(), "http://h:1");
        assert_eq!(KubeConfig::new("http://h:1", "n").base(), "http://h:1");
    }

    #[test]
    fn empty_token_is_no_token() {
        assert_eq!(KubeConfig::new("h", "n").with_token("").bearer(), None);
        assert_eq!(KubeConfig::new("h", "n").bearer(), None);
        assert_eq!(
            KubeConfig::new("h", "n").with_token("t").bearer(),
            Some("t")
        );
    }
}
