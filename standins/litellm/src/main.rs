//! `cp-litellm-standin`: runs the LiteLLM admin API stand-in (see the
//! library docs) until interrupted, or until stdin closes with
//! `--exit-on-stdin-eof`.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use cp_litellm_standin::{StandIn, StandInConfig};

/// A LiteLLM proxy stand-in (virtual keys: generate, info, list, delete)
/// for tests and local runs. Not LiteLLM.
#[derive(Debug, Parser)]
#[command(name = "cp-litellm-standin", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the URL is printed
    /// on stdout). 4000 is LiteLLM's default port.
    #[arg(
        long,
        default_value = "127.0.0.1:4000",
        env = "CP_LITELLM_STANDIN_LISTEN"
    )]
    listen: SocketAddr,

    /// The master key the admin routes require (`Authorization: Bearer
    /// <key>`); must start with `sk-`, as LiteLLM's does.
    #[arg(long, env = "CP_LITELLM_STANDIN_MASTER_KEY")]
    master_key: String,

    /// Exit when stdin reaches end-of-file, so the stand-in dies with the
    /// process that spawned it with a pipe on stdin.
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
        master_key: args.master_key,
    })
    .await
    .context("starting the LiteLLM stand-in")?;
    server.set_request_logging(!args.quiet);

    eprintln!(
        "cp-litellm-standin: LiteLLM admin API stand-in listening on {}",
        server.url()
    );
    cp_standin_kit::serve_until_interrupted(
        "cp-litellm-standin",
        &server.url(),
        args.exit_on_stdin_eof,
    )
    .await?;
    server.shutdown().await;
    Ok(())
}
