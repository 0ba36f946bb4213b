//! The skills catalog: skill bundles with versions, entitlements and promotion history, and the backfill of published bundles to an OCI registry.

pub mod api;

pub use api::Skills;
