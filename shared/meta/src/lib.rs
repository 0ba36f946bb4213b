//! The `meta` route group: `GET /healthz` (liveness), `GET /api/v1/health`
//! (readiness, checks the database), `GET /prom` (Prometheus metrics read
//! from PostgreSQL at scrape time), `GET /api/v1/openapi.json` (the committed
//! OpenAPI document, built into the component: `cp-openapi` generates it
//! from every route group's annotations and checks the copy), and the
//! API.md `404 NOT_FOUND` envelope for every path no other group serves.

pub mod metrics;

use cp_http::error::ErrorBody;
use cp_http::{ApiRequest, ApiResponse, Envelope, PathParams, Route};
use cp_platform::{Failure, Platform, RequestContext, RouteGroup};
use cp_store::Database;
use serde::Serialize;
use utoipa::ToSchema;

/// The operations of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /healthz`
    Liveness,
    /// `GET /api/v1/health`
    Health,
    /// `GET /prom`
    Prometheus,
    /// `GET /api/v1/openapi.json`
    OpenApi,
}

const ROUTES: &[Route<Op>] = &[
    Route::public("GET", "/healthz", Op::Liveness),
    Route::public("GET", "/api/v1/health", Op::Health),
    Route::public("GET", "/prom", Op::Prometheus),
    Route::public("GET", "/api/v1/openapi.json", Op::OpenApi),
];

/// The meta route group.
pub struct Meta;

impl RouteGroup for Meta {
    type Op = Op;

    fn routes() -> &'static [Route<Op>] {
        ROUTES
    }

    fn operation_id(op: Op) -> &'static str {
        match op {
            Op::Liveness => "getLiveness",
            Op::Health => "getHealth",
            Op::Prometheus => "getPrometheusMetrics",
            Op::OpenApi => "getOpenApiDocument",
        }
    }

    async fn handle<P: Platform>(
        op: Op,
        ctx: &RequestContext<'_, P>,
        _req: &ApiRequest,
        _params: &PathParams,
    ) -> Result<ApiResponse, Failure> {
        match op {
            Op::Liveness => Ok(get_liveness(ctx)),
            Op::Health => get_health(ctx).await,
            Op::Prometheus => get_prometheus_metrics(ctx).await,
            Op::OpenApi => Ok(get_openapi_document()),
        }
    }
}

/// Health of the service.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
    /// `ok` when PostgreSQL answered (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

#[utoipa::path(get, path = "/healthz", tag = "meta", operation_id = "getLiveness",
    summary = "Liveness: the service answers (no dependency is checked)", security(()),
    responses((status = 200, body = Envelope<Health>)))]
fn get_liveness<P: Platform>(ctx: &RequestContext<'_, P>) -> ApiResponse {
    ctx.ok(&Health {
        status: "ok",
        database: None,
    })
}

#[utoipa::path(get, path = "/api/v1/health", tag = "meta", operation_id = "getHealth",
    summary = "Readiness: the service and its database answer", security(()),
    responses((status = 200, body = Envelope<Health>), (status = 503, body = ErrorBody)))]
async fn get_health<P: Platform>(ctx: &RequestContext<'_, P>) -> Result<ApiResponse, Failure> {
    ctx.db().query("SELECT 1", &[]).await?;
    Ok(ctx.ok(&Health {
        status: "ok",
        database: Some("ok"),
    }))
}

#[utoipa::path(get, path = "/prom", tag = "meta", operation_id = "getPrometheusMetrics",
    summary = "Prometheus metrics (OpenMetrics text), read from PostgreSQL at scrape time", security(()),
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"),
              (status = 503, body = ErrorBody)))]
async fn get_prometheus_metrics<P: Platform>(
    ctx: &RequestContext<'_, P>,
) -> Result<ApiResponse, Failure> {
    let snapshot = metrics::read(ctx.db()).await?;
    Ok(ApiResponse::text(
        200,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        metrics::render(&snapshot),
    ))
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", operation_id = "getOpenApiDocument",
    summary = "This API's OpenAPI 3.1 document, generated from the code", security(()),
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
fn get_openapi_document() -> ApiResponse {
    ApiResponse::json(200, OPENAPI_JSON.as_bytes().to_vec())
}

/// The committed `openapi.json`. `make openapi` regenerates it from the code
/// (crate `cp-openapi`), whose tests fail when it is out of date, so what is
/// served here is always what the code declares, without the component
/// linking every route group to build it.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");

/// OpenAPI description of the meta routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(get_liveness, get_health, get_prometheus_metrics, get_openapi_document),
    tags((name = "meta", description = "Health, metrics and this document (public)"))
)]
pub struct MetaApi;
