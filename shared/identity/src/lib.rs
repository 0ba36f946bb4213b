//! Identity: who may call the API. Today: access tokens, opaque bearer
//! tokens for automation (`cpat_…`, 256 random bits, shown once, stored as
//! SHA-256 digests, optional expiry, scopes). `cp_platform::auth` recognises
//! them on every route; this crate manages them (`/access-tokens`).

pub mod api;
pub mod model;
mod sql;

pub use api::Identity;
