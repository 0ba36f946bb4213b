//! Tenants: one agent pod per tenant, dual-written as a `Tenant` CRD
//! (`opencrane.io/v1alpha1`, the source of truth) and a PostgreSQL row (the
//! projection every read is served from).
//!
//! # Write order and failures
//! Every write goes to Kubernetes first, then to PostgreSQL in one
//! transaction with its audit entry:
//! - Kubernetes fails: `502 UPSTREAM_ERROR`, nothing written anywhere.
//! - PostgreSQL fails after a create: the CRD is deleted again (by UID, so a
//!   concurrent re-create is never touched); if even that fails, the CRD
//!   without a row shows in `GET /tenants/drift` and `POST /tenants/repair`
//!   imports it.
//! - PostgreSQL fails after an update, suspend/resume or delete: the CRD
//!   holds the new state and the row the old one; drift reports the row as
//!   stale (or orphaned) and repair rewrites it from the CRD.
//! - Suspend scales the tenant's Deployment to zero after setting
//!   `spec.suspended`; if scaling fails the CRD change is reverted and the
//!   request fails with 502, so the two never disagree silently.

pub mod api;
pub mod contract;
pub mod drift;
pub mod model;
mod service;
mod sql;

pub use api::Tenants;
