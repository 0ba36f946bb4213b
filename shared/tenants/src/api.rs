//! The `tenants` route group: routes, request parsing, responses, and the
//! OpenAPI description of each route (generated from these annotations).

use cp_http::error::ErrorBody;
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::validate::{dns_label, Validator};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_orgs::roles::OrgRole;
use cp_platform::{Failure, Platform, RequestContext};
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

use crate::access;
use crate::authority::{self, TenantLimits, Writer};
use crate::contract::EffectiveContract;
use crate::model::{tenant_name_schema, Tenant, TenantCreate, TenantInput, TenantRow, ValidTenant};
use crate::orgs;
use crate::service::{self, Membership};
use cp_platform::dualwrite::{dry_run, DriftReport, RepairReport};
use cp_platform::openapi::ResourceLinks;

cp_macros::route_group! {
    /// The tenants route group.
    pub struct Tenants;
    kind = "tenant";
    openapi(
        modifiers(&TenantLinks),
        tags((name = "tenants", description = "Agent pods: Tenant CRDs dual-written with PostgreSQL projection rows"))
    );
    operations = [
        list_tenants,
        create_tenant,
        get_tenant,
        update_tenant,
        delete_tenant,
        suspend_tenant,
        resume_tenant,
        get_tenant_datasets,
        replace_tenant_datasets,
        get_tenant_effective_contract,
        get_tenant_drift,
        repair_tenants,
        orgs::list_organization_tenants,
        orgs::create_organization_tenant,
        orgs::get_organization_tenant,
        orgs::suspend_organization_tenant,
        orgs::resume_organization_tenant,
        orgs::decommission_organization_tenant,
    ];
}

/// The tenant `name` if the caller may act on it with at least `min` (404
/// for a tenant outside the user's organisations, 403 below `min`).
async fn guard<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    min: OrgRole,
) -> Result<TenantRow, Failure> {
    Ok(guard_with_role(ctx, name, min).await?.0)
}

/// [`guard`], also returning the user's role (`None`: operator or token).
async fn guard_with_role<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    min: OrgRole,
) -> Result<(TenantRow, Writer), Failure> {
    let row = service::get(ctx.db(), name).await?;
    let role = access::require(ctx.db(), &ctx.principal, &row, min).await?;
    Ok((row, role))
}

/// Refuses what `writer` may not set in `input` (see [`authority`]), and
/// checks an owner that an operator assigns.
pub(crate) async fn authorize_write<P: Platform>(
    ctx: &RequestContext<'_, P>,
    writer: Writer,
    input: &ValidTenant,
    current: Option<&TenantRow>,
    org_id: Option<&str>,
) -> Result<(), Failure> {
    let limits = TenantLimits::from_platform(ctx.platform);
    let user_id = ctx.principal.user().map(|u| u.id.as_str());
    authority::check_write(writer, &limits, input, current, user_id)?;
    let unchanged = current.is_some_and(|c| c.tenant.owner_id == input.owner_id);
    if let Some(owner) = input.owner_id.as_deref().filter(|_| !unchanged) {
        service::check_owner(ctx.db(), owner, org_id).await?;
    }
    Ok(())
}

/// The `includeDecommissioned` query parameter (default false).
pub(crate) fn include_decommissioned(req: &ApiRequest) -> Result<bool, ApiError> {
    match req.query_param("includeDecommissioned").as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid(
            "includeDecommissioned",
            "must be true or false",
        )),
    }
}

/// The `includeDecommissioned` query parameter, for the OpenAPI document.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ListFilterQuery {
    /// Also list decommissioned tenants (tombstones), default false.
    #[param(nullable = false)]
    pub include_decommissioned: Option<bool>,
}

/// The `{name}` path parameter, validated (a 400 naming `name`).
fn path_name(params: &PathParams) -> Result<&str, Failure> {
    Ok(params.valid("name", dns_label)?)
}

/// The `{name}` path parameter, for the OpenAPI document.
pub struct TenantPath;

impl IntoParams for TenantPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![cp_http::params::path_param(
            "name",
            "Tenant name",
            tenant_name_schema(),
        )]
    }
}

#[operation(get, "/api/v1/tenants", id = "listTenants", callers = users,
    tag = "tenants",
    summary = "List tenants (keyset pagination, oldest first; users see their organisations' tenants)",
    params(PageQuery, ListFilterQuery),
    responses((status = 200, body = ListEnvelope<Tenant>)))]
async fn list_tenants<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::LIST_SCOPE)?;
    let filter = access::list_filter(&ctx.principal);
    let include = include_decommissioned(req)?;
    let (rows, pagination) = service::list(ctx.db(), &page, &filter, include).await?;
    let items: Vec<&Tenant> = rows.iter().map(|r| &r.tenant).collect();
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/tenants", id = "createTenant", callers = operator,
    tag = "tenants",
    summary = "Create a platform tenant, outside any organisation (operators; users create in an organisation)",
    request_body = TenantCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Tenant>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
async fn create_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<TenantInput>(req)?.validate(None)?;
    authorize_write(ctx, None, &input, None, None).await?;
    let row = service::create(ctx, input, None).await?;
    Ok(ctx.created(&row.tenant).with_etag(row.etag()))
}

#[operation(get, "/api/v1/tenants/{name}", id = "getTenant", callers = users,
    tag = "tenants",
    summary = "Get a tenant",
    params(TenantPath),
    responses((status = 200, body = Envelope<Tenant>, headers(("ETag" = String)))))]
async fn get_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    let row = guard(ctx, name, OrgRole::Viewer).await?;
    let row = service::refresh(ctx, row).await?;
    Ok(ctx.ok(&row.tenant).with_etag(row.etag()))
}

#[operation(put, "/api/v1/tenants/{name}", id = "updateTenant", callers = users,
    tag = "tenants",
    summary = "Replace a tenant's spec (dual-write; If-Match for optimistic concurrency)",
    request_body = TenantInput,
    params(TenantPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Tenant>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
async fn update_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    let input = parse_body::<TenantInput>(req)?.validate(Some(name))?;
    let (current, writer) = guard_with_role(ctx, name, OrgRole::Member).await?;
    let org_id = current.tenant.organization_id.clone();
    authorize_write(ctx, writer, &input, Some(&current), org_id.as_deref()).await?;
    let row = service::update(ctx, req, input, &current).await?;
    Ok(ctx.ok(&row.tenant).with_etag(row.etag()))
}

#[operation(delete, "/api/v1/tenants/{name}", id = "deleteTenant", callers = users,
    tag = "tenants",
    summary = "Delete a tenant: operators delete CRD and row (the name is free at once); an organisation admin decommissions it",
    params(TenantPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted (operators) or decommissioned (users)"),
              (status = 502, body = ErrorBody)))]
async fn delete_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    guard(ctx, name, OrgRole::Admin).await?;
    if matches!(ctx.principal, cp_platform::auth::Principal::User(_)) {
        // Users end their organisation's tenants the one final way the
        // lifecycle has; only operators free a name at once.
        service::decommission(ctx, name, None).await?;
    } else {
        service::delete(ctx, name).await?;
    }
    Ok(ApiResponse::empty(204))
}

#[operation(post, "/api/v1/tenants/{name}/suspend", id = "suspendTenant", callers = users,
    tag = "tenants",
    summary = "Suspend an active tenant: spec.suspended and its Deployment scaled to zero (409 naming the state otherwise)",
    params(TenantPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Tenant>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
async fn suspend_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    guard(ctx, name, OrgRole::Member).await?;
    let row = service::set_suspended(ctx, name, true, None).await?;
    Ok(ctx.ok(&row.tenant).with_etag(row.etag()))
}

#[operation(post, "/api/v1/tenants/{name}/resume", id = "resumeTenant", callers = users,
    tag = "tenants",
    summary = "Resume a suspended tenant (409 naming the state otherwise)",
    params(TenantPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Tenant>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
async fn resume_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    guard(ctx, name, OrgRole::Member).await?;
    let row = service::set_suspended(ctx, name, false, None).await?;
    Ok(ctx.ok(&row.tenant).with_etag(row.etag()))
}

fn dataset_name_schema() -> Object {
    cp_http::validate::pattern_string(
        false,
        cp_http::validate::DATASET_NAME_PATTERN,
        128,
        "Dataset name: 1-128 of a-z, 0-9, '.', '_', '-', starting with a letter or digit.",
    )
}

fn stored_access_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(["read", "write"]))
        .description(Some("`read` or `write`."))
        .build()
}

fn access_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([Some("read"), Some("write"), None]))
        .description(Some("`read` (default) or `write`."))
        .build()
}

/// One dataset membership, as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetMembership {
    /// Dataset name.
    pub name: String,
    /// `read` or `write`.
    #[schema(schema_with = stored_access_schema)]
    pub access: String,
    /// When the membership was granted (RFC 3339).
    pub added_at: String,
}

/// One dataset membership to set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatasetMembershipInput {
    /// Dataset name (1-128 of a-z, 0-9, '.', '_', '-').
    #[schema(schema_with = dataset_name_schema)]
    pub name: String,
    /// `read` (default) or `write`.
    #[serde(default)]
    #[schema(schema_with = access_schema)]
    pub access: Option<String>,
}

/// A tenant's dataset memberships.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantDatasets {
    /// Tenant name.
    pub tenant: String,
    /// Memberships, by dataset name.
    pub datasets: Vec<DatasetMembership>,
}

/// Body of `PUT /tenants/{name}/datasets`: the complete new set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplaceDatasets {
    /// The memberships (at most 500, each dataset once).
    #[schema(max_items = 500)]
    pub datasets: Vec<DatasetMembershipInput>,
}

fn datasets_view(tenant: &str, ms: Vec<Membership>) -> TenantDatasets {
    TenantDatasets {
        tenant: tenant.to_owned(),
        datasets: ms
            .into_iter()
            .map(|m| DatasetMembership {
                name: m.dataset,
                access: m.access,
                added_at: cp_http::time::micros_rfc3339(m.created_micros),
            })
            .collect(),
    }
}

#[operation(get, "/api/v1/tenants/{name}/datasets", id = "getTenantDatasets", callers = users,
    tag = "tenants",
    summary = "Get a tenant's dataset memberships",
    params(TenantPath),
    responses((status = 200, body = Envelope<TenantDatasets>)))]
async fn get_tenant_datasets<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    guard(ctx, name, OrgRole::Viewer).await?;
    let ms = service::datasets(ctx.db(), name).await?;
    Ok(ctx.ok(&datasets_view(name, ms)))
}

#[operation(put, "/api/v1/tenants/{name}/datasets", id = "replaceTenantDatasets", callers = users,
    tag = "tenants",
    summary = "Replace a tenant's dataset memberships (DATASET_DENIED when its policy forbids one)",
    request_body = ReplaceDatasets,
    params(TenantPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<TenantDatasets>), (status = 502, body = ErrorBody)))]
async fn replace_tenant_datasets<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    let body: ReplaceDatasets = parse_body(req)?;
    let mut v = Validator::new();
    v.check(
        body.datasets.len() <= 500,
        "datasets",
        "must have at most 500 entries",
    );
    let mut wanted: Vec<(String, String)> = Vec::new();
    for (i, d) in body.datasets.into_iter().enumerate() {
        if let Err(msg) = cp_http::validate::dataset_name(&d.name) {
            v.error(format!("datasets[{i}].name"), msg);
        } else if wanted.iter().any(|(n, _)| *n == d.name) {
            v.error(format!("datasets[{i}].name"), "is a duplicate");
        }
        let access = d.access.unwrap_or_else(|| "read".into());
        if access != "read" && access != "write" {
            v.error(format!("datasets[{i}].access"), "must be read or write");
        }
        wanted.push((d.name, access));
    }
    v.finish()?;
    guard(ctx, name, OrgRole::Member).await?;
    let ms = service::replace_datasets(ctx, name, wanted).await?;
    Ok(ctx.ok(&datasets_view(name, ms)))
}

#[operation(get, "/api/v1/tenants/{name}/effective-contract", id = "getTenantEffectiveContract", callers = users,
    tag = "tenants",
    summary = "Compile the tenant's effective contract (datasets, MCP servers, skills, with reasons)",
    params(TenantPath),
    responses((status = 200, body = Envelope<EffectiveContract>), (status = 502, body = ErrorBody)))]
async fn get_tenant_effective_contract<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = path_name(params)?;
    guard(ctx, name, OrgRole::Viewer).await?;
    let contract = service::effective_contract(ctx, name).await?;
    Ok(ctx.ok(&contract))
}

#[operation(get, "/api/v1/tenants/drift", id = "getTenantDrift", callers = operator,
    tag = "tenants",
    summary = "Compare Tenant CRDs (truth) with their PostgreSQL projection rows (operators; decommissioned tenants are skipped)",
    responses((status = 200, body = Envelope<DriftReport>), (status = 502, body = ErrorBody)))]
async fn get_tenant_drift<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let report = service::drift(ctx).await?;
    Ok(ctx.ok(&report))
}

#[operation(post, "/api/v1/tenants/repair", id = "repairTenants", callers = operator,
    tag = "tenants",
    summary = "Repair projection rows from the CRDs (operators; dry run unless dryRun=false)",
    params(("dryRun" = Option<bool>, Query, nullable = false,
            description = "Only report what would change (default true)"),
           IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<RepairReport>), (status = 502, body = ErrorBody)))]
async fn repair_tenants<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let report = service::repair(ctx, dry_run(req)?).await?;
    Ok(ctx.ok(&report))
}

/// Why users may not reach drift and repair.
/// Operations that take a tenant `{name}`, linked from every response that
/// returns a tenant (OpenAPI links: what a client, or a stateful fuzzer, can
/// call next with the name it got).
const BY_NAME: &[(&str, &str)] = &[
    ("GetTenant", "getTenant"),
    ("UpdateTenant", "updateTenant"),
    ("DeleteTenant", "deleteTenant"),
    ("SuspendTenant", "suspendTenant"),
    ("ResumeTenant", "resumeTenant"),
    ("GetTenantDatasets", "getTenantDatasets"),
    ("ReplaceTenantDatasets", "replaceTenantDatasets"),
    ("GetTenantEffectiveContract", "getTenantEffectiveContract"),
];

/// Adds the OpenAPI links between the tenant operations.
struct TenantLinks;

impl utoipa::Modify for TenantLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        ResourceLinks {
            key: "name",
            by_key: BY_NAME,
            update: Some("updateTenant"),
            one: &[
                ("/api/v1/tenants", "post", "201"),
                ("/api/v1/tenants/{name}", "get", "200"),
                ("/api/v1/tenants/{name}", "put", "200"),
                ("/api/v1/tenants/{name}/suspend", "post", "200"),
                ("/api/v1/tenants/{name}/resume", "post", "200"),
            ],
            list: Some(("/api/v1/tenants", "listTenants")),
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
        let problems = cp_platform::openapi::route_mismatches::<Tenants>(&TenantsApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
