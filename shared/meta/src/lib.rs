//! The `meta` route group: `GET /healthz` (liveness), `GET /api/v1/health`
//! (readiness, checks the database), `GET /prom` (Prometheus metrics read
//! from PostgreSQL at scrape time), `GET /api/v1/openapi.json` (the committed
//! OpenAPI document, built into the component: `cp-openapi` generates it
//! from every route group's annotations and checks the copy), and the
//! API.md `404 NOT_FOUND` envelope for every path no other group serves.

#![deny(missing_docs)]

pub mod metrics;

use cp_http::{ApiRequest, ApiResponse, Envelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::Database;
use serde::Serialize;
use utoipa::ToSchema;

cp_macros::route_group! {
    /// The meta route group.
    pub struct Meta;
    kind = "meta";
    openapi(tags((name = "meta", description = "Health, metrics and this document (public)")));
    operations = [get_liveness, get_health, get_prometheus_metrics, get_openapi_document];
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

#[operation(get, "/healthz", id = "getLiveness", callers = public, tag = "meta",
    summary = "Liveness: the service answers (no dependency is checked)",
    responses((status = 200, body = Envelope<Health>)))]
async fn get_liveness<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&Health {
        status: "ok",
        database: None,
    }))
}

#[operation(get, "/api/v1/health", id = "getHealth", callers = public, tag = "meta",
    summary = "Readiness: the service and its database answer",
    responses((status = 200, body = Envelope<Health>)))]
async fn get_health<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    ctx.db().query("SELECT 1", &[]).await?;
    Ok(ctx.ok(&Health {
        status: "ok",
        database: Some("ok"),
    }))
}

#[operation(get, "/prom", id = "getPrometheusMetrics", callers = public, tag = "meta",
    summary = "Prometheus metrics (OpenMetrics text), read from PostgreSQL at scrape time",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
async fn get_prometheus_metrics<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let snapshot = metrics::read(ctx.db()).await?;
    Ok(ApiResponse::text(
        200,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        metrics::render(&snapshot),
    ))
}

#[operation(get, "/api/v1/openapi.json", id = "getOpenApiDocument", callers = public, tag = "meta",
    summary = "This API's OpenAPI 3.1 document, generated from the code",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
async fn get_openapi_document<P: Platform>(
    _ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    Ok(ApiResponse::json(200, OPENAPI_JSON.as_bytes().to_vec()))
}

/// The committed `openapi.json`. `make openapi` regenerates it from the code
/// (crate `cp-openapi`), whose tests fail when it is out of date, so what is
/// served here is always what the code declares, without the component
/// linking every route group to build it.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");
