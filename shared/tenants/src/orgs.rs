//! `/organizations/{orgId}/tenants`: an organisation's tenants, addressed by
//! id, driven through the same lifecycle and dual-write as `/tenants`.
//!
//! The area of these paths is `organizations` (access tokens need
//! `organizations:read`/`:write`). Every route first resolves the caller's
//! role in the organisation (`cp_orgs::roles::org_access`: 404 for a
//! missing organisation or a non-member, 403 below the role): reads need
//! viewer, create/suspend/resume member, decommission admin. A tenant of
//! another organisation is a 404.

use cp_http::error::ErrorBody;
use cp_http::ids::{id_param, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, PageQuery};
use cp_http::{ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_orgs::roles::{org_access, OrgRole};
use cp_platform::{Failure, Platform, RequestContext};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::api::{include_decommissioned, ListFilterQuery};
use crate::lifecycle::Action;
use crate::model::{Tenant, TenantCreate, TenantInput};
use crate::service;
use crate::sql::ListFilter;

/// The `{orgId}` path parameter.
pub(crate) struct OrgPath;

impl IntoParams for OrgPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("orgId", "Organisation id")]
    }
}

/// The `{orgId}` and `{tenantId}` path parameters.
pub(crate) struct OrgTenantPath;

impl IntoParams for OrgTenantPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            id_param("orgId", "Organisation id"),
            id_param("tenantId", "Tenant id"),
        ]
    }
}

/// The organisation of the path, if the caller holds at least `min` in it.
async fn org<P: Platform>(
    ctx: &RequestContext<'_, P>,
    params: &PathParams,
    min: OrgRole,
) -> Result<String, Failure> {
    let org_id = path_id(params, "orgId")?.to_string();
    Ok(org_access(ctx.db(), &ctx.principal, &org_id, min)
        .await?
        .org_id)
}

#[operation(get, "/api/v1/organizations/{orgId}/tenants", id = "listOrganizationTenants", callers = users,
    tag = "tenants",
    summary = "List an organisation's tenants (viewer; keyset pagination, oldest first)",
    params(OrgPath, PageQuery, ListFilterQuery),
    responses((status = 200, body = ListEnvelope<Tenant>)))]
pub(crate) async fn list_organization_tenants<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org(ctx, params, OrgRole::Viewer).await?;
    let page = PageRequest::from_request(req, service::LIST_SCOPE)?;
    let include = include_decommissioned(req)?;
    let (rows, pagination) =
        service::list(ctx.db(), &page, &ListFilter::Org(org_id), include).await?;
    let items: Vec<&Tenant> = rows.iter().map(|r| &r.tenant).collect();
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/organizations/{orgId}/tenants", id = "createOrganizationTenant", callers = users,
    tag = "tenants",
    summary = "Create a tenant in the organisation (member; dual-write; event tenant.created)",
    request_body = TenantCreate,
    params(OrgPath, IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Tenant>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
pub(crate) async fn create_organization_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = path_id(params, "orgId")?.to_string();
    let access = org_access(ctx.db(), &ctx.principal, &org_id, OrgRole::Member).await?;
    let mut input = parse_body::<TenantInput>(req)?.validate(None)?;
    crate::api::authorize_write(ctx, access.role, &input, None, Some(&access.org_id)).await?;
    if let Some(user) = ctx.principal.user() {
        // The creating user owns the tenant (checked above: they may name
        // no one else).
        input.owner_id = Some(user.id.clone());
    }
    let row = service::create(ctx, input, Some(&access.org_id)).await?;
    Ok(ctx.created(&row.tenant).with_etag(row.etag()))
}

#[operation(get, "/api/v1/organizations/{orgId}/tenants/{tenantId}", id = "getOrganizationTenant", callers = users,
    tag = "tenants",
    summary = "Get one of the organisation's tenants, decommissioned ones included (viewer)",
    params(OrgTenantPath),
    responses((status = 200, body = Envelope<Tenant>, headers(("ETag" = String)))))]
pub(crate) async fn get_organization_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let org_id = org(ctx, params, OrgRole::Viewer).await?;
    let tenant_id = path_id(params, "tenantId")?.to_string();
    let row = service::get_in_org(ctx.db(), &org_id, &tenant_id).await?;
    let row = service::refresh(ctx, row).await?;
    Ok(ctx.ok(&row.tenant).with_etag(row.etag()))
}

#[operation(post, "/api/v1/organizations/{orgId}/tenants/{tenantId}/suspend", id = "suspendOrganizationTenant", callers = users,
    tag = "tenants",
    summary = "Suspend an active tenant (member; 409 naming the state otherwise; event tenant.suspended)",
    params(OrgTenantPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Tenant>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
pub(crate) async fn suspend_organization_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    transition(ctx, params, Action::Suspend).await
}

#[operation(post, "/api/v1/organizations/{orgId}/tenants/{tenantId}/resume", id = "resumeOrganizationTenant", callers = users,
    tag = "tenants",
    summary = "Resume a suspended tenant (member; 409 naming the state otherwise; event tenant.resumed)",
    params(OrgTenantPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Tenant>, headers(("ETag" = String))),
              (status = 502, body = ErrorBody)))]
pub(crate) async fn resume_organization_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    transition(ctx, params, Action::Resume).await
}

#[operation(post, "/api/v1/organizations/{orgId}/tenants/{tenantId}/decommission", id = "decommissionOrganizationTenant", callers = users,
    tag = "tenants",
    summary = "Decommission a tenant, finally (admin): the CRD is deleted, the row kept as a \
               tombstone, the name held for 30 days; event tenant.decommissioned",
    params(OrgTenantPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Tenant>), (status = 502, body = ErrorBody)))]
pub(crate) async fn decommission_organization_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    transition(ctx, params, Action::Decommission).await
}

/// Suspend, resume or decommission one of the organisation's tenants.
async fn transition<P: Platform>(
    ctx: &RequestContext<'_, P>,
    params: &PathParams,
    action: Action,
) -> Result<ApiResponse, Failure> {
    let min = match action {
        Action::Suspend | Action::Resume => OrgRole::Member,
        Action::Decommission => OrgRole::Admin,
    };
    let org_id = org(ctx, params, min).await?;
    let tenant_id = path_id(params, "tenantId")?.to_string();
    let row = service::get_in_org(ctx.db(), &org_id, &tenant_id).await?;
    let name = row.tenant.name.as_str();
    let row = match action {
        Action::Suspend => service::set_suspended(ctx, name, true, Some(&tenant_id)).await?,
        Action::Resume => service::set_suspended(ctx, name, false, Some(&tenant_id)).await?,
        Action::Decommission => service::decommission(ctx, name, Some(&tenant_id)).await?,
    };
    Ok(ctx.ok(&row.tenant).with_etag(row.etag()))
}
