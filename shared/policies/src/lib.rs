//! Access policies: AccessPolicy CRDs dual-written with PostgreSQL projection rows.

pub mod api;

pub use api::Policies;
