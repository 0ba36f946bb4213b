//! Policy operations on the shared dual-write mechanism
//! (`cp_platform::dualwrite`), and the query other groups use to find the
//! policies that apply to a tenant.

use cp_http::pagination::PageRequest;
use cp_http::{ApiError, ApiRequest, PaginationInfo};
use cp_kube::Resource;
use cp_platform::dualwrite::{DriftReport, DualWrite, RepairReport};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{Database, DbError, Value};
use serde_json::json;

use crate::drift::PolicyKind;
use crate::model::{PolicyRow, ValidPolicy};
use crate::rules::TenantPolicies;
use crate::sql;

/// Cursor scope of the policy list.
pub(crate) const LIST_SCOPE: &str = "policies";

type Policies<'c, 'a, P> = DualWrite<'c, 'a, P, PolicyKind>;

pub(crate) async fn get<D: Database>(db: &D, name: &str) -> Result<PolicyRow, Failure> {
    let row = db.query_opt(&sql::get(), &[name.into()]).await?;
    row.map(|r| PolicyRow::from_row(&r))
        .transpose()?
        .ok_or_else(|| ApiError::not_found("POLICY", name).into())
}

pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<PolicyRow>, PaginationInfo), Failure> {
    let rows = match &page.after {
        None => {
            db.query(&sql::list_first(), &[Value::Int(page.fetch_limit())])
                .await?
        }
        Some(c) => {
            db.query(
                &sql::list_after(),
                &[
                    Value::Int(page.fetch_limit()),
                    Value::Int(c.micros_at(0)?),
                    c.str_at(1)?.into(),
                ],
            )
            .await?
        }
    };
    let rows = rows
        .iter()
        .map(PolicyRow::from_row)
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(page.paginate(LIST_SCOPE, rows, |r| {
        vec![json!(r.created_micros), json!(r.policy.name)]
    }))
}

pub(crate) async fn create<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidPolicy,
) -> Result<PolicyRow, Failure> {
    let created = Policies::new(ctx)?
        .create(PolicyKind::object(&input.name, input.spec), json!({}))
        .await?;
    get(ctx.db(), created.name()).await
}

pub(crate) async fn update<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    input: ValidPolicy,
) -> Result<PolicyRow, Failure> {
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

/// The policies that apply to `tenant`, a member of `groups`, bound to
/// `policy_ref` (see [`crate::rules`]), read from the projection rows.
pub async fn for_tenant<D: Database>(
    db: &D,
    tenant: &str,
    groups: &[String],
    policy_ref: Option<&str>,
) -> Result<TenantPolicies, DbError> {
    let rows = db
        .query(
            &sql::applicable(),
            &[
                tenant.into(),
                Value::Json(json!(groups)),
                policy_ref.map(str::to_owned).into(),
            ],
        )
        .await?;
    let candidates = rows
        .iter()
        .map(PolicyRow::from_row)
        .map(|r| r.map(|r| (r.policy.name, r.spec)))
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(TenantPolicies::select(
        tenant, groups, policy_ref, candidates,
    ))
}
