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
//! - Decommission deletes the CRD (by UID) and turns the row into a
//!   tombstone in the transaction that held the row lock across that call:
//!   Kubernetes failing changes nothing; PostgreSQL failing after the CRD
//!   is gone leaves a live row without its CRD, reported by drift, which a
//!   retried decommission completes.
//!
//! # Lifecycle and visibility
//! One state machine ([`lifecycle`]) for `/tenants` and
//! `/organizations/{orgId}/tenants`; users see only their organisations'
//! tenants ([`access`]); which fields a user's role may set, and the limits
//! of their tenants, are in [`authority`].

#![deny(missing_docs)]

mod access;
pub mod api;
pub mod authority;
pub mod contract;
pub mod drift;
pub mod lifecycle;
pub mod model;
mod orgs;
mod service;
mod sql;

pub use api::Tenants;
