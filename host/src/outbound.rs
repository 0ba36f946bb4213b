//! Outgoing HTTP (`wasi:http/outgoing-handler`): the allow-list check and default timeouts.
//!
//! Requests go out through wasmtime-wasi-http's default sender (plain HTTP, or HTTPS with
//! rustls and the webpki roots). A URL outside the component's `allowed_outbound_hosts`
//! fails with `HTTP-request-denied`, as in Spin. Timeouts the guest leaves unset get finite
//! defaults, so a hung upstream cannot hold a request forever.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::runtime::ComponentContext;
use cp_outbound::AllowedHosts;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(30);

/// The per-request hooks wasmtime-wasi-http calls for outgoing requests.
pub(crate) struct OutboundHttp {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl OutboundHttp {
    pub(crate) fn new(context: &ComponentContext) -> Self {
        Self {
            component: Arc::from(context.id.as_str()),
            allowed: context.allowed_hosts.clone(),
        }
    }

    fn is_allowed(&self, uri: &http::Uri) -> bool {
        match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self.allowed.allows(scheme, host, uri.port_u16()),
            // No authority: a relative (self or service-chaining) request, not supported.
            _ => false,
        }
    }
}

/// Fills in the timeouts the guest left unset.
fn with_default_timeouts(options: Option<RequestOptions>) -> RequestOptions {
    let options = options.unwrap_or_default();
    RequestOptions {
        connect_timeout: options.connect_timeout.or(Some(DEFAULT_CONNECT_TIMEOUT)),
        first_byte_timeout: options
            .first_byte_timeout
            .or(Some(DEFAULT_FIRST_BYTE_TIMEOUT)),
        between_bytes_timeout: options
            .between_bytes_timeout
            .or(Some(DEFAULT_BETWEEN_BYTES_TIMEOUT)),
    }
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _body_done: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        if !self.is_allowed(request.uri()) {
            let uri = request.uri();
            let origin = format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("https"),
                uri.authority().map(|a| a.as_str()).unwrap_or("")
            );
            eprintln!(
                "cp-host: component {} tried to send an HTTP request to {origin}, which its \
                 allowed_outbound_hosts does not permit (add \"{origin}\" to allow it)",
                self.component
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let options = with_default_timeouts(options);
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn guest_timeouts_win_over_defaults() {
        let filled = with_default_timeouts(None);
        assert_eq!(filled.connect_timeout, Some(DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(filled.first_byte_timeout, Some(DEFAULT_FIRST_BYTE_TIMEOUT));

        let guest = RequestOptions {
            connect_timeout: Some(Duration::from_millis(5)),
            ..Default::default()
        };
        let filled = with_default_timeouts(Some(guest));
        assert_eq!(filled.connect_timeout, Some(Duration::from_millis(5)));
        assert_eq!(
            filled.between_bytes_timeout,
            Some(DEFAULT_BETWEEN_BYTES_TIMEOUT)
        );
    }

    #[test]
    fn urls_are_checked_by_scheme_host_and_port() {
        let hooks = OutboundHttp {
            component: Arc::from("c"),
            allowed: Arc::new(
                AllowedHosts::parse(&["http://127.0.0.1:8080", "https://api.example.com"]).unwrap(),
            ),
        };
        let allowed = |uri: &str| hooks.is_allowed(&uri.parse().unwrap());
        assert!(allowed("http://127.0.0.1:8080/x"));
        assert!(!allowed("http://127.0.0.1:8081/x"));
        assert!(allowed("https://api.example.com/v1"));
        assert!(!allowed("http://api.example.com/v1"));
        assert!(!allowed("/relative"));
    }
}
