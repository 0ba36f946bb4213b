//! Test harness: one environment per test binary, made of real parts.
//!
//! - a fresh PostgreSQL database (on the private cluster `scripts/pg.sh`
//!   starts; `DATABASE_URL` is its admin URL), migrated with `cp-migrate`;
//! - the Kubernetes API stand-in, in process, so tests can inject faults;
//! - the LiteLLM stand-in (virtual keys), in process, likewise;
//! - the project's Spin-compatible host (`target/release/cp-host`) as a
//!   child process serving the real `spin.toml` and `.wasm` components, with
//!   Spin variables from `SPIN_VARIABLE_*` exactly as `spin up` takes them.
//!
//! The server can be another one ([`Server`]): with `CP_SPIN_BIN` the suite
//! starts that `spin up` on the same manifest, address and variables; with
//! `CP_BASE_URL` it drives a server that is already running (see
//! CONTRIBUTING.md). Assertions on cp-host's own log then skip themselves.
//!
//! Tests isolate themselves by unique resource names, so they run in
//! parallel; tests that need the whole fleet to themselves (drift, faults)
//! live in their own binary and serialise on [`exclusive`].

#![deny(missing_docs)]
#![allow(clippy::unwrap_used)]

pub mod bench;
pub mod cmek;
pub mod oidc;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cp_kube_standin::{StandIn, StandInConfig};
use cp_litellm_standin::{StandIn as LitellmStandIn, StandInConfig as LitellmConfig};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The operator token the host is started with.
pub const OPERATOR_TOKEN: &str = "test-operator-token-3f9a";
/// The token the stand-in requires (as a cluster requires a service account token).
pub const KUBE_TOKEN: &str = "test-kube-token-81c2";
/// Namespace of the CRDs.
pub const NAMESPACE: &str = "opencrane";
/// The master key for secrets encrypted at rest (32 bytes, base64).
pub const SECRETS_KEY: &str = "dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmctISE=";
/// The master key of the LiteLLM stand-in (LiteLLM's start with `sk-`).
pub const LITELLM_MASTER_KEY: &str = "sk-test-litellm-master-5b1e";
/// The HS256 key of user JWTs (32 bytes, base64), so tests can forge tokens.
pub const JWT_SECRET: &str = "dGVzdC1qd3Qta2V5LTMyLWJ5dGVzLWxvbmctLS0tISE=";

/// The OCI registry the skills backfill pushes to: `CP_OCI_REGISTRY_URL`
/// (set by `scripts/test.sh`, which starts a real registry), else the
/// registry's usual local address.
pub fn oci_registry_url() -> String {
    std::env::var("CP_OCI_REGISTRY_URL").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// The running environment of this test binary.
pub struct TestEnv {
    /// Base URL of the host, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// URL of this binary's database.
    pub db_url: String,
    /// The Kubernetes stand-in.
    pub kube: StandIn,
    /// The LiteLLM stand-in (tenants' virtual keys).
    pub litellm: LitellmStandIn,
    /// Where the host writes its stderr (for log assertions; read it through
    /// [`server_log`], which knows when there is no cp-host log to read).
    pub host_log: PathBuf,
    /// The server process (none for [`Server::External`]).
    _host: Mutex<Option<Child>>,
}

impl TestEnv {
    /// Another cp-host on this environment's database and stand-ins, with
    /// `variables` over the test defaults: the same deployment after a
    /// configuration change (a new master key). `None` when the suite
    /// drives another server than cp-host (it cannot be restarted from
    /// here). Stopped when dropped.
    pub fn other_host(&self, variables: &[(&str, &str)]) -> Option<OtherHost> {
        let Server::CpHost(bin) = server() else {
            return None;
        };
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "cp_test_other_{}-host.log",
            uuid::Uuid::now_v7().simple()
        ));
        let vars = server_variables(
            port,
            &self.db_url,
            &db_host_of(&self.db_url),
            &self.kube,
            &self.litellm,
            variables,
        );
        let command = cp_host_command(bin, &format!("127.0.0.1:{port}"));
        let child = spawn_logged(command, vars, &log)
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let url = format!("http://127.0.0.1:{port}");
        let host = OtherHost { url, child };
        wait_ready(&host.url, &log);
        Some(host)
    }
}

/// `cp-host serve` of the product's manifest on `listen`, exiting when its
/// stdin closes.
fn cp_host_command(bin: &Path, listen: &str) -> Command {
    let mut command = Command::new(bin);
    command
        .args(["serve", "--manifest"])
        .arg(workspace().join("spin.toml"))
        .args(["--listen", listen, "--exit-on-stdin-eof"]);
    command
}

/// Starts `command` in the workspace with the Spin variables `vars`
/// (`SPIN_VARIABLE_<NAME>`), its stdin piped (closing it ends the server)
/// and its output in `log`.
fn spawn_logged(
    mut command: Command,
    vars: Vec<(String, String)>,
    log: &Path,
) -> std::io::Result<Child> {
    command.current_dir(workspace());
    for (name, value) in vars {
        command.env(
            format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
            value,
        );
    }
    let file = std::fs::File::create(log)?;
    command
        .stdin(Stdio::piped())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
}

/// A second cp-host of [`TestEnv::other_host`].
pub struct OtherHost {
    /// Its base URL.
    pub url: String,
    child: Child,
}

impl Drop for OtherHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server the suite drives, chosen by the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Server {
    /// `target/release/cp-host` (or `CP_HOST_BIN`), started per test binary: the default.
    CpHost(PathBuf),
    /// `spin up` of the binary in `CP_SPIN_BIN`, started per test binary on the same
    /// manifest, listen address and variables.
    Spin(PathBuf),
    /// A server already running at `CP_BASE_URL`, started by hand with the variables the
    /// suite prints (its database is `DATABASE_URL`, its stand-ins listen on
    /// `CP_KUBE_STANDIN_ADDR` and `CP_LITELLM_STANDIN_ADDR`).
    External(String),
}

impl Server {
    fn from_env() -> Self {
        let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(url) = set("CP_BASE_URL") {
            return Self::External(url.trim_end_matches('/').to_owned());
        }
        if let Some(spin) = set("CP_SPIN_BIN") {
            return Self::Spin(PathBuf::from(spin));
        }
        Self::CpHost(
            set("CP_HOST_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace().join("target/release/cp-host")),
        )
    }

    fn describe(&self) -> String {
        match self {
            Self::CpHost(bin) => format!("cp-host ({})", bin.display()),
            Self::Spin(bin) => format!("spin up ({}, CP_SPIN_BIN)", bin.display()),
            Self::External(url) => format!("the server at {url} (CP_BASE_URL)"),
        }
    }
}

/// The server this run drives.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::from_env)
}

/// Whether the run drives cp-host. When it does not, says on stderr that `what` is
/// skipped and why, so a test can return early.
pub fn skip_unless_cp_host(what: &str) -> bool {
    match server() {
        Server::CpHost(_) => false,
        other => {
            eprintln!(
                "skipped: {what} looks at cp-host's internals, and this run targets {}",
                other.describe()
            );
            true
        }
    }
}

/// cp-host's log so far, for assertions on what it logged; `None` (saying so on stderr)
/// when the run targets another server, whose log this harness does not interpret.
pub fn server_log(what: &str) -> Option<String> {
    if skip_unless_cp_host(what) {
        return None;
    }
    Some(std::fs::read_to_string(&env().host_log).unwrap_or_default())
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

static ENV: OnceLock<TestEnv> = OnceLock::new();
static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Serialises tests that inspect or disturb global state (all tenants,
/// injected faults). An async lock: it is held across requests, and a
/// failed test releases it like any other.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    EXCLUSIVE.lock().await
}

/// The environment, started on first use.
pub fn env() -> &'static TestEnv {
    ENV.get_or_init(|| {
        let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            panic!("DATABASE_URL is not set: run the tests with `make test` (it starts PostgreSQL via scripts/pg.sh)")
        });
        start(&admin_url, &[])
    })
}

/// The environment with these Spin variables on top of the defaults, for a
/// binary whose tests need other settings (low sign-in limits). The first
/// call of the binary decides: call it before anything else does.
pub fn env_with_variables(variables: &[(&str, &str)]) -> &'static TestEnv {
    ENV.get_or_init(|| {
        let admin_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
            panic!("DATABASE_URL is not set: run the tests with `make test` (it starts PostgreSQL via scripts/pg.sh)")
        });
        start(&admin_url, variables)
    })
}

/// The environment on another PostgreSQL server (a binary that stops and
/// starts its own cluster). The first call decides.
pub fn env_with_database(admin_url: &str) -> &'static TestEnv {
    ENV.get_or_init(|| start(admin_url, &[]))
}

/// Appends a line to the quality-gate summary `target/quality/<gate>.txt`,
/// which `make test` prints at the end.
pub fn report(gate: &str, line: &str) {
    use std::io::Write;
    let dir = workspace().join("target/quality");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{gate}.txt")))
    {
        let _ = writeln!(f, "{line}");
    }
}

fn start(admin_url: &str, variables: &[(&str, &str)]) -> TestEnv {
    let server = server().clone();
    let external = matches!(server, Server::External(_));
    let admin_url = admin_url.to_owned();
    // An external server has its database already: DATABASE_URL names it.
    let db_name = format!("cp_test_{}", uuid::Uuid::now_v7().simple());
    let db_url = if external {
        admin_url.clone()
    } else {
        with_database(&admin_url, &db_name)
    };
    // The stand-ins listen where an external server was told they are.
    let standin_addr = |var: &str, default: &str| -> std::net::SocketAddr {
        let addr = if external {
            std::env::var(var).unwrap_or_else(|_| default.to_owned())
        } else {
            "127.0.0.1:0".to_owned()
        };
        addr.parse()
            .unwrap_or_else(|e| panic!("{var}={addr} is not an address: {e}"))
    };
    let kube_addr = standin_addr("CP_KUBE_STANDIN_ADDR", "127.0.0.1:18081");
    let litellm_addr = standin_addr("CP_LITELLM_STANDIN_ADDR", "127.0.0.1:18082");

    // Background runtime for the stand-in and setup: it must outlive every
    // test's own runtime.
    let (tx, rx) = std::sync::mpsc::channel();
    let setup_admin = admin_url.clone();
    let setup_db = db_url.clone();
    let setup_name = db_name.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            if !external {
                cp_migrate::ensure_database(&setup_admin, &setup_name)
                    .await
                    .unwrap();
            }
            let mut client = cp_migrate::connect(&setup_db).await.unwrap();
            cp_migrate::migrate(&mut client).await.unwrap();
            let kube = StandIn::start(StandInConfig {
                addr: kube_addr,
                token: Some(KUBE_TOKEN.into()),
                operator: true,
            })
            .await
            .unwrap();
            let litellm = LitellmStandIn::start(LitellmConfig {
                addr: litellm_addr,
                master_key: LITELLM_MASTER_KEY.into(),
            })
            .await
            .unwrap();
            tx.send((kube, litellm)).unwrap();
            std::future::pending::<()>().await;
        });
    });
    let (kube, litellm) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("stand-in did not start");

    let host_log = std::env::temp_dir().join(format!("{db_name}-host.log"));
    let (url, child) = match &server {
        Server::External(url) => {
            let port = url
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(80);
            let vars = server_variables(
                port,
                &db_url,
                &db_host_of(&db_url),
                &kube,
                &litellm,
                variables,
            );
            eprintln!(
                "cp-tests: driving {}; it must run with these variables:\n{}",
                server.describe(),
                vars.iter()
                    .map(|(k, v)| format!("  SPIN_VARIABLE_{}={v}", k.to_ascii_uppercase()))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            (url.clone(), None)
        }
        Server::CpHost(bin) | Server::Spin(bin) => {
            assert!(
                bin.exists(),
                "{} is missing: build it with `make host` (or run `make test`), or point \
                 CP_HOST_BIN / CP_SPIN_BIN at it",
                bin.display()
            );
            let port = free_port();
            let listen = format!("127.0.0.1:{port}");
            let manifest = workspace().join("spin.toml");
            let command = match &server {
                Server::Spin(_) => {
                    // `spin up` has no way to follow its parent: a shell ends it when the
                    // test binary exits and closes the shell's stdin.
                    let mut c = Command::new("sh");
                    c.arg("-c")
                        .arg("\"$@\" & pid=$!; cat >/dev/null; kill \"$pid\" 2>/dev/null; wait \"$pid\"")
                        .arg("sh")
                        .arg(bin)
                        .arg("up")
                        .arg("--from")
                        .arg(&manifest)
                        .args(["--listen", &listen]);
                    c
                }
                _ => cp_host_command(bin, &listen),
            };
            let vars = server_variables(
                port,
                &db_url,
                &db_host_of(&admin_url),
                &kube,
                &litellm,
                variables,
            );
            let child = spawn_logged(command, vars, &host_log)
                .unwrap_or_else(|e| panic!("starting {}: {e}", server.describe()));
            (format!("http://{listen}"), Some(child))
        }
    };
    wait_ready(&url, &host_log);
    TestEnv {
        url,
        db_url,
        kube,
        litellm,
        host_log,
        _host: Mutex::new(child),
    }
}

/// The application variables the server runs with (names as in spin.toml), for a server
/// listening on `port`.
fn server_variables(
    port: u16,
    db_url: &str,
    db_host: &str,
    kube: &StandIn,
    litellm: &LitellmStandIn,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut vars: Vec<(&str, String)> = vec![
        ("api_token", OPERATOR_TOKEN.into()),
        ("db_url", db_url.into()),
        ("db_host", db_host.into()),
        ("kube_url", kube.url()),
        ("kube_token", KUBE_TOKEN.into()),
        ("kube_namespace", NAMESPACE.into()),
        ("kube_timeout_ms", "1500".into()),
        ("secrets_key", SECRETS_KEY.into()),
        ("jwt_secret", JWT_SECRET.into()),
        ("oci_registry_url", oci_registry_url()),
        ("oci_timeout_ms", "5000".into()),
        ("litellm_url", litellm.url()),
        ("litellm_allowed_host", litellm.url()),
        ("litellm_master_key", LITELLM_MASTER_KEY.into()),
        ("litellm_timeout_ms", "1500".into()),
        // The identity provider scripts/oidc.sh runs (tests/oidc/provider.mjs).
        ("oidc_issuer", oidc::issuer()),
        ("oidc_allowed_host", oidc::issuer()),
        ("oidc_client_id", oidc::CLIENT_ID.into()),
        ("oidc_client_secret", oidc::CLIENT_SECRET.into()),
        (
            "oidc_redirect_uri",
            format!("http://127.0.0.1:{port}/api/v1/auth/callback"),
        ),
        ("oidc_extra_audiences", oidc::CLI_CLIENT_ID.into()),
        (
            "device_poll_interval_secs",
            oidc::DEVICE_POLL_INTERVAL_SECS.to_string(),
        ),
        // Every test request comes from 127.0.0.1: the per-address sign-in
        // and enrolment limits would make tests depend on each other
        // (tests/tests/throttle.rs and agent_enrollment.rs set low ones).
        ("login_max_failures_per_address", "100000000".into()),
        ("signup_max_per_address", "100000000".into()),
        ("device_start_max_per_address", "100000000".into()),
        ("enroll_max_per_address", "100000000".into()),
        ("enroll_max_per_org", "100000000".into()),
        ("enroll_max_pending_per_org", "100000000".into()),
        // The chains' RPC endpoints tests register (a local node).
        ("chain_rpc_allowed_host", "http://127.0.0.1:*".into()),
    ];
    // A test binary's own variables win.
    for (name, value) in extra {
        vars.retain(|(n, _)| n != name);
        vars.push((name, (*value).to_owned()));
    }
    vars.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until a host at `url` answers `/healthz` (panics with its log otherwise).
pub fn wait_ready(url: &str, log: &Path) {
    let addr = url.trim_start_matches("http://").to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the server did not become ready at {url}; its log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A benchmark's own database `name`, dropped and recreated empty, then
/// migrated; returns its URL (`admin` is the cluster's admin URL).
pub async fn fresh_database(admin: &str, name: &str) -> anyhow::Result<String> {
    cp_migrate::connect(admin)
        .await?
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    cp_migrate::ensure_database(admin, name).await?;
    let url = with_database(admin, name);
    cp_migrate::migrate(&mut cp_migrate::connect(&url).await?).await?;
    Ok(url)
}

/// Replaces the database of a `postgres://` URL.
pub fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let base = match url[scheme_end..].find('/') {
        Some(i) => &url[..scheme_end + i],
        None => url,
    };
    format!("{base}/{name}")
}

/// The `host[:port]` of a `postgres://` URL (the `db_host` variable).
pub fn db_host_of(url: &str) -> String {
    let rest = &url[url.find("://").map_or(0, |i| i + 3)..];
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// A unique DNS-1123 name with a readable prefix.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{prefix}-{}", &id[id.len() - 10..])
}

/// A database client on this binary's database.
pub async fn db() -> tokio_postgres::Client {
    cp_migrate::connect(&env().db_url).await.unwrap()
}

/// Runs a `SELECT count(*) ... $1` on this binary's database.
pub async fn count(sql: &str, param: &str) -> i64 {
    db().await.query_one(sql, &[&param]).await.unwrap().get(0)
}

/// Creates a tenant with [`tenant_body`] and returns the created resource.
pub async fn create_tenant(name: &str) -> Value {
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(name))
        .send()
        .await
        .expect(201)["data"]
        .clone()
}

/// A response as the tests see it.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Resp {
    /// Reads a whole answer (panics when the body cannot be read, as any
    /// failed test request does).
    pub async fn read(resp: hyper::Response<hyper::body::Incoming>) -> Self {
        let status = resp.status().as_u16();
        let headers = header_pairs(resp.headers());
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Self {
            status,
            headers,
            body,
        }
    }

    /// The body as JSON (`Null` when empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts the status, showing the body on failure.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()
    }

    /// Asserts an API.md error envelope with this status and code.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> Value {
        let v = self.expect(status);
        assert_eq!(v["code"], code, "body: {v}");
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "body: {v}"
        );
        assert!(v["requestId"].as_str().is_some(), "body: {v}");
        assert_eq!(self.header("x-request-id"), v["requestId"].as_str());
        v
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Headers and body, for an assertion's message or a leak scan.
    pub fn describe(&self) -> String {
        format!("{:?}\n{}", self.headers, self.text())
    }
}

/// The fields an error's `fieldErrors` name, in order.
#[track_caller]
pub fn field_errors(err: &Value) -> Vec<String> {
    err["fieldErrors"]
        .as_array()
        .unwrap_or_else(|| panic!("no fieldErrors in {err}"))
        .iter()
        .map(|f| f["field"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every audit entry as text, one per line (for leak scans).
pub async fn audit_log_text() -> String {
    db().await
        .query("SELECT a::text FROM audit_log a ORDER BY at, id", &[])
        .await
        .unwrap_or_else(|e| panic!("reading the audit log: {e}"))
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The newest verification token mailed to `address`, opened as the mail
/// sender opens it: with the master key, bound to its outbox row.
pub async fn mailed_verification_token(address: &str) -> String {
    let row = db()
        .await
        .query_one(
            "SELECT id::text, sealed, payload::text FROM notification_outbox \
             WHERE kind = 'user.verify-email' AND recipient = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&address],
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (id, sealed, payload): (String, Vec<u8>, String) = (row.get(0), row.get(1), row.get(2));
    let key = cp_crypto::MasterKey::from_base64(SECRETS_KEY).unwrap_or_else(|e| panic!("{e}"));
    let (nonce, ciphertext) = sealed.split_at(12);
    let token = String::from_utf8(
        key.open(
            &cp_crypto::Sealed {
                nonce: nonce.to_vec(),
                ciphertext: ciphertext.to_vec(),
            },
            &cp_platform::outbox::sealed_aad(&id),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(token.starts_with("cpev_"));
    assert!(
        !payload.contains(&token),
        "the token in the payload: {payload}"
    );
    token
}

/// An HTTP request builder against the host.
pub struct Call {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

/// Starts a request with the operator token.
pub fn call(method: &'static str, path: &str) -> Call {
    Call {
        method,
        path: path.to_owned(),
        headers: vec![("authorization".into(), format!("Bearer {OPERATOR_TOKEN}"))],
        body: None,
    }
}

impl Call {
    /// Without any Authorization header.
    pub fn anonymous(mut self) -> Self {
        self.headers.retain(|(k, _)| k != "authorization");
        self
    }

    /// Sets a header (replacing).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value.to_owned()));
        self
    }

    /// A JSON body.
    pub fn json(self, body: &Value) -> Self {
        self.raw(serde_json::to_vec(body).unwrap(), "application/json")
    }

    /// A raw body with a content type.
    pub fn raw(mut self, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = Some(body.into());
        self.header("content-type", content_type)
    }

    /// Sends it.
    pub async fn send(self) -> Resp {
        send_to(&env().url, self).await
    }

    /// Sends a create: asserts a 201 and returns the new resource's id.
    #[track_caller]
    pub fn created_id(self) -> impl std::future::Future<Output = String> {
        let caller = std::panic::Location::caller();
        async move {
            let resp = self.send().await;
            assert_eq!(
                resp.status,
                201,
                "a create answered otherwise (at {caller}); body: {}",
                String::from_utf8_lossy(&resp.body)
            );
            resp.json()["data"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no data.id in {}", resp.describe()))
                .to_owned()
        }
    }
}

/// Sends a request to any base URL.
pub async fn send_to(base: &str, c: Call) -> Resp {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut builder = hyper::Request::builder()
        .method(c.method)
        .uri(format!("{base}{}", c.path));
    for (k, v) in &c.headers {
        builder = builder.header(k, v);
    }
    let req = builder
        .body(Full::new(Bytes::from(c.body.unwrap_or_default())))
        .unwrap();
    Resp::read(client.request(req).await.unwrap()).await
}

/// Headers as (lower-case name, value) pairs, values read lossily.
pub fn header_pairs(headers: &hyper::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Calls the stand-in's Kubernetes API directly (as `kubectl` would).
pub async fn kube(method: &'static str, path: &str, body: Option<&Value>) -> Resp {
    let mut c = Call {
        method,
        path: path.to_owned(),
        headers: vec![("authorization".into(), format!("Bearer {KUBE_TOKEN}"))],
        body: None,
    };
    if let Some(b) = body {
        c = c.json(b);
    }
    send_to(&env().kube.url(), c).await
}

/// Calls the LiteLLM stand-in's admin API directly with its master key (as
/// an operator seeding keys with LiteLLM's own tools would).
pub async fn litellm(method: &'static str, path: &str, body: Option<&Value>) -> Resp {
    let mut c = Call {
        method,
        path: path.to_owned(),
        headers: vec![(
            "authorization".into(),
            format!("Bearer {LITELLM_MASTER_KEY}"),
        )],
        body: None,
    };
    if let Some(b) = body {
        c = c.json(b);
    }
    send_to(&env().litellm.url(), c).await
}

/// Path of a Tenant CRD in the stand-in.
pub fn tenant_crd_path(name: &str) -> String {
    format!("/apis/opencrane.io/v1alpha1/namespaces/{NAMESPACE}/tenants/{name}")
}

/// A minimal valid create body.
pub fn tenant_body(name: &str) -> Value {
    serde_json::json!({ "name": name, "email": format!("{name}@example.com") })
}

/// A cursor of list `scope` with key `key`, encoded as the server encodes
/// its own: for tests that forge cursors a client could send.
pub fn forged_cursor(scope: &str, key: Value) -> String {
    use base64::Engine as _;
    let raw = serde_json::json!({ "s": scope, "k": key }).to_string();
    format!(
        "v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

/// A password meeting the signup policy.
pub const GOOD_PASSWORD: &str = "violet-otter-river-42";

/// A unique `@example.com` address.
pub fn email(prefix: &str) -> String {
    format!("{}@example.com", unique(prefix))
}

/// A request with `Authorization: Bearer <token>` (a user JWT, API key or
/// access token instead of the operator's).
pub fn bearer(token: &str, method: &'static str, path: &str) -> Call {
    call(method, path).header("authorization", &format!("Bearer {token}"))
}

/// A signed-up, signed-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// Their id.
    pub id: String,
    /// Their email.
    pub email: String,
    /// A session JWT.
    pub token: String,
}

impl TestUser {
    /// A request as this user.
    pub fn call(&self, method: &'static str, path: &str) -> Call {
        bearer(&self.token, method, path)
    }

    /// A new organisation (a unique name from `prefix`) this user owns; its id.
    pub async fn create_org(&self, prefix: &str) -> String {
        self.call("POST", "/api/v1/organizations")
            .json(&serde_json::json!({"name": unique(prefix)}))
            .created_id()
            .await
    }

    /// A new personal API key `name` of this user; its plaintext (`cpk_…`).
    pub async fn create_api_key(&self, name: &str) -> String {
        self.call("POST", "/api/v1/auth/api-keys")
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .expect(201)["data"]["plainTextKey"]
            .as_str()
            .unwrap_or_else(|| panic!("no plainTextKey"))
            .to_owned()
    }

    /// A new vault `name` in organisation `org_id`, made by this user; its id.
    pub async fn create_vault(&self, org_id: &str, name: &str) -> String {
        self.call("POST", "/api/v1/vaults")
            .json(&serde_json::json!({"orgId": org_id, "name": name}))
            .created_id()
            .await
    }
}

/// An agent registered by a test, with its key and a token.
#[derive(Debug, Clone)]
pub struct TestAgent {
    /// Its id.
    pub id: String,
    /// Its API key (`cpag_…`).
    pub key: String,
    /// An agent token from `POST /auth/agent-token`.
    pub token: String,
}

impl TestAgent {
    /// A request as this agent.
    pub fn call(&self, method: &'static str, path: &str) -> Call {
        bearer(&self.token, method, path)
    }
}

/// Exchanges an agent's id and key at `POST /auth/agent-token`.
pub async fn agent_token(agent_id: &str, key: &str) -> Resp {
    call("POST", "/api/v1/auth/agent-token")
        .anonymous()
        .json(&serde_json::json!({"agentId": agent_id, "apiKey": key}))
        .send()
        .await
}

impl TestUser {
    /// Registers an agent with `body` (`orgId` and `name` at least) and
    /// signs it in.
    pub async fn register_agent(&self, body: &Value) -> TestAgent {
        let data = self
            .call("POST", "/api/v1/agents")
            .json(body)
            .send()
            .await
            .expect(201)["data"]
            .clone();
        let id = data["id"].as_str().unwrap().to_owned();
        let key = data["apiKey"].as_str().unwrap().to_owned();
        let token = agent_token(&id, &key).await.expect(200)["data"]["accessToken"]
            .as_str()
            .unwrap()
            .to_owned();
        TestAgent { id, key, token }
    }
}

/// Signs up a new user (email from `prefix`, [`GOOD_PASSWORD`]) and returns
/// them with the session token signup answers.
pub async fn sign_up(prefix: &str) -> TestUser {
    let email = email(prefix);
    let data = call("POST", "/api/v1/auth/signup")
        .anonymous()
        .json(&serde_json::json!({"email": email, "password": GOOD_PASSWORD}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    TestUser {
        id: data["user"]["id"].as_str().unwrap().to_owned(),
        email,
        token: data["accessToken"].as_str().unwrap().to_owned(),
    }
}

/// Test setup, until an email verification flow exists: marks a user's
/// email verified directly in the database, as that flow (or an
/// identity-provider sign-in) will. Only for tests that need a verified
/// password account (accepting invitations).
pub async fn mark_email_verified_for_test(user_id: &str) {
    let updated = db()
        .await
        .execute(
            "UPDATE users SET email_verified_at = now() WHERE id = $1::text::uuid",
            &[&user_id],
        )
        .await
        .unwrap();
    assert_eq!(updated, 1, "no user {user_id}");
}

/// [`sign_up`], then [`mark_email_verified_for_test`].
pub async fn sign_up_verified(prefix: &str) -> TestUser {
    let user = sign_up(prefix).await;
    mark_email_verified_for_test(&user.id).await;
    user
}

/// A new user (email from `prefix`, verified) who joined organisation
/// `org_id` with `role` through an invitation from `owner`.
pub async fn join_org(owner: &TestUser, org_id: &str, role: &str, prefix: &str) -> TestUser {
    // Accepting an invitation needs a verified email (test setup).
    let user = sign_up_verified(prefix).await;
    let invitation = owner
        .call(
            "POST",
            &format!("/api/v1/organizations/{org_id}/invitations"),
        )
        .json(&serde_json::json!({"email": user.email, "role": role}))
        .send()
        .await
        .expect(201);
    let token = invitation["data"]["plainTextToken"].as_str().unwrap();
    user.call("POST", &format!("/api/v1/invitations/{token}/accept"))
        .send()
        .await
        .expect(200);
    user
}

/// Posts email and password to `/auth/token`.
pub async fn log_in(email: &str, password: &str) -> Resp {
    call("POST", "/api/v1/auth/token")
        .anonymous()
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
}

/// HMAC-SHA256 (RFC 2104), written here so forged tokens do not depend on
/// the server's JWT library.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |b: u8| block.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// The HS256 key the host verifies user JWTs with ([`JWT_SECRET`]).
pub fn jwt_key() -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(JWT_SECRET)
        .unwrap()
}

/// An HS256 JWT with these claims, signed with `key`.
pub fn forge_jwt(claims: &Value, key: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let head = b64(serde_json::json!({"alg": "HS256", "typ": "JWT"})
        .to_string()
        .as_bytes());
    let body = b64(claims.to_string().as_bytes());
    let signing = format!("{head}.{body}");
    let sig = b64(&hmac_sha256(key, signing.as_bytes()));
    format!("{signing}.{sig}")
}

/// The claims of a JWT (unverified).
pub fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}
