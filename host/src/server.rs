//! The HTTP server (HTTP/1.1 and h2c): routes each request to a component and runs it in a
//! fresh instance.
//!
//! Like `spin up`, it answers `/.well-known/spin/health` and `/info` itself, answers unrouted
//! paths with a bare 404, closes the connection on a request without a usable authority,
//! gives the component Spin's `spin-*` headers, and turns a guest failure into a bare 500
//! without stopping. Request bodies, guest memory and running time, header reads and
//! connections are bounded by [`Limits`]. One line per request goes to stderr.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinHandle};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme as WasiScheme;
use wasmtime_wasi_http::WasiHttpView as _;

use crate::cache::{build_engine, default_cache_dir, Allocator};
use crate::limits::{BodyFailure, BodyOutcome, FirstBytesDeadline, GuardedBody, Limits};
use crate::manifest::Manifest;
use crate::routing::Router;
use crate::runtime::{ComponentRuntime, Runtime};
use crate::variables::resolve_app_variables;

/// The response body type served to clients.
type ResponseBody = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// How to load and serve an application.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Path of the `spin.toml`.
    pub manifest: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where compiled components are cached (default `<manifest dir>/target/cp-host-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Application variable values that override the environment (`--variable name=value`).
    pub variables: HashMap<String, String>,
    /// Resource limits.
    pub limits: Limits,
}

impl ServeConfig {
    /// Serving `manifest` on 127.0.0.1:3000, like `spin up`.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            cache_dir: None,
            variables: HashMap::new(),
            limits: Limits::default(),
        }
    }
}

/// A loaded application: manifest, routes and linked components.
pub(crate) struct App {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) router: Router,
    pub(crate) runtime: Runtime,
    pub(crate) allocator: Allocator,
    pub(crate) limits: Limits,
}

impl App {
    /// Reads the manifest, resolves variables from `config` and the process environment,
    /// and compiles and links every component.
    pub(crate) fn load(config: &ServeConfig) -> anyhow::Result<Self> {
        let manifest = Manifest::load(&config.manifest)?;
        let app_values = resolve_app_variables(&manifest.variables, &config.variables, |k| {
            std::env::var(k).ok()
        })?;
        let router = Router::build(
            manifest
                .http_triggers
                .iter()
                .map(|t| (t.route.as_str(), t.component.as_str())),
        )?;
        let cache_dir = config
            .cache_dir
            .clone()
            .unwrap_or_else(|| default_cache_dir(&manifest.dir));
        let (engine, allocator) = build_engine(config.limits.max_instance_memory_bytes)?;
        let runtime = Runtime::load(&engine, &manifest, &app_values, &cache_dir, &config.limits)?;
        Ok(Self {
            name: manifest.app_name,
            version: manifest.app_version,
            router,
            runtime,
            allocator,
            limits: config.limits.clone(),
        })
    }
}

/// A running server; dropping it stops accepting connections.
pub struct Server {
    local_addr: SocketAddr,
    app: Arc<App>,
    accept_loop: JoinHandle<()>,
}

impl Server {
    /// Loads the application, binds `config.listen` and starts serving in the background.
    pub async fn start(config: ServeConfig) -> anyhow::Result<Self> {
        let load_config = config.clone();
        // Compiling components is CPU-bound; keep it off the async workers.
        let app = tokio::task::spawn_blocking(move || App::load(&load_config))
            .await
            .context("loading the application panicked")??;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let app = Arc::new(app);
        let accept_loop = tokio::spawn(accept_loop(listener, app.clone()));
        Ok(Self {
            local_addr,
            app,
            accept_loop,
        })
    }

    /// The bound address (useful after listening on port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What `spin up` prints at startup: the base URL and one line per route.
    pub fn banner(&self) -> String {
        let base = format!("http://{}", self.local_addr);
        let mut out = format!("Serving {base}\nAvailable Routes:\n");
        for route in self.app.router.routes() {
            let _ = writeln!(out, "  {}: {base}{route}", route.component());
        }
        out
    }

    /// Serves until the accept loop ends (it only ends when aborted).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        (&mut self.accept_loop)
            .await
            .context("the server task failed")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// Loads the application, prints the routes, and serves until the process ends.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let server = Server::start(config).await?;
    eprintln!(
        "cp-host: application {:?}: {} component(s), {:?} instance allocator",
        server.app.name,
        server.app.runtime.component_ids().len(),
        server.app.allocator
    );
    print!("{}", server.banner());
    server.wait().await
}

async fn accept_loop(listener: TcpListener, app: Arc<App>) {
    let slots = Arc::new(Semaphore::new(app.limits.max_connections.max(1)));
    loop {
        // Take a slot before accepting: clients beyond the cap wait in the listen backlog
        // instead of each costing a task and buffers.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, client_addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Usually running out of file descriptors: back off instead of spinning.
                eprintln!("cp-host: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            serve_connection(app, stream, client_addr).await;
            drop(slot);
        });
    }
}

/// Streams an HTTP/2 client may have open on one connection.
const H2_MAX_CONCURRENT_STREAMS: u32 = 100;

/// Serves one connection, HTTP/1.1 or HTTP/2 with prior knowledge (h2c), as Spin does.
async fn serve_connection(app: Arc<App>, stream: TcpStream, client_addr: SocketAddr) {
    let limits = &app.limits;
    let io = TokioIo::new(FirstBytesDeadline::new(stream, limits.header_read_timeout));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS);
    let service_app = app.clone();
    let service = hyper::service::service_fn(move |req| {
        let app = service_app.clone();
        async move { handle(&app, req, client_addr).await }
    });
    // Errors here are connection-level (client went away, malformed request, a timeout,
    // or a request refused by closing the connection).
    let _ = builder.serve_connection(io, service).await;
}

const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// Prefixes of the project's bearer secrets that can travel in a path
/// segment (an invitation token in `/api/v1/invitations/{token}/accept`).
const SECRET_SEGMENT_PREFIXES: &[&str] = &["cpinv_"];

/// The path as the request log shows it: a segment carrying a secret keeps
/// only its prefix, so the log never holds one.
fn loggable_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            match SECRET_SEGMENT_PREFIXES
                .iter()
                .find(|p| seg.len() > p.len() && seg.starts_with(**p))
            {
                Some(prefix) => format!("{prefix}[redacted]"),
                None => seg.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A request the host refuses by closing the connection without an answer, as Spin does
/// when it cannot tell the request's authority.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

async fn handle(
    app: &App,
    req: Request<Incoming>,
    client_addr: SocketAddr,
) -> Result<Response<ResponseBody>, Refused> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let logged_path = loggable_path(&path);

    let (result, component) = if let Some(name) = path.strip_prefix(WELL_KNOWN_PREFIX) {
        let response = match name {
            // Spin answers "OK" with no content type.
            "health" => bytes_response(StatusCode::OK, Bytes::from_static(b"OK")),
            "info" => info_response(app),
            _ => empty_response(StatusCode::NOT_FOUND),
        };
        (Ok(response), None)
    } else if let Some(route) = app.router.route(&path) {
        let component_id = route.component().to_string();
        match serve_route(app, req, &route, client_addr).await {
            Err(refused) => (Err(refused), None),
            // The log names no component when none ran.
            Ok(RouteAnswer::Host(response)) => (Ok(response), None),
            Ok(RouteAnswer::Component(Ok(response))) => (Ok(response), Some(component_id)),
            Ok(RouteAnswer::Component(Err(e))) => {
                eprintln!(
                    "cp-host: {method} {logged_path}: component {component_id} failed: {e:#}"
                );
                // Spin's answer to a component failure: 500, empty, no content type.
                let response = empty_response(StatusCode::INTERNAL_SERVER_ERROR);
                (Ok(response), Some(component_id))
            }
        }
    } else {
        (Ok(empty_response(StatusCode::NOT_FOUND)), None)
    };

    let status = match &result {
        Ok(response) => response.status().as_u16().to_string(),
        Err(refused) => format!("closed ({refused})"),
    };
    eprintln!(
        "cp-host: {method} {logged_path} {status} {} {:.3}ms",
        component.as_deref().unwrap_or("-"),
        start.elapsed().as_secs_f64() * 1000.0,
    );
    result
}

/// `/.well-known/spin/info`: the application's name and version, as Spin shows them.
fn info_response(app: &App) -> Response<ResponseBody> {
    let mut info = serde_json::Map::new();
    info.insert("name".into(), app.name.clone().into());
    if let Some(version) = &app.version {
        info.insert("version".into(), version.clone().into());
    }
    let body = serde_json::to_vec_pretty(&info).unwrap_or_default();
    let mut response = bytes_response(StatusCode::OK, Bytes::from(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The answer to a routed request.
enum RouteAnswer {
    /// Decided by the host before the component ran.
    Host(Response<ResponseBody>),
    /// From running the component; an error is a component failure (answered 500).
    Component(anyhow::Result<Response<ResponseBody>>),
}

/// Runs a routed request. An error closes the connection.
async fn serve_route(
    app: &App,
    req: Request<Incoming>,
    route: &crate::routing::RouteMatch<'_>,
    client_addr: SocketAddr,
) -> Result<RouteAnswer, Refused> {
    let http1 = req.version() < Version::HTTP_2;
    let method = req.method().clone();
    let req = prepare_request(req, route, client_addr)?;
    if let Some(name) = non_utf8_header(req.headers()) {
        eprintln!(
            "cp-host: {method} {}: the value of header {name:?} is not UTF-8; answered 500 \
             without running the component, as Spin does",
            loggable_path(req.uri().path())
        );
        return Ok(RouteAnswer::Host(empty_response(
            StatusCode::INTERNAL_SERVER_ERROR,
        )));
    }
    // A declared length over the limit is refused before anything is read.
    if req.body().size_hint().lower() > app.limits.max_request_body_bytes {
        return Ok(RouteAnswer::Host(body_failure_response(
            BodyFailure::TooLarge,
            http1,
        )));
    }
    let component_id = route.component();
    let Some(component) = app.runtime.component(component_id) else {
        return Ok(RouteAnswer::Component(Err(anyhow!(
            "no component {component_id:?} is loaded"
        ))));
    };
    let outcome = BodyOutcome::default();
    let req = req.map(|body| GuardedBody::new(body, &app.limits, outcome.clone()));
    let result = run_component(component, req).await;
    // A body that failed to arrive whole decides the answer: whatever the guest made of
    // the error (spin-sdk answers 500 with the host's error text) is dropped, which also
    // stops the guest.
    if let Some(why) = outcome.get() {
        drop(result);
        return Ok(RouteAnswer::Component(Ok(body_failure_response(
            *why, http1,
        ))));
    }
    Ok(RouteAnswer::Component(result))
}

/// The answer to a request whose body could not be read whole: a bare status, and the
/// connection closes (the rest of the body is never read).
fn body_failure_response(why: BodyFailure, http1: bool) -> Response<ResponseBody> {
    let status = match why {
        BodyFailure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        BodyFailure::TimedOut => StatusCode::REQUEST_TIMEOUT,
        BodyFailure::Broken => StatusCode::BAD_REQUEST,
    };
    let mut response = empty_response(status);
    if http1 {
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The first header whose value is not UTF-8 (Spin answers such a request with a 500).
fn non_utf8_header(headers: &http::HeaderMap) -> Option<&HeaderName> {
    headers
        .iter()
        .find(|(_, value)| std::str::from_utf8(value.as_bytes()).is_err())
        .map(|(name, _)| name)
}

/// Gives the request an absolute URI (the guest's `incoming-request` needs an authority)
/// and Spin's headers. Like Spin, the authority comes from the `Host` header or the
/// request target, and a request with neither, an invalid one, or two that disagree is
/// refused.
fn prepare_request(
    req: Request<Incoming>,
    route: &crate::routing::RouteMatch<'_>,
    client_addr: SocketAddr,
) -> Result<Request<Incoming>, Refused> {
    let (mut parts, body) = req.into_parts();
    let from_header = match parts.headers.get(http::header::HOST) {
        Some(host) => Some(
            std::str::from_utf8(host.as_bytes())
                .ok()
                .and_then(|h| h.parse::<Authority>().ok())
                .ok_or_else(|| Refused("the Host header is not a valid authority".into()))?,
        ),
        None => None,
    };
    let authority = match (from_header, parts.uri.authority()) {
        (None, None) => return Err(Refused("the request has no Host header".into())),
        (Some(host), None) => host,
        (None, Some(target)) => target.clone(),
        (Some(host), Some(target)) if host == *target => host,
        (Some(_), Some(_)) => {
            return Err(Refused(
                "the Host header and the request target name different authorities".into(),
            ))
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/")
        .to_string();
    parts.uri = Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(authority.clone())
        .path_and_query(path_and_query.as_str())
        .build()
        .map_err(|e| Refused(format!("cannot form the request URL: {e}")))?;

    let full_url = format!("http://{authority}{path_and_query}");
    for (name, value) in route.spin_headers(&full_url, client_addr) {
        // `insert` replaces any client-sent header of the same name, so a client cannot
        // forge what the host tells the component.
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value))
        else {
            return Err(Refused(
                "the request URL cannot be passed on in a header".into(),
            ));
        };
        parts.headers.insert(name, value);
    }
    Ok(Request::from_parts(parts, body))
}

/// Runs the component's `handle` in its own task and returns the response it sets.
async fn run_component(
    component: &ComponentRuntime,
    req: Request<GuardedBody>,
) -> anyhow::Result<Response<ResponseBody>> {
    let timeout = component.request_timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut store = component.new_store();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(WasiScheme::Http, req)
        .map_err(anyhow::Error::from)?;
    let outparam = store
        .data_mut()
        .http()
        .new_response_outparam(tx)
        .map_err(anyhow::Error::from)?;
    let proxy = component.instantiate(&mut store).await?;

    // The guest keeps running after setting the response: it writes the body then.
    let task = tokio::spawn(async move {
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await
            .map_err(anyhow::Error::from)
    });

    // The epoch deadline stops a guest that runs past it; this one also covers a guest
    // waiting on the host (an outbound call) when the deadline passes.
    let Ok(answer) = tokio::time::timeout_at(deadline, rx).await else {
        task.abort();
        return Err(anyhow!(
            "the component did not respond within the request timeout ({timeout:?})"
        ));
    };
    match answer {
        Ok(Ok(response)) => {
            let abort = task.abort_handle();
            let id = component.id().to_string();
            tokio::spawn(async move {
                match task.await {
                    Ok(Ok(())) => {}
                    Err(e) if e.is_cancelled() => {}
                    Ok(Err(e)) => eprintln!(
                        "cp-host: component {id} failed after sending its response: {e:#}"
                    ),
                    Err(e) => eprintln!(
                        "cp-host: component {id} panicked after sending its response: {e}"
                    ),
                }
            });
            Ok(response.map(|body| AbortOnDrop { body, abort }.boxed_unsync()))
        }
        Ok(Err(code)) => {
            task.abort();
            Err(anyhow!("the component responded with error {code:?}"))
        }
        Err(_) => match task.await {
            Ok(Ok(())) => Err(anyhow!("the component returned without setting a response")),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(anyhow!("the component task panicked: {e}")),
        },
    }
}

/// A response body that stops the guest when dropped (client gone, or body done), so an
/// abandoned request releases its instance and any outbound work right away, as in Spin.
struct AbortOnDrop {
    body: ResponseBody,
    abort: AbortHandle,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

impl Body for AbortOnDrop {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

fn empty_response(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

fn bytes_response(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let body = Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod log_tests {
    use super::loggable_path;

    #[test]
    fn secret_path_segments_are_redacted_in_the_log() {
        assert_eq!(
            loggable_path("/api/v1/invitations/cpinv_AbC-d_e/accept"),
            "/api/v1/invitations/cpinv_[redacted]/accept"
        );
        assert_eq!(
            loggable_path("/api/v1/tenants/acme"),
            "/api/v1/tenants/acme"
        );
        assert_eq!(loggable_path("/"), "/");
    }
}
