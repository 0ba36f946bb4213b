//! `cp-litellm-standin`: a **stand-in** for the LiteLLM proxy's virtual-key
//! admin API, for tests and `make up` on machines where LiteLLM (a Python
//! service with its own PostgreSQL schema) cannot be installed.
//!
//! The control plane manages tenants' LiteLLM virtual keys through plain
//! HTTP calls to LiteLLM's admin endpoints; that code path is identical
//! against this stand-in and a real proxy, so the stand-in follows
//! LiteLLM's wire format: the same paths, query parameters, JSON bodies,
//! `Authorization: Bearer <master key>` authentication and error bodies
//! (`{"error": {"message", "type", "param", "code"}}`, FastAPI's 422
//! validation errors). It serves, from one in-memory table:
//!
//! - `POST /key/generate`: a new key; the only answer with the raw key;
//! - `GET /key/info?key=`: one key's row (raw key or token);
//! - `GET /key/list`: tokens, or rows with `return_full_object=true`,
//!   filtered by `key_alias`, `key_hash`, `user_id`, `team_id`, paged by
//!   `page`/`size`, ordered by `sort_by`/`sort_order`;
//! - `POST /key/delete`: by `keys` (raw keys or tokens) or `key_aliases`;
//! - `GET /health/liveliness`, `GET /health/readiness` (no key needed).
//!
//! The README names the fields covered and the LiteLLM documentation and
//! source each behaviour follows. For tests there is fault injection and a
//! request log, from Rust ([`StandIn::inject`], [`StandIn::requests`]) or
//! over HTTP under `/_standin/` (see [`admin`]), the same as every
//! stand-in's (see `cp_standin_kit`). A rule's `path_contains` is matched
//! against the path plus `?query` as sent, percent-encoding included (e.g.
//! `key_alias=tenant%2Facme`); a `status` or `afterApply` fault answers a
//! LiteLLM error (`{"error": {...}}`) with that status.
//!
//! [`StandIn::inject`]: cp_standin_kit::Handle::inject
//! [`StandIn::requests`]: cp_standin_kit::Handle::requests
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use cp_litellm_standin::{Fault, StandIn, StandInConfig};
//!
//! let server = StandIn::start(StandInConfig {
//!     addr: "127.0.0.1:0".parse()?,
//!     master_key: "sk-master".into(),
//! })
//! .await?;
//! let base = server.url(); // http://127.0.0.1:<port>
//! server.inject(Fault::status("GET", "/key/list", 500).times(1));
//! // ... run the code under test against `base` ...
//! let calls = server.requests();
//! server.shutdown().await;
//! # let _ = (base, calls);
//! # Ok(()) }
//! ```
//!
//! # Known differences from LiteLLM
//! - Only the master key is an admin; any virtual key is refused on the
//!   admin routes (LiteLLM lets internal users manage their own keys).
//! - No teams, users, organisations, budgets table, spend tracking or LLM
//!   routes: `spend` is whatever `/key/generate` was given.
//! - Budget resets are `budget_duration` after creation (LiteLLM rounds to
//!   the start of the next period); nothing is ever reset or expired.
//! - Deleted keys are gone (LiteLLM also keeps a deleted-keys table).

#![deny(missing_docs)]

pub mod admin;
mod api;
pub mod keys;
mod reply;
mod server;

pub use cp_standin_kit::{Fault, FaultKind, FaultRule, RequestRecord};
pub use server::{StandIn, StandInConfig};
