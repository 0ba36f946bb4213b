//! Organisations: who may see and do what through an organisation. A user
//! creates one and becomes its owner; members have one role each (`viewer`
//! < `member` < `admin` < `owner`, [`roles::OrgRole`]); new
//! members join by accepting an invitation sent to their email (a
//! single-use `cpinv_…` token, stored as a SHA-256 digest, expiring); every
//! change is an organisation event (`/organizations/{orgId}/events`)
//! written in the same transaction as the change. The rules of who may
//! change whose role are pure functions in [`rules`].

#![deny(missing_docs)]

pub mod api;
mod invitations;
mod members;
pub mod model;
pub mod roles;
pub mod rules;
mod sql;

pub use api::Orgs;
