//! Organisations as the boundary of what a user may see and do: a user's
//! role in an organisation ([`OrgRole`]), checked the same way by every route
//! group ([`org_access`]), and the organisation-visible event stream
//! ([`OrgEvent`]), written in the same transaction as the change it records.
//!
//! Operators (and access tokens, which operators issue and which are limited
//! by their scopes before this point) see every organisation. A user sees
//! only the organisations they belong to: anything else is a 404, never a
//! 403 that would confirm it exists. Inside their organisation, a role below
//! the one an action needs is a 403 naming both roles.

use cp_http::ApiError;
use cp_store::{Database, Value};
use serde::{Deserialize, Serialize};

use cp_platform::{Failure, Platform, Principal, RequestContext};

/// A member's role, ordered from least to most powerful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    /// Reads the organisation, its members, tenants and events.
    Viewer,
    /// A viewer who may also create, suspend and resume tenants.
    Member,
    /// A member who may also decommission tenants and manage members and
    /// invitations (but not owners).
    Admin,
    /// An admin who may also grant, change and remove the owner role.
    Owner,
}

impl OrgRole {
    /// Every role, least powerful first.
    pub const ALL: [Self; 4] = [Self::Viewer, Self::Member, Self::Admin, Self::Owner];

    /// The wire and column form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Parses the wire form.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

/// What the caller may do in one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccess {
    /// The organisation's id (canonical UUID).
    pub org_id: String,
    /// The caller's role; `None` for operators and access tokens, which
    /// stand above every role.
    pub role: Option<OrgRole>,
}

impl OrgAccess {
    /// Whether the caller holds at least `role` (operators always do).
    pub fn at_least(&self, role: OrgRole) -> bool {
        self.role.is_none_or(|r| r >= role)
    }

    /// A 403 unless the caller holds at least `role`.
    pub fn require(&self, role: OrgRole) -> Result<(), ApiError> {
        match self.role {
            Some(held) if held < role => Err(ApiError::Forbidden(format!(
                "this needs the {} role in the organisation; you are {}",
                role.as_str(),
                held.as_str()
            ))),
            _ => Ok(()),
        }
    }
}

/// The organisation not-found error (also what another organisation's id
/// answers).
pub fn org_not_found(org_id: &str) -> ApiError {
    ApiError::NotFound {
        kind: "ORGANIZATION",
        id: org_id.to_owned(),
    }
}

const ORG_ROLE: &str = "SELECT o.id::text AS id, m.role
    FROM organizations o
    LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $2::text::uuid
    WHERE o.id = $1::text::uuid";

/// Resolves the caller's access to organisation `org_id` and requires at
/// least `min`: 404 when it does not exist or the user is not a member,
/// 403 when their role is below `min`. `org_id` must already be a
/// canonical UUID (`cp_http::ids::path_id`).
pub async fn org_access<D: Database>(
    db: &D,
    principal: &Principal,
    org_id: &str,
    min: OrgRole,
) -> Result<OrgAccess, Failure> {
    let user_id = match principal {
        Principal::User(u) => Some(u.id.as_str()),
        Principal::Operator | Principal::AccessToken(_) => None,
        // Refused before any handler (`Principal::authorize`); fail closed.
        Principal::GatewayKey(_) => {
            return Err(ApiError::Forbidden("a gateway key only reports usage".into()).into())
        }
        Principal::Agent(_) => {
            return Err(ApiError::Forbidden("an agent reaches only its vaults".into()).into())
        }
        Principal::Anonymous => {
            return Err(ApiError::Unauthorized("sign in to reach organisations".into()).into())
        }
    };
    // An operator's lookup joins no membership ($2 NULL matches no row).
    let row = db
        .query_opt(
            ORG_ROLE,
            &[org_id.into(), user_id.map(str::to_owned).into()],
        )
        .await?
        .ok_or_else(|| org_not_found(org_id))?;
    let role = match user_id {
        None => None,
        Some(_) => {
            let stored = row.opt_text("role")?.ok_or_else(|| org_not_found(org_id))?;
            Some(OrgRole::parse(&stored).ok_or_else(|| {
                Failure::with_cause(ApiError::Internal, format!("unknown org role {stored:?}"))
            })?)
        }
    };
    let access = OrgAccess {
        org_id: row.text("id")?,
        role,
    };
    access.require(min)?;
    Ok(access)
}

/// Whose organisation resources a list shows (agents, enrolments): one
/// organisation named by `?orgId=` that the caller may see (a 404
/// otherwise), else a user's organisations', and everything for operators
/// and access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// Every organisation's.
    All,
    /// Those of the organisations this user belongs to.
    Member(String),
    /// This organisation's.
    Org(String),
}

impl ListScope {
    /// The scope of list request `req` by `principal`.
    pub async fn of<D: Database>(
        db: &D,
        principal: &Principal,
        req: &cp_http::ApiRequest,
    ) -> Result<Self, Failure> {
        if let Some(text) = req.query_param("orgId") {
            let id = cp_http::ids::parse_id(&text).map_err(|m| ApiError::invalid("orgId", m))?;
            let access = org_access(db, principal, &id.to_string(), OrgRole::Viewer).await?;
            return Ok(Self::Org(access.org_id));
        }
        Ok(match principal {
            Principal::User(user) => Self::Member(user.id.clone()),
            _ => Self::All,
        })
    }

    /// The keyset queries (first page, page after a cursor) of this scope
    /// among a list's three pairs, and their one filter parameter (the
    /// user's or the organisation's id).
    pub fn pick<'q>(
        &self,
        all: (&'q str, &'q str),
        member: (&'q str, &'q str),
        org: (&'q str, &'q str),
    ) -> (&'q str, &'q str, Option<Value>) {
        match self {
            Self::All => (all.0, all.1, None),
            Self::Member(user) => (member.0, member.1, Some(user.as_str().into())),
            Self::Org(org_id) => (org.0, org.1, Some(org_id.as_str().into())),
        }
    }
}

/// `?orgId=` of the lists [`ListScope`] narrows, for the OpenAPI document.
pub struct OrgQuery;

impl utoipa::IntoParams for OrgQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![cp_http::params::query_param(
            "orgId",
            "Only this organisation's.",
            cp_http::ids::id_schema("An organisation's id."),
        )]
    }
}

/// The ids of the organisations a user belongs to.
pub async fn user_org_ids<D: Database>(db: &D, user_id: &str) -> Result<Vec<String>, Failure> {
    let rows = db
        .query(
            "SELECT org_id::text AS org_id FROM org_members WHERE user_id = $1::text::uuid",
            &[user_id.into()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.text("org_id"))
        .collect::<Result<_, _>>()?)
}

/// The organisations whose only owner is `user_id`, sorted (call inside the
/// transaction that would remove the user: the owner rows of every
/// organisation they own stay locked until it ends, in one order, so a
/// concurrent demotion or departure of the other owner cannot slip past).
pub async fn sole_owned_org_ids<D: Database>(
    db: &D,
    user_id: &str,
) -> Result<Vec<String>, Failure> {
    let rows = db
        .query(
            "SELECT org_id::text AS org_id FROM org_members
             WHERE role = 'owner' AND org_id IN
               (SELECT org_id FROM org_members WHERE user_id = $1::text::uuid AND role = 'owner')
             ORDER BY org_id, user_id FOR UPDATE",
            &[user_id.into()],
        )
        .await?;
    let mut owners: Vec<(String, usize)> = Vec::new();
    for row in &rows {
        let org = row.text("org_id")?;
        match owners.last_mut() {
            Some((last, n)) if *last == org => *n += 1,
            _ => owners.push((org, 1)),
        }
    }
    Ok(owners
        .into_iter()
        .filter(|(_, n)| *n == 1)
        .map(|(org, _)| org)
        .collect())
}

/// One organisation-visible change (`member.joined`, `tenant.suspended`…).
/// Holds names, ids and roles only: never a secret.
#[derive(Debug, Clone)]
pub struct OrgEvent {
    /// The organisation.
    pub org_id: String,
    /// Dotted kind: `<subject kind>.<past-tense verb>`.
    pub kind: String,
    /// Who acted ([`Principal::actor`]).
    pub actor: String,
    /// What changed: a user id, tenant name, invitation email…
    pub subject: String,
    /// Non-secret details (old and new role…).
    pub detail: serde_json::Value,
    /// The request that made the change.
    pub request_id: String,
}

/// An organisation event for the current request (`kind` like
/// `member.joined`), to be written in the same transaction as the change.
pub fn event<P: Platform>(
    ctx: &RequestContext<'_, P>,
    org_id: &str,
    kind: &str,
    subject: &str,
) -> OrgEvent {
    OrgEvent {
        org_id: org_id.to_owned(),
        kind: kind.to_owned(),
        actor: ctx.principal.actor(),
        subject: subject.to_owned(),
        detail: serde_json::json!({}),
        request_id: ctx.request_id.clone(),
    }
}

impl OrgEvent {
    /// Sets the detail.
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    /// Writes the event (call inside the change's transaction).
    pub async fn write<D: Database>(&self, db: &D) -> Result<(), Failure> {
        db.execute(
            "INSERT INTO org_events (id, org_id, kind, actor, subject, detail, request_id)
             VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6, $7)",
            &[
                Value::Text(cp_http::ids::new_id().to_string()),
                self.org_id.as_str().into(),
                self.kind.as_str().into(),
                self.actor.as_str().into(),
                self.subject.as_str().into(),
                Value::Json(self.detail.clone()),
                self.request_id.as_str().into(),
            ],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roles_are_ordered_and_round_trip() {
        assert!(OrgRole::Viewer < OrgRole::Member);
        assert!(OrgRole::Member < OrgRole::Admin);
        assert!(OrgRole::Admin < OrgRole::Owner);
        for r in OrgRole::ALL {
            assert_eq!(OrgRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(OrgRole::parse("Owner"), None);
    }

    #[test]
    fn access_checks_name_the_roles() {
        let viewer = OrgAccess {
            org_id: "o".into(),
            role: Some(OrgRole::Viewer),
        };
        assert!(viewer.at_least(OrgRole::Viewer));
        assert!(!viewer.at_least(OrgRole::Member));
        let err = viewer.require(OrgRole::Admin).unwrap_err();
        assert_eq!(err.status(), 403);
        assert!(err.to_string().contains("admin") && err.to_string().contains("viewer"));
        let operator = OrgAccess {
            org_id: "o".into(),
            role: None,
        };
        assert!(operator.at_least(OrgRole::Owner));
        assert!(operator.require(OrgRole::Owner).is_ok());
    }
}
