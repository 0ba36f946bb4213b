//! `cp-kube-standin`: runs the Kubernetes API server stand-in (see the
//! library docs) until interrupted, or until stdin closes with
//! `--exit-on-stdin-eof`.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use cp_kube_standin::{StandIn, StandInConfig};

/// A Kubernetes API server stand-in (OpenCrane CRDs, Deployments,
/// ServiceAccounts and TokenRequests) for tests and local runs. Not a real
/// API server.
#[derive(Debug, Parser)]
#[command(name = "cp-kube-standin", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the URL is printed
    /// on stdout).
    #[arg(long, default_value = "127.0.0.1:6443", env = "CP_KUBE_STANDIN_LISTEN")]
    listen: SocketAddr,

    /// Require `Authorization: Bearer <TOKEN>` on API requests.
    #[arg(long, env = "CP_KUBE_STANDIN_TOKEN")]
    token: Option<String>,

    /// Disable the OpenCrane operator simulation (Tenants then get no
    /// Deployment, ServiceAccount or status).
    #[arg(long)]
    no_operator: bool,

    /// Exit when stdin reaches end-of-file, so the stand-in dies with the
    /// test process that spawned it with a pipe on stdin.
    #[arg(long)]
    exit_on_stdin_eof: bool,

    /// Do not log one line per request on stderr.
    #[arg(long)]
    quiet: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let server = StandIn::start(StandInConfig {
        addr: args.listen,
        token: args.token,
        operator: !args.no_operator,
    })
    .await
    .context("starting the Kubernetes API stand-in")?;
    server.set_request_logging(!args.quiet);

    eprintln!(
        "cp-kube-standin: Kubernetes API server stand-in listening on {} (operator simulation {})",
        server.url(),
        if args.no_operator { "off" } else { "on" }
    );
    cp_standin_kit::serve_until_interrupted(
        "cp-kube-standin",
        &server.url(),
        args.exit_on_stdin_eof,
    )
    .await?;
    server.shutdown().await;
    Ok(())
}
