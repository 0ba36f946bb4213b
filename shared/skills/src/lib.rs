//! The skills catalog: skill bundles (one row per name and version) with
//! entitlements and an append-only promotion history, and the backfill of
//! published bundles to an OCI registry.
//!
//! # Stages and promotions
//! A bundle moves `draft` → `staging` → `published` one step at a time, or
//! back to `draft` (a demotion); any other move is a 409 naming the current
//! stage. Every change, and the creation itself (`from: null`), is a row in
//! `skill_promotions`. That history is append-only: it is an audit trail of
//! who released what and when, so a `PUT` replaces the bundle's fields and
//! entitlements but only ever appends to its promotions (the seed's "fully
//! replace promotions" would let a caller erase the record of a release).
//! Once a bundle has been published, its content and digest are immutable
//! (409), even after a demotion: a released version's bits never change,
//! publish a new version instead. Other fields and entitlements stay
//! editable.
//!
//! # Scope
//! `platform`, `organization`, `team` or `tenant`: the level a bundle is
//! offered at. Entitlements (`tenant` or `group` subjects) say who may use it;
//! a group must exist when named, a tenant need not exist yet.

#![deny(missing_docs)]

pub mod api;
pub mod model;
pub mod oci;
mod service;
mod sql;

pub use api::Skills;
pub use service::BackfillReport;
