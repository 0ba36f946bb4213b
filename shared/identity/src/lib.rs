//! Identity: who may call the API. Access tokens, opaque bearer tokens for
//! automation (`cpat_…`, 256 random bits, shown once, stored as SHA-256
//! digests, optional expiry, scopes; `/access-tokens`), and users: signup
//! with argon2id passwords, session JWTs, personal API keys (`cpk_…`;
//! `/auth/...`), and their second factor: TOTP (RFC 6238, [`totp`]) at
//! `/auth/mfa/...` ([`mfa`]). `cp_auth` recognises every kind on every route;
//! this crate manages them. Federated login: the OIDC code flow and ID-token
//! exchange ([`oidc`]), the browser sessions it creates ([`session`]), CLI
//! login by the device grant ([`device`]) and pod tokens ([`pod_token`]).

#![deny(missing_docs)]

pub mod account;
pub mod api;
pub mod device;
pub mod mfa;
pub mod model;
pub mod oidc;
pub mod password;
pub mod pod_token;
pub mod refresh;
pub mod session;
mod sql;
pub mod throttle;
pub mod totp;
pub mod users;
pub mod verify;

pub use api::Identity;
