//! The HTTP server: accepting connections, reading requests, applying
//! injected faults, recording and logging requests, and the public
//! [`StandIn`] handle.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::admin;
use crate::api::{self, ApiRequest};
use crate::faults::{Fault, FaultKind, FaultRule, Faults, RequestLog, RequestRecord};
use crate::keys::KeyStore;
use crate::reply::{proxy_error, ErrorType, Reply};

/// Request bodies above this are refused (admin bodies are small).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How the stand-in is started.
#[derive(Debug, Clone)]
pub struct StandInConfig {
    /// Where to listen; port 0 picks a free port (see [`StandIn::url`]).
    pub addr: SocketAddr,
    /// The master key (LiteLLM's `LITELLM_MASTER_KEY`): the only credential
    /// the admin routes accept. Must start with `sk-`, as LiteLLM requires.
    pub master_key: String,
}

/// State shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) keys: Mutex<KeyStore>,
    pub(crate) master_key: String,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) log: Mutex<RequestLog>,
    pub(crate) addr: SocketAddr,
    logging: AtomicBool,
}

/// Locks a mutex, recovering from poisoning: a panicking handler must not
/// take the whole stand-in down with it (every change is one map
/// operation, so the data stays consistent).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running stand-in. Dropping it stops the server as well;
/// [`StandIn::shutdown`] also waits for that to finish.
#[derive(Debug)]
pub struct StandIn {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Binds `config.addr` and starts serving in the background (on the
    /// current Tokio runtime).
    pub async fn start(config: StandInConfig) -> anyhow::Result<Self> {
        if !config.master_key.starts_with("sk-") {
            bail!("the master key must start with `sk-` (LiteLLM refuses others)");
        }
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let shared = Arc::new(Shared {
            keys: Mutex::new(KeyStore::default()),
            master_key: config.master_key,
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(RequestLog::default()),
            addr,
            logging: AtomicBool::new(false),
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(Self {
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// The master key the admin routes accept.
    pub fn master_key(&self) -> &str {
        &self.shared.master_key
    }

    /// How many virtual keys exist.
    pub fn key_count(&self) -> usize {
        lock(&self.shared.keys).len()
    }

    /// Whether `/key/generate` refuses an alias another key has (on by
    /// default, as in current LiteLLM; off simulates the older versions
    /// that let several keys share one).
    pub fn set_unique_aliases(&self, on: bool) {
        lock(&self.shared.keys).allow_duplicate_aliases = !on;
    }

    /// Installs a fault rule; returns its id.
    pub fn inject(&self, fault: Fault) -> u64 {
        lock(&self.shared.faults).add(fault)
    }

    /// Removes one fault rule; false if there was none with that id.
    pub fn remove_fault(&self, id: u64) -> bool {
        lock(&self.shared.faults).remove(id)
    }

    /// The installed fault rules and their hit counts.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.shared.faults).list()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every LiteLLM API request received so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).list()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Turns the one-line-per-request log on stderr on or off (off by
    /// default for the library, on in the binary).
    pub fn set_request_logging(&self, on: bool) {
        self.shared.logging.store(on, Ordering::Relaxed);
    }

    /// Stops accepting, closes open connections and waits for the server
    /// task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Aborting the accept loop drops its JoinSet, which aborts every
            // connection task.
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off
                        // briefly instead of spinning.
                        eprintln!("cp-litellm-standin: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |req| serve(Arc::clone(&shared), req));
                    // Connection errors (resets, dropped-by-fault) are the
                    // client's business, not the server's.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Returned to hyper to close a connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct DroppedByFault;

async fn read_request(req: Request<Incoming>) -> Result<ApiRequest, Reply> {
    let (parts, body) = req.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let api_key = header(AUTHORIZATION.as_str()).or_else(|| header("x-litellm-api-key"));
    let body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            proxy_error(
                StatusCode::BAD_REQUEST,
                &format!("reading the request body: {e}"),
                ErrorType::BadRequest,
                None,
            )
        })?
        .to_bytes();
    Ok(ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        api_key,
        body,
    })
}

async fn serve(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DroppedByFault> {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);

    let request = match read_request(req).await {
        Ok(r) => r,
        Err(reply) => {
            record(
                &shared,
                &method,
                &path,
                query,
                started,
                None,
                Some(reply.status),
            );
            return Ok(to_response(reply));
        }
    };
    if request.path.starts_with(admin::PREFIX) {
        return Ok(to_response(admin::handle(&shared, &request)));
    }

    let target = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let fault = lock(&shared.faults).take(&method, &target);
    let injected = |status: u16, what: &str| {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        proxy_error(status, what, ErrorType::Internal, Some("None"))
    };
    let reply = match &fault {
        None => api::handle(&shared, &request),
        Some(FaultKind::Status { status }) => injected(*status, "injected by the stand-in"),
        Some(FaultKind::Drop) => {
            record(
                &shared,
                &method,
                &path,
                query,
                started,
                fault.as_ref(),
                None,
            );
            return Err(DroppedByFault);
        }
        Some(FaultKind::Delay { delay_ms }) => {
            // Processed on its own task so the request completes even if
            // the client stops waiting and the connection goes away.
            let delay = Duration::from_millis(*delay_ms);
            let task_shared = Arc::clone(&shared);
            let task = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                api::handle(&task_shared, &request)
            });
            match task.await {
                Ok(reply) => reply,
                Err(e) => injected(500, &format!("handler task failed: {e}")),
            }
        }
        Some(FaultKind::AfterApply { status }) => {
            // The answer is discarded: the client must not learn that the
            // change went through.
            let _applied = api::handle(&shared, &request);
            injected(
                *status,
                "injected by the stand-in after the request was applied",
            )
        }
    };
    record(
        &shared,
        &method,
        &path,
        query,
        started,
        fault.as_ref(),
        Some(reply.status),
    );
    Ok(to_response(reply))
}

fn record(
    shared: &Shared,
    method: &str,
    path: &str,
    query: Option<String>,
    started: Instant,
    fault: Option<&FaultKind>,
    status: Option<StatusCode>,
) {
    if shared.logging.load(Ordering::Relaxed) {
        // The query is not printed: `/key/info?key=` may carry a raw key.
        let shown_status = status.map_or_else(|| "dropped".to_string(), |s| s.as_u16().to_string());
        let shown_fault = fault
            .map(|f| format!(" [fault: {}]", f.name()))
            .unwrap_or_default();
        eprintln!(
            "cp-litellm-standin: {method} {path} {shown_status} {:.1}ms{shown_fault}",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    lock(&shared.log).push(RequestRecord {
        method: method.to_string(),
        path: path.to_string(),
        query,
        status: status.map(|s| s.as_u16()),
        fault: fault.map(|f| f.name().to_string()),
    });
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
