//! Native ports (tokio-postgres, a hyper client, a variable map), so the very
//! same route groups run without Wasm: the benchmark's baseline and native
//! tools use this.

use std::collections::HashMap;

use bytes::Bytes;
use cp_http::outbound::{HttpTransport, OutboundRequest, OutboundResponse, TransportError};
use cp_store::native::NativeDatabase;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::Platform;

/// Ports for one native request.
pub struct NativePlatform<'a> {
    db: NativeDatabase<'a>,
    http: &'a HyperTransport,
    vars: &'a HashMap<String, String>,
}

impl<'a> NativePlatform<'a> {
    /// Ports over a checked-out client, a shared transport and variables.
    pub fn new(
        client: &'a tokio_postgres::Client,
        http: &'a HyperTransport,
        vars: &'a HashMap<String, String>,
    ) -> Self {
        Self {
            db: NativeDatabase::new(client),
            http,
            vars,
        }
    }
}

impl<'a> Platform for NativePlatform<'a> {
    type Db = NativeDatabase<'a>;
    type Http = HyperTransport;

    fn db(&self) -> &NativeDatabase<'a> {
        &self.db
    }

    fn http(&self) -> &HyperTransport {
        self.http
    }

    fn variable(&self, name: &str) -> Option<String> {
        self.vars.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

/// Plain-HTTP client with per-request timeouts.
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HyperTransport {
    fn default() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl HttpTransport for HyperTransport {
    async fn send(&self, req: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        let mut builder = hyper::Request::builder().method(req.method).uri(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        let request = builder
            .body(Full::new(Bytes::from(req.body)))
            .map_err(|e| TransportError::Connect(e.to_string()))?;
        let exchange = async {
            let resp = self
                .client
                .request(request)
                .await
                .map_err(|e| TransportError::Connect(e.to_string()))?;
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| TransportError::Connect(e.to_string()))?
                .to_bytes()
                .to_vec();
            Ok(OutboundResponse {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(req.timeout, exchange)
            .await
            .map_err(|_| TransportError::Timeout)?
    }
}
