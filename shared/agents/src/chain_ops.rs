//! The chains registry's routes: anyone reads the enabled chains; operators
//! (and access tokens with the `chains` scope) manage them.

use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{path_param, IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::validate::pattern_string;
use cp_http::{ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::config::require_secrets_key;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::transaction;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::chain_store::{self, chain_not_found, CHAINS_SCOPE};
use crate::chains::{Chain, ChainInput, ChainRef, RPC_ALLOWED_HOST_VARIABLE};

/// A path segment naming a chain: its registry id or its EVM chain id.
const IDENTIFIER_PATTERN: &str =
    "^([0-9]{1,16}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$";

fn identifier_param(name: &str) -> Parameter {
    path_param(
        name,
        "The chain's registry id (a UUID), or its EVM chain id (digits).",
        pattern_string(false, IDENTIFIER_PATTERN, 36, "A chain id or EVM chain id."),
    )
}

/// `{identifier}`, for the OpenAPI document.
pub(crate) struct IdentifierPath;

impl IntoParams for IdentifierPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![identifier_param("identifier")]
    }
}

/// `{chainId}`, for the OpenAPI document.
pub(crate) struct ChainIdPath;

impl IntoParams for ChainIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![identifier_param("chainId")]
    }
}

fn allowed_host<P: Platform>(ctx: &RequestContext<'_, P>) -> Option<String> {
    ctx.platform
        .variable(RPC_ALLOWED_HOST_VARIABLE)
        .filter(|v| !v.trim().is_empty())
}

#[operation(get, "/api/v1/chains", id = "listChains", callers = public, kind = "chain",
    tag = "chains",
    summary = "The enabled chains agents may transact on (public; keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Chain>)))]
pub(crate) async fn list_chains<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, CHAINS_SCOPE)?;
    let (items, pagination) = chain_store::list(ctx.db(), &page, true).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(get, "/api/v1/chains/{identifier}", id = "getChain", callers = public, kind = "chain",
    tag = "chains",
    summary = "An enabled chain, by its registry id or its EVM chain id (public)",
    description = "`/chains/11155111` and `/chains/<uuid>` name the same chain. A disabled \
        chain is a 404 here (operators see it at `/admin/chains`).",
    params(IdentifierPath),
    responses((status = 200, body = Envelope<Chain>)))]
pub(crate) async fn get_chain<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let shown = params.get("identifier");
    let chain = ChainRef::parse("identifier", shown)?;
    let row = chain_store::chain(ctx.db(), &chain, shown, false).await?;
    if !row.view.enabled {
        return Err(chain_not_found(shown).into());
    }
    Ok(ctx.ok(&row.view))
}

#[operation(get, "/api/v1/admin/chains", id = "listAdminChains", callers = operator, kind = "chain", area = "chains",
    tag = "chains",
    summary = "Every registered chain, enabled or not (operators; keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Chain>)))]
pub(crate) async fn list_admin_chains<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, CHAINS_SCOPE)?;
    let (items, pagination) = chain_store::list(ctx.db(), &page, false).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/admin/chains", id = "createChain", callers = operator, kind = "chain", area = "chains",
    tag = "chains",
    summary = "Register a chain (operators)",
    description = "The RPC URL is write-only (it may carry a provider key): stored sealed \
        under the master key (`secrets_key`; without it a 503), shown as `rpcOrigin`. Its \
        origin must match the `chain_rpc_allowed_host` variable, the agents component's \
        outbound allow-list entry (a 400 naming `rpcUrl` otherwise). A name or chain id \
        already registered is a 409.",
    request_body = ChainInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Chain>, headers(("ETag" = String)))))]
pub(crate) async fn create_chain<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let spec = parse_body::<ChainInput>(req)?.validate(allowed_host(ctx).as_deref())?;
    let key = require_secrets_key(ctx.platform, "registering a chain (its RPC URL is sealed)")?;
    let id = cp_http::ids::new_id().to_string();
    let row = transaction(ctx.db(), async |db| {
        chain_store::insert(db, &key, &id, &spec).await?;
        ctx.audit("chain", &id)
            .detail(json!({"name": spec.name, "chainId": spec.chain_id,
                           "rpcOrigin": spec.rpc_origin, "enabled": spec.enabled}))
            .write(db)
            .await?;
        chain_store::chain(db, &ChainRef::Id(id.clone()), &id, false).await
    })
    .await?;
    Ok(ctx.created(&row.view).with_etag(row.etag()))
}

#[operation(put, "/api/v1/admin/chains/{chainId}", id = "replaceChain", callers = operator, kind = "chain", area = "chains",
    tag = "chains",
    summary = "Replace a chain (operators; by registry id or EVM chain id)",
    description = "A full replacement, the RPC URL included (it is write-only). If-Match \
        guards it with the chain's ETag.",
    request_body = ChainInput,
    params(ChainIdPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Chain>, headers(("ETag" = String)))))]
pub(crate) async fn replace_chain<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let shown = params.get("chainId");
    let chain = ChainRef::parse("chainId", shown)?;
    let spec = parse_body::<ChainInput>(req)?.validate(allowed_host(ctx).as_deref())?;
    let key = require_secrets_key(ctx.platform, "changing a chain (its RPC URL is sealed)")?;
    let row = transaction(ctx.db(), async |db| {
        let current = chain_store::chain(db, &chain, shown, true).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        chain_store::update(db, &key, &current.id, &spec).await?;
        ctx.audit("chain", &current.id)
            .detail(json!({"name": spec.name, "chainId": spec.chain_id,
                           "rpcOrigin": spec.rpc_origin, "enabled": spec.enabled}))
            .write(db)
            .await?;
        chain_store::chain(db, &ChainRef::Id(current.id.clone()), shown, false).await
    })
    .await?;
    Ok(ctx.ok(&row.view).with_etag(row.etag()))
}

#[operation(delete, "/api/v1/admin/chains/{chainId}", id = "deleteChain", callers = operator, kind = "chain", area = "chains",
    tag = "chains",
    summary = "Remove a chain from the registry (operators; by registry id or EVM chain id)",
    description = "If-Match guards it with the chain's ETag. To stop agents using a chain \
        while keeping it, disable it with PUT instead.",
    params(ChainIdPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 204, description = "Removed")))]
pub(crate) async fn delete_chain<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let shown = params.get("chainId");
    let chain = ChainRef::parse("chainId", shown)?;
    transaction(ctx.db(), async |db| {
        let current = chain_store::chain(db, &chain, shown, true).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        chain_store::delete(db, &current.id).await?;
        ctx.audit("chain", &current.id)
            .detail(json!({"name": current.view.name, "chainId": current.view.chain_id}))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}
