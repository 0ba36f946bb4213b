//! Tenant operations on the shared dual-write mechanism
//! (`cp_platform::dualwrite`); see the crate docs for the failure behaviour.

use cp_http::pagination::PageRequest;
use cp_http::{ApiError, PaginationInfo};
use cp_kube::{KubeError, Resource};
use cp_platform::dualwrite::{DriftReport, DualWrite, RepairReport};
use cp_platform::{Failure, Platform, RequestContext};
use cp_policies::rules::TenantPolicies;
use cp_store::{transaction, Database, DbError, FromRow, Value};
use serde_json::json;

use crate::access::not_found;
use crate::contract::{self, EffectiveContract, GroupAwareness, Sources, Subject, SubjectGrant};
use crate::drift::TenantKind;
use crate::lifecycle::{self, Action, State, NAME_HOLD_DAYS, READY_PHASE};
use crate::model::{
    projected_phase, TenantRow, ValidTenant, ORG_ID_LABEL, OWNER_ID_LABEL, TENANT_ID_LABEL,
};
use crate::sql::{self, ListFilter};

/// Cursor scope of the tenant lists (every filter pages the same keyset).
pub(crate) const LIST_SCOPE: &str = "tenants";

type Tenants<'c, 'a, P> = DualWrite<'c, 'a, P, TenantKind>;

pub(crate) async fn find<D: Database>(db: &D, name: &str) -> Result<Option<TenantRow>, Failure> {
    Ok(db.fetch_opt(&sql::get(), &[name.into()]).await?)
}

pub(crate) async fn get<D: Database>(db: &D, name: &str) -> Result<TenantRow, Failure> {
    find(db, name).await?.ok_or_else(|| not_found(name))
}

/// The tenant of organisation `org_id` with id `id`.
pub(crate) async fn get_in_org<D: Database>(
    db: &D,
    org_id: &str,
    id: &str,
) -> Result<TenantRow, Failure> {
    db.fetch_opt(&sql::get_in_org(), &[id.into(), org_id.into()])
        .await?
        .ok_or_else(|| not_found(id))
}

pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
    filter: &ListFilter,
    include_decommissioned: bool,
) -> Result<(Vec<TenantRow>, PaginationInfo), Failure> {
    let (query, filter_param) = sql::list(filter, page.after.is_some());
    let mut params = vec![
        Value::Int(page.fetch_limit()),
        include_decommissioned.into(),
    ];
    if let Some(p) = filter_param {
        params.push(p.into());
    }
    if let Some(c) = &page.after {
        params.push(Value::Int(c.micros_at(0)?));
        params.push(c.str_at(1)?.into());
    }
    let rows = db.query(&query, &params).await?;
    let rows = rows
        .iter()
        .map(TenantRow::from_row)
        .collect::<Result<Vec<_>, DbError>>()?;
    Ok(page.paginate(LIST_SCOPE, rows, |r| {
        vec![json!(r.created_micros), json!(r.tenant.name)]
    }))
}

/// A 409 while a decommissioned tenant holds `name` (saying when it frees).
/// After the hold, creation replaces the tombstone in the new row's
/// transaction (`sql::UPSERT_CREATED`).
async fn check_name_free<D: Database>(db: &D, name: &str) -> Result<(), Failure> {
    let tomb = db
        .query_opt(sql::TOMBSTONE, &[name.into(), Value::Int(NAME_HOLD_DAYS)])
        .await?;
    if let Some(t) = tomb {
        if t.bool("held")? {
            let frees = cp_http::time::micros_rfc3339(t.i64("frees_micros")?);
            return Err(ApiError::Conflict(format!(
                "the name '{name}' belongs to a decommissioned tenant and is held for \
                 {NAME_HOLD_DAYS} days; it can be reused from {frees}"
            ))
            .into());
        }
    }
    Ok(())
}

/// Writes `kind` to the tenant's organisation's event stream, if it has one
/// (inside the change's transaction).
async fn org_event<P: Platform>(
    ctx: &RequestContext<'_, P>,
    db: &P::Db,
    row: &TenantRow,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), Failure> {
    if let Some(org) = &row.tenant.organization_id {
        let mut detail = detail;
        detail["tenantId"] = json!(row.tenant.id);
        cp_orgs::roles::event(ctx, org, kind, &row.tenant.name)
            .detail(detail)
            .write(db)
            .await?;
    }
    Ok(())
}

/// A 400 naming `ownerId` unless `owner` is an existing user and, for an
/// organisation's tenant, a member of that organisation.
pub(crate) async fn check_owner<D: Database>(
    db: &D,
    owner: &str,
    org_id: Option<&str>,
) -> Result<(), Failure> {
    let row = db
        .query_one(
            sql::OWNER_CANDIDATE,
            &[owner.into(), org_id.map(str::to_owned).into()],
        )
        .await?;
    if !row.bool("is_user")? {
        return Err(ApiError::invalid("ownerId", "no user has this id").into());
    }
    if !row.bool("is_member")? {
        return Err(
            ApiError::invalid("ownerId", "must be a member of the tenant's organisation").into(),
        );
    }
    Ok(())
}

/// Creates a tenant, in organisation `org_id` when given. The CRD carries
/// the new id, the organisation and the owner as labels (it is the source
/// of truth, so a repair re-imports them).
pub(crate) async fn create<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidTenant,
    org_id: Option<&str>,
) -> Result<TenantRow, Failure> {
    check_name_free(ctx.db(), &input.name).await?;
    let dw = Tenants::new(ctx)?;
    let id = cp_http::ids::new_id().to_string();
    let mut obj = cp_kube::Tenant::object(&input.name, input.spec);
    obj.metadata
        .labels
        .insert(TENANT_ID_LABEL.into(), id.clone());
    if let Some(org) = org_id {
        obj.metadata.labels.insert(ORG_ID_LABEL.into(), org.into());
    }
    if let Some(owner) = &input.owner_id {
        obj.metadata
            .labels
            .insert(OWNER_ID_LABEL.into(), owner.clone());
    }
    let created = dw
        .create_with(
            obj,
            json!({ "organizationId": org_id }),
            async |db, created| {
                if let Some(org) = org_id {
                    cp_orgs::roles::event(ctx, org, "tenant.created", created.name())
                        .detail(json!({ "tenantId": id }))
                        .write(db)
                        .await?;
                }
                Ok(())
            },
        )
        .await?;
    get(ctx.db(), created.name()).await
}

/// Shows a provisioning tenant as active once its CRD reports running: the
/// status is re-read from Kubernetes when such a tenant is read on its own.
/// A read never fails because of Kubernetes: on any error the row is shown
/// as it is.
pub(crate) async fn refresh<P: Platform>(
    ctx: &RequestContext<'_, P>,
    row: TenantRow,
) -> Result<TenantRow, Failure> {
    if row.state != State::Provisioning {
        return Ok(row);
    }
    let Ok(kube) = ctx.kube() else {
        return Ok(row);
    };
    let name = row.tenant.name.clone();
    let Ok(obj) = kube.get::<cp_kube::Tenant>(&name).await else {
        return Ok(row);
    };
    let phase = projected_phase(&obj);
    if phase != READY_PHASE || obj.metadata.uid.as_deref() != Some(row.kube_uid.as_str()) {
        return Ok(row);
    }
    let ingress = obj.status.as_ref().and_then(|s| s.ingress_host.clone());
    ctx.db()
        .execute(
            sql::MARK_ACTIVE,
            &[
                name.as_str().into(),
                phase.as_str().into(),
                ingress.into(),
                row.kube_uid.as_str().into(),
            ],
        )
        .await?;
    get(ctx.db(), &name).await
}

/// A 409 for a write to a tombstone.
fn refuse_decommissioned(row: &TenantRow) -> Result<(), Failure> {
    if row.state == State::Decommissioned {
        return Err(ApiError::Conflict(format!(
            "tenant '{}' is decommissioned (decommissioning is final); it cannot be changed",
            row.tenant.name
        ))
        .into());
    }
    Ok(())
}

/// A 404 when the locked row is not the tenant the request addressed by id
/// (the name was reused between the lookup and the lock).
fn check_id(row: &TenantRow, expected_id: Option<&str>) -> Result<(), Failure> {
    match expected_id {
        Some(id) if id != row.tenant.id => Err(not_found(id)),
        _ => Ok(()),
    }
}

pub(crate) async fn update<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &cp_http::ApiRequest,
    input: ValidTenant,
    current: &TenantRow,
) -> Result<TenantRow, Failure> {
    // Checked before the lock: a decommission racing this write makes the
    // CRD read inside it a 409 as well.
    refuse_decommissioned(current)?;
    Tenants::new(ctx)?
        .update(req, &input.name, |obj| {
            // `suspended` only changes through suspend/resume.
            let suspended = obj.spec.suspended;
            obj.spec = input.spec.clone();
            obj.spec.suspended = suspended;
            // Omitted: unchanged (the owner is no spec field of the request's).
            if let Some(owner) = &input.owner_id {
                obj.metadata
                    .labels
                    .insert(OWNER_ID_LABEL.into(), owner.clone());
            }
        })
        .await?;
    get(ctx.db(), &input.name).await
}

/// Removes everything bound to tenant `name` (`sql::PURGE_BINDINGS`) in
/// the caller's transaction; returns the counts for the audit entry.
async fn purge_bindings<D: Database>(db: &D, name: &str) -> Result<serde_json::Value, Failure> {
    let r = db.query_one(sql::PURGE_BINDINGS, &[name.into()]).await?;
    let mut revoked = serde_json::Map::new();
    for key in [
        "group_memberships",
        "mcp_grants",
        "skill_entitlements",
        "policy_subjects",
        "dataset_memberships",
        "gateway_keys",
        "fairshare_settings",
    ] {
        let n = r.i64(key)?;
        if n > 0 {
            revoked.insert(key.to_owned(), json!(n));
        }
    }
    Ok(serde_json::Value::Object(revoked))
}

/// The operator's hard delete (seed 000): CRD and row go, the name is free
/// at once; on a tombstone it removes the row (the CRD is already gone).
/// Everything bound to the tenant goes in the same transaction.
pub(crate) async fn delete<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
) -> Result<(), Failure> {
    Tenants::new(ctx)?
        .delete_with(name, json!({}), async |db, row| {
            let revoked = purge_bindings(db, name).await?;
            let detail = json!({ "from": row.state, "revoked": revoked });
            org_event(ctx, db, row, "tenant.deleted", detail).await
        })
        .await
}

/// Decommissions a tenant: its CRD is deleted (by UID) and, in the same
/// transaction that held the row lock across that call, the row becomes a
/// tombstone, everything bound to it goes (group memberships, catalog
/// grants, policy subjects, dataset memberships, gateway keys and
/// fair-share settings: a later tenant of the name inherits nothing), and
/// the audit entry and org event are written. Kubernetes failing leaves everything as it was; the
/// database failing after the CRD is gone leaves a live row without a CRD,
/// which drift reports and a retried decommission completes.
pub(crate) async fn decommission<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    expected_id: Option<&str>,
) -> Result<TenantRow, Failure> {
    let dw = Tenants::new(ctx)?;
    dw.locked(name, async |db, row| {
        check_id(&row, expected_id)?;
        let from = row.state;
        lifecycle::transition(name, from, Action::Decommission)?;
        dw.delete_crd(name, &row).await?;
        db.execute(sql::DECOMMISSION, &[name.into()]).await?;
        let revoked = purge_bindings(db, name).await?;
        let detail = json!({ "from": from, "to": State::Decommissioned });
        let mut audit = detail.clone();
        audit["revoked"] = revoked;
        ctx.audit("tenant", name)
            .tenant(name)
            .detail(audit)
            .write(db)
            .await?;
        org_event(ctx, db, &row, Action::Decommission.event(), detail).await
    })
    .await?;
    get(ctx.db(), name).await
}

/// Suspends (`true`) or resumes (`false`) a tenant: `spec.suspended` on the
/// CRD, then the Deployment's replicas through the scale subresource. The
/// lifecycle decides whether the move is legal (a 409 names the state).
pub(crate) async fn set_suspended<P: Platform>(
    ctx: &RequestContext<'_, P>,
    name: &str,
    suspend: bool,
    expected_id: Option<&str>,
) -> Result<TenantRow, Failure> {
    let action = if suspend {
        Action::Suspend
    } else {
        Action::Resume
    };
    let dw = Tenants::new(ctx)?;
    let kube = dw.kube();
    dw.locked(name, async |db, row| {
        check_id(&row, expected_id)?;
        // Only a provisioning tenant's state can have moved on in the CRD
        // (to active): every other refusal needs no Kubernetes call.
        if row.state != State::Provisioning {
            lifecycle::transition(name, row.state, action)?;
        }
        let current = dw.crd(name).await?;
        let from = lifecycle::observed(
            Some(row.state),
            current.spec.suspended,
            &projected_phase(&current),
        );
        lifecycle::transition(name, from, action)?;
        // A merge patch of the one field: no read-modify-write race with
        // the operator's status updates.
        let patch = |value: bool| json!({ "spec": { "suspended": value } });
        let updated = kube.merge_patch::<cp_kube::Tenant>(name, &patch(suspend)).await?;
        let replicas = if suspend { 0 } else { 1 };
        match kube.set_deployment_replicas(name, replicas).await {
            // No Deployment yet: the operator creates it honouring spec.suspended.
            Ok(_) | Err(KubeError::NotFound { .. }) => {}
            Err(scale_err) => {
                // Revert the CRD so spec and pod never disagree silently.
                if let Err(e) = kube.merge_patch::<cp_kube::Tenant>(name, &patch(!suspend)).await {
                    eprintln!(
                        "request_id={} tenant {name}: reverting spec.suspended failed ({e}); drift will show it",
                        ctx.request_id
                    );
                }
                return Err(scale_err.into());
            }
        }
        let detail = json!({ "from": from, "to": action.target() });
        let mut audit = detail.clone();
        audit["replicas"] = json!(replicas);
        dw.project(db, &updated, audit).await?;
        org_event(ctx, db, &row, action.event(), detail).await
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

/// The groups of the tenant of `row` (bound by id) with their awareness grants.
async fn groups_of<D: Database>(db: &D, row: &TenantRow) -> Result<Vec<GroupAwareness>, DbError> {
    let mut groups: Vec<GroupAwareness> = Vec::new();
    let id = row.tenant.id.as_str();
    for r in db.query(sql::GROUPS_OF_TENANT, &[id.into()]).await? {
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

/// The access policies that apply to the tenant of `row`, a member of
/// `groups`. An organisation's tenant is denied the datasets no policy
/// allows (`cp_policies::rules`, rule 4).
async fn policies_for<D: Database>(
    db: &D,
    row: &TenantRow,
    groups: &[GroupAwareness],
) -> Result<TenantPolicies, DbError> {
    let names: Vec<String> = groups.iter().map(|g| g.group.clone()).collect();
    let policies = cp_policies::service::for_tenant(
        db,
        &row.tenant.id,
        &row.tenant.name,
        &names,
        row.tenant.policy_ref.as_deref(),
    )
    .await?;
    Ok(policies.deny_by_default(row.tenant.organization_id.is_some()))
}

/// Catalog grants (`query`: MCP grants or skill entitlements) to the tenant
/// of `row` (by id) or one of its groups.
async fn subject_grants<D: Database>(
    db: &D,
    query: &str,
    row: &TenantRow,
    groups: &[GroupAwareness],
) -> Result<Vec<SubjectGrant>, DbError> {
    let names: Vec<&str> = groups.iter().map(|g| g.group.as_str()).collect();
    let id = row.tenant.id.as_str();
    db.query(query, &[id.into(), Value::Json(json!(names))])
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
            refuse_decommissioned(&row)?;
            // Checked under the tenant's row lock, against the policy rows
            // (the projection of the AccessPolicy CRDs).
            let groups = groups_of(db, &row).await?;
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
            let id = row.tenant.id.as_str();
            db.execute(sql::DATASETS_CLEAR, &[id.into()]).await?;
            for (dataset, access) in &wanted {
                let kept = before
                    .iter()
                    .find(|m| &m.dataset == dataset)
                    .map(|m| m.created_micros);
                db.execute(
                    sql::DATASET_INSERT,
                    &[
                        name.into(),
                        dataset.into(),
                        access.into(),
                        kept.into(),
                        id.into(),
                    ],
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
        let groups = groups_of(db, &row).await?;
        let policies = policies_for(db, &row, &groups).await?;
        let mcp = subject_grants(db, sql::MCP_GRANTS_FOR, &row, &groups).await?;
        let skills = subject_grants(db, sql::SKILL_ENTITLEMENTS_FOR, &row, &groups).await?;
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
