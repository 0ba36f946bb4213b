//! Tenant operations on the shared dual-write mechanism
//! (`cp_platform::dualwrite`); see the crate docs for the failure behaviour.

use cp_http::pagination::PageRequest;
use cp_http::{ApiError, PaginationInfo};
use cp_kube::{KubeError, Resource};
use cp_platform::dualwrite::{DriftReport, DualWrite, RepairReport};
use cp_platform::{Failure, Platform, RequestContext};
use cp_policies::rules::TenantPolicies;
use cp_store::{transaction, Database, DbError, Value};
use serde_json::json;

use crate::contract::{self, EffectiveContract, GroupAwareness, Sources, Subject, SubjectGrant};
use crate::drift::TenantKind;
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
                    Value::Int(c.micros_at(0)?),
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
    Tenants::new(ctx)?
        .update(req, &input.name, |obj| {
            // `suspended` only changes through suspend/resume.
            let suspended = obj.spec.suspended;
            obj.spec = input.spec.clone();
            obj.spec.suspended = suspended;
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

/// The tenant's groups with their awareness grants.
async fn groups_of<D: Database>(db: &D, name: &str) -> Result<Vec<GroupAwareness>, DbError> {
    let mut groups: Vec<GroupAwareness> = Vec::new();
    for r in db.query(sql::GROUPS_OF_TENANT, &[name.into()]).await? {
        let group = r.text("group_name")?;
        if groups.last().map(|g| &g.group) != Some(&group) {
            groups.push(GroupAwareness {
                group,
                grants: Vec::new(),
            });
        }
        if let (Some(scope), Some(access), Some(g)) = (
            r.opt_text("scope")?,
            r.opt_text("access")?,
            groups.last_mut(),
        ) {
            g.grants.push((scope, access));
        }
    }
    Ok(groups)
}

/// The access policies that apply to the tenant of `row`, a member of `groups`.
async fn policies_for<D: Database>(
    db: &D,
    row: &TenantRow,
    groups: &[GroupAwareness],
) -> Result<TenantPolicies, DbError> {
    let names: Vec<String> = groups.iter().map(|g| g.group.clone()).collect();
    cp_policies::service::for_tenant(
        db,
        &row.tenant.name,
        &names,
        row.tenant.policy_ref.as_deref(),
    )
    .await
}

/// Catalog grants (`query`: MCP grants or skill entitlements) naming the
/// tenant or one of its groups.
async fn subject_grants<D: Database>(
    db: &D,
    query: &str,
    name: &str,
    groups: &[GroupAwareness],
) -> Result<Vec<SubjectGrant>, DbError> {
    let names: Vec<&str> = groups.iter().map(|g| g.group.as_str()).collect();
    db.query(query, &[name.into(), Value::Json(json!(names))])
        .await?
        .iter()
        .map(|r| {
            let subject = match r.text("subject_kind")?.as_str() {
                "tenant" => Subject::Tenant,
                _ => Subject::Group(r.text("subject_name")?),
            };
            Ok(SubjectGrant {
                item: r.text("item")?,
                subject,
                detail: r.opt_text("detail")?,
            })
        })
        .collect()
}

pub(crate) async fn replace_datasets<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    wanted: Vec<(String, String)>,
) -> Result<Vec<Membership>, Failure> {
    Tenants::new(ctx)?
        .locked(name, async |db, row| {
            // Checked under the tenant's row lock, against the policy rows
            // (the projection of the AccessPolicy CRDs).
            let groups = groups_of(db, name).await?;
            let policies = policies_for(db, &row, &groups).await?;
            let denied: Vec<String> = wanted
                .iter()
                .filter_map(|(d, _)| policies.dataset_denial(d).map(|why| format!("{d} ({why})")))
                .collect();
            if !denied.is_empty() {
                return Err(ApiError::DatasetDenied(format!(
                    "the tenant's access policies deny: {}",
                    denied.join("; ")
                ))
                .into());
            }
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
    // One snapshot: every source read in one transaction.
    transaction(ctx.db(), async |db| {
        let row = get(db, name).await?;
        let memberships: Vec<(String, String)> = datasets(db, name)
            .await?
            .into_iter()
            .map(|m| (m.dataset, m.access))
            .collect();
        let groups = groups_of(db, name).await?;
        let policies = policies_for(db, &row, &groups).await?;
        let mcp = subject_grants(db, sql::MCP_GRANTS_FOR, name, &groups).await?;
        let skills = subject_grants(db, sql::SKILL_ENTITLEMENTS_FOR, name, &groups).await?;
        Ok(contract::compile(&Sources {
            tenant: name,
            skill_allowlist: &row.tenant.skill_allowlist,
            datasets: &memberships,
            groups: &groups,
            mcp_grants: &mcp,
            skill_entitlements: &skills,
            policies: &policies,
        }))
    })
    .await
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
