//! The `policies` route group: routes, request parsing, responses, and the
//! OpenAPI description of each route (generated from these annotations).

use cp_http::error::ErrorBody;
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams, Route};
use cp_platform::dualwrite::{dry_run, DriftReport, RepairReport};
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext, RouteGroup};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::Required;
use utoipa::{IntoParams, OpenApi};

use crate::model::{policy_name, policy_name_schema, Policy, PolicyCreate, PolicyInput, PolicyRow};
use crate::service;

/// The operations of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /policies`
    List,
    /// `POST /policies`
    Create,
    /// `GET /policies/drift`
    Drift,
    /// `POST /policies/repair`
    Repair,
    /// `GET /policies/{name}`
    Get,
    /// `PUT /policies/{name}`
    Update,
    /// `DELETE /policies/{name}`
    Delete,
}

const ROUTES: &[Route<Op>] = &[
    Route::new("GET", "/api/v1/policies", Op::List),
    Route::new("POST", "/api/v1/policies", Op::Create),
    Route::new("GET", "/api/v1/policies/drift", Op::Drift),
    Route::new("POST", "/api/v1/policies/repair", Op::Repair),
    Route::new("GET", "/api/v1/policies/{name}", Op::Get),
    Route::new("PUT", "/api/v1/policies/{name}", Op::Update),
    Route::new("DELETE", "/api/v1/policies/{name}", Op::Delete),
];

/// The policies route group.
pub struct Policies;

impl RouteGroup for Policies {
    type Op = Op;

    fn routes() -> &'static [Route<Op>] {
        ROUTES
    }

    fn operation_id(op: Op) -> &'static str {
        match op {
            Op::List => "listPolicies",
            Op::Create => "createPolicy",
            Op::Drift => "getPolicyDrift",
            Op::Repair => "repairPolicies",
            Op::Get => "getPolicy",
            Op::Update => "updatePolicy",
            Op::Delete => "deletePolicy",
        }
    }

    fn resource_kind(_: Op) -> &'static str {
        "policy"
    }

    async fn handle<P: Platform>(
        op: Op,
        ctx: &RequestContext<'_, P>,
        req: &ApiRequest,
        params: &PathParams,
    ) -> Result<ApiResponse, Failure> {
        match op {
            Op::List => list_policies(ctx, req).await,
            Op::Create => create_policy(ctx, req).await,
            Op::Drift => get_policy_drift(ctx).await,
            Op::Repair => repair_policies(ctx, req).await,
            Op::Get => get_policy(ctx, path_name(params)?).await,
            Op::Update => update_policy(ctx, req, path_name(params)?).await,
            Op::Delete => delete_policy(ctx, path_name(params)?).await,
        }
    }
}

/// The `{name}` path parameter, validated (a 400 naming `name`).
fn path_name(params: &PathParams) -> Result<&str, Failure> {
    let name = params.get("name");
    policy_name(name).map_err(|msg| Failure::from(ApiError::invalid("name", msg)))?;
    Ok(name)
}

/// The `{name}` path parameter, for the OpenAPI document.
pub struct PolicyPath;

impl IntoParams for PolicyPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![ParameterBuilder::new()
            .name("name")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some("Policy name"))
            .schema(Some(policy_name_schema()))
            .build()]
    }
}

fn with_etag(mut resp: ApiResponse, row: &PolicyRow) -> ApiResponse {
    resp.set_header("etag", row.etag());
    resp
}

#[utoipa::path(get, path = "/api/v1/policies", tag = "policies", operation_id = "listPolicies",
    summary = "List access policies (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Policy>)))]
async fn list_policies<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::LIST_SCOPE)?;
    let (rows, pagination) = service::list(ctx.db(), &page).await?;
    let items: Vec<&Policy> = rows.iter().map(|r| &r.policy).collect();
    Ok(ctx.list(&items, pagination))
}

#[utoipa::path(post, path = "/api/v1/policies", tag = "policies", operation_id = "createPolicy",
    summary = "Create an access policy (dual-write: AccessPolicy CRD, then the PostgreSQL row)",
    description = "Each name in `subjects.tenants` must be a live tenant's (400 naming \
        `subjects.tenants[i]` otherwise); the policy is bound to that tenant, not to the name.",
    request_body = PolicyCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Policy>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn create_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<PolicyInput>(req)?.validate(None)?;
    let row = service::create(ctx, input).await?;
    Ok(with_etag(ctx.created(&row.policy), &row))
}

#[utoipa::path(get, path = "/api/v1/policies/{name}", tag = "policies", operation_id = "getPolicy",
    summary = "Get an access policy",
    params(PolicyPath),
    responses((status = 200, body = Envelope<Policy>, headers(("ETag" = String)))))]
async fn get_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
) -> Result<ApiResponse, Failure> {
    let row = service::get(ctx.db(), name).await?;
    Ok(with_etag(ctx.ok(&row.policy), &row))
}

#[utoipa::path(put, path = "/api/v1/policies/{name}", tag = "policies", operation_id = "updatePolicy",
    summary = "Replace an access policy's spec (dual-write; If-Match for optimistic concurrency)",
    description = "A name new to `subjects.tenants` must be a live tenant's and is bound to it; a \
        name kept from the current spec must still be bound (its tenant not deleted or \
        decommissioned). Otherwise a 400 names `subjects.tenants[i]`.",
    request_body = PolicyInput,
    params(PolicyPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Policy>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn update_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    name: &str,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<PolicyInput>(req)?.validate(Some(name))?;
    let row = service::update(ctx, req, input).await?;
    Ok(with_etag(ctx.ok(&row.policy), &row))
}

#[utoipa::path(delete, path = "/api/v1/policies/{name}", tag = "policies", operation_id = "deletePolicy",
    summary = "Delete an access policy (dual-write); tenants still bound to it by policyRef fail closed",
    params(PolicyPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 502, body = ErrorBody)))]
async fn delete_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
) -> Result<ApiResponse, Failure> {
    service::delete(ctx, name).await?;
    Ok(ApiResponse::empty(204))
}

#[utoipa::path(get, path = "/api/v1/policies/drift", tag = "policies", operation_id = "getPolicyDrift",
    summary = "Compare AccessPolicy CRDs (truth) with their PostgreSQL projection rows",
    responses((status = 200, body = Envelope<DriftReport>), (status = 502, body = ErrorBody)))]
async fn get_policy_drift<P: Platform>(
    ctx: &RequestContext<'_, P>,
) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&service::drift(ctx).await?))
}

#[utoipa::path(post, path = "/api/v1/policies/repair", tag = "policies", operation_id = "repairPolicies",
    summary = "Repair policy projection rows from the CRDs (dry run unless dryRun=false)",
    params(("dryRun" = Option<bool>, Query, nullable = false,
            description = "Only report what would change (default true)"),
           IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<RepairReport>), (status = 502, body = ErrorBody)))]
async fn repair_policies<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&service::repair(ctx, dry_run(req)?).await?))
}

/// Operations that take a policy `{name}`, linked from every response that
/// returns one.
const BY_NAME: &[(&str, &str)] = &[
    ("GetPolicy", "getPolicy"),
    ("UpdatePolicy", "updatePolicy"),
    ("DeletePolicy", "deletePolicy"),
];

struct PolicyLinks;

impl utoipa::Modify for PolicyLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        ResourceLinks {
            key: "name",
            by_key: BY_NAME,
            update: Some("updatePolicy"),
            one: &[
                ("/api/v1/policies", "post", "201"),
                ("/api/v1/policies/{name}", "get", "200"),
                ("/api/v1/policies/{name}", "put", "200"),
            ],
            list: Some(("/api/v1/policies", "listPolicies")),
        }
        .apply(doc);
    }
}

/// The OpenAPI description of the group's routes.
#[derive(OpenApi)]
#[openapi(
    paths(list_policies, create_policy, get_policy, update_policy, delete_policy,
          get_policy_drift, repair_policies),
    modifiers(&PolicyLinks),
    tags((name = "policies", description = "Access policies: AccessPolicy CRDs dual-written with PostgreSQL projection rows; \
          which tenants and groups may use which datasets, MCP servers and skills"))
)]
pub struct PoliciesApi;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Policies>(&PoliciesApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
