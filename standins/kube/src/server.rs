//! The public [`StandIn`] handle and the Kubernetes side of serving a
//! request: reading it, answering it, and answering injected faults with
//! `Status` objects. Accepting connections, applying faults and the request
//! log are `cp_standin_kit`'s, shared with the other stand-ins.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Mutex;

use bytes::Bytes;
use cp_standin_kit::{header, read_body, Answer, Api, Handle, Server};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WARNING};
use hyper::{Request, Response};

use crate::handlers::{self, ApiRequest, Reply};
use crate::registry::State;
use crate::status::ApiError;

pub(crate) use cp_standin_kit::lock;

/// The real API server's request body limit (3 MiB).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How the stand-in is started.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    /// Where to listen; port 0 picks a free port (see [`StandIn::url`]).
    ///
    /// [`StandIn::url`]: cp_standin_kit::Handle::url
    pub addr: SocketAddr,
    /// When set, every Kubernetes API request must carry
    /// `Authorization: Bearer <token>` (else 401). `/healthz`, `/readyz`,
    /// `/livez` and `/_standin/` stay open.
    pub token: Option<String>,
    /// Run the OpenCrane operator simulation (see [`crate::operator`]).
    pub operator: bool,
}

impl Default for StandInConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            operator: true,
        }
    }
}

/// The Kubernetes side of the server, shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) token: Option<String>,
    pub(crate) addr: SocketAddr,
}

impl Api for Shared {
    type Request = ApiRequest;
    const NAME: &'static str = "cp-kube-standin";
    const LOGS_QUERY: bool = true;

    async fn read(req: Request<Incoming>) -> Result<ApiRequest, Answer> {
        read_request(req)
            .await
            .map_err(|e| to_response(Reply::error(&e)))
    }

    fn handle(&self, request: &ApiRequest) -> Answer {
        to_response(handlers::handle(self, request))
    }

    fn admin(&self, handle: &Handle, request: &ApiRequest) -> Answer {
        to_response(handle.admin(&request.method, &request.path, &request.body))
    }

    /// A `Status` with the reason and message the real server uses for
    /// `status` (500 → `InternalError`, 503 → `ServiceUnavailable`, 429 →
    /// `TooManyRequests`, 504 → `Timeout`, ...).
    fn injected(&self, status: u16, message: &str) -> Answer {
        to_response(Reply::error(&ApiError::for_code(status, message)))
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
        let server = Server::start(config.addr, |addr| Shared {
            state: Mutex::new(State::new(config.operator)),
            token: config.token.filter(|t| !t.is_empty()),
            addr,
        })
        .await?;
        Ok(Self { server })
    }

    /// Turns the operator simulation on or off while running.
    pub fn set_operator(&self, on: bool) {
        lock(&self.server.api().state).operator = on;
    }

    /// Stops accepting, closes open connections and waits for the server
    /// task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn read_request(req: Request<Incoming>) -> Result<ApiRequest, ApiError> {
    let (parts, body) = req.into_parts();
    let body = read_body(body, MAX_BODY_BYTES).await.map_err(|e| {
        if e.is_too_large() {
            ApiError::payload_too_large(MAX_BODY_BYTES)
        } else {
            ApiError::bad_request(format!("reading the request body: {e}"))
        }
    })?;
    Ok(ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        content_type: header(&parts.headers, CONTENT_TYPE),
        authorization: header(&parts.headers, AUTHORIZATION),
        body,
    })
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(reply.body));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    headers.insert(
        "cache-control",
        HeaderValue::from_static("no-cache, private"),
    );
    if let Some(seconds) = reply.retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    for warning in reply.warnings {
        // `299 - "text"`, the real server's format for field warnings.
        let escaped = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            headers.append(WARNING, value);
        }
    }
    response
}
