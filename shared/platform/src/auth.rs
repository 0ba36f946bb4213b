//! Who is calling: the [`Principal`] of a request, and whether it may do
//! what a route does ([`Principal::authorize`], by scope area).
//!
//! Credentials are not verified here: the [`Authenticator`] port turns a
//! request's `Authorization` header or session cookie into a principal.
//! The `cp-auth` crate implements it (it owns the credential tables), and
//! each component names it when it hands a request to the pipeline
//! ([`crate::serve`]), so this crate knows no identity or gateway table.

use cp_http::{ApiError, ApiRequest, Callers};

use crate::scopes::{Access, Scope};
use crate::{Failure, Platform};

/// Turns a request's credentials into a [`Principal`] (the credential-lookup
/// port). Called by the pipeline for every route that is not public.
#[allow(async_fn_in_trait)]
pub trait Authenticator {
    /// The caller of a request that requires credentials: a 401 when they
    /// are missing, unknown, expired or revoked.
    async fn authenticate<P: Platform>(
        req: &ApiRequest,
        platform: &P,
    ) -> Result<Principal, Failure>;
}

/// The one area a gateway key reaches (usage ingestion, a write).
pub const GATEWAY_KEY_AREA: &str = "token-usage";

/// How a user authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserVia {
    /// A session JWT.
    Jwt {
        /// Its `jti`.
        jti: String,
        /// Its expiry, Unix seconds (kept with a revocation).
        expires_at_secs: i64,
    },
    /// A personal API key.
    ApiKey {
        /// The key's id.
        key_id: String,
    },
    /// A browser session (the [`SESSION_COOKIE`] of an OIDC login).
    Session {
        /// The session's id.
        session_id: String,
    },
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    /// The user's id.
    pub id: String,
    /// Their (normalised) email.
    pub email: String,
    /// The credential used.
    pub via: UserVia,
}

/// The area of a caller's own account (`/api/v1/auth/...`).
pub const USER_AREA: &str = "auth";

/// The area of invitations (`/api/v1/invitations/...`), accepted by users.
pub const INVITATIONS_AREA: &str = "invitations";

/// An authenticated access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPrincipal {
    /// The token's id.
    pub id: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// An authenticated tenant gateway key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayKeyPrincipal {
    /// The key's id.
    pub id: String,
    /// The tenant whose usage it may report.
    pub tenant: String,
}

/// The area of agents (`/api/v1/agents/...`): an agent reads its own
/// profile there (`GET /agents/me`) without a scope.
pub const AGENTS_AREA: &str = "agents";

/// The scope areas an agent's scopes may name: what an agent can be given
/// at most (its vaults' secrets, through vault policies).
pub const AGENT_SCOPE_AREAS: &[&str] = &["vaults"];

/// An authenticated agent (an agent token from `POST /auth/agent-token`).
/// What it holds is what both its token and its current record grant: a
/// change to the agent narrows its live tokens at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPrincipal {
    /// The agent's id.
    pub id: String,
    /// The organisation it belongs to.
    pub org_id: String,
    /// The vaults it may use (canonical ids).
    pub vault_ids: Vec<String>,
    /// What it may do in them (`vaults:read`, `vaults:write`).
    pub scopes: Vec<Scope>,
    /// Whether it uses the intents API (and so never reads key material).
    pub intents_api: bool,
    /// The token's `jti`.
    pub jti: String,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The platform operator (static token): sees and manages everything.
    Operator,
    /// An access token, limited by its scopes.
    AccessToken(TokenPrincipal),
    /// A signed-up user (JWT or personal API key).
    User(UserPrincipal),
    /// A tenant gateway key: usage ingestion for its tenant only.
    GatewayKey(GatewayKeyPrincipal),
    /// An agent: its vaults, its own profile and its own transactions only.
    Agent(AgentPrincipal),
    /// No credentials (public routes only).
    Anonymous,
}

impl Principal {
    /// The actor name written to audit entries and idempotency scopes.
    pub fn actor(&self) -> String {
        match self {
            Self::Operator => "operator".into(),
            Self::AccessToken(t) => format!("access-token:{}", t.id),
            Self::User(u) => format!("user:{}", u.id),
            Self::GatewayKey(k) => format!("gateway-key:{}", k.id),
            Self::Agent(a) => format!("agent:{}", a.id),
            Self::Anonymous => "anonymous".into(),
        }
    }

    /// The user, when the caller is one.
    pub fn user(&self) -> Option<&UserPrincipal> {
        match self {
            Self::User(u) => Some(u),
            _ => None,
        }
    }

    /// The agent, when the caller is one.
    pub fn agent(&self) -> Option<&AgentPrincipal> {
        match self {
            Self::Agent(a) => Some(a),
            _ => None,
        }
    }

    /// Refuses users (403 with `message`) on operator routes under an area
    /// users reach (fleet-wide tenant routes, `/tenants/{name}/weight`);
    /// operators and access tokens with the area's scope pass.
    pub fn forbid_users(&self, message: &str) -> Result<(), ApiError> {
        match self {
            Self::User(_) => Err(ApiError::Forbidden(message.to_owned())),
            _ => Ok(()),
        }
    }

    /// Whether the principal may perform `access` on `area` in an operation
    /// that `callers` may call (a 403 saying what is missing otherwise).
    /// Users reach only the operations declared for them, agents only
    /// those declared for agents (and their scopes' areas), gateway keys
    /// only usage ingestion, access tokens what their scopes name.
    pub fn authorize(&self, access: Access, area: &str, callers: Callers) -> Result<(), ApiError> {
        match self {
            Self::Operator | Self::Anonymous => Ok(()),
            Self::User(_) if matches!(callers, Callers::Users | Callers::Agents) => Ok(()),
            Self::Agent(_)
                if callers == Callers::Agents && area == AGENTS_AREA && access == Access::Read =>
            {
                Ok(())
            }
            Self::Agent(a)
                if callers == Callers::Agents
                    && a.scopes.iter().any(|s| s.allows(access, area)) =>
            {
                Ok(())
            }
            Self::Agent(_) if callers == Callers::Agents => {
                let needed = match access {
                    Access::Read => "read",
                    Access::Write => "write",
                };
                Err(ApiError::Forbidden(format!(
                    "this agent lacks the scope {area}:{needed}"
                )))
            }
            Self::Agent(_) => Err(ApiError::Forbidden(
                "an agent reaches only its vaults (/api/v1/vaults), its own profile \
                 (/api/v1/agents/me) and its own transactions"
                    .into(),
            )),
            Self::User(_) => Err(ApiError::Forbidden(format!(
                "this operation under /api/v1/{area} is the platform operator's; users reach \
                 /api/v1/auth, /api/v1/invitations, /api/v1/organizations (their organisations' \
                 tenants are created and listed at /api/v1/organizations/{{orgId}}/tenants) and \
                 /api/v1/tenants/{{name}} of those tenants"
            ))),
            Self::GatewayKey(_)
                if callers == Callers::GatewayKeys
                    && area == GATEWAY_KEY_AREA
                    && access == Access::Write =>
            {
                Ok(())
            }
            Self::GatewayKey(_) => Err(ApiError::Forbidden(
                "a gateway key only reports usage (POST /api/v1/token-usage)".into(),
            )),
            Self::AccessToken(_) if area == INVITATIONS_AREA => Err(ApiError::Forbidden(
                "invitations are accepted by signed-in users, not access tokens".into(),
            )),
            Self::AccessToken(t) if t.scopes.iter().any(|s| s.allows(access, area)) => Ok(()),
            // No scope names the auth area (`crate::scopes`): say what is possible.
            Self::AccessToken(_) if area == USER_AREA => Err(ApiError::Forbidden(
                "an access token may only read /api/v1/auth/me (with the * or read scope)".into(),
            )),
            Self::AccessToken(_) => {
                let needed = match access {
                    Access::Read => "read",
                    Access::Write => "write",
                };
                Err(ApiError::Forbidden(format!(
                    "this access token lacks the scope {area}:{needed}"
                )))
            }
        }
    }

    /// The scopes the principal holds (everything for the operator).
    pub fn scopes(&self) -> Vec<Scope> {
        match self {
            Self::Operator => vec![Scope::All],
            Self::AccessToken(t) => t.scopes.clone(),
            Self::Agent(a) => a.scopes.clone(),
            Self::User(_) | Self::GatewayKey(_) | Self::Anonymous => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scopes;

    #[test]
    fn gateway_keys_only_report_usage() {
        let key = Principal::GatewayKey(GatewayKeyPrincipal {
            id: "k".into(),
            tenant: "acme".into(),
        });
        let ingest = Callers::GatewayKeys;
        assert!(key
            .authorize(Access::Write, GATEWAY_KEY_AREA, ingest)
            .is_ok());
        assert!(key
            .authorize(Access::Read, GATEWAY_KEY_AREA, ingest)
            .is_err());
        for callers in [Callers::Operator, Callers::Users] {
            assert!(key
                .authorize(Access::Write, GATEWAY_KEY_AREA, callers)
                .is_err());
        }
        for area in scopes::AREAS
            .iter()
            .flat_map(|list| list.iter())
            .filter(|a| **a != GATEWAY_KEY_AREA)
        {
            assert!(key.authorize(Access::Read, area, ingest).is_err(), "{area}");
            assert!(
                key.authorize(Access::Write, area, ingest).is_err(),
                "{area}"
            );
        }
        assert!(key.scopes().is_empty());
        assert_eq!(key.actor(), "gateway-key:k");
        assert!(key.forbid_users("x").is_ok());
    }
}
