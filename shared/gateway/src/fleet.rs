//! Fair share and the gateway fleet: tenant weights, TPM quotas and groups,
//! group weights, gateway heartbeats (each answered with the instance's max
//! in-flight and the current allocation from [`crate::fairshare`]), the live
//! snapshot, stats and the fleet's capacity.

use cp_http::error::ErrorBody;
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::validate::{dns_label, pattern_string, DNS_LABEL_PATTERN};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams, Route};
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::Required;
use utoipa::{IntoParams, OpenApi};

use crate::api::Op;
use crate::fleet_model::{
    Capacity, CapacityInput, CapacityInstance, FairshareGroup, FleetCapacity, FleetLive,
    FleetStats, GroupAssignInput, GroupCreateInput, HeartbeatAnswer, HeartbeatInput,
    InstanceAllocation, LiveInstance, QuotaInput, TenantAllocation, TenantFairshare,
    TenantLoadInput, WeightInput,
};
use crate::fleet_store::{self as store, SettingsChange};

/// The area's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetOp {
    /// `PATCH /tenants/{name}/weight`
    SetTenantWeight,
    /// `PUT /tenants/{name}/quota`
    SetTenantQuota,
    /// `PATCH /tenants/{name}/group`
    SetTenantGroup,
    /// `GET /fairshare/groups`
    ListGroups,
    /// `POST /fairshare/groups`
    CreateGroup,
    /// `PATCH /fairshare/groups/{name}/weight`
    SetGroupWeight,
    /// `POST /fairshare/heartbeat`
    Heartbeat,
    /// `GET /fairshare/live`
    Live,
    /// `GET /stats`
    Stats,
    /// `GET /capacity`
    GetCapacity,
    /// `PUT /capacity`
    SetCapacity,
}

/// The area's routes.
pub(crate) const ROUTES: &[Route<Op>] = &[
    Route::new(
        "PATCH",
        "/api/v1/tenants/{name}/weight",
        Op::Fleet(FleetOp::SetTenantWeight),
    )
    .in_area("fairshare"),
    Route::new(
        "PUT",
        "/api/v1/tenants/{name}/quota",
        Op::Fleet(FleetOp::SetTenantQuota),
    )
    .in_area("fairshare"),
    Route::new(
        "PATCH",
        "/api/v1/tenants/{name}/group",
        Op::Fleet(FleetOp::SetTenantGroup),
    )
    .in_area("fairshare"),
    Route::new(
        "GET",
        "/api/v1/fairshare/groups",
        Op::Fleet(FleetOp::ListGroups),
    ),
    Route::new(
        "POST",
        "/api/v1/fairshare/groups",
        Op::Fleet(FleetOp::CreateGroup),
    ),
    Route::new(
        "PATCH",
        "/api/v1/fairshare/groups/{name}/weight",
        Op::Fleet(FleetOp::SetGroupWeight),
    ),
    Route::new(
        "POST",
        "/api/v1/fairshare/heartbeat",
        Op::Fleet(FleetOp::Heartbeat),
    ),
    Route::new("GET", "/api/v1/fairshare/live", Op::Fleet(FleetOp::Live)),
    Route::new("GET", "/api/v1/stats", Op::Fleet(FleetOp::Stats)),
    Route::new("GET", "/api/v1/capacity", Op::Fleet(FleetOp::GetCapacity)),
    Route::new("PUT", "/api/v1/capacity", Op::Fleet(FleetOp::SetCapacity)),
];

/// The operation id (also the audit action).
pub(crate) fn operation_id(op: FleetOp) -> &'static str {
    match op {
        FleetOp::SetTenantWeight => "setTenantWeight",
        FleetOp::SetTenantQuota => "setTenantQuota",
        FleetOp::SetTenantGroup => "setTenantGroup",
        FleetOp::ListGroups => "listFairshareGroups",
        FleetOp::CreateGroup => "createFairshareGroup",
        FleetOp::SetGroupWeight => "setFairshareGroupWeight",
        FleetOp::Heartbeat => "gatewayHeartbeat",
        FleetOp::Live => "getFairshareLive",
        FleetOp::Stats => "getGatewayStats",
        FleetOp::GetCapacity => "getCapacity",
        FleetOp::SetCapacity => "setCapacity",
    }
}

/// The kind of resource the area's operations write (refused mutations are
/// audited under it).
pub(crate) fn resource_kind(op: FleetOp) -> &'static str {
    match op {
        FleetOp::SetTenantWeight | FleetOp::SetTenantQuota | FleetOp::SetTenantGroup => {
            "tenant_fairshare"
        }
        FleetOp::ListGroups | FleetOp::CreateGroup | FleetOp::SetGroupWeight => "fairshare_group",
        FleetOp::Heartbeat | FleetOp::Live | FleetOp::Stats => "gateway_instance",
        FleetOp::GetCapacity | FleetOp::SetCapacity => "gateway_capacity",
    }
}

/// Runs one operation.
pub(crate) async fn handle<P: Platform>(
    op: FleetOp,
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    match op {
        FleetOp::SetTenantWeight => set_tenant_weight(ctx, req, params).await,
        FleetOp::SetTenantQuota => set_tenant_quota(ctx, req, params).await,
        FleetOp::SetTenantGroup => set_tenant_group(ctx, req, params).await,
        FleetOp::ListGroups => list_groups(ctx, req).await,
        FleetOp::CreateGroup => create_group(ctx, req).await,
        FleetOp::SetGroupWeight => set_group_weight(ctx, req, label(params)?).await,
        FleetOp::Heartbeat => heartbeat(ctx, req).await,
        FleetOp::Live => live(ctx).await,
        FleetOp::Stats => stats(ctx).await,
        FleetOp::GetCapacity => get_capacity(ctx).await,
        FleetOp::SetCapacity => set_capacity(ctx, req).await,
    }
}

/// The `{name}` path parameter (a tenant or a group), or a 400 naming it.
fn label(params: &PathParams) -> Result<&str, Failure> {
    let name = params.get("name");
    dns_label(name).map_err(|msg| ApiError::invalid("name", msg))?;
    Ok(name)
}

fn with_etag(mut resp: ApiResponse, etag: String) -> ApiResponse {
    resp.set_header("etag", etag);
    resp
}

/// Why users get a 403 on these `/tenants/{name}/...` routes.
const OPERATORS_ONLY: &str = "a tenant's fair-share settings are the platform operator's";

fn name_param(description: &str) -> Parameter {
    let mut schema = pattern_string(false, DNS_LABEL_PATTERN, 63, description);
    schema.min_length = Some(1);
    ParameterBuilder::new()
        .name("name")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
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
    Ok(with_etag(ctx.ok(&settings), etag))
}

#[utoipa::path(patch, path = "/api/v1/tenants/{name}/weight", tag = "fairshare",
    operation_id = "setTenantWeight",
    summary = "Set a tenant's fair-share weight within its group (operators)",
    description = "Tenants without settings have weight 100, no quota and the default group. The \
        answer carries the settings' ETag; If-Match guards the write (a stale one is a 409). A \
        decommissioned tenant is a 409. Users get a 403.",
    request_body = WeightInput,
    params(TenantNamePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<TenantFairshare>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn set_tenant_weight<P: Platform>(
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

#[utoipa::path(put, path = "/api/v1/tenants/{name}/quota", tag = "fairshare",
    operation_id = "setTenantQuota",
    summary = "Set (or, with null, remove) a tenant's tokens-per-minute quota (operators)",
    description = "Input plus output tokens over the last 60 seconds of reported usage; a tenant \
        that reached its quota is allocated nothing (`limitedBy: quota`) until the window slides. \
        ETag and If-Match as for the weight.",
    request_body = QuotaInput,
    params(TenantNamePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<TenantFairshare>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn set_tenant_quota<P: Platform>(
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

#[utoipa::path(patch, path = "/api/v1/tenants/{name}/group", tag = "fairshare",
    operation_id = "setTenantGroup",
    summary = "Assign a tenant to a fair-share group, or (null) back to the default group (operators)",
    description = "The group must exist (`POST /fairshare/groups`); naming one that does not is a \
        400 naming `group`, as for every reference in a request body. ETag and If-Match as for \
        the weight.",
    request_body = GroupAssignInput,
    params(TenantNamePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<TenantFairshare>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn set_tenant_group<P: Platform>(
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

#[utoipa::path(get, path = "/api/v1/fairshare/groups", tag = "fairshare",
    operation_id = "listFairshareGroups",
    summary = "List fair-share groups with their member counts (keyset pagination, oldest first)",
    description = "`memberCount` counts the tenants assigned to the group; tenants without a group \
        share the `default` group (weight 1 unless a group named `default` exists) and are not \
        counted.",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<FairshareGroup>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list_groups<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, store::GROUPS_SCOPE)?;
    let (items, pagination) = store::list_groups(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[utoipa::path(post, path = "/api/v1/fairshare/groups", tag = "fairshare",
    operation_id = "createFairshareGroup",
    summary = "Create a fair-share group",
    description = "Capacity is divided among groups by weight first, then within each group among \
        its tenants by their weights. A duplicate name is a 409.",
    request_body = GroupCreateInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<FairshareGroup>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn create_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let group = parse_body::<GroupCreateInput>(req)?.validate()?;
    let group = store::create_group(ctx, group).await?;
    Ok(with_etag(ctx.created(&group.view), group.etag()))
}

#[utoipa::path(patch, path = "/api/v1/fairshare/groups/{name}/weight", tag = "fairshare",
    operation_id = "setFairshareGroupWeight",
    summary = "Set a fair-share group's weight",
    description = "If-Match guards it (a stale ETag is a 409).",
    request_body = WeightInput,
    params(GroupNamePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<FairshareGroup>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn set_group_weight<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    name: &str,
) -> Result<ApiResponse, Failure> {
    let weight = parse_body::<WeightInput>(req)?.validate()?;
    let group = store::set_group_weight(ctx, req, name, weight).await?;
    Ok(with_etag(ctx.ok(&group.view), group.etag()))
}

// -------------------------------------------------------------------- fleet

#[utoipa::path(post, path = "/api/v1/fairshare/heartbeat", tag = "fairshare",
    operation_id = "gatewayHeartbeat",
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
    responses((status = 200, body = Envelope<HeartbeatAnswer>),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn heartbeat<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let beat = parse_body::<HeartbeatInput>(req)?.validate()?;
    Ok(ctx.ok(&store::heartbeat(ctx.db(), beat).await?))
}

#[utoipa::path(get, path = "/api/v1/fairshare/live", tag = "fairshare",
    operation_id = "getFairshareLive",
    summary = "The live scheduler snapshot: capacity, live instances and every tenant's allocation",
    description = "Live instances only (seen within the last 30 seconds). Reads only.",
    responses((status = 200, body = Envelope<FleetLive>),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn live<P: Platform>(ctx: &RequestContext<'_, P>) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&store::live(ctx.db()).await?))
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "fairshare", operation_id = "getGatewayStats",
    summary = "In-flight and queued requests and capacity over the live gateway instances",
    responses((status = 200, body = Envelope<FleetStats>),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn stats<P: Platform>(ctx: &RequestContext<'_, P>) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&store::stats(ctx.db()).await?))
}

#[utoipa::path(get, path = "/api/v1/capacity", tag = "fairshare", operation_id = "getCapacity",
    summary = "The per-instance max in-flight, and what each live instance was last told",
    responses((status = 200, body = Envelope<Capacity>, headers(("ETag" = String))),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_capacity<P: Platform>(ctx: &RequestContext<'_, P>) -> Result<ApiResponse, Failure> {
    let (capacity, etag) = store::get_capacity(ctx.db()).await?;
    Ok(with_etag(ctx.ok(&capacity), etag))
}

#[utoipa::path(put, path = "/api/v1/capacity", tag = "fairshare", operation_id = "setCapacity",
    summary = "Set the per-instance max in-flight, live",
    description = "No restart: each instance reads it in its next heartbeat's answer (until then \
        `instances[].maxInFlight` shows what it was last told). If-Match guards it (a stale ETag \
        is a 409).",
    request_body = CapacityInput,
    params(IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Capacity>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn set_capacity<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let max_in_flight = parse_body::<CapacityInput>(req)?.validate()?;
    let (capacity, etag) = store::set_capacity(ctx, req, max_in_flight).await?;
    Ok(with_etag(ctx.ok(&capacity), etag))
}

/// Adds the OpenAPI links between a group's operations (by `name`).
struct FleetLinks;

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

/// The OpenAPI description of the area's routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        set_tenant_weight, set_tenant_quota, set_tenant_group,
        list_groups, create_group, set_group_weight,
        heartbeat, live, stats, get_capacity, set_capacity,
    ),
    components(schemas(
        WeightInput, QuotaInput, GroupAssignInput, GroupCreateInput, CapacityInput,
        HeartbeatInput, TenantLoadInput, TenantFairshare, FairshareGroup, TenantAllocation,
        InstanceAllocation, HeartbeatAnswer, FleetCapacity, LiveInstance, FleetLive, FleetStats,
        CapacityInstance, Capacity,
    )),
    modifiers(&FleetLinks),
    tags((name = "fairshare", description = "Fair share of the gateways' in-flight capacity: \
        tenant weights, tokens-per-minute quotas and groups, group weights, the gateway fleet's \
        heartbeats, live state, stats and capacity")),
)]
pub(crate) struct FleetApi;
