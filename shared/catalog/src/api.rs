//! The `catalog` route group: routes, request parsing, responses, and the
//! OpenAPI description of each route (generated from these annotations).

use cp_http::ids::{id_param, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::model::{
    validate_credential, AwarenessGrant, Credential, CredentialInput, Grant, Group, GroupInput,
    GroupUpdate, McpServer, McpServerInput, Member, SecretRef, SourceInput, SourceItem,
    ThirdPartySource,
};
use crate::service;

cp_macros::route_group! {
    /// The catalog route group.
    pub struct Catalog;
    kind = "mcp_server";
    openapi(
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
    );
    operations = [
        list_mcp_servers,
        create_mcp_server,
        get_mcp_server,
        replace_mcp_server,
        delete_mcp_server,
        list_mcp_server_credentials,
        create_mcp_server_credential,
        delete_mcp_server_credential,
        list_groups,
        create_group,
        get_group,
        replace_group,
        delete_group,
        list_third_party_sources,
        create_third_party_source,
        get_third_party_source,
        replace_third_party_source,
        delete_third_party_source,
    ];
}

fn id(params: &PathParams) -> Result<Uuid, Failure> {
    Ok(path_id(params, "id")?)
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

#[operation(get, "/api/v1/mcp-servers", id = "listMcpServers", callers = operator,
    tag = "mcp-servers",
    summary = "List MCP servers with their grants and credential metadata (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<McpServer>)))]
async fn list_mcp_servers<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::SERVERS_SCOPE)?;
    let (items, pagination) = service::list_servers(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/mcp-servers", id = "createMcpServer", callers = operator,
    tag = "mcp-servers",
    summary = "Register an MCP server, optionally with grants and brokered credentials",
    description = "Inline credential values are encrypted at rest (AES-256-GCM under the `secrets_key` \
        variable) and never returned. Without a usable `secrets_key`, a body with an inline value is \
        a 503 UNAVAILABLE naming the variable; secretRef and obo credentials need no key. A grant \
        must name an existing group or a live tenant (400 naming `grants[i].name`); a tenant grant is \
        bound to that tenant (its id), so a later tenant of the same name does not inherit it, and it \
        is revoked when the tenant is deleted or decommissioned.",
    request_body = McpServerInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<McpServer>, headers(("ETag" = String)))))]
async fn create_mcp_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<McpServerInput>(req)?.validate()?;
    let server = service::create_server(ctx, input).await?;
    Ok(ctx.created(&server.view).with_etag(server.etag()))
}

#[operation(get, "/api/v1/mcp-servers/{id}", id = "getMcpServer", callers = operator,
    tag = "mcp-servers",
    summary = "Get an MCP server",
    params(ServerPath),
    responses((status = 200, body = Envelope<McpServer>, headers(("ETag" = String)))))]
async fn get_mcp_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let server = service::get_server(ctx.db(), id).await?;
    Ok(ctx.ok(&server.view).with_etag(server.etag()))
}

#[operation(put, "/api/v1/mcp-servers/{id}", id = "replaceMcpServer", callers = operator,
    tag = "mcp-servers",
    summary = "Replace an MCP server: its fields, grants and credentials, in one transaction",
    description = "A full replacement: grants become exactly the body's, and every existing \
        credential is deleted and replaced by the body's `credentials` (created anew, with new ids). \
        To add or remove a single credential, use the credentials sub-resource. A request that \
        fails (validation, a missing group, a stale If-Match) changes nothing.",
    request_body = McpServerInput,
    params(ServerPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<McpServer>, headers(("ETag" = String)))))]
async fn replace_mcp_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let input = parse_body::<McpServerInput>(req)?.validate()?;
    let server = service::replace_server(ctx, req, id, input).await?;
    Ok(ctx.ok(&server.view).with_etag(server.etag()))
}

#[operation(delete, "/api/v1/mcp-servers/{id}", id = "deleteMcpServer", callers = operator,
    tag = "mcp-servers",
    summary = "Delete an MCP server with its grants and credentials",
    params(ServerPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_mcp_server<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    service::delete_server(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

#[operation(get, "/api/v1/mcp-servers/{id}/credentials", id = "listMcpServerCredentials", callers = operator, kind = "mcp_server_credential",
    tag = "mcp-servers",
    summary = "List an MCP server's brokered credentials (metadata only; keyset pagination)",
    params(ServerPath, PageQuery),
    responses((status = 200, body = ListEnvelope<Credential>)))]
async fn list_mcp_server_credentials<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let page = PageRequest::from_request(req, service::CREDENTIALS_SCOPE)?;
    let (items, pagination) = service::list_credentials(ctx.db(), id, &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/mcp-servers/{id}/credentials", id = "createMcpServerCredential", callers = operator, kind = "mcp_server_credential",
    tag = "mcp-servers",
    summary = "Add a brokered credential to an MCP server (its value is never returned)",
    description = "An inline `value` needs the `secrets_key` variable (503 UNAVAILABLE naming it otherwise).",
    request_body = CredentialInput,
    params(ServerPath, IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Credential>)))]
async fn create_mcp_server_credential<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let input = validate_credential(parse_body::<CredentialInput>(req)?)?;
    let credential = service::create_credential(ctx, id, input).await?;
    Ok(ctx.created(&credential))
}

#[operation(delete, "/api/v1/mcp-servers/{id}/credentials/{credentialId}", id = "deleteMcpServerCredential", callers = operator, kind = "mcp_server_credential",
    tag = "mcp-servers",
    summary = "Remove a brokered credential",
    params(CredentialPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_mcp_server_credential<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let credential: Uuid = path_id(params, "credentialId")?;
    service::delete_credential(ctx, id, credential).await?;
    Ok(ApiResponse::empty(204))
}

// --------------------------------------------------------------------- groups

#[operation(get, "/api/v1/groups", id = "listGroups", callers = operator, kind = "group",
    tag = "groups",
    summary = "List groups with member counts and awareness grants (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Group>)))]
async fn list_groups<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::GROUPS_SCOPE)?;
    let (items, pagination) = service::list_groups(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/groups", id = "createGroup", callers = operator, kind = "group",
    tag = "groups",
    summary = "Create a group with members and awareness grants",
    description = "A tenant member must be a live tenant (400 naming `members[i].name`); the \
        membership is bound to that tenant (its id), so a later tenant of the same name is not a \
        member, and it goes when the tenant is deleted or decommissioned.",
    request_body = GroupInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Group>, headers(("ETag" = String)))))]
async fn create_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<GroupInput>(req)?.validate(None)?;
    let group = service::create_group(ctx, input).await?;
    Ok(ctx.created(&group.view).with_etag(group.etag()))
}

#[operation(get, "/api/v1/groups/{id}", id = "getGroup", callers = operator, kind = "group",
    tag = "groups",
    summary = "Get a group with its members",
    params(GroupPath),
    responses((status = 200, body = Envelope<Group>, headers(("ETag" = String)))))]
async fn get_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let group = service::get_group(ctx.db(), id).await?;
    Ok(ctx.ok(&group.view).with_etag(group.etag()))
}

#[operation(put, "/api/v1/groups/{id}", id = "replaceGroup", callers = operator, kind = "group",
    tag = "groups",
    summary = "Replace a group's description, members and awareness grants (one transaction)",
    description = "The name is immutable (policies, grants and entitlements refer to groups by \
        name): a body with another name is a 400 naming `name`. Tenant members are checked and \
        bound as on create.",
    request_body = GroupUpdate,
    params(GroupPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Group>, headers(("ETag" = String)))))]
async fn replace_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let input = parse_body::<GroupInput>(req)?;
    let group =
        service::replace_group(ctx, req, id, |current| input.validate(Some(current))).await?;
    Ok(ctx.ok(&group.view).with_etag(group.etag()))
}

#[operation(delete, "/api/v1/groups/{id}", id = "deleteGroup", callers = operator, kind = "group",
    tag = "groups",
    summary = "Delete a group with its members and awareness grants",
    params(GroupPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    service::delete_group(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

// -------------------------------------------------------- third-party sources

#[operation(get, "/api/v1/third-party-sources", id = "listThirdPartySources", callers = operator, kind = "third_party_source",
    tag = "third-party-sources",
    summary = "List third-party sources with item counts (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<ThirdPartySource>)))]
async fn list_third_party_sources<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::SOURCES_SCOPE)?;
    let (items, pagination) = service::list_sources(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/third-party-sources", id = "createThirdPartySource", callers = operator, kind = "third_party_source",
    tag = "third-party-sources",
    summary = "Register a third-party source with its linked items",
    request_body = SourceInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<ThirdPartySource>, headers(("ETag" = String)))))]
async fn create_third_party_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<SourceInput>(req)?.validate()?;
    let source = service::create_source(ctx, input).await?;
    Ok(ctx.created(&source.view).with_etag(source.etag()))
}

#[operation(get, "/api/v1/third-party-sources/{id}", id = "getThirdPartySource", callers = operator, kind = "third_party_source",
    tag = "third-party-sources",
    summary = "Get a third-party source with its items",
    params(SourcePath),
    responses((status = 200, body = Envelope<ThirdPartySource>, headers(("ETag" = String)))))]
async fn get_third_party_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let source = service::get_source(ctx.db(), id).await?;
    Ok(ctx.ok(&source.view).with_etag(source.etag()))
}

#[operation(put, "/api/v1/third-party-sources/{id}", id = "replaceThirdPartySource", callers = operator, kind = "third_party_source",
    tag = "third-party-sources",
    summary = "Replace a third-party source and its items (one transaction)",
    request_body = SourceInput,
    params(SourcePath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<ThirdPartySource>, headers(("ETag" = String)))))]
async fn replace_third_party_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let input = parse_body::<SourceInput>(req)?.validate()?;
    let source = service::replace_source(ctx, req, id, input).await?;
    Ok(ctx.ok(&source.view).with_etag(source.etag()))
}

#[operation(delete, "/api/v1/third-party-sources/{id}", id = "deleteThirdPartySource", callers = operator, kind = "third_party_source",
    tag = "third-party-sources",
    summary = "Delete a third-party source with its items",
    params(SourcePath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_third_party_source<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    service::delete_source(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

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
    use utoipa::OpenApi;

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
