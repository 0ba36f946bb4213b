//! Shared fixtures: the probe component, a manifest builder, an in-process host and an HTTP client.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Path of the probe component, built by
/// `cargo build --target wasm32-wasip2 --profile wasm -p cp-host-probe`.
pub fn probe_wasm() -> PathBuf {
    let dir = match std::env::var_os("CP_WASM_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
            target.join("wasm32-wasip2/wasm")
        }
    };
    let wasm = dir.join("cp_host_probe.wasm");
    assert!(
        wasm.is_file(),
        "{} does not exist: build the probe component first with \
         `cargo build --target wasm32-wasip2 --profile wasm -p cp-host-probe` \
         (or point CP_WASM_DIR at the directory holding cp_host_probe.wasm)",
        wasm.display()
    );
    wasm
}

/// The admin URL of the test PostgreSQL; the suite must not silently skip without one.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: these tests need a real PostgreSQL. Start one with \
             `scripts/pg.sh start` and export DATABASE_URL=postgres://postgres@127.0.0.1:55432/postgres"
        )
    })
}

/// A component entry of a test manifest (every component runs the probe).
#[derive(Default, Clone)]
pub struct TestComponent {
    pub id: String,
    pub routes: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    pub variables: Vec<(String, String)>,
}

impl TestComponent {
    pub fn new(id: &str, routes: &[&str]) -> Self {
        Self {
            id: id.to_string(),
            routes: routes.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn allow(mut self, host: &str) -> Self {
        self.allowed_outbound_hosts.push(host.to_string());
        self
    }

    pub fn variable(mut self, name: &str, template: &str) -> Self {
        self.variables
            .push((name.to_string(), template.to_string()));
        self
    }
}

/// Builds a manifest in a fresh temporary directory.
#[derive(Default)]
pub struct TestApp {
    /// `[variables]` lines, e.g. `("greeting", "{ default = \"hi\" }")`.
    pub app_variables: Vec<(String, String)>,
    pub components: Vec<TestComponent>,
    pub overrides: HashMap<String, String>,
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

impl TestApp {
    pub fn app_variable(mut self, name: &str, decl: &str) -> Self {
        self.app_variables
            .push((name.to_string(), decl.to_string()));
        self
    }

    pub fn component(mut self, component: TestComponent) -> Self {
        self.components.push(component);
        self
    }

    pub fn manifest_text(&self) -> String {
        let wasm = probe_wasm();
        let mut text =
            String::from("spin_manifest_version = 2\n[application]\nname = \"probe-test\"\nversion = \"1.2.3\"\n");
        text.push_str("[variables]\n");
        for (name, decl) in &self.app_variables {
            writeln!(text, "{name} = {decl}").unwrap();
        }
        for c in &self.components {
            for route in &c.routes {
                writeln!(
                    text,
                    "[[trigger.http]]\nroute = {route:?}\ncomponent = {:?}",
                    c.id
                )
                .unwrap();
            }
        }
        for c in &self.components {
            writeln!(
                text,
                "[component.{}]\nsource = {:?}",
                c.id,
                wasm.display().to_string()
            )
            .unwrap();
            writeln!(
                text,
                "allowed_outbound_hosts = {:?}",
                c.allowed_outbound_hosts
            )
            .unwrap();
            writeln!(text, "[component.{}.variables]", c.id).unwrap();
            for (name, template) in &c.variables {
                writeln!(text, "{name} = {template:?}").unwrap();
            }
        }
        text
    }

    /// Writes the manifest and returns the serve configuration for it.
    pub fn config(&self) -> cp_host::ServeConfig {
        let dir = std::env::temp_dir().join(format!(
            "cp-host-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join("spin.toml");
        std::fs::write(&manifest, self.manifest_text()).unwrap();
        let mut config = cp_host::ServeConfig::new(manifest);
        config.listen = "127.0.0.1:0".parse().unwrap();
        // Shared by all tests so the probe is compiled once.
        config.cache_dir = Some(std::env::temp_dir().join("cp-host-test-cache"));
        config.variables = self.overrides.clone();
        config
    }

    pub async fn start(&self) -> Running {
        self.start_with(cp_host::Limits::default()).await
    }

    /// Starts the app under `limits`.
    pub async fn start_with(&self, limits: cp_host::Limits) -> Running {
        let mut config = self.config();
        config.limits = limits;
        let server = cp_host::Server::start(config).await.unwrap();
        Running { server }
    }
}

/// A host serving a test app.
pub struct Running {
    pub server: cp_host::Server,
}

/// An HTTP response, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {:?}", self.body))
    }
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    pub async fn get(&self, path_and_query: &str) -> Reply {
        request(self.addr(), "GET", path_and_query, "").await
    }

    pub async fn post(&self, path_and_query: &str, body: &str) -> Reply {
        request(self.addr(), "POST", path_and_query, body).await
    }
}

pub async fn request(addr: SocketAddr, method: &str, path_and_query: &str, body: &str) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path_and_query}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(req).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// What came back on a raw connection.
pub struct RawReply {
    /// Everything read before the connection closed or the read timed out.
    pub bytes: Vec<u8>,
    /// Whether the server closed the connection (rather than the read timing out).
    pub closed: bool,
}

impl RawReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The status code of the first response, if one arrived.
    pub fn status(&self) -> Option<u16> {
        let text = self.text();
        let line = text.lines().next()?;
        line.split(' ').nth(1)?.parse().ok()
    }

    /// The body of the first response (after the blank line).
    pub fn body(&self) -> String {
        let text = self.text();
        text.split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    /// The value of a header of the first response, by lowercase name.
    pub fn header(&self, name: &str) -> Option<String> {
        let text = self.text();
        let head = text
            .split_once("\r\n\r\n")
            .map_or(text.as_str(), |(h, _)| h);
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Sends `bytes` on a fresh connection (then half-closes it when `half_close`), and reads
/// until the server closes the connection or `wait` passes.
pub async fn raw_exchange(
    addr: SocketAddr,
    bytes: &[u8],
    half_close: bool,
    wait: std::time::Duration,
) -> RawReply {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    if half_close {
        stream.shutdown().await.unwrap();
    }
    read_until_closed(&mut stream, wait).await
}

/// Reads until the peer closes the connection (or resets it) or `wait` passes.
pub async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    wait: std::time::Duration,
) -> RawReply {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => {
                return RawReply {
                    bytes,
                    closed: false,
                }
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                return RawReply {
                    bytes,
                    closed: true,
                }
            }
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
        }
    }
}

/// `cp-host serve` on `app` on a free port, exiting when its stdin closes; stdin and stdout
/// are piped (the first line on stdout says where it listens).
pub fn serve_command(app: &TestApp) -> Command {
    let config = app.config();
    let mut command = Command::new(env!("CARGO_BIN_EXE_cp-host"));
    command
        .arg("serve")
        .arg("--manifest")
        .arg(&config.manifest)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--exit-on-stdin-eof",
            "--cache-dir",
        ])
        .arg(config.cache_dir.as_ref().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    command
}

/// The cp-host binary serving the probe, with its stdin held (it exits when it closes).
pub struct HostProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl HostProcess {
    /// Starts `cp-host serve` on `app` with extra arguments and environment variables.
    pub fn start(app: &TestApp, extra_args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = serve_command(app)
            .args(extra_args)
            .env_remove("RUST_LIB_BACKTRACE")
            .envs(envs.iter().copied())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let serving = lines.next().unwrap().unwrap();
        let addr = serving
            .strip_prefix("Serving http://")
            .unwrap_or_else(|| panic!("unexpected first line {serving:?}"))
            .parse()
            .unwrap();
        // Keep draining stdout so the child never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }

    /// VmRSS of the process, in bytes.
    pub fn rss(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib * 1024
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
