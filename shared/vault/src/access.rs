//! Who may do what in a vault, decided the same way for every route.
//!
//! - Operators and access tokens (limited by their `vaults` scope before
//!   this point) may do everything.
//! - A user must belong to the vault's organisation; anyone else gets a 404,
//!   as for every organisation resource.
//! - Viewers see metadata only: vaults, secret listings, versions and
//!   policies; never a value, never a write.
//! - Owners and admins create and delete vaults and manage their policies.
//! - Reading, writing and deleting secrets is what the vault's policies
//!   grant ([`crate::policy::evaluate`]): nothing by default, whatever the
//!   role.
//! - An agent reaches only the vaults it was given in its organisation
//!   (anything else is a 404), does there what the vault's policies grant
//!   its own id, and never manages the vault.
//! - An agent with the intents API never reads key material directly
//!   ([`crate::policy::direct_read_forbidden`]);
//!   [`VaultAccess::check_direct_read`] is where it is checked.

use std::net::IpAddr;

use cp_http::{ApiError, ApiRequest};
use cp_orgs::roles::{org_access, OrgRole};
use cp_platform::{Failure, Platform, RequestContext};
use uuid::Uuid;

use crate::model::SecretType;
use crate::path::SecretPath;
use crate::policy::{
    direct_read_forbidden, direct_read_refusal, evaluate, may_list, AccessRequest, Action,
    Principal, PrincipalKind, Requester,
};
use crate::store::{self, vault_not_found, VaultRow};
use crate::views::SecretMeta;

/// Where the caller stands towards a vault's organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// The operator or an access token: above every role.
    Operator,
    /// A member, with their role.
    Member(OrgRole),
    /// One of the organisation's agents given this vault: what the vault's
    /// policies grant it, and never management.
    Agent,
}

/// The caller's standing in one vault.
pub(crate) struct VaultAccess {
    /// The vault.
    pub vault: VaultRow,
    /// Where the caller stands in its organisation.
    pub standing: Standing,
    /// The user or agent policies decide for (`None`: an operator); its
    /// groups are read only when a policy names a group.
    requester: Option<(PrincipalKind, Uuid)>,
    /// Whether the caller is an agent with the intents API enabled.
    intents_api: bool,
    /// The client's address (`spin-client-addr`), for policy conditions.
    client_ip: Option<IpAddr>,
}

/// Resolves the caller's access to vault `vault_id` (locked for the
/// transaction when `lock`): a 404 when it does not exist or lies in an
/// organisation the user is not a member of.
pub(crate) async fn vault_access<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    vault_id: &str,
    lock: bool,
) -> Result<VaultAccess, Failure> {
    let db = ctx.db();
    let vault = store::vault(db, vault_id, lock).await?;
    if let Some(agent) = ctx.principal.agent() {
        // An agent sees only the vaults it was given, in its organisation;
        // any other is a 404 like a missing one.
        if vault.view.org_id != agent.org_id || !agent.vault_ids.contains(&vault.view.id) {
            return Err(vault_not_found(vault_id).into());
        }
        return Ok(VaultAccess {
            vault,
            standing: Standing::Agent,
            requester: Some((PrincipalKind::Agent, parse_uuid(&agent.id)?)),
            intents_api: agent.intents_api,
            client_ip: client_ip(req),
        });
    }
    let access = org_access(db, &ctx.principal, &vault.view.org_id, OrgRole::Viewer)
        .await
        .map_err(|f| match f.error {
            // Another organisation's vault must not be told apart from a
            // missing one.
            ApiError::NotFound { .. } => Failure::from(vault_not_found(vault_id)),
            _ => f,
        })?;
    let (standing, requester) = match (access.role, ctx.principal.user()) {
        (Some(role), Some(user)) => (
            Standing::Member(role),
            Some((PrincipalKind::User, parse_uuid(&user.id)?)),
        ),
        _ => (Standing::Operator, None),
    };
    Ok(VaultAccess {
        vault,
        standing,
        requester,
        intents_api: false,
        client_ip: client_ip(req),
    })
}

fn parse_uuid(id: &str) -> Result<Uuid, Failure> {
    Uuid::parse_str(id)
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("principal id {id:?}: {e}")))
}

/// The client's address as Spin gives it to the component
/// (`spin-client-addr: <ip>:<port>`).
pub(crate) fn client_ip(req: &ApiRequest) -> Option<IpAddr> {
    let value = req.header("spin-client-addr")?;
    value
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| value.parse::<IpAddr>())
        .ok()
}

impl VaultAccess {
    /// A 403 unless the caller manages the vault (owner or admin).
    pub(crate) fn require_manager(&self) -> Result<(), ApiError> {
        match self.standing {
            Standing::Member(role) if role < OrgRole::Admin => Err(ApiError::Forbidden(format!(
                "managing a vault and its policies needs the admin role in its organisation; \
                 you are {}",
                role.as_str()
            ))),
            Standing::Agent => Err(ApiError::Forbidden(
                "agents use a vault's secrets; managing the vault is for its organisation's \
                 owners and admins"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// Decides `action` on `path`: operators always may; viewers never
    /// touch values; everyone else only what a policy allows.
    pub(crate) async fn authorize<P: Platform>(
        &self,
        ctx: &RequestContext<'_, P>,
        action: Action,
        path: &SecretPath,
    ) -> Result<(), Failure> {
        self.authorize_all(ctx, &[action], path).await
    }

    /// Decides every one of `actions` on `path` (the policies read once).
    pub(crate) async fn authorize_all<P: Platform>(
        &self,
        ctx: &RequestContext<'_, P>,
        actions: &[Action],
        path: &SecretPath,
    ) -> Result<(), Failure> {
        let Some((kind, id)) = self.requester else {
            return Ok(());
        };
        if self.standing == Standing::Member(OrgRole::Viewer) {
            return Err(ApiError::Forbidden(
                "viewers see a vault's metadata only, never a secret".into(),
            )
            .into());
        }
        let (policies, requester) = self.policies_for(ctx, kind, id).await?;
        for &action in actions {
            let decision = evaluate(
                &policies,
                &AccessRequest {
                    requester: &requester,
                    action,
                    path,
                    client_ip: self.client_ip,
                    now: ctx.now,
                },
            );
            if decision.is_allowed() {
                continue;
            }
            let why = match decision.policy() {
                Some(policy) => format!("policy {policy} denies it"),
                None => "no vault policy grants it".into(),
            };
            return Err(ApiError::Forbidden(format!(
                "{} on {:?}: {why}",
                action_name(action),
                path.as_str()
            ))
            .into());
        }
        Ok(())
    }

    /// The vault's policies and the requester they decide for. Group
    /// membership is one more query: only for a user, when a policy names
    /// a group (agents belong to no group).
    async fn policies_for<P: Platform>(
        &self,
        ctx: &RequestContext<'_, P>,
        kind: PrincipalKind,
        id: Uuid,
    ) -> Result<(Vec<crate::policy::Policy>, Requester), Failure> {
        let policies = store::policies(ctx.db(), &self.vault.view.id).await?;
        let groups = if kind == PrincipalKind::User
            && policies
                .iter()
                .any(|p| matches!(p.principal, Principal::Group(_)))
        {
            store::user_groups(ctx.db(), &id.to_string()).await?
        } else {
            Vec::new()
        };
        Ok((policies, Requester { kind, id, groups }))
    }

    /// The paths of a listing the caller may see: every one for members
    /// and operators; for an agent, those a policy lets it `list`.
    pub(crate) async fn listable<P: Platform>(
        &self,
        ctx: &RequestContext<'_, P>,
        items: Vec<SecretMeta>,
    ) -> Result<Vec<SecretMeta>, Failure> {
        let Some((kind @ PrincipalKind::Agent, id)) = self.requester else {
            return Ok(items);
        };
        let (policies, requester) = self.policies_for(ctx, kind, id).await?;
        Ok(items
            .into_iter()
            .filter(|item| {
                SecretPath::parse(&item.path).is_ok_and(|path| {
                    let listing = AccessRequest {
                        requester: &requester,
                        action: Action::List,
                        path: &path,
                        client_ip: self.client_ip,
                        now: ctx.now,
                    };
                    may_list(&policies, &listing, &path)
                })
            })
            .collect())
    }

    /// A 403 when the caller may not read a secret of `secret_type`
    /// directly (an agent with the intents API and key material).
    pub(crate) fn check_direct_read(&self, secret_type: SecretType) -> Result<(), ApiError> {
        let kind = self.requester.map_or(PrincipalKind::User, |(kind, _)| kind);
        if direct_read_forbidden(kind, self.intents_api, secret_type) {
            return Err(direct_read_refusal(secret_type));
        }
        Ok(())
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Read => "read",
        Action::Write => "write",
        Action::Delete => "delete",
        Action::List => "list",
        Action::Share => "share",
    }
}
