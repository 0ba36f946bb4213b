//! The agents' routes: registering an agent, its profile and its key, and
//! the exchange of its key for a token.
//!
//! Who may do what:
//! - any member of the agent's organisation reads it; owners and admins
//!   register, change, deactivate and re-key agents; anyone else gets a
//!   404, as for every organisation resource;
//! - operators and access tokens with the `agents` scope do everything;
//! - an agent reads its own profile at `GET /agents/me`, and nothing else
//!   here.

use cp_http::ids::{id_param, new_id, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_orgs::roles::{org_access, ListScope, OrgAccess, OrgQuery, OrgRole};
use cp_platform::{Failure, Platform, Principal, RequestContext};
use cp_store::{transaction, Database};
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;

use crate::model::{Agent, AgentCreate, AgentPatch, AgentSpec, AgentWithKey, SHOWN_PREFIX_LEN};
use crate::store::{self, agent_not_found, AgentRow, NewAgent, AGENTS_SCOPE};

/// `{agentId}`, for the OpenAPI document.
pub(crate) struct AgentPath;

impl IntoParams for AgentPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("agentId", "Agent id")]
    }
}

/// The `{agentId}` path parameter, canonical.
fn agent_id(params: &PathParams) -> Result<String, Failure> {
    Ok(path_id(params, "agentId")?.to_string())
}

/// Agent `id` and the caller's access to its organisation, which must be
/// at least `min` (a 404 when the caller is not a member).
async fn agent_access<D: Database>(
    db: &D,
    principal: &Principal,
    id: &str,
    min: OrgRole,
    lock: bool,
) -> Result<(AgentRow, OrgAccess), Failure> {
    let row = store::agent(db, id, lock).await?;
    let access = org_access(db, principal, &row.view.org_id, OrgRole::Viewer)
        .await
        .map_err(|f| match f.error {
            // Another organisation's agent is not told apart from a
            // missing one.
            ApiError::NotFound { .. } => Failure::from(agent_not_found(id)),
            _ => f,
        })?;
    access.require(min)?;
    Ok((row, access))
}

/// A 409 when the agent is deactivated (it can no longer change).
fn require_active(row: &AgentRow) -> Result<(), ApiError> {
    if row.view.status == "active" {
        return Ok(());
    }
    Err(ApiError::Refused {
        status: 409,
        code: "AGENT_DEACTIVATED",
        message: format!(
            "agent '{}' is deactivated; register a new agent instead",
            row.view.id
        ),
    })
}

/// A 400 naming each of `spec`'s vault ids that is not a live vault of the
/// agent's organisation.
pub(crate) async fn check_vaults<D: Database>(db: &D, spec: &AgentSpec) -> Result<(), Failure> {
    let foreign = store::foreign_vaults(db, &spec.org_id, &spec.vault_ids).await?;
    if foreign.is_empty() {
        return Ok(());
    }
    let fields = spec
        .vault_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| foreign.contains(id))
        .map(|(i, _)| {
            cp_http::FieldError::new(
                format!("vaultIds[{i}]"),
                "no vault of the agent's organisation has this id",
            )
        })
        .collect();
    Err(ApiError::validation(fields).into())
}

/// A fresh API key and what is stored of it (prefix, digest).
pub(crate) struct NewKey {
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

pub(crate) fn new_key() -> Result<NewKey, Failure> {
    let key = cp_crypto::new_token(cp_auth::AGENT_KEY_PREFIX).map_err(|e| {
        Failure::with_cause(ApiError::Internal, format!("generating an agent key: {e}"))
    })?;
    Ok(NewKey {
        prefix: key.chars().take(SHOWN_PREFIX_LEN).collect(),
        hash: cp_crypto::token_hash(&key),
        key,
    })
}

/// What an audit entry says about an agent: its spec, never a key.
pub(crate) fn audit_detail(spec: &AgentSpec) -> serde_json::Value {
    json!({
        "orgId": spec.org_id,
        "name": spec.name,
        "scopes": spec.scopes,
        "vaultIds": spec.vault_ids,
        "tokenTtlSeconds": spec.token_ttl_seconds,
        "intentsApiEnabled": spec.intents_api_enabled,
    })
}

#[operation(get, "/api/v1/agents", id = "listAgents", callers = users, kind = "agent",
    tag = "agents",
    summary = "List agents (keyset pagination, oldest first; users see their organisations' agents)",
    description = "`?orgId=` keeps one organisation's agents (a 404 when the caller is not a \
        member). Deactivated agents are listed too, with their status.",
    params(OrgQuery, PageQuery),
    responses((status = 200, body = ListEnvelope<Agent>)))]
pub(crate) async fn list_agents<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, AGENTS_SCOPE)?;
    let scope = ListScope::of(ctx.db(), &ctx.principal, req).await?;
    let (items, pagination) = store::list(ctx.db(), &page, &scope).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/agents", id = "createAgent", callers = users, kind = "agent", shows_secret,
    tag = "agents",
    summary = "Register an agent; its apiKey is returned this once and never again",
    description = "Owners and admins of the organisation. The key (`cpag_…`) is stored only as \
        a SHA-256 digest; the agent exchanges it for a token at `POST /auth/agent-token`. \
        `vaultIds` must be live vaults of the same organisation (a 400 naming each other \
        one); what the agent may do in them is what their vault policies grant its id. An \
        active agent of the same name in the organisation is a 409.",
    request_body = AgentCreate,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<AgentWithKey>, headers(("ETag" = String)))))]
pub(crate) async fn create_agent<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let mut spec = parse_body::<AgentCreate>(req)?.validate()?;
    let access = org_access(ctx.db(), &ctx.principal, &spec.org_id, OrgRole::Viewer).await?;
    access.require(OrgRole::Admin)?;
    spec.org_id = access.org_id;
    let key = new_key()?;
    let id = new_id().to_string();
    let actor = ctx.principal.actor();
    let row = transaction(ctx.db(), async |db| {
        check_vaults(db, &spec).await?;
        store::insert(
            db,
            NewAgent {
                id: &id,
                spec: &spec,
                key: Some((&key.prefix, &key.hash)),
                created_by: &actor,
            },
        )
        .await?;
        ctx.audit("agent", &id)
            .detail(audit_detail(&spec))
            .write(db)
            .await?;
        cp_orgs::roles::event(ctx, &spec.org_id, "agent.registered", &spec.name)
            .detail(json!({"agentId": id}))
            .write(db)
            .await?;
        store::agent(db, &id, false).await
    })
    .await?;
    let etag = row.etag();
    Ok(ctx
        .created(&AgentWithKey {
            agent: row.view,
            api_key: key.key,
        })
        .with_etag(etag))
}

#[operation(get, "/api/v1/agents/me", id = "getCurrentAgent", callers = agents, kind = "agent",
    tag = "agents",
    summary = "The calling agent's own profile, including who registered it (agents only)",
    description = "Users read their own account at `GET /auth/me`; for them, and for \
        operators, this is a 403.",
    responses((status = 200, body = Envelope<Agent>, headers(("ETag" = String)))))]
pub(crate) async fn get_current_agent<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let Some(agent) = ctx.principal.agent() else {
        return Err(ApiError::Forbidden(
            "GET /agents/me is an agent's own profile; users read theirs at GET /auth/me".into(),
        )
        .into());
    };
    let row = store::agent(ctx.db(), &agent.id, false).await?;
    Ok(ctx.ok(&row.view).with_etag(row.etag()))
}

#[operation(get, "/api/v1/agents/{agentId}", id = "getAgent", callers = users, kind = "agent",
    tag = "agents",
    summary = "Get an agent (any member of its organisation)",
    params(AgentPath),
    responses((status = 200, body = Envelope<Agent>, headers(("ETag" = String)))))]
pub(crate) async fn get_agent<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = agent_id(params)?;
    let (row, _) = agent_access(ctx.db(), &ctx.principal, &id, OrgRole::Viewer, false).await?;
    Ok(ctx.ok(&row.view).with_etag(row.etag()))
}

#[operation(patch, "/api/v1/agents/{agentId}", id = "updateAgent", callers = users, kind = "agent",
    tag = "agents",
    summary = "Change an agent: name, description, scopes, vaults, token TTL, intents API (owners and admins)",
    description = "Only the fields sent change. A scope or vault taken away is gone from the \
        agent's live tokens at once; one added reaches only the tokens that carry it (issued \
        while the agent had it). If-Match guards it with the agent's ETag. A deactivated \
        agent is a 409.",
    request_body = AgentPatch,
    params(AgentPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Agent>, headers(("ETag" = String)))))]
pub(crate) async fn update_agent<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = agent_id(params)?;
    let patch = parse_body::<AgentPatch>(req)?;
    let row = transaction(ctx.db(), async |db| {
        let (current, _) = agent_access(db, &ctx.principal, &id, OrgRole::Admin, true).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        require_active(&current)?;
        let spec = patch.clone().apply(&current.view)?;
        check_vaults(db, &spec).await?;
        store::update(db, &id, &spec).await?;
        ctx.audit("agent", &id)
            .detail(audit_detail(&spec))
            .write(db)
            .await?;
        store::agent(db, &id, false).await
    })
    .await?;
    Ok(ctx.ok(&row.view).with_etag(row.etag()))
}

#[operation(delete, "/api/v1/agents/{agentId}", id = "deactivateAgent", callers = users, kind = "agent",
    tag = "agents",
    summary = "Deactivate an agent: its key and every token it holds stop working at once (owners and admins)",
    description = "The agent stays readable, with status `deactivated`, so audit entries and \
        secrets that name it still resolve. Deactivating it again changes nothing (204). \
        If-Match guards it with the agent's ETag.",
    params(AgentPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 204, description = "Deactivated")))]
pub(crate) async fn deactivate_agent<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = agent_id(params)?;
    transaction(ctx.db(), async |db| {
        let (current, _) = agent_access(db, &ctx.principal, &id, OrgRole::Admin, true).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        if current.view.status != "active" {
            return Ok(());
        }
        store::deactivate(db, &id).await?;
        ctx.audit("agent", &id)
            .detail(json!({"orgId": current.view.org_id, "name": current.view.name}))
            .write(db)
            .await?;
        cp_orgs::roles::event(
            ctx,
            &current.view.org_id,
            "agent.deactivated",
            &current.view.name,
        )
        .detail(json!({"agentId": id}))
        .write(db)
        .await?;
        Ok::<_, Failure>(())
    })
    .await?;
    Ok(ApiResponse::empty(204))
}

#[operation(post, "/api/v1/agents/{agentId}/rotate-key", id = "rotateAgentKey", callers = users, kind = "agent", shows_secret,
    tag = "agents",
    summary = "Give an agent a new API key; the old key and the tokens issued with it stop working at once",
    description = "Owners and admins. The new key is returned this once. A deactivated agent \
        is a 409.",
    params(AgentPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<AgentWithKey>, headers(("ETag" = String)))))]
pub(crate) async fn rotate_agent_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id = agent_id(params)?;
    let key = new_key()?;
    let row = transaction(ctx.db(), async |db| {
        let (current, _) = agent_access(db, &ctx.principal, &id, OrgRole::Admin, true).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        require_active(&current)?;
        store::rotate(db, &id, &key.prefix, &key.hash).await?;
        ctx.audit("agent", &id)
            .detail(json!({"orgId": current.view.org_id, "keyPrefix": key.prefix}))
            .write(db)
            .await?;
        store::agent(db, &id, false).await
    })
    .await?;
    let etag = row.etag();
    Ok(ctx
        .ok(&AgentWithKey {
            agent: row.view,
            api_key: key.key,
        })
        .with_etag(etag))
}
