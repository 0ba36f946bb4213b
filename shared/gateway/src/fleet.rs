//! Fair share and the gateway fleet: tenant weights, TPM quotas and groups,
//! group weights, gateway heartbeats (each answered with the instance's max
//! in-flight and the current allocation from [`crate::fairshare`]), the live
//! snapshot, stats and the fleet's capacity.

use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::validate::{dns_label, dns_label_schema};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::fleet_model::{
    Capacity, CapacityInput, FairshareGroup, FleetLive, FleetStats, GroupAssignInput,
    GroupCreateInput, HeartbeatAnswer, HeartbeatInput, QuotaInput, TenantFairshare, WeightInput,
};
use crate::fleet_store::{self as store, SettingsChange};

/// The `{name}` path parameter (a tenant or a group), or a 400 naming it.
fn label(params: &PathParams) -> Result<&str, Failure> {
    Ok(params.valid("name", dns_label)?)
}

/// Why users get a 403 on these `/tenants/{name}/...` routes.
const OPERATORS_ONLY: &str = "a tenant's fair-share settings are the platform operator's";

fn name_param(description: &str) -> Parameter {
    cp_http::params::path_param("name", description, dns_label_schema(false, description))
}

/// `{name}` of a tenant, for the OpenAPI document.
pub struct TenantNamePath;

impl IntoParams for TenantNamePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![name_param("Tenant name (DNS-1123 label)")]
    }
}

/// `{name}` of a fair-share group, for the OpenAPI document.
pub struct GroupNamePath;

impl IntoParams for GroupNamePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![name_param("Fair-share group name (DNS-1123 label)")]
    }
}

// ----------------------------------------------------------- tenant settings

/// Users are refused before anything else is looked at (the route is under
/// `/tenants`, which users reach); then the path, then the body.
async fn change_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
    change: impl FnOnce(&ApiRequest) -> Result<SettingsChange, ApiError>,
) -> Result<ApiResponse, Failure> {
    ctx.principal.forbid_users(OPERATORS_ONLY)?;
    let name = label(params)?;
    let change = change(req)?;
    let (settings, etag) = store::change_settings(ctx, req, name, change).await?;
    Ok(ctx.ok(&settings).with_etag(etag))
}

#[operation(patch, "/api/v1/tenants/{name}/weight", id = "setTenantWeight", callers = operator, kind = "tenant_fairshare", area = "fairshare",
    tag = "fairshare",
    summary = "Set a tenant's fair-share weight within its group (operators)",
    description = "Tenants without settings have weight 100, no quota and the default group. The \
        answer carries the settings' ETag; If-Match guards the write (a stale one is a 409). A \
        decommissioned tenant is a 409. Users get a 403.",
    request_body = WeightInput,
    params(TenantNamePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<TenantFairshare>, headers(("ETag" = String)))))]
pub(crate) async fn set_tenant_weight<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    change_tenant(ctx, req, params, |req| {
        Ok(SettingsChange::Weight(
            parse_body::<WeightInput>(req)?.validate()?,
        ))
    })
    .await
}

#[operation(put, "/api/v1/tenants/{name}/quota", id = "setTenantQuota", callers = operator, kind = "tenant_fairshare", area = "fairshare",
    tag = "fairshare",
    summary = "Set (or, with null, remove) a tenant's tokens-per-minute quota (operators)",
    description = "Input plus output tokens over the last 60 seconds of reported usage; a tenant \
        that reached its quota is allocated nothing (`limitedBy: quota`) until the window slides. \
        ETag and If-Match as for the weight.",
    request_body = QuotaInput,
    params(TenantNamePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<TenantFairshare>, headers(("ETag" = String)))))]
pub(crate) async fn set_tenant_quota<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    change_tenant(ctx, req, params, |req| {
        Ok(SettingsChange::Quota(
            parse_body::<QuotaInput>(req)?.validate()?,
        ))
    })
    .await
}

#[operation(patch, "/api/v1/tenants/{name}/group", id = "setTenantGroup", callers = operator, kind = "tenant_fairshare", area = "fairshare",
    tag = "fairshare",
    summary = "Assign a tenant to a fair-share group, or (null) back to the default group (operators)",
    description = "The group must exist (`POST /fairshare/groups`); naming one that does not is a \
        400 naming `group`, as for every reference in a request body. ETag and If-Match as for \
        the weight.",
    request_body = GroupAssignInput,
    params(TenantNamePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<TenantFairshare>, headers(("ETag" = String)))))]
pub(crate) async fn set_tenant_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    change_tenant(ctx, req, params, |req| {
        Ok(SettingsChange::Group(
            parse_body::<GroupAssignInput>(req)?.validate()?,
        ))
    })
    .await
}

// ------------------------------------------------------------------- groups

#[operation(get, "/api/v1/fairshare/groups", id = "listFairshareGroups", callers = operator, kind = "fairshare_group",
    tag = "fairshare",
    summary = "List fair-share groups with their member counts (keyset pagination, oldest first)",
    description = "`memberCount` counts the tenants assigned to the group; tenants without a group \
        share the `default` group (weight 1 unless a group named `default` exists) and are not \
        counted.",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<FairshareGroup>)))]
pub(crate) async fn list_groups<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, store::GROUPS_SCOPE)?;
    let (items, pagination) = store::list_groups(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/fairshare/groups", id = "createFairshareGroup", callers = operator, kind = "fairshare_group",
    tag = "fairshare",
    summary = "Create a fair-share group",
    description = "Capacity is divided among groups by weight first, then within each group among \
        its tenants by their weights. A duplicate name is a 409.",
    request_body = GroupCreateInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<FairshareGroup>, headers(("ETag" = String)))))]
pub(crate) async fn create_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let group = parse_body::<GroupCreateInput>(req)?.validate()?;
    let group = store::create_group(ctx, group).await?;
    Ok(ctx.created(&group.view).with_etag(group.etag()))
}

#[operation(patch, "/api/v1/fairshare/groups/{name}/weight", id = "setFairshareGroupWeight", callers = operator, kind = "fairshare_group",
    tag = "fairshare",
    summary = "Set a fair-share group's weight",
    description = "If-Match guards it (a stale ETag is a 409).",
    request_body = WeightInput,
    params(GroupNamePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<FairshareGroup>, headers(("ETag" = String)))))]
pub(crate) async fn set_group_weight<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let name: &str = label(params)?;
    let weight = parse_body::<WeightInput>(req)?.validate()?;
    let group = store::set_group_weight(ctx, req, name, weight).await?;
    Ok(ctx.ok(&group.view).with_etag(group.etag()))
}

// -------------------------------------------------------------------- fleet

#[operation(post, "/api/v1/fairshare/heartbeat", id = "gatewayHeartbeat", callers = operator, kind = "gateway_instance",
    tag = "fairshare",
    summary = "A gateway instance reports its load and reads back its configuration",
    description = "The gateway data plane's contract. Every `heartbeatIntervalSeconds` (10) each \
        instance reports its in-flight and queued requests per tenant; the report replaces its \
        previous one. An instance not heard from for more than `expiresAfterSeconds` (30) has \
        aged out: it counts nowhere and is deleted by a later heartbeat.\n\n\
        The answer is the instance's configuration: `maxInFlight` (the current `PUT /capacity` \
        setting, so a change applies at each instance's next heartbeat) and the allocation of \
        every tenant this heartbeat reported. The fleet's capacity (`maxInFlight` × live \
        instances) is divided by hierarchical weighted max-min fairness over every tenant's \
        demand (in flight plus queued, over the live instances): among groups by group weight, \
        then among each group's tenants by tenant weight; weight 0 is best effort; a tenant that \
        used up its tokens-per-minute quota gets nothing. `instanceLimit` is this instance's part \
        of the tenant's allocation, in proportion to its part of the tenant's demand; the parts \
        of all instances add up to `allocated`.\n\n\
        Telemetry, not configuration: a heartbeat writes no audit entry.",
    request_body = HeartbeatInput,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<HeartbeatAnswer>)))]
pub(crate) async fn heartbeat<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let beat = parse_body::<HeartbeatInput>(req)?.validate()?;
    Ok(ctx.ok(&store::heartbeat(ctx.db(), beat).await?))
}

#[operation(get, "/api/v1/fairshare/live", id = "getFairshareLive", callers = operator, kind = "gateway_instance",
    tag = "fairshare",
    summary = "The live scheduler snapshot: capacity, live instances and every tenant's allocation",
    description = "Live instances only (seen within the last 30 seconds). Reads only.",
    responses((status = 200, body = Envelope<FleetLive>)))]
pub(crate) async fn live<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&store::live(ctx.db()).await?))
}

#[operation(get, "/api/v1/stats", id = "getGatewayStats", callers = operator, kind = "gateway_instance",
    tag = "fairshare",
    summary = "In-flight and queued requests and capacity over the live gateway instances",
    responses((status = 200, body = Envelope<FleetStats>)))]
pub(crate) async fn stats<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&store::stats(ctx.db()).await?))
}

#[operation(get, "/api/v1/capacity", id = "getCapacity", callers = operator, kind = "gateway_capacity",
    tag = "fairshare",
    summary = "The per-instance max in-flight, and what each live instance was last told",
    responses((status = 200, body = Envelope<Capacity>, headers(("ETag" = String)))))]
pub(crate) async fn get_capacity<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let (capacity, etag) = store::get_capacity(ctx.db()).await?;
    Ok(ctx.ok(&capacity).with_etag(etag))
}

#[operation(put, "/api/v1/capacity", id = "setCapacity", callers = operator, kind = "gateway_capacity",
    tag = "fairshare",
    summary = "Set the per-instance max in-flight, live",
    description = "No restart: each instance reads it in its next heartbeat's answer (until then \
        `instances[].maxInFlight` shows what it was last told). If-Match guards it (a stale ETag \
        is a 409).",
    request_body = CapacityInput,
    params(IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Capacity>, headers(("ETag" = String)))))]
pub(crate) async fn set_capacity<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let max_in_flight = parse_body::<CapacityInput>(req)?.validate()?;
    let (capacity, etag) = store::set_capacity(ctx, req, max_in_flight).await?;
    Ok(ctx.ok(&capacity).with_etag(etag))
}

/// Adds the OpenAPI links between a group's operations (by `name`).
pub(crate) struct FleetLinks;

impl utoipa::Modify for FleetLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        ResourceLinks {
            key: "name",
            by_key: &[("SetFairshareGroupWeight", "setFairshareGroupWeight")],
            update: Some("setFairshareGroupWeight"),
            one: &[
                ("/api/v1/fairshare/groups", "post", "201"),
                ("/api/v1/fairshare/groups/{name}/weight", "patch", "200"),
            ],
            list: Some(("/api/v1/fairshare/groups", "listFairshareGroups")),
        }
        .apply(doc);
    }
}
