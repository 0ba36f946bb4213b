//! The `cp-host` command: `serve` an application, or `instantiate-bench` its components.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Serve a Spin application (manifest v2) with wasmtime"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application over HTTP, like `spin up`.
    Serve {
        #[command(flatten)]
        app: AppArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Exit when standard input reaches end of file (lets a parent process tie our
        /// lifetime to its own).
        #[arg(long)]
        exit_on_stdin_eof: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print the median and p99 time to instantiate each component.
    InstantiateBench {
        #[command(flatten)]
        app: AppArgs,
        /// Instantiations per component.
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
    },
}

#[derive(Args)]
struct AppArgs {
    /// The application manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Where compiled components are cached [default: <manifest dir>/target/cp-host-cache].
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Set an application variable, overriding SPIN_VARIABLE_<NAME> (repeatable).
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
}

/// Resource limits (docs/HOST.md); each also reads its environment variable.
#[derive(Args)]
struct LimitArgs {
    /// Largest request body, e.g. 4MiB; larger ones are answered 413 [default: 4MiB].
    #[arg(long, env = "CP_HOST_MAX_REQUEST_BODY", value_name = "SIZE", value_parser = cp_host::parse_bytes)]
    max_request_body: Option<u64>,
    /// Largest linear memory of one component instance, e.g. 128MiB [default: 128MiB].
    #[arg(long, env = "CP_HOST_MAX_INSTANCE_MEMORY", value_name = "SIZE", value_parser = cp_host::parse_bytes)]
    max_instance_memory: Option<u64>,
    /// How long one request may run its component, e.g. 60s; then it is stopped and
    /// answered 500 [default: 60s].
    #[arg(long, env = "CP_HOST_REQUEST_TIMEOUT", value_name = "DURATION", value_parser = cp_host::parse_duration)]
    request_timeout: Option<Duration>,
    /// Time allowed for a request's headers (and between keep-alive requests)
    /// [default: 10s].
    #[arg(long, env = "CP_HOST_HEADER_READ_TIMEOUT", value_name = "DURATION", value_parser = cp_host::parse_duration)]
    header_read_timeout: Option<Duration>,
    /// Time allowed for a request's body once its headers are in; then 408 [default: 30s].
    #[arg(long, env = "CP_HOST_BODY_READ_TIMEOUT", value_name = "DURATION", value_parser = cp_host::parse_duration)]
    body_read_timeout: Option<Duration>,
    /// Connections served at once; more wait in the listen backlog [default: 1000].
    #[arg(long, env = "CP_HOST_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
}

impl LimitArgs {
    fn limits(self) -> cp_host::Limits {
        let defaults = cp_host::Limits::default();
        cp_host::Limits {
            max_request_body_bytes: self
                .max_request_body
                .unwrap_or(defaults.max_request_body_bytes),
            max_instance_memory_bytes: self
                .max_instance_memory
                .unwrap_or(defaults.max_instance_memory_bytes),
            request_timeout: self.request_timeout.unwrap_or(defaults.request_timeout),
            header_read_timeout: self
                .header_read_timeout
                .unwrap_or(defaults.header_read_timeout),
            body_read_timeout: self.body_read_timeout.unwrap_or(defaults.body_read_timeout),
            max_connections: self
                .max_connections
                .map_or(defaults.max_connections, |n| n as usize),
        }
    }
}

fn parse_variable(arg: &str) -> Result<(String, String), String> {
    arg.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {arg:?}"))
}

impl AppArgs {
    fn config(self) -> cp_host::ServeConfig {
        let mut config = cp_host::ServeConfig::new(self.manifest);
        config.cache_dir = self.cache_dir;
        config.variables = self.variables.into_iter().collect::<HashMap<_, _>>();
        config
    }
}

fn main() -> anyhow::Result<()> {
    // Error values can reach a guest as text (`to-debug-string` of a stream error) and the
    // log; with a backtrace in them that is kilobytes of host internals, and resolving it
    // costs ~170 MiB once. So errors never capture one, whatever RUST_BACKTRACE says (panics
    // still honour it). Set before the runtime starts any thread.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            app,
            listen,
            exit_on_stdin_eof,
            limits,
        } => {
            if exit_on_stdin_eof {
                exit_when_stdin_closes();
            }
            let mut config = app.config();
            config.listen = listen;
            config.limits = limits.limits();
            tokio::select! {
                result = cp_host::serve(config) => result,
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        Command::InstantiateBench { app, iterations } => {
            let results = cp_host::instantiate_bench(app.config(), iterations)
                .await
                .context("instantiate-bench failed")?;
            for r in results {
                println!(
                    "{}: median {:.1}µs p99 {:.1}µs ({} instantiations)",
                    r.component,
                    r.median.as_secs_f64() * 1e6,
                    r.p99.as_secs_f64() * 1e6,
                    r.iterations
                );
            }
            Ok(())
        }
    }
}

/// Reads stdin on a plain thread and exits the process at EOF (or on a read error).
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {}
            }
        }
    });
}
