//! The request pipeline every route group runs, and the ports it runs on.
//!
//! A component is three lines: it hands Spin's request to [`spin::serve`]
//! with its [`RouteGroup`]. The pipeline then does, in this order and the
//! same way for every group: request id, body size limit, routing (404/405),
//! authentication, `Idempotency-Key` replay, the handler, error mapping and
//! logging, and an audit entry for refused mutations. Handlers get a
//! [`RequestContext`] with the authenticated [`Principal`] and the ports
//! ([`Platform`]): the database, outbound HTTP and Spin variables.

#![deny(missing_docs)]

pub mod audit;
pub mod auth;
pub mod config;
pub mod dualwrite;
mod failure;
pub mod idempotency;
pub mod openapi;
pub mod outbox;
mod pipeline;
pub mod resource;
pub mod scopes;
pub mod tenant_refs;
pub mod throttle;

#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "spin")]
pub mod spin;

use chrono::{DateTime, Utc};
use cp_http::envelope::{data_response, list_response};
use cp_http::{ApiRequest, ApiResponse, Meta, PaginationInfo, PathParams, Route};
use cp_store::Database;
use serde::Serialize;

pub use auth::Principal;
pub use failure::Failure;
pub use pipeline::serve;

/// What the runtime provides to a request.
pub trait Platform {
    /// The database session type.
    type Db: Database;
    /// The outbound HTTP transport.
    type Http: cp_http::outbound::HttpTransport;

    /// This request's database session.
    fn db(&self) -> &Self::Db;

    /// Outbound HTTP (Kubernetes, later other upstreams).
    fn http(&self) -> &Self::Http;

    /// A Spin variable of the component (`None` when undefined or empty).
    fn variable(&self, name: &str) -> Option<String>;
}

/// A coherent group of routes served by one component. Implemented by
/// `cp_macros::route_group!` from the group's `#[operation]` declarations.
#[allow(async_fn_in_trait)]
pub trait RouteGroup {
    /// The operations of the group (one per route).
    type Op: Copy + 'static;

    /// The route table (also checked against the OpenAPI document).
    fn routes() -> &'static [Route<Self::Op>];

    /// Runs one operation.
    async fn handle<P: Platform>(
        op: Self::Op,
        ctx: &RequestContext<'_, P>,
        req: &ApiRequest,
        params: &PathParams,
    ) -> Result<ApiResponse, Failure>;
}

/// Everything a handler needs about the current request.
pub struct RequestContext<'a, P: Platform> {
    /// The ports.
    pub platform: &'a P,
    /// The request id (echoed in responses and audit entries).
    pub request_id: String,
    /// Who is calling.
    pub principal: Principal,
    /// The request's time, fixed once so a request is internally consistent.
    pub now: DateTime<Utc>,
    /// The operation id being served.
    pub operation_id: &'static str,
}

impl<P: Platform> RequestContext<'_, P> {
    /// The database session.
    pub fn db(&self) -> &P::Db {
        self.platform.db()
    }

    /// Response `meta`.
    pub fn meta(&self) -> Meta {
        Meta::new(&self.request_id, self.now)
    }

    /// `200 {data, meta}`.
    pub fn ok<T: Serialize>(&self, data: &T) -> ApiResponse {
        data_response(200, data, self.meta())
    }

    /// `201 {data, meta}`.
    pub fn created<T: Serialize>(&self, data: &T) -> ApiResponse {
        data_response(201, data, self.meta())
    }

    /// `200 {data: [...], meta, pagination}`.
    pub fn list<T: Serialize>(&self, items: &[T], pagination: PaginationInfo) -> ApiResponse {
        list_response(items, pagination, self.meta())
    }

    /// A Kubernetes client configured from the component's variables.
    pub fn kube(&self) -> Result<cp_kube::KubeClient<'_, P::Http>, Failure> {
        let config = config::kube_config(self.platform)?;
        Ok(cp_kube::KubeClient::new(config, self.platform.http()))
    }

    /// An audit entry for this request, to be completed and written in the
    /// same transaction as the change it records.
    pub fn audit(&self, resource_kind: &str, resource_name: &str) -> audit::AuditEntry {
        audit::AuditEntry {
            actor: self.principal.actor(),
            action: self.operation_id.to_owned(),
            resource_kind: resource_kind.to_owned(),
            resource_name: resource_name.to_owned(),
            tenant: None,
            request_id: self.request_id.clone(),
            outcome: audit::Outcome::Success,
            detail: serde_json::Value::Null,
        }
    }
}
