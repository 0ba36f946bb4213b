//! Identity: who may call the API. Access tokens, opaque bearer tokens for
//! automation (`cpat_…`, 256 random bits, shown once, stored as SHA-256
//! digests, optional expiry, scopes; `/access-tokens`), and users: signup
//! with argon2id passwords, session JWTs, personal API keys (`cpk_…`;
//! `/auth/...`), and their second factor: TOTP (RFC 6238, [`totp`]) at
//! `/auth/mfa/...` ([`mfa`]). `cp_platform::auth` recognises every kind on every route;
//! this crate manages them.

pub mod account;
pub mod api;
pub mod mfa;
pub mod model;
pub mod password;
mod sql;
pub mod totp;
pub mod users;

pub use api::Identity;
