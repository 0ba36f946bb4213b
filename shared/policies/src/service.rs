//! Policy operations on the shared dual-write mechanism
//! (`cp_platform::dualwrite`), and the query other groups use to find the
//! policies that apply to a tenant.

use cp_http::pagination::PageRequest;
use cp_http::{ApiError, ApiRequest, FieldError, PaginationInfo};
use cp_kube::Resource;
use cp_platform::dualwrite::{DriftReport, DualWrite, RepairReport};
use cp_platform::resource::{keyset_list, KeysetList, TieBreak};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{Database, DbError, FromRow, Value};
use serde_json::json;

use crate::drift::PolicyKind;
use crate::model::{PolicyRow, ValidPolicy};
use crate::rules::TenantPolicies;
use crate::sql;

/// Cursor scope of the policy list.
pub(crate) const LIST_SCOPE: &str = "policies";

type Policies<'c, 'a, P> = DualWrite<'c, 'a, P, PolicyKind>;

pub(crate) async fn get<D: Database>(db: &D, name: &str) -> Result<PolicyRow, Failure> {
    db.fetch_opt(&sql::get(), &[name.into()])
        .await?
        .ok_or_else(|| ApiError::not_found("POLICY", name).into())
}

pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<PolicyRow>, PaginationInfo), Failure> {
    let list = KeysetList {
        scope: LIST_SCOPE,
        first: &sql::list_first(),
        after: &sql::list_after(),
        tie: TieBreak::Name,
    };
    keyset_list(db, page, list, None, |r: &PolicyRow| {
        vec![json!(r.created_micros), json!(r.policy.name)]
    })
    .await
}

/// Checks `subjects.tenants` of a write to policy `name` (see the crate
/// docs): a name new to the policy must be a live tenant's (it is bound to
/// that tenant), and a name it keeps must still be bound, i.e. its tenant
/// still exists; otherwise a 400 naming `subjects.tenants[i]`.
async fn check_subject_tenants<D: Database>(
    db: &D,
    name: &str,
    input: &ValidPolicy,
) -> Result<(), Failure> {
    let tenants = &input.spec.subjects.tenants;
    if tenants.is_empty() {
        return Ok(());
    }
    let rows = db
        .query(
            sql::SUBJECT_TENANTS,
            &[name.into(), Value::Json(json!(tenants))],
        )
        .await?;
    let mut errors = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let tenant = r.text("name")?;
        let (kept, bound, live) = (r.bool("kept")?, r.bool("bound")?, r.bool("live")?);
        let problem = match (kept, bound, live) {
            (_, true, _) | (false, _, true) => continue,
            (false, _, false) => format!("names no existing tenant ('{tenant}')"),
            (true, _, false) => format!(
                "the tenant '{tenant}' this policy was bound to is gone (deleted or \
                 decommissioned); remove the name"
            ),
            (true, _, true) => format!(
                "the tenant '{tenant}' this policy was bound to is gone (deleted or \
                 decommissioned) and another tenant holds the name now; remove the name (adding it again in a later write \
                 binds the new tenant)"
            ),
        };
        errors.push(FieldError::new(format!("subjects.tenants[{i}]"), problem));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors).into())
    }
}

pub(crate) async fn create<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidPolicy,
) -> Result<PolicyRow, Failure> {
    check_subject_tenants(ctx.db(), &input.name, &input).await?;
    let created = Policies::new(ctx)?
        .create(
            cp_kube::AccessPolicy::object(&input.name, input.spec),
            json!({}),
        )
        .await?;
    get(ctx.db(), created.name()).await
}

pub(crate) async fn update<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    input: ValidPolicy,
) -> Result<PolicyRow, Failure> {
    check_subject_tenants(ctx.db(), &input.name, &input).await?;
    Policies::new(ctx)?
        .update(req, &input.name, |obj| obj.spec = input.spec.clone())
        .await?;
    get(ctx.db(), &input.name).await
}

pub(crate) async fn delete<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
) -> Result<(), Failure> {
    Policies::new(ctx)?.delete(name, json!({})).await
}

pub(crate) async fn drift<P: Platform>(
    ctx: &RequestContext<'_, P>,
) -> Result<DriftReport, Failure> {
    Policies::new(ctx)?.drift().await
}

pub(crate) async fn repair<P: Platform>(
    ctx: &RequestContext<'_, P>,
    dry_run: bool,
) -> Result<RepairReport, Failure> {
    Policies::new(ctx)?.repair(dry_run).await
}

/// The policies that apply to the tenant of id `tenant_id` and name
/// `tenant`, a member of `groups`, bound to `policy_ref` (see
/// [`crate::rules`]), read from the projection rows. `subjects.tenants`
/// counts only where the policy is bound to this very tenant (see the crate
/// docs): a policy naming an earlier tenant of the same name has the name
/// taken out of the spec the rules see.
pub async fn for_tenant<D: Database>(
    db: &D,
    tenant_id: &str,
    tenant: &str,
    groups: &[String],
    policy_ref: Option<&str>,
) -> Result<TenantPolicies, DbError> {
    let rows = db
        .query(
            &sql::applicable(),
            &[
                tenant_id.into(),
                Value::Json(json!(groups)),
                policy_ref.map(str::to_owned).into(),
            ],
        )
        .await?;
    let candidates = rows
        .iter()
        .map(|r| {
            let mut row = PolicyRow::from_row(r)?;
            if !r.bool("bound")? {
                row.spec.subjects.tenants.retain(|t| t != tenant);
            }
            Ok((row.policy.name, row.spec))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(TenantPolicies::select(
        tenant, groups, policy_ref, candidates,
    ))
}
