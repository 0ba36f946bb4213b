//! `cp-kube-standin`: a **stand-in** for the Kubernetes API server, for
//! tests and `make up` on machines where no real cluster can run.
//!
//! The control plane talks to Kubernetes through a typed client making
//! plain HTTP calls; that code path is identical against this stand-in and
//! a real cluster. The stand-in therefore follows the real API's wire
//! format closely: the same URLs, request and response objects, `Status`
//! errors (reasons, messages, details), `resourceVersion` semantics and
//! content types. It serves, in one in-memory store:
//!
//! - the OpenCrane custom resources (`opencrane.io/v1alpha1` `tenants`,
//!   `accesspolicies`, `clustertenants`), validated and pruned against the
//!   same schemas as `deploy/crds/*.yaml`, with a `/status` subresource;
//! - `apps/v1` Deployments with their `/scale` subresource (an
//!   `autoscaling/v1` `Scale`) and `/status`;
//! - core `v1` ServiceAccounts and their `/token` subresource (the
//!   TokenRequest API);
//! - minimal discovery (`/version`, `/api`, `/apis`, ...) and `/healthz`,
//!   `/readyz`, `/livez`.
//!
//! Cluster behaviour beyond the API server is simulated and documented as
//! such in [`controllers`] (deployment controller, garbage collector) and
//! [`operator`] (the OpenCrane operator reconciling Tenants; optional).
//!
//! For tests there is fault injection and a request log, from Rust
//! ([`StandIn::inject`], [`StandIn::requests`]) or over HTTP under
//! `/_standin/` (see [`admin`]), the same as every stand-in's (see
//! `cp_standin_kit`). A rule's `path_contains` is matched against the API
//! path plus `?query` (e.g. `/namespaces/x/tenants`, `labelSelector=`); a
//! `status` or `afterApply` fault answers a `Status` with the reason and
//! message the real server uses for the code (500 `InternalError`, 503
//! `ServiceUnavailable`, 429 `TooManyRequests`, 504 `Timeout`, ...).
//!
//! [`StandIn::inject`]: cp_standin_kit::Handle::inject
//! [`StandIn::requests`]: cp_standin_kit::Handle::requests
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use cp_kube_standin::{Fault, StandIn, StandInConfig};
//!
//! let server = StandIn::start(StandInConfig {
//!     addr: "127.0.0.1:0".parse()?,
//!     token: Some("secret".into()),
//!     operator: true,
//! })
//! .await?;
//! let base = server.url(); // http://127.0.0.1:<port>
//! server.inject(Fault::status("POST", "/tenants", 503).times(1));
//! // ... run the code under test against `base` ...
//! let calls = server.requests();
//! server.shutdown().await;
//! # let _ = (base, calls);
//! # Ok(()) }
//! ```
//!
//! # Known differences from a real cluster
//! - No watches (`?watch=true` is a 400), no server-side apply
//!   (`application/apply-patch+yaml` is a 415), no YAML or protobuf bodies.
//! - Strategic merge patches on built-in types are applied as JSON merge
//!   patches (lists are replaced, not merged by key).
//! - Every namespace exists; Namespaces themselves are not served.
//! - `managedFields` are not maintained; Deployments are not pruned of
//!   unknown fields.
//! - List pages after the first are read from the current state rather than
//!   from a snapshot.
//! - Service account tokens are unsigned (see [`token`]).
//! - Authentication is one static bearer token; there is no authorization.

#![deny(missing_docs)]

pub mod admin;
pub mod controllers;
mod deployments;
mod discovery;
mod encoding;
mod handlers;
pub mod operator;
mod patch;
mod registry;
mod resources;
mod schema;
mod selector;
mod server;
mod status;
mod store;
pub mod token;
mod validation;

pub use cp_standin_kit::{Fault, FaultKind, FaultRule, RequestRecord};
pub use server::{StandIn, StandInConfig};
