//! `DualWrite`: a Kubernetes custom resource (the source of truth) projected
//! into PostgreSQL rows (what every read is served from), kept consistent the
//! same way for every kind (tenants, access policies, ...).
//!
//! - **Create**: the CRD first (`AlreadyExists` is a 409), then the row and
//!   its audit entry in one transaction. If that transaction fails the CRD is
//!   deleted again, by UID so a concurrent re-create is never touched; if
//!   even that fails, drift reports the CRD without a row.
//! - **Writes to an existing resource** run in [`DualWrite::locked`]: one
//!   transaction holding the row lock from before the Kubernetes call until
//!   the row and audit entry are written. Writers to one resource are
//!   serialised, so the row never ends behind its CRD; a Kubernetes failure
//!   rolls back with nothing to undo.
//! - **Drift** compares every CRD with every row ([`compare`]); **repair**
//!   rewrites each drifted row from its CRD, re-reading the CRD under the
//!   row's lock so a write that raced the check is never undone. Each check
//!   records its counts in `drift_reports` for `/prom`. Rows a kind marks
//!   retired ([`ProjectionRow::retired`]: tombstones whose CRD was deleted on
//!   purpose) and CRDs under their names are left out of both.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use cp_http::ApiError;
use cp_kube::{KubeClient, KubeError, ObjectOf, Resource};
use cp_store::{transaction, Database, DbError, FromRow, Value};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{Failure, Platform, RequestContext};

/// Label on every CRD this control plane writes.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "opencrane-control-plane");

/// A decoded projection row: which CRD it mirrors, at which version.
pub trait ProjectionRow: FromRow {
    /// The resource's name.
    fn name(&self) -> &str;
    /// UID of the CRD the row projects.
    fn kube_uid(&self) -> &str;
    /// `resourceVersion` of the CRD at the row's last write (its ETag).
    fn kube_resource_version(&self) -> &str;
    /// Whether the row is a tombstone of a retired resource whose CRD is
    /// meant to be gone: drift and repair skip its name entirely.
    fn retired(&self) -> bool {
        false
    }
}

/// A CRD kind with a PostgreSQL projection. Implemented by a marker type
/// of the owning domain crate (the orphan rule keeps it off `cp_kube`'s
/// resource types), naming the CRD kind it projects.
pub trait Projected {
    /// The CRD kind.
    type Kube: Resource;
    /// A decoded projection row.
    type Row: ProjectionRow;
    /// Upper-snake kind for error codes (`TENANT` → `TENANT_NOT_FOUND`).
    const ERROR_KIND: &'static str;
    /// Resource kind in audit entries and messages (`tenant`).
    const AUDIT_KIND: &'static str;
    /// The collection route, for messages pointing at repair (`/api/v1/tenants`).
    const ROUTE: &'static str;
    /// The projection table, keyed by a unique `name`.
    const TABLE: &'static str;
    /// The select list [`Self::Row`] decodes.
    const COLUMNS: &'static str;
    /// Insert-or-replace a row from [`Self::row_params`].
    const UPSERT: &'static str;
    /// Update a row from [`Self::row_params`] (`$1` is the name).
    const UPDATE: &'static str;
    /// Delete the row of name `$1`.
    const DELETE: &'static str;

    /// The parameters of [`Self::UPSERT`]/[`Self::UPDATE`] projecting `obj`.
    fn row_params(obj: &ObjectOf<Self::Kube>) -> Vec<Value>;
    /// Spec-derived fields where `row` differs from `obj` (empty: in sync).
    fn differences(obj: &ObjectOf<Self::Kube>, row: &Self::Row) -> Vec<&'static str>;

    /// The tenant an audit entry about `name` concerns, if any.
    fn audit_tenant(name: &str) -> Option<&str> {
        let _ = name;
        None
    }

    /// The row of name `$1`, locked for the transaction.
    fn sql_get_for_update() -> String {
        format!(
            "SELECT {} FROM {} WHERE name = $1 FOR UPDATE",
            Self::COLUMNS,
            Self::TABLE
        )
    }

    /// Every row, tombstones included (drift skips retired names).
    fn sql_all() -> String {
        format!(
            "SELECT {} FROM {} ORDER BY name",
            Self::COLUMNS,
            Self::TABLE
        )
    }
}

/// One divergence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftItem {
    /// Resource name.
    pub name: String,
    /// `missingRow` (CRD without row), `orphanRow` (row without CRD) or
    /// `staleRow` (row differs from its CRD).
    pub kind: &'static str,
    /// For stale rows: the differing fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
}

/// The drift report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    /// Number of CRDs.
    pub crds: usize,
    /// Number of projection rows.
    pub rows: usize,
    /// CRDs without a row.
    pub missing_rows: usize,
    /// Rows without a CRD.
    pub orphan_rows: usize,
    /// Rows that differ from their CRD.
    pub stale_rows: usize,
    /// Every divergence, by name.
    pub items: Vec<DriftItem>,
}

impl DriftReport {
    /// Whether CRDs and rows agree.
    pub fn in_sync(&self) -> bool {
        self.items.is_empty()
    }
}

/// One repair action.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepairAction {
    /// Resource name.
    pub name: String,
    /// `insertRow`, `updateRow` or `deleteRow`; `none` when a concurrent
    /// write had already resolved the drift by the time repair got to it.
    pub action: &'static str,
    /// Whether it was applied (false in a dry run).
    pub applied: bool,
}

/// The repair outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RepairReport {
    /// Whether this was a dry run (the default).
    pub dry_run: bool,
    /// What was (or would be) done.
    pub actions: Vec<RepairAction>,
    /// Drift before the repair.
    pub before: DriftReport,
}

/// The `dryRun` query parameter of a repair: true unless `dryRun=false`
/// (repairs are dry runs by default), a 400 naming it for other values.
pub fn dry_run(req: &cp_http::ApiRequest) -> Result<bool, ApiError> {
    match req.query_param("dryRun").as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ApiError::invalid("dryRun", "must be true or false")),
    }
}

/// Compares CRDs (truth) with projection rows.
pub fn compare<R: Projected>(crds: &[ObjectOf<R::Kube>], rows: &[R::Row]) -> DriftReport {
    let retired: Vec<&str> = rows
        .iter()
        .filter(|r| r.retired())
        .map(|r| r.name())
        .collect();
    let rows: Vec<&R::Row> = rows.iter().filter(|r| !r.retired()).collect();
    let crds: Vec<&ObjectOf<R::Kube>> = crds
        .iter()
        .filter(|c| !retired.contains(&c.name()))
        .collect();
    let by_name: BTreeMap<&str, &R::Row> = rows.iter().map(|r| (r.name(), *r)).collect();
    let crd_names: BTreeMap<&str, &ObjectOf<R::Kube>> =
        crds.iter().map(|c| (c.name(), *c)).collect();
    let mut items = Vec::new();
    for (name, obj) in &crd_names {
        let item = |kind, fields| DriftItem {
            name: (*name).to_owned(),
            kind,
            fields,
        };
        match by_name.get(name) {
            None => items.push(item("missingRow", Vec::new())),
            Some(row) => {
                let fields = R::differences(obj, row);
                if !fields.is_empty() {
                    items.push(item("staleRow", fields));
                }
            }
        }
    }
    for name in by_name.keys() {
        if !crd_names.contains_key(name) {
            items.push(DriftItem {
                name: (*name).to_owned(),
                kind: "orphanRow",
                fields: Vec::new(),
            });
        }
    }
    items.sort_by(|a, b| a.name.cmp(&b.name).then(a.kind.cmp(b.kind)));
    let count = |k: &str| items.iter().filter(|i| i.kind == k).count();
    DriftReport {
        crds: crds.len(),
        rows: rows.len(),
        missing_rows: count("missingRow"),
        orphan_rows: count("orphanRow"),
        stale_rows: count("staleRow"),
        items,
    }
}

/// The dual-write operations for kind `R` in one request.
pub struct DualWrite<'c, 'a, P: Platform, R> {
    ctx: &'c RequestContext<'a, P>,
    kube: KubeClient<'c, P::Http>,
    kind: PhantomData<R>,
}

impl<'c, 'a, P: Platform, R: Projected> DualWrite<'c, 'a, P, R> {
    /// Dual-writes for this request (Kubernetes configured from variables).
    pub fn new(ctx: &'c RequestContext<'a, P>) -> Result<Self, Failure> {
        Ok(Self {
            kube: ctx.kube()?,
            ctx,
            kind: PhantomData,
        })
    }

    /// The Kubernetes client.
    pub fn kube(&self) -> &KubeClient<'c, P::Http> {
        &self.kube
    }

    fn audit(&self, name: &str, detail: serde_json::Value) -> crate::audit::AuditEntry {
        let mut entry = self.ctx.audit(R::AUDIT_KIND, name).detail(detail);
        entry.tenant = R::audit_tenant(name).map(str::to_owned);
        entry
    }

    fn not_found(name: &str) -> Failure {
        ApiError::not_found(R::ERROR_KIND, name).into()
    }

    /// A row whose CRD vanished: the client is told to repair.
    pub fn drifted(name: &str) -> Failure {
        ApiError::Conflict(format!(
            "{} '{name}' exists in the database but not in Kubernetes (projection drift); run POST {}/repair",
            R::AUDIT_KIND,
            R::ROUTE
        ))
        .into()
    }

    /// Creates the CRD, then its row and audit entry (see the module docs).
    pub async fn create(
        &self,
        obj: ObjectOf<R::Kube>,
        detail: serde_json::Value,
    ) -> Result<ObjectOf<R::Kube>, Failure> {
        self.create_with(obj, detail, async |_, _| Ok(())).await
    }

    /// [`Self::create`], running `also` (e.g. an organisation event) in the
    /// row's transaction: if it fails, the CRD is compensated like any
    /// database failure.
    pub async fn create_with(
        &self,
        mut obj: ObjectOf<R::Kube>,
        detail: serde_json::Value,
        also: impl AsyncFnOnce(&P::Db, &ObjectOf<R::Kube>) -> Result<(), Failure>,
    ) -> Result<ObjectOf<R::Kube>, Failure> {
        obj.metadata
            .labels
            .insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        let created = match self.kube.create::<R::Kube>(&obj).await {
            Ok(o) => o,
            Err(KubeError::AlreadyExists { .. }) => {
                return Err(ApiError::Conflict(format!(
                    "{} '{}' already exists",
                    R::AUDIT_KIND,
                    obj.name()
                ))
                .into())
            }
            Err(e) => return Err(e.into()),
        };
        let name = created.name().to_owned();
        let written = transaction(self.ctx.db(), async |db| {
            db.execute(R::UPSERT, &R::row_params(&created)).await?;
            self.audit(&name, detail).write(db).await?;
            also(db, &created).await
        })
        .await;
        if let Err(db_err) = written {
            let uid = created.metadata.uid.clone().unwrap_or_default();
            if let Err(e) = self.kube.delete::<R::Kube>(&name, Some(&uid)).await {
                eprintln!(
                    "request_id={} {} {name}: CRD left without a row after a database failure; compensation failed: {e}",
                    self.ctx.request_id,
                    R::AUDIT_KIND
                );
            }
            return Err(db_err);
        }
        Ok(created)
    }

    /// Runs a write to the existing resource `name` holding its row lock
    /// (see the module docs); `work` gets the session and the locked row.
    pub async fn locked<T>(
        &self,
        name: &str,
        work: impl AsyncFnOnce(&P::Db, R::Row) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        transaction(self.ctx.db(), async |db| {
            let row = db
                .query_opt(&R::sql_get_for_update(), &[name.into()])
                .await?
                .map(|r| R::Row::from_row(&r))
                .transpose()?
                .ok_or_else(|| Self::not_found(name))?;
            work(db, row).await
        })
        .await
    }

    /// The CRD of an existing row (`409` when it vanished: drift).
    pub async fn crd(&self, name: &str) -> Result<ObjectOf<R::Kube>, Failure> {
        match self.kube.get::<R::Kube>(name).await {
            Ok(o) => Ok(o),
            Err(KubeError::NotFound { .. }) => Err(Self::drifted(name)),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the spec of the existing resource `name` (a read-modify-write
    /// of the CRD inside [`Self::locked`]): `If-Match` is checked against the
    /// row's ETag, `apply` sets the new spec on the current CRD, and the
    /// projection and an audit entry naming the changed fields are written.
    /// The operator writes status concurrently (bumping resourceVersion), so
    /// a Kubernetes Conflict is retried with a fresh read; under `If-Match`, a
    /// spec changed in Kubernetes since the row was written is the client's
    /// conflict (409), never silently overwritten.
    pub async fn update(
        &self,
        req: &cp_http::ApiRequest,
        name: &str,
        apply: impl Fn(&mut ObjectOf<R::Kube>),
    ) -> Result<(), Failure> {
        let conditional = req.header("if-match").is_some();
        self.locked(name, async |db, row| {
            let etag = cp_http::etag::for_version(row.kube_resource_version());
            cp_http::etag::check_if_match(req, &etag)?;
            let mut attempts = 0;
            let updated = loop {
                attempts += 1;
                let mut obj = self.crd(name).await?;
                let changed_behind = R::differences(&obj, &row);
                if conditional && !changed_behind.is_empty() {
                    return Err(ApiError::Conflict(format!(
                        "the {} changed in Kubernetes since it was read ({}); re-read it and retry",
                        R::AUDIT_KIND,
                        changed_behind.join(", ")
                    ))
                    .into());
                }
                apply(&mut obj);
                match self.kube.replace::<R::Kube>(&obj).await {
                    Ok(o) => break o,
                    Err(KubeError::Conflict { .. }) if attempts < 3 => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            let changed = R::differences(&updated, &row);
            self.project(db, &updated, json!({ "changed": changed }))
                .await
        })
        .await
    }

    /// Writes `obj`'s projection over its row with an audit entry (inside
    /// [`Self::locked`]).
    pub async fn project(
        &self,
        db: &P::Db,
        obj: &ObjectOf<R::Kube>,
        detail: serde_json::Value,
    ) -> Result<(), Failure> {
        db.execute(R::UPDATE, &R::row_params(obj)).await?;
        self.audit(obj.name(), detail).write(db).await?;
        Ok(())
    }

    /// Deletes the CRD (by UID) and then the row, with an audit entry.
    pub async fn delete(&self, name: &str, detail: serde_json::Value) -> Result<(), Failure> {
        self.delete_with(name, detail, async |_, _| Ok(())).await
    }

    /// [`Self::delete`], running `also` with the deleted row in the same
    /// transaction, before the row goes (a Kubernetes failure stops both).
    pub async fn delete_with(
        &self,
        name: &str,
        detail: serde_json::Value,
        also: impl AsyncFnOnce(&P::Db, &R::Row) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        self.locked(name, async |db, row| {
            self.delete_crd(name, &row).await?;
            also(db, &row).await?;
            db.execute(R::DELETE, &[name.into()]).await?;
            self.audit(name, detail).write(db).await?;
            Ok(())
        })
        .await
    }

    /// Deletes the CRD `row` projects, by UID (inside [`Self::locked`]):
    /// already gone is fine; another UID under the name is a 409.
    pub async fn delete_crd(&self, name: &str, row: &R::Row) -> Result<(), Failure> {
        match self.kube.delete::<R::Kube>(name, Some(row.kube_uid())).await {
            Ok(_) | Err(KubeError::NotFound { .. }) => Ok(()),
            Err(KubeError::Conflict { .. }) => Err(ApiError::Conflict(format!(
                "{} '{name}' was re-created in Kubernetes (different UID); run POST {}/repair first",
                R::AUDIT_KIND,
                R::ROUTE
            ))
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Compares every CRD with every row and records the counts.
    pub async fn drift(&self) -> Result<DriftReport, Failure> {
        let crds = self.kube.list::<R::Kube>(None).await?.items;
        let db = self.ctx.db();
        let rows = db
            .query(&R::sql_all(), &[])
            .await?
            .iter()
            .map(R::Row::from_row)
            .collect::<Result<Vec<_>, DbError>>()?;
        let report = compare::<R>(&crds, &rows);
        let n = |v: usize| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
        db.execute(
            "INSERT INTO drift_reports (kind, checked_at, missing_rows, orphan_rows, stale_rows)
             VALUES ($1, now(), $2, $3, $4)
             ON CONFLICT (kind) DO UPDATE SET checked_at = excluded.checked_at,
               missing_rows = excluded.missing_rows, orphan_rows = excluded.orphan_rows,
               stale_rows = excluded.stale_rows",
            &[
                <R::Kube as Resource>::PLURAL.into(),
                n(report.missing_rows),
                n(report.orphan_rows),
                n(report.stale_rows),
            ],
        )
        .await?;
        Ok(report)
    }

    /// Repairs drifted rows from their CRDs (only reports when `dry_run`).
    pub async fn repair(&self, dry_run: bool) -> Result<RepairReport, Failure> {
        let before = self.drift().await?;
        let mut actions = Vec::new();
        for item in &before.items {
            let mut action = match item.kind {
                "missingRow" => "insertRow",
                "orphanRow" => "deleteRow",
                _ => "updateRow",
            };
            if !dry_run {
                action = self.repair_one(item).await?;
            }
            actions.push(RepairAction {
                name: item.name.clone(),
                action,
                applied: !dry_run && action != "none",
            });
        }
        if !dry_run {
            // Record the post-repair state for /prom.
            self.drift().await?;
        }
        Ok(RepairReport {
            dry_run,
            actions,
            before,
        })
    }

    async fn repair_one(&self, item: &DriftItem) -> Result<&'static str, Failure> {
        let name = item.name.as_str();
        transaction(self.ctx.db(), async |db| {
            let row = db
                .query_opt(&R::sql_get_for_update(), &[name.into()])
                .await?
                .map(|r| R::Row::from_row(&r))
                .transpose()?;
            let crd = match self.kube.get::<R::Kube>(name).await {
                Ok(o) => Some(o),
                Err(KubeError::NotFound { .. }) => None,
                Err(e) => return Err(Failure::from(e)),
            };
            let done = match (crd, row) {
                (None, None) => "none",
                (None, Some(_)) => {
                    db.execute(R::DELETE, &[name.into()]).await?;
                    "deleteRow"
                }
                (Some(obj), None) => {
                    db.execute(R::UPSERT, &R::row_params(&obj)).await?;
                    "insertRow"
                }
                (Some(obj), Some(row)) if !R::differences(&obj, &row).is_empty() => {
                    db.execute(R::UPDATE, &R::row_params(&obj)).await?;
                    "updateRow"
                }
                (Some(_), Some(_)) => "none",
            };
            if done != "none" {
                self.audit(name, json!({ "repair": done, "fields": item.fields }))
                    .write(db)
                    .await?;
            }
            Ok(done)
        })
        .await
    }
}
