//! The public [`StandIn`] handle and the LiteLLM side of serving a
//! request: reading it, answering it, and answering injected faults with
//! LiteLLM error bodies. Accepting connections, applying faults and the
//! request log are `cp_standin_kit`'s, shared with the other stand-ins.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Mutex;

use anyhow::bail;
use bytes::Bytes;
use cp_standin_kit::{header, read_body, Answer, Api, Handle, Server};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

use crate::api::{self, ApiRequest};
use crate::keys::KeyStore;
use crate::reply::{proxy_error, ErrorType, Reply};

pub(crate) use cp_standin_kit::lock;

/// Request bodies above this are refused (admin bodies are small).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How the stand-in is started.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    /// Where to listen; port 0 picks a free port (see [`StandIn::url`]).
    ///
    /// [`StandIn::url`]: cp_standin_kit::Handle::url
    pub addr: SocketAddr,
    /// The master key (LiteLLM's `LITELLM_MASTER_KEY`): the only credential
    /// the admin routes accept. Must start with `sk-`, as LiteLLM requires.
    pub master_key: String,
}

/// The LiteLLM side of the server, shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) keys: Mutex<KeyStore>,
    pub(crate) master_key: String,
}

impl Api for Shared {
    type Request = ApiRequest;
    const NAME: &'static str = "cp-litellm-standin";
    // `/key/info?key=` may carry a raw key.
    const LOGS_QUERY: bool = false;

    async fn read(req: Request<Incoming>) -> Result<ApiRequest, Answer> {
        read_request(req).await.map_err(to_response)
    }

    fn handle(&self, request: &ApiRequest) -> Answer {
        to_response(api::handle(self, request))
    }

    fn admin(&self, handle: &Handle, request: &ApiRequest) -> Answer {
        to_response(handle.admin(&request.method, &request.path, &request.body))
    }

    /// A `ProxyException` body, typed `internal_server_error` with param
    /// `"None"` as LiteLLM labels the `HTTPException`s it converts.
    fn injected(&self, status: u16, message: &str) -> Answer {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        to_response(proxy_error(
            status,
            message,
            ErrorType::Internal,
            Some("None"),
        ))
    }
}

/// A running stand-in. Dropping it stops the server as well;
/// [`StandIn::shutdown`] also waits for that to finish. The address, fault
/// rules and request log are the [`Handle`] every stand-in shares (through
/// `Deref`), so tests steer them alike.
#[derive(Debug)]
pub struct StandIn {
    server: Server<Shared>,
}

impl Deref for StandIn {
    type Target = Handle;

    fn deref(&self) -> &Handle {
        self.server.handle()
    }
}

impl StandIn {
    /// Binds `config.addr` and starts serving in the background (on the
    /// current Tokio runtime).
    pub async fn start(config: StandInConfig) -> anyhow::Result<Self> {
        if !config.master_key.starts_with("sk-") {
            bail!("the master key must start with `sk-` (LiteLLM refuses others)");
        }
        let server = Server::start(config.addr, |_| Shared {
            keys: Mutex::new(KeyStore::default()),
            master_key: config.master_key,
        })
        .await?;
        Ok(Self { server })
    }

    /// The master key the admin routes accept.
    pub fn master_key(&self) -> &str {
        &self.server.api().master_key
    }

    /// How many virtual keys exist.
    pub fn key_count(&self) -> usize {
        lock(&self.server.api().keys).len()
    }

    /// Whether `/key/generate` refuses an alias another key has (on by
    /// default, as in current LiteLLM; off simulates the older versions
    /// that let several keys share one).
    pub fn set_unique_aliases(&self, on: bool) {
        lock(&self.server.api().keys).allow_duplicate_aliases = !on;
    }

    /// Stops accepting, closes open connections and waits for the server
    /// task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn read_request(req: Request<Incoming>) -> Result<ApiRequest, Reply> {
    let (parts, body) = req.into_parts();
    let api_key = header(&parts.headers, AUTHORIZATION)
        .or_else(|| header(&parts.headers, "x-litellm-api-key"));
    let body = read_body(body, MAX_BODY_BYTES).await.map_err(|e| {
        proxy_error(
            StatusCode::BAD_REQUEST,
            &format!("reading the request body: {e}"),
            ErrorType::BadRequest,
            None,
        )
    })?;
    Ok(ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        api_key,
        body,
    })
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let empty = reply.body.is_empty();
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    if !empty {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    response
}
