//! cp-host: a small Spin-compatible host that serves the project's `spin.toml` with wasmtime.
//!
//! The `spin` CLI is not available everywhere the project builds, so this crate runs the same
//! `.wasm` components (spin-sdk 5.2, `wasm32-wasip2`) the way `spin up` would: Spin's manifest,
//! routing, headers, variables, `allowed_outbound_hosts`, outbound HTTP and
//! `spin:postgres@4.0.0`, with a fresh instance per request.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let mut config = cp_host::ServeConfig::new("spin.toml");
//! config.listen = "127.0.0.1:0".parse()?;
//! let server = cp_host::Server::start(config).await?;
//! println!("listening on {}", server.local_addr());
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod bench;
mod bindings;
mod cache;
mod limits;
mod manifest;
mod outbound;
mod postgres;
mod routing;
mod runtime;
mod server;
mod variables;

pub use bench::{instantiate_bench, BenchResult};
pub use cache::{default_cache_dir, Allocator};
pub use limits::{parse_bytes, parse_duration, Limits};
pub use server::{serve, ServeConfig, Server};
