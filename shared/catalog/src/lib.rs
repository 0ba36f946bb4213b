//! The catalog: MCP servers with grants and brokered credentials, groups with members and awareness grants, third-party sources with their items.
//!
//! Everything lives in PostgreSQL (no Kubernetes objects). Inline credential
//! values are sealed with `cp-crypto` under the `secrets_key` variable and
//! never leave the database again through this API.

#![deny(missing_docs)]

pub mod api;
pub mod model;
pub mod schema;
mod service;
mod sql;
pub mod subjects;

pub use api::Catalog;
