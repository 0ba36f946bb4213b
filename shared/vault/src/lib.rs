//! The pure core of the agent secrets vault: everything the vault's routes
//! decide or compute without a database.
//!
//! - [`path`]: secret paths and listing prefixes, validated once at the edge;
//! - [`glob`] and [`policy`]: which policies cover a path, and the
//!   evaluator deciding a request (default deny, highest priority first,
//!   deny wins a tie);
//! - [`model`]: secret types and the limits on values, tags and
//!   descriptions.
//!
//! Errors that reach API clients convert into [`cp_http::ApiError`] naming
//! the offending field; nothing here ever formats a key or a secret value.

#![deny(missing_docs)]

pub mod glob;
pub mod model;
pub mod path;
pub mod policy;

pub use glob::PathGlob;
pub use model::{ModelError, SecretType};
pub use path::{PathError, PathPrefix, SecretPath};
pub use policy::{
    evaluate, AccessRequest, Action, Decision, Effect, Policy, Principal, PrincipalKind, Requester,
};
