//! The HTTP/1.1 server: routes each request to a component and runs it in a fresh instance.
//!
//! Like `spin up`, it answers `/.well-known/spin/health` itself, answers unrouted paths with a
//! bare 404, gives the component Spin's `spin-*` headers, and turns a guest failure into a
//! 500 without stopping. One line per request goes to stderr.

use std::collections::HashMap;
use std::convert::Infallible;
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
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme as WasiScheme;
use wasmtime_wasi_http::WasiHttpView as _;

use crate::cache::{build_engine, default_cache_dir, Allocator};
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
}

impl ServeConfig {
    /// Serving `manifest` on 127.0.0.1:3000, like `spin up`.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            cache_dir: None,
            variables: HashMap::new(),
        }
    }
}

/// A loaded application: manifest, routes and linked components.
pub(crate) struct App {
    pub(crate) name: String,
    pub(crate) router: Router,
    pub(crate) runtime: Runtime,
    pub(crate) allocator: Allocator,
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
        let (engine, allocator) = build_engine()?;
        let runtime = Runtime::load(&engine, &manifest, &app_values, &cache_dir)?;
        Ok(Self {
            name: manifest.app_name,
            router,
            runtime,
            allocator,
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
        let accept_loop = tokio::spawn(accept_loop(listener, app.clone(), local_addr));
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

async fn accept_loop(listener: TcpListener, app: Arc<App>, local_addr: SocketAddr) {
    loop {
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
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, req, client_addr, local_addr).await) }
            });
            // Errors here are connection-level (client went away, malformed request).
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
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

async fn handle(
    app: &App,
    req: Request<Incoming>,
    client_addr: SocketAddr,
    local_addr: SocketAddr,
) -> Response<ResponseBody> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let logged_path = loggable_path(&path);

    let (response, component) = if let Some(name) = path.strip_prefix(WELL_KNOWN_PREFIX) {
        let response = match name {
            "health" => text_response(StatusCode::OK, "OK"),
            _ => empty_response(StatusCode::NOT_FOUND),
        };
        (response, None)
    } else if let Some(route) = app.router.route(&path) {
        let component_id = route.component().to_string();
        let result = match app.runtime.component(&component_id) {
            Some(component) => match prepare_request(req, &route, client_addr, local_addr) {
                Ok(req) => run_component(component, req).await,
                Err(e) => Err(e),
            },
            None => Err(anyhow!("no component {component_id:?} is loaded")),
        };
        let response = result.unwrap_or_else(|e| {
            eprintln!("cp-host: {method} {logged_path}: component {component_id} failed: {e:#}");
            text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
        });
        (response, Some(component_id))
    } else {
        (empty_response(StatusCode::NOT_FOUND), None)
    };

    eprintln!(
        "cp-host: {method} {logged_path} {} {} {:.3}ms",
        response.status().as_u16(),
        component.as_deref().unwrap_or("-"),
        start.elapsed().as_secs_f64() * 1000.0,
    );
    response
}

/// Gives the request an absolute URI (the guest's `incoming-request` needs an authority)
/// and Spin's headers.
fn prepare_request(
    req: Request<Incoming>,
    route: &crate::routing::RouteMatch<'_>,
    client_addr: SocketAddr,
    local_addr: SocketAddr,
) -> anyhow::Result<Request<Incoming>> {
    let (mut parts, body) = req.into_parts();
    let authority = match parts.headers.get(http::header::HOST) {
        Some(host) => host
            .to_str()
            .ok()
            .and_then(|h| h.parse::<Authority>().ok())
            .context("the Host header is not a valid authority")?,
        None => match parts.uri.authority() {
            Some(authority) => authority.clone(),
            None => Authority::try_from(local_addr.to_string())?,
        },
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
        .build()?;

    let full_url = format!("http://{authority}{path_and_query}");
    for (name, value) in route.spin_headers(&full_url, client_addr) {
        // `insert` replaces any client-sent header of the same name, so a client cannot
        // forge what the host tells the component.
        parts
            .headers
            .insert(HeaderName::try_from(name)?, HeaderValue::try_from(value)?);
    }
    Ok(Request::from_parts(parts, body))
}

/// Runs the component's `handle` in its own task and returns the response it sets.
async fn run_component(
    component: &ComponentRuntime,
    req: Request<Incoming>,
) -> anyhow::Result<Response<ResponseBody>> {
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

    match rx.await {
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

fn text_response(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
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
