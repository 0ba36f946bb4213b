//! The HTTP server every stand-in runs: accepting connections, applying
//! injected faults, recording and logging requests, shutting down. What a
//! request means, and what an error looks like, is the stand-in's [`Api`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::faults::{Fault, FaultKind, FaultRule, Faults, RequestLog, RequestRecord};

/// The prefix of a stand-in's own endpoints (faults, request log): they
/// are answered by [`Api::admin`], never faulted and never logged.
pub const ADMIN_PREFIX: &str = "/_standin/";

/// An answer, ready to be written to the connection.
pub type Answer = Response<Full<Bytes>>;

/// The protocol a stand-in serves: the parts of serving a request that the
/// server loop cannot know.
pub trait Api: Send + Sync + 'static {
    /// A request as the stand-in's handlers take it.
    type Request: Send + 'static;

    /// The program name that prefixes log lines on stderr.
    const NAME: &'static str;

    /// Whether log lines on stderr show the query string (not where it
    /// may carry a credential). The request log keeps it either way.
    const LOGS_QUERY: bool;

    /// Reads a request: the headers it needs and the body, bounded. One
    /// that cannot be read is answered with the returned error (and
    /// logged like any other).
    fn read(
        request: Request<Incoming>,
    ) -> impl Future<Output = Result<Self::Request, Answer>> + Send;

    /// Answers an API request (one no fault stopped).
    fn handle(&self, request: &Self::Request) -> Answer;

    /// Answers a request under [`ADMIN_PREFIX`]: the stand-in's own
    /// endpoints over `handle`'s fault rules and request log.
    fn admin(&self, handle: &Handle, request: &Self::Request) -> Answer;

    /// The protocol's error answer with HTTP status `status`, for an
    /// injected fault (or a handler that failed); `message` says which.
    fn injected(&self, status: u16, message: &str) -> Answer;
}

/// Locks a mutex, recovering from poisoning: a panicking handler must not
/// take the whole stand-in down with it (the stand-ins change their state
/// one map operation at a time, so the data stays consistent).
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a test steers and observes on a running stand-in, whatever its
/// protocol: the address, the fault rules and the request log.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    faults: Mutex<Faults>,
    log: Mutex<RequestLog>,
    logging: AtomicBool,
}

impl Handle {
    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Installs a fault rule; returns its id.
    pub fn inject(&self, fault: Fault) -> u64 {
        lock(&self.faults).add(fault)
    }

    /// Removes one fault rule; false if there was none with that id.
    pub fn remove_fault(&self, id: u64) -> bool {
        lock(&self.faults).remove(id)
    }

    /// The installed fault rules and their hit counts.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.faults).list()
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Every API request received so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.log).list()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    /// Turns the one-line-per-request log on stderr on or off (off by
    /// default for the libraries, on in the binaries).
    pub fn set_request_logging(&self, on: bool) {
        self.logging.store(on, Ordering::Relaxed);
    }
}

/// A running server. Dropping it stops the server as well;
/// [`Server::shutdown`] also waits for that to finish.
#[derive(Debug)]
pub struct Server<A> {
    shared: Arc<Shared<A>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// State shared by every connection.
#[derive(Debug)]
struct Shared<A> {
    api: A,
    handle: Handle,
}

impl<A: Api> Server<A> {
    /// Binds `addr` and starts serving in the background (on the current
    /// Tokio runtime). `api` makes the protocol side, given the address
    /// actually bound (port 0 picks a free one).
    pub async fn start(
        addr: SocketAddr,
        api: impl FnOnce(SocketAddr) -> A,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let shared = Arc::new(Shared {
            api: api(addr),
            handle: Handle {
                addr,
                faults: Mutex::new(Faults::default()),
                log: Mutex::new(RequestLog::default()),
                logging: AtomicBool::new(false),
            },
        });
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(Self {
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address, fault rules and request log.
    pub fn handle(&self) -> &Handle {
        &self.shared.handle
    }

    /// The protocol side, as `start` made it.
    pub fn api(&self) -> &A {
        &self.shared.api
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

impl<A> Drop for Server<A> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Aborting the accept loop drops its JoinSet, which aborts every
            // connection task.
            task.abort();
        }
    }
}

async fn accept_loop<A: Api>(
    listener: TcpListener,
    shared: Arc<Shared<A>>,
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
                        eprintln!("{}: accept failed: {e}", A::NAME);
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

/// What the request log and the stderr line say about a request, taken
/// before the request is handed to the stand-in.
struct Received {
    method: String,
    path: String,
    query: Option<String>,
    started: Instant,
}

async fn serve<A: Api>(
    shared: Arc<Shared<A>>,
    req: Request<Incoming>,
) -> Result<Answer, DroppedByFault> {
    let received = Received {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(str::to_string),
        started: Instant::now(),
    };
    let (api, handle) = (&shared.api, &shared.handle);

    let request = match A::read(req).await {
        Ok(r) => r,
        Err(answer) => return Ok(finish::<A>(handle, received, None, answer)),
    };
    if received.path.starts_with(ADMIN_PREFIX) {
        return Ok(api.admin(handle, &request));
    }

    // Rules match the target as sent: path plus `?query`.
    let target = match &received.query {
        Some(q) => format!("{}?{q}", received.path),
        None => received.path.clone(),
    };
    let fault = lock(&handle.faults).take(&received.method, &target);
    let answer = match &fault {
        None => api.handle(&request),
        Some(FaultKind::Status { status }) => api.injected(*status, "injected by the stand-in"),
        Some(FaultKind::Drop) => {
            record::<A>(handle, received, fault.as_ref(), None);
            return Err(DroppedByFault);
        }
        Some(FaultKind::Delay { delay_ms }) => {
            // Processed on its own task so the request completes even if
            // the client stops waiting and the connection goes away.
            let delay = Duration::from_millis(*delay_ms);
            let task_shared = Arc::clone(&shared);
            let task = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                task_shared.api.handle(&request)
            });
            match task.await {
                Ok(answer) => answer,
                Err(e) => api.injected(500, &format!("handler task failed: {e}")),
            }
        }
        Some(FaultKind::AfterApply { status }) => {
            // The answer is discarded: the client must not learn that the
            // change went through.
            let _applied = api.handle(&request);
            api.injected(
                *status,
                "injected by the stand-in after the request was applied",
            )
        }
    };
    Ok(finish::<A>(handle, received, fault.as_ref(), answer))
}

fn finish<A: Api>(
    handle: &Handle,
    received: Received,
    fault: Option<&FaultKind>,
    answer: Answer,
) -> Answer {
    record::<A>(handle, received, fault, Some(answer.status()));
    answer
}

fn record<A: Api>(
    handle: &Handle,
    received: Received,
    fault: Option<&FaultKind>,
    status: Option<StatusCode>,
) {
    let Received {
        method,
        path,
        query,
        started,
    } = received;
    if handle.logging.load(Ordering::Relaxed) {
        let shown_query = match &query {
            Some(q) if A::LOGS_QUERY => format!("?{q}"),
            _ => String::new(),
        };
        let shown_status = status.map_or_else(|| "dropped".to_string(), |s| s.as_u16().to_string());
        let shown_fault = fault
            .map(|f| format!(" [fault: {}]", f.name()))
            .unwrap_or_default();
        eprintln!(
            "{}: {method} {path}{shown_query} {shown_status} {:.1}ms{shown_fault}",
            A::NAME,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    lock(&handle.log).push(RequestRecord {
        method,
        path,
        query,
        status: status.map(|s| s.as_u16()),
        fault: fault.map(|f| f.name().to_string()),
    });
}
