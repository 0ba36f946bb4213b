//! `POST /auth/agent-token`: an agent's id and API key for a short-lived
//! JWT ([`cp_auth::jwt::JwtKey::issue_agent`]), which the one shared
//! authentication step accepts as the agent ([`cp_auth::authenticate`]).

use cp_auth::jwt::{AgentClaims, JwtKey};
use cp_http::json::parse_body;
use cp_http::params::IdempotencyKeyHeader;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::transaction;
use serde_json::json;

use crate::model::{AgentToken, AgentTokenRequest};
use crate::store;

/// The one answer to a wrong id or key: which of the two was wrong is not
/// said.
fn refused() -> Failure {
    ApiError::Unauthorized("invalid agent id or API key".into()).into()
}

#[operation(post, "/api/v1/auth/agent-token", id = "issueAgentToken", callers = public, kind = "agent", shows_secret,
    tag = "agents",
    summary = "Exchange an agent's id and API key for a short-lived agent token (public)",
    description = "The token is a JWT valid for the agent's `tokenTtlSeconds`. It carries the \
        agent's organisation, scopes, vault ids and intents flag; every request also checks \
        the agent's current record, so deactivating it, rotating its key or narrowing its \
        scopes or vaults takes effect at once. A wrong id or key is one 401 that does not say \
        which; a deactivated agent's key is a 401 saying so.",
    request_body = AgentTokenRequest,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<AgentToken>),
              (status = 401, body = cp_http::error::ErrorBody,
               description = "A wrong agent id or key, or a deactivated agent")))]
pub(crate) async fn issue_agent_token<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let body = parse_body::<AgentTokenRequest>(req)?;
    let agent_id = cp_http::ids::parse_id(&body.agent_id)
        .map_err(|m| ApiError::invalid("agentId", m))?
        .to_string();
    if !cp_crypto::is_token(&body.api_key, cp_auth::AGENT_KEY_PREFIX) {
        return Err(refused());
    }
    let signing = JwtKey::for_sign_in(ctx.platform)?;
    let digest = cp_crypto::token_hash(&body.api_key);
    let token = transaction(ctx.db(), async |db| {
        let Some(row) = store::agent_by_key(db, &digest).await? else {
            return Err(refused());
        };
        let agent = row.view;
        if agent.id != agent_id {
            return Err(refused());
        }
        if agent.status != "active" {
            return Err(ApiError::Unauthorized("the agent has been deactivated".into()).into());
        }
        let ttl = u64::try_from(agent.token_ttl_seconds).unwrap_or(60);
        let claims = AgentClaims {
            org: agent.org_id.clone(),
            scopes: agent.scopes.clone(),
            vault_ids: agent.vault_ids.clone(),
            intents_api: agent.intents_api_enabled,
        };
        let issued = signing.issue_agent(&agent.id, claims, ttl)?;
        ctx.audit("agent", &agent.id)
            .actor(format!("agent:{}", agent.id))
            .detail(json!({"orgId": agent.org_id, "jti": issued.jti, "expiresIn": ttl}))
            .write(db)
            .await?;
        Ok::<_, Failure>(AgentToken {
            access_token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            agent_id: agent.id,
            org_id: agent.org_id,
            scopes: agent.scopes,
            vault_ids: agent.vault_ids,
            intents_api_enabled: agent.intents_api_enabled,
        })
    })
    .await?;
    Ok(ctx.ok(&token))
}
