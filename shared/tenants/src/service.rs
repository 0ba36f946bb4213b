//! Tenant operations on the shared dual-write mechanism
//! (`cp_platform::dualwrite`); see the crate docs for the failure behaviour.

use cp_http::pagination::PageRequest;
use cp_http::{ApiError, PaginationInfo};
use cp_kube::{AccessPolicy, KubeError, Resource};
use cp_platform::dualwrite::{DriftReport, DualWrite, RepairReport};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{Database, DbError, Value};
use serde_json::json;

use crate::contract::{self, EffectiveContract, Sources};
use crate::drift::{Projection, TenantKind};
use crate::model::{TenantRow, ValidTenant};
use crate::sql;

/// Cursor scope of the tenant list.
pub(crate) const LIST_SCOPE: &str = "tenants";

fn not_found(name: &str) -> Failure {
    ApiError::not_found("TENANT", name).into()
}

type Tenants<'c, 'a, P> = DualWrite<'c, 'a, P, TenantKind>;

pub(crate) async fn find<D: Database>(db: &D, name: &str) -> Result<Option<TenantRow>, Failure> {
    let row = db.query_opt(&sql::get(), &[name.into()]).await?;
    Ok(row.map(|r| TenantRow::from_row(&r)).transpose()?)
}

pub(crate) async fn get<D: Database>(db: &D, name: &str) -> Result<TenantRow, Failure> {
    find(db, name).await?.ok_or_else(|| not_found(name))
}

pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<TenantRow>, PaginationInfo), Failure> {
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
                    Value::Int(c.i64_at(0)?),
                    c.str_at(1)?.into(),
                ],
            )
            .await?
        }
    };
    let rows = rows
        .iter()
        .map(TenantRow::from_row)
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(page.paginate(LIST_SCOPE, rows, |r| {
        vec![json!(r.created_micros), json!(r.tenant.name)]
    }))
}

pub(crate) async fn create<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidTenant,
) -> Result<TenantRow, Failure> {
    let dw = Tenants::new(ctx)?;
    let created = dw
        .create(TenantKind::object(&input.name, input.spec), json!({}))
        .await?;
    get(ctx.db(), created.name()).await
}

pub(crate) async fn update<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &cp_http::ApiRequest,
    input: ValidTenant,
) -> Result<TenantRow, Failure> {
    let dw = Tenants::new(ctx)?;
    let conditional = req.header("if-match").is_some();
    dw.locked(&input.name, async |db, row| {
        cp_http::etag::check_if_match(req, &row.etag())?;
        // Read-modify-write on the CRD. The operator writes status
        // concurrently (bumping resourceVersion), so a Conflict is retried
        // with a fresh read; a spec changed behind our back is the client's
        // conflict under If-Match.
        let mut attempts = 0;
        let updated = loop {
            attempts += 1;
            let mut obj = dw.crd(&input.name).await?;
            let changed_behind = Projection::of(&obj).differences(&row);
            if conditional && !changed_behind.is_empty() {
                return Err(ApiError::Conflict(format!(
                    "the tenant changed in Kubernetes since it was read ({}); re-read it and retry",
                    changed_behind.join(", ")
                ))
                .into());
            }
            let suspended = obj.spec.suspended;
            obj.spec = input.spec.clone();
            obj.spec.suspended = suspended;
            match dw.kube().replace::<TenantKind>(&obj).await {
                Ok(o) => break o,
                Err(KubeError::Conflict { .. }) if attempts < 3 => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let changed = Projection::of(&updated).differences(&row);
        dw.project(db, &updated, json!({ "changed": changed }))
            .await
    })
    .await?;
    get(ctx.db(), &input.name).await
}

pub(crate) async fn delete<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
) -> Result<(), Failure> {
    Tenants::new(ctx)?.delete(name, json!({})).await
}

/// Suspends (`true`) or resumes (`false`) a tenant: `spec.suspended` on the
/// CRD, then the Deployment's replicas through the scale subresource.
pub(crate) async fn set_suspended<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    suspend: bool,
) -> Result<TenantRow, Failure> {
    let dw = Tenants::new(ctx)?;
    let kube = dw.kube();
    dw.locked(name, async |db, row| {
        if row.tenant.suspended == suspend {
            let state = if suspend { "suspended" } else { "not suspended" };
            return Err(ApiError::Conflict(format!(
                "tenant '{name}' is already {state} (phase {})",
                row.tenant.phase
            ))
            .into());
        }
        dw.crd(name).await?;
        // A merge patch of the one field: no read-modify-write race with
        // the operator's status updates.
        let patch = |value: bool| json!({ "spec": { "suspended": value } });
        let updated = kube.merge_patch::<TenantKind>(name, &patch(suspend)).await?;
        let replicas = if suspend { 0 } else { 1 };
        match kube.set_deployment_replicas(name, replicas).await {
            // No Deployment yet: the operator creates it honouring spec.suspended.
            Ok(_) | Err(KubeError::NotFound { .. }) => {}
            Err(scale_err) => {
                // Revert the CRD so spec and pod never disagree silently.
                if let Err(e) = kube.merge_patch::<TenantKind>(name, &patch(!suspend)).await {
                    eprintln!(
                        "request_id={} tenant {name}: reverting spec.suspended failed ({e}); drift will show it",
                        ctx.request_id
                    );
                }
                return Err(scale_err.into());
            }
        }
        dw.project(db, &updated, json!({ "replicas": replicas })).await
    })
    .await?;
    get(ctx.db(), name).await
}

/// A dataset membership.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    pub(crate) dataset: String,
    pub(crate) access: String,
    pub(crate) created_micros: i64,
}

pub(crate) async fn datasets<D: Database>(db: &D, name: &str) -> Result<Vec<Membership>, Failure> {
    let rows = db.query(sql::DATASETS, &[name.into()]).await?;
    rows.iter()
        .map(|r| {
            Ok(Membership {
                dataset: r.text("dataset")?,
                access: r.text("access")?,
                created_micros: r.i64("created_micros")?,
            })
        })
        .collect::<Result<_, DbError>>()
        .map_err(Failure::from)
}

/// The tenant's bound policy: `None` without a policyRef, `Some(None)` when
/// the referenced AccessPolicy does not exist.
async fn bound_policy<P: Platform>(
    ctx: &RequestContext<'_, P>,
    row: &TenantRow,
) -> Result<Option<(String, Option<cp_kube::AccessPolicySpec>)>, Failure> {
    let Some(policy) = row.tenant.policy_ref.clone() else {
        return Ok(None);
    };
    match ctx.kube()?.get::<AccessPolicy>(&policy).await {
        Ok(o) => Ok(Some((policy, Some(o.spec)))),
        Err(KubeError::NotFound { .. }) => Ok(Some((policy, None))),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn replace_datasets<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    wanted: Vec<(String, String)>,
) -> Result<Vec<Membership>, Failure> {
    let row = get(ctx.db(), name).await?;
    if let Some((policy, spec)) = bound_policy(ctx, &row).await? {
        let denied: Vec<String> = wanted
            .iter()
            .filter_map(|(d, _)| match &spec {
                None => Some(format!("{d} (policy '{policy}' does not exist)")),
                Some(s) => {
                    contract::dataset_denial(&policy, s, d).map(|why| format!("{d} ({why})"))
                }
            })
            .collect();
        if !denied.is_empty() {
            return Err(ApiError::DatasetDenied(format!(
                "the tenant's access policy denies: {}",
                denied.join("; ")
            ))
            .into());
        }
    }
    Tenants::new(ctx)?
        .locked(name, async |db, _row| {
            let before = datasets(db, name).await?;
            db.execute(sql::DATASETS_CLEAR, &[name.into()]).await?;
            for (dataset, access) in &wanted {
                let kept = before
                    .iter()
                    .find(|m| &m.dataset == dataset)
                    .map(|m| m.created_micros);
                db.execute(
                    sql::DATASET_INSERT,
                    &[name.into(), dataset.into(), access.into(), kept.into()],
                )
                .await?;
            }
            let names: Vec<&str> = wanted.iter().map(|(d, _)| d.as_str()).collect();
            ctx.audit("tenant", name)
                .tenant(name)
                .detail(json!({ "datasets": names }))
                .write(db)
                .await?;
            Ok(())
        })
        .await?;
    datasets(ctx.db(), name).await
}

pub(crate) async fn effective_contract<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
) -> Result<EffectiveContract, Failure> {
    let row = get(ctx.db(), name).await?;
    let memberships: Vec<(String, String)> = datasets(ctx.db(), name)
        .await?
        .into_iter()
        .map(|m| (m.dataset, m.access))
        .collect();
    let policy = bound_policy(ctx, &row).await?;
    Ok(contract::compile(&Sources {
        tenant: name,
        skill_allowlist: &row.tenant.skill_allowlist,
        datasets: &memberships,
        policy: policy.as_ref().map(|(n, s)| (n.as_str(), s.as_ref())),
    }))
}

pub(crate) async fn drift<P: Platform>(
    ctx: &RequestContext<'_, P>,
) -> Result<DriftReport, Failure> {
    Tenants::new(ctx)?.drift().await
}

pub(crate) async fn repair<P: Platform>(
    ctx: &RequestContext<'_, P>,
    dry_run: bool,
) -> Result<RepairReport, Failure> {
    Tenants::new(ctx)?.repair(dry_run).await
}
