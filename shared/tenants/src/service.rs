//! Tenant operations: the dual-write sequences described in the crate docs.

use cp_http::pagination::PageRequest;
use cp_http::{ApiError, PaginationInfo};
use cp_kube::{AccessPolicy, KubeClient, KubeError, Resource, Tenant as TenantCrd, TenantObject};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, Value};
use serde_json::json;

use crate::contract::{self, EffectiveContract, Sources};
use crate::drift::{self, DriftReport, Projection};
use crate::model::{TenantRow, ValidTenant};
use crate::sql;

/// Label on every CRD this control plane writes.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "opencrane-control-plane");
/// Cursor scope of the tenant list.
pub(crate) const LIST_SCOPE: &str = "tenants";

fn not_found(name: &str) -> Failure {
    ApiError::not_found("TENANT", name).into()
}

fn drifted(name: &str) -> Failure {
    ApiError::Conflict(format!(
        "tenant '{name}' exists in the database but not in Kubernetes (projection drift); run POST /api/v1/tenants/repair"
    ))
    .into()
}

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

/// Parameters of `sql::UPSERT_CREATED`/`sql::UPDATE` for a CRD's projection.
fn row_params(p: &Projection) -> Vec<Value> {
    vec![
        p.name.as_str().into(),
        p.display_name.clone().into(),
        p.email.as_str().into(),
        p.team.clone().into(),
        p.cluster_tenant_ref.clone().into(),
        p.budget_cents.into(),
        Value::Json(serde_json::to_value(&p.resources).unwrap_or_default()),
        Value::Json(json!(p.skill_allowlist)),
        p.policy_ref.clone().into(),
        p.suspended.into(),
        p.phase.as_str().into(),
        p.ingress_host.clone().into(),
        p.kube_uid.as_str().into(),
        p.kube_resource_version.as_str().into(),
    ]
}

pub(crate) async fn create<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidTenant,
) -> Result<TenantRow, Failure> {
    let kube = ctx.kube()?;
    let mut obj = TenantCrd::object(&input.name, input.spec);
    obj.metadata
        .labels
        .insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    let created = match kube.create::<TenantCrd>(&obj).await {
        Ok(o) => o,
        Err(KubeError::AlreadyExists { .. }) => {
            return Err(
                ApiError::Conflict(format!("tenant '{}' already exists", input.name)).into(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    let mut projection = Projection::of(&created);
    // Exact cents from the request, not the float round trip.
    projection.budget_cents = input.budget_cents;
    let db = ctx.db();
    let written = transaction(db, async |db| {
        db.execute(sql::UPSERT_CREATED, &row_params(&projection))
            .await?;
        ctx.audit("tenant", &projection.name)
            .tenant(&projection.name)
            .detail(json!({ "resourceVersion": projection.kube_resource_version }))
            .write(db)
            .await?;
        Ok::<_, DbError>(())
    })
    .await;
    if let Err(db_err) = written {
        // Compensate: remove the CRD we just made (by UID, so a concurrent
        // re-create survives). If that fails too, drift reports it.
        if let Err(e) = kube
            .delete::<TenantCrd>(&projection.name, Some(&projection.kube_uid))
            .await
        {
            eprintln!(
                "request_id={} tenant {} CRD left without a row after a database failure; compensation failed: {e}",
                ctx.request_id, projection.name
            );
        }
        return Err(db_err.into());
    }
    get(db, &projection.name).await
}

/// Reads the CRD of an existing row (`409` when it vanished: drift).
async fn crd_of<T: cp_http::outbound::HttpTransport>(
    kube: &KubeClient<'_, T>,
    name: &str,
) -> Result<TenantObject, Failure> {
    match kube.get::<TenantCrd>(name).await {
        Ok(o) => Ok(o),
        Err(KubeError::NotFound { .. }) => Err(drifted(name)),
        Err(e) => Err(e.into()),
    }
}

/// Runs a write to tenant `name` in one transaction holding its row lock,
/// from before the Kubernetes call until the row and audit entry are
/// written. Concurrent writers to one tenant are serialised, so the row can
/// never end behind its CRD; a Kubernetes failure rolls back (nothing to
/// undo in PostgreSQL).
async fn locked_write<P: Platform, T>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    work: impl AsyncFnOnce(&P::Db, TenantRow) -> Result<T, Failure>,
) -> Result<T, Failure> {
    transaction(ctx.db(), async |db| {
        let row = db
            .query_opt(&sql::get_for_update(), &[name.into()])
            .await?
            .map(|r| TenantRow::from_row(&r))
            .transpose()?
            .ok_or_else(|| not_found(name))?;
        work(db, row).await
    })
    .await
}

/// Writes a CRD's projection over the row with its audit entry (inside
/// [`locked_write`]).
async fn project<P: Platform>(
    ctx: &RequestContext<'_, P>,
    db: &P::Db,
    obj: &TenantObject,
    budget_cents: Option<i64>,
    detail: serde_json::Value,
) -> Result<(), Failure> {
    let mut projection = Projection::of(obj);
    projection.budget_cents = budget_cents;
    db.execute(sql::UPDATE, &row_params(&projection)).await?;
    ctx.audit("tenant", &projection.name)
        .tenant(&projection.name)
        .detail(detail)
        .write(db)
        .await?;
    Ok(())
}

pub(crate) async fn update<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &cp_http::ApiRequest,
    input: ValidTenant,
) -> Result<TenantRow, Failure> {
    let kube = ctx.kube()?;
    let conditional = req.header("if-match").is_some();
    locked_write(ctx, &input.name, async |db, row| {
        cp_http::etag::check_if_match(req, &row.etag())?;
        // Read-modify-write on the CRD. The operator writes status
        // concurrently (bumping resourceVersion), so a Conflict is retried
        // with a fresh read; a spec changed behind our back is the client's
        // conflict under If-Match.
        let mut attempts = 0;
        let updated = loop {
            attempts += 1;
            let mut obj = crd_of(&kube, &input.name).await?;
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
            match kube.replace::<TenantCrd>(&obj).await {
                Ok(o) => break o,
                Err(KubeError::Conflict { .. }) if attempts < 3 => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let changed = Projection::of(&updated).differences(&row);
        project(
            ctx,
            db,
            &updated,
            input.budget_cents,
            json!({ "changed": changed }),
        )
        .await
    })
    .await?;
    get(ctx.db(), &input.name).await
}

pub(crate) async fn delete<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
) -> Result<(), Failure> {
    let kube = ctx.kube()?;
    locked_write(ctx, name, async |db, row| {
        match kube.delete::<TenantCrd>(name, Some(&row.kube_uid)).await {
            Ok(_) | Err(KubeError::NotFound { .. }) => {}
            Err(KubeError::Conflict { .. }) => {
                return Err(ApiError::Conflict(format!(
                    "tenant '{name}' was re-created in Kubernetes (different UID); run POST /api/v1/tenants/repair first"
                ))
                .into())
            }
            Err(e) => return Err(e.into()),
        }
        db.execute(sql::DELETE, &[name.into()]).await?;
        ctx.audit("tenant", name).tenant(name).write(db).await?;
        Ok(())
    })
    .await
}

/// Suspends (`true`) or resumes (`false`) a tenant: `spec.suspended` on the
/// CRD, then the Deployment's replicas through the scale subresource.
pub(crate) async fn set_suspended<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    suspend: bool,
) -> Result<TenantRow, Failure> {
    let kube = ctx.kube()?;
    locked_write(ctx, name, async |db, row| {
        if row.tenant.suspended == suspend {
            let state = if suspend { "suspended" } else { "not suspended" };
            return Err(ApiError::Conflict(format!(
                "tenant '{name}' is already {state} (phase {})",
                row.tenant.phase
            ))
            .into());
        }
        crd_of(&kube, name).await?;
        // A merge patch of the one field: no read-modify-write race with
        // the operator's status updates.
        let patch = |value: bool| json!({ "spec": { "suspended": value } });
        let updated = kube.merge_patch::<TenantCrd>(name, &patch(suspend)).await?;
        let replicas = if suspend { 0 } else { 1 };
        match kube.set_deployment_replicas(name, replicas).await {
            // No Deployment yet: the operator creates it honouring spec.suspended.
            Ok(_) | Err(KubeError::NotFound { .. }) => {}
            Err(scale_err) => {
                // Revert the CRD so spec and pod never disagree silently.
                if let Err(e) = kube.merge_patch::<TenantCrd>(name, &patch(!suspend)).await {
                    eprintln!(
                        "request_id={} tenant {name}: reverting spec.suspended failed ({e}); drift will show it",
                        ctx.request_id
                    );
                }
                return Err(scale_err.into());
            }
        }
        project(ctx, db, &updated, row.budget_cents, json!({ "replicas": replicas })).await
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
    locked_write(ctx, name, async |db, _row| {
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

async fn all_rows<D: Database>(db: &D) -> Result<Vec<TenantRow>, Failure> {
    let rows = db.query(&sql::all(), &[]).await?;
    Ok(rows
        .iter()
        .map(TenantRow::from_row)
        .collect::<Result<Vec<_>, DbError>>()?)
}

async fn record_report<D: Database>(db: &D, report: &DriftReport) -> Result<(), Failure> {
    let n = |v: usize| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
    db.execute(
        sql::DRIFT_REPORT,
        &[
            n(report.missing_rows),
            n(report.orphan_rows),
            n(report.stale_rows),
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn drift<P: Platform>(
    ctx: &RequestContext<'_, P>,
) -> Result<DriftReport, Failure> {
    let crds = ctx.kube()?.list::<TenantCrd>(None).await?.items;
    let rows = all_rows(ctx.db()).await?;
    let report = drift::compare(&crds, &rows);
    record_report(ctx.db(), &report).await?;
    Ok(report)
}

/// One repair action.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepairAction {
    /// Tenant name.
    pub name: String,
    /// `insertRow`, `updateRow` or `deleteRow`; `none` when a concurrent
    /// write had already resolved the drift by the time repair got to it.
    pub action: &'static str,
    /// Whether it was applied (false in a dry run).
    pub applied: bool,
}

/// The repair outcome.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepairReport {
    /// Whether this was a dry run (the default).
    pub dry_run: bool,
    /// What was (or would be) done.
    pub actions: Vec<RepairAction>,
    /// Drift before the repair.
    pub before: DriftReport,
}

pub(crate) async fn repair<P: Platform>(
    ctx: &RequestContext<'_, P>,
    dry_run: bool,
) -> Result<RepairReport, Failure> {
    let before = drift(ctx).await?;
    let kube = ctx.kube()?;
    let mut actions = Vec::new();
    for item in &before.items {
        let mut action = match item.kind {
            "missingRow" => "insertRow",
            "orphanRow" => "deleteRow",
            _ => "updateRow",
        };
        if !dry_run {
            // Under the row's lock (when it exists), re-read the CRD so a
            // write that raced the drift check is never undone.
            action = transaction(ctx.db(), async |db| {
                let row = db
                    .query_opt(&sql::get_for_update(), &[item.name.as_str().into()])
                    .await?
                    .map(|r| TenantRow::from_row(&r))
                    .transpose()?;
                let crd = match kube.get::<TenantCrd>(&item.name).await {
                    Ok(o) => Some(o),
                    Err(KubeError::NotFound { .. }) => None,
                    Err(e) => return Err(Failure::from(e)),
                };
                let done = match (crd, row) {
                    (None, None) => "none",
                    (None, Some(_)) => {
                        db.execute(sql::DELETE, &[item.name.as_str().into()])
                            .await?;
                        "deleteRow"
                    }
                    (Some(obj), None) => {
                        db.execute(sql::UPSERT_CREATED, &row_params(&Projection::of(&obj)))
                            .await?;
                        "insertRow"
                    }
                    (Some(obj), Some(row)) => {
                        let p = Projection::of(&obj);
                        if p.differences(&row).is_empty() {
                            "none"
                        } else {
                            db.execute(sql::UPDATE, &row_params(&p)).await?;
                            "updateRow"
                        }
                    }
                };
                if done != "none" {
                    ctx.audit("tenant", &item.name)
                        .tenant(&item.name)
                        .detail(json!({ "repair": done, "fields": item.fields }))
                        .write(db)
                        .await?;
                }
                Ok(done)
            })
            .await?;
        }
        actions.push(RepairAction {
            name: item.name.clone(),
            action,
            applied: !dry_run && action != "none",
        });
    }
    if !dry_run {
        // Record the post-repair state for /prom.
        drift(ctx).await?;
    }
    Ok(RepairReport {
        dry_run,
        actions,
        before,
    })
}
