//! The `cp-host` command: `serve` an application, or `instantiate-bench` its components.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve {
            app,
            listen,
            exit_on_stdin_eof,
        } => {
            if exit_on_stdin_eof {
                exit_when_stdin_closes();
            }
            let mut config = app.config();
            config.listen = listen;
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
