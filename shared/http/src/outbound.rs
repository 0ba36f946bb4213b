//! Outbound HTTP as a port: domain clients (Kubernetes, later LiteLLM and OCI
//! registries) build [`OutboundRequest`]s and hand them to an
//! [`HttpTransport`]. In a component the transport is Spin's outbound HTTP;
//! natively (benchmarks, tools) it is a hyper client. The request building and
//! response decoding stay in plain, natively tested code.

use std::time::Duration;

/// An HTTP request to an upstream service. `Debug` redacts credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    /// Upper-case method name (`GET`, `POST`, ...).
    pub method: &'static str,
    /// Absolute URL including scheme, authority, path and query.
    pub url: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// Request body (empty for none).
    pub body: Vec<u8>,
    /// Upper bound for the whole exchange; the transport enforces it.
    pub timeout: Duration,
}

/// Headers whose values are credentials and never printed.
const SENSITIVE: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

impl std::fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if SENSITIVE.contains(&k.to_ascii_lowercase().as_str()) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("OutboundRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The upstream's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl OutboundResponse {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no response arrived. Never contains credentials: transports must not
/// echo request headers into these messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The upstream did not answer in time.
    #[error("upstream timed out")]
    Timeout,
    /// The host refused the destination (not in `allowed_outbound_hosts`).
    #[error("outbound request denied by the host: {0}")]
    Denied(String),
    /// Connection refused, reset, DNS failure, TLS failure, ...
    #[error("upstream unreachable: {0}")]
    Connect(String),
}

/// Sends one request and returns the whole response.
#[allow(async_fn_in_trait)]
pub trait HttpTransport {
    /// Performs the exchange.
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError>;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn debug_never_prints_credentials() {
        let req = OutboundRequest {
            method: "GET",
            url: "https://k8s/api".into(),
            headers: vec![
                ("authorization".into(), "Bearer s3cr3t-token".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: b"{}".to_vec(),
            timeout: Duration::from_secs(1),
        };
        let text = format!("{req:?}");
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("application/json"));
    }
}
