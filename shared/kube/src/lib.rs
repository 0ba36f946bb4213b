//! A typed Kubernetes API client for the control plane, small enough for a
//! `wasm32-wasip2` component.
//!
//! The crate does no I/O. [`KubeClient`] builds each request (method, URL with
//! percent-encoded names and query values, headers, JSON body), hands it to a
//! [`cp_http::outbound::HttpTransport`] — Spin's outbound HTTP in a component,
//! a hyper client natively, an in-memory fake in tests — and decodes the
//! answer into typed objects or a [`KubeError`]. That keeps every byte we send
//! to the API server testable with plain `cargo test`.
//!
//! # What it speaks
//! - The control plane's custom resources ([`Tenant`], [`AccessPolicy`],
//!   [`ClusterTenant`]; group `opencrane.io`, version `v1alpha1`, namespaced)
//!   through the generic [`Resource`] trait: get, list (following `continue`
//!   tokens), create, replace (optimistic concurrency on `resourceVersion`),
//!   JSON merge patch, replace status, delete with a UID precondition.
//! - The `scale` subresource of Deployments (suspend = scale to zero).
//! - The TokenRequest API, for short-lived audience-bound service account
//!   tokens.
//!
//! # Why no `k8s-openapi` / `kube`
//! Those crates are large (compile time and component size) and bring an
//! async runtime we cannot use in a component. The handful of types we need
//! are written here as small serde structs, modelled on the upstream ones.
//!
//! # Secrets
//! Bearer tokens — the control plane's own and the ones minted through
//! TokenRequest — are held in [`SecretToken`], whose `Debug` prints nothing
//! secret. No error message built here contains a token.
//!
//! # Example
//! ```no_run
//! # async fn demo<T: cp_http::outbound::HttpTransport>(transport: &T) -> Result<(), cp_kube::KubeError> {
//! use cp_kube::{KubeClient, KubeConfig, Resource, Tenant, TenantSpec};
//!
//! let config = KubeConfig::new("https://kubernetes.default.svc", "opencrane")
//!     .with_token("service-account-token");
//! let kube = KubeClient::new(config, transport);
//!
//! let spec = TenantSpec {
//!     display_name: "Acme".into(),
//!     email: "owner@acme.io".into(),
//!     ..TenantSpec::default()
//! };
//! let created = kube.create::<Tenant>(&Tenant::object("acme", spec)).await?;
//! let all = kube.list::<Tenant>(Some("opencrane.io/team=eng")).await?;
//! # let _ = (created, all);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod builtin;
mod client;
mod config;
mod crds;
mod error;
mod object;
mod resource;
mod secret;
mod status;
mod url;

pub use builtin::{Scale, ScaleSpec, ScaleStatus, ServiceAccountToken};
pub use client::{DeleteOutcome, KubeClient, LIST_PAGE_SIZE};
pub use config::KubeConfig;
pub use crds::{
    AccessPolicy, AccessPolicyObject, AccessPolicySpec, AccessPolicyStatus, ClusterTenant,
    ClusterTenantObject, ClusterTenantSpec, ClusterTenantStatus, DatasetRules, PolicySubjects,
    Tenant, TenantObject, TenantResources, TenantSpec, TenantStatus, GROUP, VERSION,
};
pub use error::KubeError;
pub use object::{Condition, ListMeta, Object, ObjectList, ObjectMeta, OwnerReference};
pub use resource::{ObjectOf, Resource};
pub use secret::SecretToken;
pub use status::{Status, StatusCause, StatusDetails};
