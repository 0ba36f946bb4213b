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
//! - [`keys`]: tenant gateway keys, which authenticate usage ingestion.
//! - [`fleet`]: fair-share settings, gateway heartbeats, live state, capacity.
//! - [`usage`]: token-usage ingestion and reads, costs, month-to-date spend.
//! - [`litellm`]: LiteLLM virtual keys through LiteLLM's admin API.

#![deny(missing_docs)]

pub mod api;
pub mod budget;
pub mod fairshare;
pub mod fleet;
mod fleet_model;
mod fleet_store;
pub mod keys;
pub mod litellm;
pub mod models;
pub mod money;
pub mod providers;
mod service;
mod sql;
pub mod usage;

pub use api::Gateway;
