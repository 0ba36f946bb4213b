//! What the benchmark programs (`src/bin/`) share: a fresh database, and
//! cp-host serving a manifest (the product's, against a Kubernetes
//! stand-in, or a probe's).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use cp_kube_standin::{StandIn, StandInConfig};
use http_body_util::Full;

use crate::{
    db_host_of, free_port, fresh_database, workspace, JWT_SECRET, KUBE_TOKEN, NAMESPACE,
    OPERATOR_TOKEN, SECRETS_KEY,
};

/// `DATABASE_URL` (the server's admin URL) and the URL of a fresh database
/// `name` on that server.
pub async fn database(name: &str) -> anyhow::Result<(String, String)> {
    let admin = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not set; run `make bench`"))?;
    let db_url = fresh_database(&admin, name).await?;
    Ok((admin, db_url))
}

/// A request to `url` as the operator (bearer token), with a JSON body
/// when there is one: what the benchmarks send.
pub fn operator_request(
    method: &str,
    url: &str,
    body: Option<Vec<u8>>,
) -> hyper::http::Result<hyper::Request<Full<Bytes>>> {
    request(method, url, OPERATOR_TOKEN, &[], body)
}

/// A request to `url` with bearer `token`, extra `headers` and a JSON body
/// when there is one.
pub fn request(
    method: &str,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> hyper::http::Result<hyper::Request<Full<Bytes>>> {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    request.body(Full::new(Bytes::from(body.unwrap_or_default())))
}

/// The release cp-host the benchmarks measure.
pub fn host_bin() -> PathBuf {
    workspace().join("target/release/cp-host")
}

/// `cp-host serve` on `manifest` at `127.0.0.1:port`, exiting when its
/// stdin closes (stdin piped, output discarded so it cannot disturb the
/// figures).
pub fn host_command(manifest: &Path, port: u16) -> Command {
    let mut command = Command::new(host_bin());
    command
        .args(["serve", "--manifest"])
        .arg(manifest)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--exit-on-stdin-eof",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// cp-host serving the product (`spin.toml`) on a free port, on the
/// database `db_url` and a Kubernetes stand-in of its own.
pub struct ProductHost {
    /// Base URL of the host, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The Kubernetes stand-in the product talks to (request log off: one
    /// line per request would drown the figures).
    pub kube: StandIn,
    host: Child,
}

impl ProductHost {
    /// Starts the stand-in and the host; `admin` is the server's admin URL
    /// (for the outbound allow-list). Does not wait for the host to serve.
    pub async fn start(admin: &str, db_url: &str) -> anyhow::Result<Self> {
        let kube = StandIn::start(StandInConfig {
            addr: "127.0.0.1:0".parse()?,
            token: Some(KUBE_TOKEN.into()),
            operator: true,
        })
        .await?;
        kube.set_request_logging(false);
        let port = free_port();
        let host = host_command(&workspace().join("spin.toml"), port)
            .env("SPIN_VARIABLE_API_TOKEN", OPERATOR_TOKEN)
            .env("SPIN_VARIABLE_DB_URL", db_url)
            .env("SPIN_VARIABLE_DB_HOST", db_host_of(admin))
            .env("SPIN_VARIABLE_KUBE_URL", kube.url())
            .env("SPIN_VARIABLE_KUBE_TOKEN", KUBE_TOKEN)
            .env("SPIN_VARIABLE_KUBE_NAMESPACE", NAMESPACE)
            // The vault seals with it (and MFA, provider keys).
            .env("SPIN_VARIABLE_SECRETS_KEY", SECRETS_KEY)
            // Users sign in (the vault benchmark's owner).
            .env("SPIN_VARIABLE_JWT_SECRET", JWT_SECRET)
            .spawn()?;
        Ok(Self {
            url: format!("http://127.0.0.1:{port}"),
            kube,
            host,
        })
    }

    /// Closes the host's stdin, waits for it to exit, stops the stand-in.
    pub async fn stop(mut self) {
        drop(self.host.stdin.take());
        let _ = self.host.wait();
        self.kube.shutdown().await;
    }
}

/// What a load run measured: units of work per second and their latency
/// percentiles.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Units of work per second.
    pub rate: f64,
    /// Median latency.
    pub p50: std::time::Duration,
    /// 99th percentile.
    pub p99: std::time::Duration,
    /// Units that failed.
    pub errors: usize,
}

impl Figures {
    /// The figures of `latencies` measured over `elapsed`.
    pub fn of(
        mut latencies: Vec<std::time::Duration>,
        elapsed: std::time::Duration,
        errors: usize,
    ) -> Self {
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Self {
            rate: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: pct(0.50),
            p99: pct(0.99),
            errors,
        }
    }
}
