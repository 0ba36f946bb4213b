//! The `catalog` route group: routes, request parsing, responses, and the
//! OpenAPI description of each route (generated from these annotations).

use cp_http::error::ErrorBody;
use cp_http::ids::{id_param, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams, Route};
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext, RouteGroup};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, OpenApi};
use uuid::Uuid;

use crate::model::{
    validate_credential, AwarenessGrant, Credential, CredentialInput, Grant, Group, GroupInput,
    GroupUpdate, McpServer, McpServerInput, Member, SecretRef, SourceInput, SourceItem,
    ThirdPartySource,
};
use crate::service;
use cp_platform::resource::Versioned;

/// The operations of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /mcp-servers`
    ListServers,
    /// `POST /mcp-servers`
    CreateServer,
    /// `GET /mcp-servers/{id}`
    GetServer,
    /// `PUT /mcp-servers/{id}`
    ReplaceServer,
    /// `DELETE /mcp-servers/{id}`
    DeleteServer,
    /// `GET /mcp-servers/{id}/credentials`
    ListCredentials,
    /// `POST /mcp-servers/{id}/credentials`
    CreateCredential,
    /// `DELETE /mcp-servers/{id}/credentials/{credentialId}`
    DeleteCredential,
    /// `GET /groups`
    ListGroups,
    /// `POST /groups`
    CreateGroup,
    /// `GET /groups/{id}`
    GetGroup,
    /// `PUT /groups/{id}`
    ReplaceGroup,
    /// `DELETE /groups/{id}`
    DeleteGroup,
    /// `GET /third-party-sources`
    ListSources,
    /// `POST /third-party-sources`
    CreateSource,
    /// `GET /third-party-sources/{id}`
    GetSource,
    /// `PUT /third-party-sources/{id}`
    ReplaceSource,
    /// `DELETE /third-party-sources/{id}`
    DeleteSource,
}

const ROUTES: &[Route<Op>] = &[
    Route::new("GET", "/api/v1/mcp-servers", Op::ListServers),
    Route::new("POST", "/api/v1/mcp-servers", Op::CreateServer),
    Route::new("GET", "/api/v1/mcp-servers/{id}", Op::GetServer),
    Route::new("PUT", "/api/v1/mcp-servers/{id}", Op::ReplaceServer),
    Route::new("DELETE", "/api/v1/mcp-servers/{id}", Op::DeleteServer),
    Route::new(
        "GET",
        "/api/v1/mcp-servers/{id}/credentials",
        Op::ListCredentials,
    ),
    Route::new(
        "POST",
        "/api/v1/mcp-servers/{id}/credentials",
        Op::CreateCredential,
    ),
    Route::new(
        "DELETE",
        "/api/v1/mcp-servers/{id}/credentials/{credentialId}",
        Op::DeleteCredential,
    ),
    Route::new("GET", "/api/v1/groups", Op::ListGroups),
    Route::new("POST", "/api/v1/groups", Op::CreateGroup),
    Route::new("GET", "/api/v1/groups/{id}", Op::GetGroup),
    Route::new("PUT", "/api/v1/groups/{id}", Op::ReplaceGroup),
    Route::new("DELETE", "/api/v1/groups/{id}", Op::DeleteGroup),
    Route::new("GET", "/api/v1/third-party-sources", Op::ListSources),
    Route::new("POST", "/api/v1/third-party-sources", Op::CreateSource),
    Route::new("GET", "/api/v1/third-party-sources/{id}", Op::GetSource),
    Route::new("PUT", "/api/v1/third-party-sources/{id}", Op::ReplaceSource),
    Route::new(
        "DELETE",
        "/api/v1/third-party-sources/{id}",
        Op::DeleteSource,
    ),
];

/// The catalog route group.
pub struct Catalog;

impl RouteGroup for Catalog {
    type Op = Op;

    fn routes() -> &'static [Route<Op>] {
        ROUTES
    }

    fn operation_id(op: Op) -> &'static str {
        match op {
            Op::ListServers => "listMcpServers",
            Op::CreateServer => "createMcpServer",
            Op::GetServer => "getMcpServer",
            Op::ReplaceServer => "replaceMcpServer",
            Op::DeleteServer => "deleteMcpServer",
            Op::ListCredentials => "listMcpServerCredentials",
            Op::CreateCredential => "createMcpServerCredential",
            Op::DeleteCredential => "deleteMcpServerCredential",
            Op::ListGroups => "listGroups",
            Op::CreateGroup => "createGroup",
            Op::GetGroup => "getGroup",
            Op::ReplaceGroup => "replaceGroup",
            Op::DeleteGroup => "deleteGroup",
            Op::ListSources => "listThirdPartySources",
            Op::CreateSource => "createThirdPartySource",
            Op::GetSource => "getThirdPartySource",
            Op::ReplaceSource => "replaceThirdPartySource",
            Op::DeleteSource => "deleteThirdPartySource",
        }
    }

    fn resource_kind(op: Op) -> &'static str {
        match op {
            Op::ListServers
            | Op::CreateServer
            | Op::GetServer
            | Op::ReplaceServer
            | Op::DeleteServer => "mcp_server",
            Op::ListCredentials | Op::CreateCredential | Op::DeleteCredential => {
                "mcp_server_credential"
            }
            Op::ListGroups
            | Op::CreateGroup
            | Op::GetGroup
            | Op::ReplaceGroup
            | Op::DeleteGroup => "group",
            Op::ListSources
            | Op::CreateSource
            | Op::GetSource
            | Op::ReplaceSource
            | Op::DeleteSource => "third_party_source",
        }
    }

    async fn handle<P: Platform>(
        op: Op,
        ctx: &RequestContext<'_, P>,
        req: &ApiRequest,
        params: &PathParams,
    ) -> Result<ApiResponse, Failure> {
        match op {
            Op::ListServers => list_mcp_servers(ctx, req).await,
            Op::CreateServer => create_mcp_server(ctx, req).await,
            Op::GetServer => get_mcp_server(ctx, id(params)?).await,
            Op::ReplaceServer => replace_mcp_server(ctx, req, id(params)?).await,
            Op::DeleteServer => delete_mcp_server(ctx, id(params)?).await,
            Op::ListCredentials => list_mcp_server_credentials(ctx, req, id(params)?).await,
            Op::CreateCredential => create_mcp_server_credential(ctx, req, id(params)?).await,
            Op::DeleteCredential => {
                let credential = path_id(params, "credentialId")?;
                delete_mcp_server_credential(ctx, id(params)?, credential).await
            }
            Op::ListGroups => list_groups(ctx, req).await,
            Op::CreateGroup => create_group(ctx, req).await,
            Op::GetGroup => get_group(ctx, id(params)?).await,
            Op::ReplaceGroup => replace_group(ctx, req, id(params)?).await,
            Op::DeleteGroup => delete_group(ctx, id(params)?).await,
            Op::ListSources => list_third_party_sources(ctx, req).await,
            Op::CreateSource => create_third_party_source(ctx, req).await,
            Op::GetSource => get_third_party_source(ctx, id(params)?).await,
            Op::ReplaceSource => replace_third_party_source(ctx, req, id(params)?).await,
            Op::DeleteSource => delete_third_party_source(ctx, id(params)?).await,
        }
    }
}

fn id(params: &PathParams) -> Result<Uuid, Failure> {
    Ok(path_id(params, "id")?)
}

fn with_etag<T: serde::Serialize>(mut resp: ApiResponse, v: &Versioned<T>) -> ApiResponse {
    resp.set_header("etag", v.etag());
    resp
}

/// `{id}` of an MCP server, for the OpenAPI document.
pub struct ServerPath;

impl IntoParams for ServerPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("id", "MCP server id")]
    }
}

/// `{id}` and `{credentialId}`, for the OpenAPI document.
pub struct CredentialPath;

impl IntoParams for CredentialPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            id_param("id", "MCP server id"),
            id_param("credentialId", "Credential id"),
        ]
    }
}

/// `{id}` of a group, for the OpenAPI document.
pub struct GroupPath;

impl IntoParams for GroupPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("id", "Group id")]
    }
}

/// `{id}` of a third-party source, for the OpenAPI document.
pub struct SourcePath;

impl IntoParams for SourcePath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("id", "Third-party source id")]
    }
}

// ---------------------------------------------------------------- MCP servers

#[utoipa::path(get, path = "/api/v1/mcp-servers", tag = "mcp-servers", operation_id = "listMcpServers",
    summary = "List MCP servers with their grants and credential metadata (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<McpServer>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list_mcp_servers<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::SERVERS_SCOPE)?;
    let (items, pagination) = service::list_servers(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[utoipa::path(post, path = "/api/v1/mcp-servers", tag = "mcp-servers", operation_id = "createMcpServer",
    summary = "Register an MCP server, optionally with grants and brokered credentials",
    description = "Inline credential values are encrypted at rest (AES-256-GCM under the `secrets_key` \
        variable) and never returned. Without a usable `secrets_key`, a body with an inline value is \
        a 503 UNAVAILABLE naming the variable; secretRef and obo credentials need no key. A grant \
        must name an existing group or a live tenant (400 naming `grants[i].name`); a tenant grant is \
        bound to that tenant (its id), so a later tenant of the same name does not inherit it, and it \
        is revoked when the tenant is deleted or decommissioned.",
    request_body = McpServerInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<McpServer>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn create_mcp_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<McpServerInput>(req)?.validate()?;
    let server = service::create_server(ctx, input).await?;
    Ok(with_etag(ctx.created(&server.view), &server))
}

#[utoipa::path(get, path = "/api/v1/mcp-servers/{id}", tag = "mcp-servers", operation_id = "getMcpServer",
    summary = "Get an MCP server",
    params(ServerPath),
    responses((status = 200, body = Envelope<McpServer>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_mcp_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let server = service::get_server(ctx.db(), id).await?;
    Ok(with_etag(ctx.ok(&server.view), &server))
}

#[utoipa::path(put, path = "/api/v1/mcp-servers/{id}", tag = "mcp-servers", operation_id = "replaceMcpServer",
    summary = "Replace an MCP server: its fields, grants and credentials, in one transaction",
    description = "A full replacement: grants become exactly the body's, and every existing \
        credential is deleted and replaced by the body's `credentials` (created anew, with new ids). \
        To add or remove a single credential, use the credentials sub-resource. A request that \
        fails (validation, a missing group, a stale If-Match) changes nothing.",
    request_body = McpServerInput,
    params(ServerPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<McpServer>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn replace_mcp_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<McpServerInput>(req)?.validate()?;
    let server = service::replace_server(ctx, req, id, input).await?;
    Ok(with_etag(ctx.ok(&server.view), &server))
}

#[utoipa::path(delete, path = "/api/v1/mcp-servers/{id}", tag = "mcp-servers", operation_id = "deleteMcpServer",
    summary = "Delete an MCP server with its grants and credentials",
    params(ServerPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn delete_mcp_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    service::delete_server(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

#[utoipa::path(get, path = "/api/v1/mcp-servers/{id}/credentials", tag = "mcp-servers",
    operation_id = "listMcpServerCredentials",
    summary = "List an MCP server's brokered credentials (metadata only; keyset pagination)",
    params(ServerPath, PageQuery),
    responses((status = 200, body = ListEnvelope<Credential>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn list_mcp_server_credentials<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::CREDENTIALS_SCOPE)?;
    let (items, pagination) = service::list_credentials(ctx.db(), id, &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[utoipa::path(post, path = "/api/v1/mcp-servers/{id}/credentials", tag = "mcp-servers",
    operation_id = "createMcpServerCredential",
    summary = "Add a brokered credential to an MCP server (its value is never returned)",
    description = "An inline `value` needs the `secrets_key` variable (503 UNAVAILABLE naming it otherwise).",
    request_body = CredentialInput,
    params(ServerPath, IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Credential>),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn create_mcp_server_credential<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let input = validate_credential(parse_body::<CredentialInput>(req)?)?;
    let credential = service::create_credential(ctx, id, input).await?;
    Ok(ctx.created(&credential))
}

#[utoipa::path(delete, path = "/api/v1/mcp-servers/{id}/credentials/{credentialId}", tag = "mcp-servers",
    operation_id = "deleteMcpServerCredential",
    summary = "Remove a brokered credential",
    params(CredentialPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn delete_mcp_server_credential<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
    credential: Uuid,
) -> Result<ApiResponse, Failure> {
    service::delete_credential(ctx, id, credential).await?;
    Ok(ApiResponse::empty(204))
}

// --------------------------------------------------------------------- groups

#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", operation_id = "listGroups",
    summary = "List groups with member counts and awareness grants (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Group>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list_groups<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::GROUPS_SCOPE)?;
    let (items, pagination) = service::list_groups(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", operation_id = "createGroup",
    summary = "Create a group with members and awareness grants",
    description = "A tenant member must be a live tenant (400 naming `members[i].name`); the \
        membership is bound to that tenant (its id), so a later tenant of the same name is not a \
        member, and it goes when the tenant is deleted or decommissioned.",
    request_body = GroupInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Group>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn create_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<GroupInput>(req)?.validate(None)?;
    let group = service::create_group(ctx, input).await?;
    Ok(with_etag(ctx.created(&group.view), &group))
}

#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", operation_id = "getGroup",
    summary = "Get a group with its members",
    params(GroupPath),
    responses((status = 200, body = Envelope<Group>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let group = service::get_group(ctx.db(), id).await?;
    Ok(with_etag(ctx.ok(&group.view), &group))
}

#[utoipa::path(put, path = "/api/v1/groups/{id}", tag = "groups", operation_id = "replaceGroup",
    summary = "Replace a group's description, members and awareness grants (one transaction)",
    description = "The name is immutable (policies, grants and entitlements refer to groups by \
        name): a body with another name is a 400 naming `name`. Tenant members are checked and \
        bound as on create.",
    request_body = GroupUpdate,
    params(GroupPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Group>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn replace_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<GroupInput>(req)?;
    let group =
        service::replace_group(ctx, req, id, |current| input.validate(Some(current))).await?;
    Ok(with_etag(ctx.ok(&group.view), &group))
}

#[utoipa::path(delete, path = "/api/v1/groups/{id}", tag = "groups", operation_id = "deleteGroup",
    summary = "Delete a group with its members and awareness grants",
    params(GroupPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn delete_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    service::delete_group(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

// -------------------------------------------------------- third-party sources

#[utoipa::path(get, path = "/api/v1/third-party-sources", tag = "third-party-sources",
    operation_id = "listThirdPartySources",
    summary = "List third-party sources with item counts (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<ThirdPartySource>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list_third_party_sources<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::SOURCES_SCOPE)?;
    let (items, pagination) = service::list_sources(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[utoipa::path(post, path = "/api/v1/third-party-sources", tag = "third-party-sources",
    operation_id = "createThirdPartySource",
    summary = "Register a third-party source with its linked items",
    request_body = SourceInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<ThirdPartySource>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn create_third_party_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<SourceInput>(req)?.validate()?;
    let source = service::create_source(ctx, input).await?;
    Ok(with_etag(ctx.created(&source.view), &source))
}

#[utoipa::path(get, path = "/api/v1/third-party-sources/{id}", tag = "third-party-sources",
    operation_id = "getThirdPartySource",
    summary = "Get a third-party source with its items",
    params(SourcePath),
    responses((status = 200, body = Envelope<ThirdPartySource>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_third_party_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let source = service::get_source(ctx.db(), id).await?;
    Ok(with_etag(ctx.ok(&source.view), &source))
}

#[utoipa::path(put, path = "/api/v1/third-party-sources/{id}", tag = "third-party-sources",
    operation_id = "replaceThirdPartySource",
    summary = "Replace a third-party source and its items (one transaction)",
    request_body = SourceInput,
    params(SourcePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<ThirdPartySource>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn replace_third_party_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<SourceInput>(req)?.validate()?;
    let source = service::replace_source(ctx, req, id, input).await?;
    Ok(with_etag(ctx.ok(&source.view), &source))
}

#[utoipa::path(delete, path = "/api/v1/third-party-sources/{id}", tag = "third-party-sources",
    operation_id = "deleteThirdPartySource",
    summary = "Delete a third-party source with its items",
    params(SourcePath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn delete_third_party_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    service::delete_source(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

/// The OpenAPI description of the group's routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_mcp_servers, create_mcp_server, get_mcp_server, replace_mcp_server, delete_mcp_server,
        list_mcp_server_credentials, create_mcp_server_credential, delete_mcp_server_credential,
        list_groups, create_group, get_group, replace_group, delete_group,
        list_third_party_sources, create_third_party_source, get_third_party_source,
        replace_third_party_source, delete_third_party_source,
    ),
    components(schemas(
        McpServer, McpServerInput, Credential, CredentialInput, Grant, SecretRef,
        Group, GroupInput, GroupUpdate, Member, AwarenessGrant,
        ThirdPartySource, SourceInput, SourceItem,
    )),
    modifiers(&CatalogLinks),
    tags(
        (name = "mcp-servers", description = "MCP servers, who may use them, and brokered credentials"),
        (name = "groups", description = "Groups of tenants and users, with awareness grants"),
        (name = "third-party-sources", description = "Third-party sources and their linked items"),
    )
)]
pub struct CatalogApi;

/// Adds the OpenAPI links between each resource's operations (by `id`).
struct CatalogLinks;

impl utoipa::Modify for CatalogLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        ResourceLinks {
            key: "id",
            by_key: &[
                ("GetMcpServer", "getMcpServer"),
                ("ReplaceMcpServer", "replaceMcpServer"),
                ("DeleteMcpServer", "deleteMcpServer"),
                ("ListMcpServerCredentials", "listMcpServerCredentials"),
                ("CreateMcpServerCredential", "createMcpServerCredential"),
            ],
            update: Some("replaceMcpServer"),
            one: &[
                ("/api/v1/mcp-servers", "post", "201"),
                ("/api/v1/mcp-servers/{id}", "get", "200"),
                ("/api/v1/mcp-servers/{id}", "put", "200"),
            ],
            list: Some(("/api/v1/mcp-servers", "listMcpServers")),
        }
        .apply(doc);
        ResourceLinks {
            key: "id",
            by_key: &[
                ("GetGroup", "getGroup"),
                ("ReplaceGroup", "replaceGroup"),
                ("DeleteGroup", "deleteGroup"),
            ],
            update: Some("replaceGroup"),
            one: &[
                ("/api/v1/groups", "post", "201"),
                ("/api/v1/groups/{id}", "get", "200"),
                ("/api/v1/groups/{id}", "put", "200"),
            ],
            list: Some(("/api/v1/groups", "listGroups")),
        }
        .apply(doc);
        ResourceLinks {
            key: "id",
            by_key: &[
                ("GetThirdPartySource", "getThirdPartySource"),
                ("ReplaceThirdPartySource", "replaceThirdPartySource"),
                ("DeleteThirdPartySource", "deleteThirdPartySource"),
            ],
            update: Some("replaceThirdPartySource"),
            one: &[
                ("/api/v1/third-party-sources", "post", "201"),
                ("/api/v1/third-party-sources/{id}", "get", "200"),
                ("/api/v1/third-party-sources/{id}", "put", "200"),
            ],
            list: Some(("/api/v1/third-party-sources", "listThirdPartySources")),
        }
        .apply(doc);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Catalog>(&CatalogApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn conditional_shapes_are_closed_one_ofs() {
        let doc = serde_json::to_value(CatalogApi::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let server = &schemas["McpServerInput"]["oneOf"];
        assert_eq!(server.as_array().unwrap().len(), 2);
        assert_eq!(
            server[0]["properties"]["transport"]["enum"],
            serde_json::json!(["stdio"])
        );
        assert_eq!(
            server[1]["properties"]["endpoint"]["pattern"],
            crate::schema::URL_PATTERN
        );
        assert_eq!(server[1]["additionalProperties"], false);
        let cred = &schemas["McpCredentialInput"]["oneOf"];
        assert_eq!(cred.as_array().unwrap().len(), 3);
        assert_eq!(
            cred[1]["required"],
            serde_json::json!(["displayName", "brokeringMode", "value"])
        );
        assert_eq!(
            schemas["GroupCreate"]["required"],
            serde_json::json!(["name"])
        );
        assert!(schemas["GroupUpdate"].get("required").is_none());
    }
}
