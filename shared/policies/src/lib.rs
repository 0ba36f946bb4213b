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
//!
//! # Tenant subjects are bound to tenants, not names
//! `subjects.tenants` is a list of names in the CRD, but a tenant name can
//! be claimed again once its tenant is gone (an operator's delete, or a
//! decommissioned tenant's 30-day hold passing), and the new tenant must
//! not inherit the policy. So each name is bound to the tenant holding it
//! when the name is added to the policy: a side table
//! `access_policy_tenants (policy_name, tenant_id)`, written by the
//! projection's own statements (`sql::UPSERT_CREATED`, `sql::UPDATE`), so
//! create, update and repair keep it in step with the row in the same
//! statement, and the dual-write, drift and repair machinery is unchanged:
//! - a name new to the policy is bound to the live tenant holding it now;
//! - a name the policy keeps keeps its binding; a name that leaves the
//!   spec loses it;
//! - a tenant's bindings go with it (deleted: the foreign key cascades;
//!   decommissioned: the tenants service purges them), so the name stays
//!   in the CRD unbound, and a later tenant of that name is not a subject.
//!
//! Only bound tenants are subjects ([`service::for_tenant`]). Through the
//! API (`POST`/`PUT /policies`), every name must resolve: a new name must
//! be a live tenant's, and a kept name must still be bound; otherwise a
//! `400` names `subjects.tenants[i]` (remove a stale name; adding it again
//! in a later write binds the tenant holding it then). A CRD written
//! outside the API and imported by repair binds its new names to the
//! tenants holding them at the repair, and skips names no tenant holds.

#![deny(missing_docs)]

pub mod api;
pub mod drift;
pub mod model;
pub mod rules;
pub mod service;
mod sql;

pub use api::Policies;
