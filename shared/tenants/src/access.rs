//! Who may see and change which tenant.
//!
//! Operators and access tokens (whose scopes the pipeline already checked)
//! see every tenant. A user sees the tenants of the organisations they
//! belong to: any other tenant, and every tenant outside an organisation,
//! is a 404 `TENANT_NOT_FOUND` (never a 403 that would confirm it exists);
//! inside their organisation a role below what the action needs is a 403.

use cp_http::ApiError;
use cp_orgs::roles::{OrgAccess, OrgRole};
use cp_platform::auth::Principal;
use cp_platform::Failure;
use cp_store::Database;

use crate::model::TenantRow;
use crate::sql::{self, ListFilter};

/// The tenant not-found error.
pub(crate) fn not_found(name: &str) -> Failure {
    ApiError::not_found("TENANT", name).into()
}

/// Requires that `principal` may act on `row` with at least `min`; returns
/// the user's role (`None` for operators and access tokens).
pub(crate) async fn require<D: Database>(
    db: &D,
    principal: &Principal,
    row: &TenantRow,
    min: OrgRole,
) -> Result<Option<OrgRole>, Failure> {
    let user = match principal {
        Principal::User(u) => u,
        Principal::Operator | Principal::AccessToken(_) => return Ok(None),
        // Refused before any handler (`Principal::authorize`); fail closed.
        Principal::GatewayKey(_) => {
            return Err(ApiError::Forbidden("a gateway key only reports usage".into()).into())
        }
        Principal::Agent(_) => {
            return Err(ApiError::Forbidden("an agent reaches only its vaults".into()).into())
        }
        Principal::Anonymous => {
            return Err(ApiError::Unauthorized("sign in to reach tenants".into()).into())
        }
    };
    let hidden = || not_found(&row.tenant.name);
    let Some(org) = &row.tenant.organization_id else {
        return Err(hidden());
    };
    let role = db
        .query_opt(
            sql::MEMBER_ROLE,
            &[org.as_str().into(), user.id.as_str().into()],
        )
        .await?
        .map(|r| r.text("role"))
        .transpose()?
        .and_then(|r| OrgRole::parse(&r))
        .ok_or_else(hidden)?;
    OrgAccess {
        org_id: org.clone(),
        role: Some(role),
    }
    .require(min)?;
    Ok(Some(role))
}

/// The tenants a list shows the caller.
pub(crate) fn list_filter(principal: &Principal) -> ListFilter {
    match principal {
        Principal::User(u) => ListFilter::MemberOf(u.id.clone()),
        _ => ListFilter::All,
    }
}
