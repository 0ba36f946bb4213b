//! The `policies` route group: routes, request parsing, responses, and the
//! OpenAPI description of each route (generated from these annotations).

use cp_http::error::ErrorBody;
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::dualwrite::{dry_run, DriftReport, RepairReport};
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::model::{policy_name, policy_name_schema, Policy, PolicyCreate, PolicyInput};
use crate::service;

cp_macros::route_group! {
    /// The policies route group.
    pub struct Policies;
    kind = "policy";
    openapi(
        modifiers(&PolicyLinks),
        tags((name = "policies", description = "Access policies: AccessPolicy CRDs dual-written with PostgreSQL projection rows; \
          which tenants and groups may use which datasets, MCP servers and skills"))
    );
    operations = [
        list_policies,
        create_policy,
        get_policy,
        update_policy,
        delete_policy,
        get_policy_drift,
        repair_policies,
    ];
}

/// The `{name}` path parameter, validated (a 400 naming `name`).
fn path_name(params: &PathParams) -> Result<&str, Failure> {
    Ok(params.valid("name", policy_name)?)
}

/// The `{name}` path parameter, for the OpenAPI document.
pub struct PolicyPath;

impl IntoParams for PolicyPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![cp_http::params::path_param(
            "name",
            "Policy name",
            policy_name_schema(),
        )]
    }
}

#[operation(get, "/api/v1/policies", id = "listPolicies", callers = operator,
    tag = "policies",
    summary = "List access policies (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Policy>)))]
async fn list_policies<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::LIST_SCOPE)?;
    let (rows, pagination) = service::list(ctx.db(), &page).await?;
    let items: Vec<&Policy> = rows.iter().map(|r| &r.policy).collect();
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/policies", id = "createPolicy", callers = operator,
    tag = "policies",
    summary = "Create an access policy (dual-write: AccessPolicy CRD, then the PostgreSQL row)",
    description = "Each name in `subjects.tenants` must be a live tenant's (400 naming \
        `subjects.tenants[i]` otherwise); the policy is bound to that tenant, not to the name.",
    request_body = PolicyCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Policy>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
async fn create_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<PolicyInput>(req)?.validate(None)?;
    let row = service::create(ctx, input).await?;
    Ok(ctx.created(&row.policy).with_etag(row.etag()))
}

#[operation(get, "/api/v1/policies/{name}", id = "getPolicy", callers = operator,
    tag = "policies",
    summary = "Get an access policy",
    params(PolicyPath),
    responses((status = 200, body = Envelope<Policy>, headers(("ETag" = String)))))]
async fn get_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    let row = service::get(ctx.db(), name).await?;
    Ok(ctx.ok(&row.policy).with_etag(row.etag()))
}

#[operation(put, "/api/v1/policies/{name}", id = "updatePolicy", callers = operator,
    tag = "policies",
    summary = "Replace an access policy's spec (dual-write; If-Match for optimistic concurrency)",
    description = "A name new to `subjects.tenants` must be a live tenant's and is bound to it; a \
        name kept from the current spec must still be bound (its tenant not deleted or \
        decommissioned). Otherwise a 400 names `subjects.tenants[i]`.",
    request_body = PolicyInput,
    params(PolicyPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Policy>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
async fn update_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    let input = parse_body::<PolicyInput>(req)?.validate(Some(name))?;
    let row = service::update(ctx, req, input).await?;
    Ok(ctx.ok(&row.policy).with_etag(row.etag()))
}

#[operation(delete, "/api/v1/policies/{name}", id = "deletePolicy", callers = operator,
    tag = "policies",
    summary = "Delete an access policy (dual-write); tenants still bound to it by policyRef fail closed",
    params(PolicyPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 502, body = ErrorBody)))]
async fn delete_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    service::delete(ctx, name).await?;
    Ok(ApiResponse::empty(204))
}

#[operation(get, "/api/v1/policies/drift", id = "getPolicyDrift", callers = operator,
    tag = "policies",
    summary = "Compare AccessPolicy CRDs (truth) with their PostgreSQL projection rows",
    responses((status = 200, body = Envelope<DriftReport>), (status = 502, body = ErrorBody)))]
async fn get_policy_drift<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&service::drift(ctx).await?))
}

#[operation(post, "/api/v1/policies/repair", id = "repairPolicies", callers = operator,
    tag = "policies",
    summary = "Repair policy projection rows from the CRDs (dry run unless dryRun=false)",
    params(("dryRun" = Option<bool>, Query, nullable = false,
            description = "Only report what would change (default true)"),
           IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<RepairReport>), (status = 502, body = ErrorBody)))]
async fn repair_policies<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Policies>(&PoliciesApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
