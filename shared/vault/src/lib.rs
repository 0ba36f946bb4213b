//! The pure core of the agent secrets vault: everything the vault's routes
//! decide or compute without a database.
//!
//! - [`path`]: secret paths and listing prefixes, validated once at the edge;
//!
//! Errors that reach API clients convert into [`cp_http::ApiError`] naming
//! the offending field; nothing here ever formats a key or a secret value.

#![deny(missing_docs)]

pub mod path;

pub use path::{PathError, PathPrefix, SecretPath};
