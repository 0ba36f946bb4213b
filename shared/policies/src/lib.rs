//! Access policies: which tenants and groups may use which datasets, MCP
//! servers and skills. Each policy is an `AccessPolicy` CRD
//! (`opencrane.io/v1alpha1`, the source of truth) dual-written with a
//! PostgreSQL row (the projection every read is served from) by the same
//! mechanism as tenants (`cp_platform::dualwrite`): Kubernetes first, then
//! the row and its audit entry in one transaction; a failure half-way is
//! compensated or shows in `GET /policies/drift` and is fixed by
//! `POST /policies/repair`.
//!
//! [`rules`] decides what the policies applying to a tenant allow; the
//! tenants group uses it (through [`service::for_tenant`]) for dataset
//! checks and the effective contract.

pub mod api;
pub mod drift;
pub mod model;
pub mod rules;
pub mod service;
mod sql;

pub use api::Policies;
