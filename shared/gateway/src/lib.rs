//! LLM gateway administration (issue 7). The control plane does not proxy
//! LLM traffic: gateway instances report their load and usage and read back
//! what is computed and configured here.
//!
//! - [`providers`]: the fixed set of LLM providers and their API keys,
//!   write-only and sealed with `cp-crypto` under the `secrets_key`
//!   variable.
//! - [`models`]: the model registry with exact prices and response-cache
//!   settings.
//! - [`budget`]: monthly AI spend ceilings, global and per account.
//! - [`api`]: the `gateway` route group serving them.
//! - [`fairshare`]: hierarchical weighted max-min fairness over the
//!   gateways' in-flight capacity, capped by demand and TPM quotas.
//! - [`money`]: model prices and token costs in exact decimals.

pub mod api;
pub mod budget;
pub mod fairshare;
pub mod models;
pub mod money;
pub mod providers;
mod service;
mod sql;

pub use api::Gateway;
