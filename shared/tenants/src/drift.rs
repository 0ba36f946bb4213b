//! How a Tenant CRD projects into its PostgreSQL row: the tenant's side of
//! the shared dual-write mechanism (`cp_platform::dualwrite`), which does the
//! writes, drift detection and repair the same way for every kind.

use cp_kube::TenantObject;
use cp_platform::dualwrite::{Projected, ProjectionRow};
use cp_store::Value;
use serde_json::json;

use crate::lifecycle::State;
use crate::model::{
    projected_phase, spec_budget_cents, Resources, TenantRow, ORG_ID_LABEL, OWNER_ID_LABEL,
    TENANT_ID_LABEL,
};
use crate::sql;

/// The Tenant kind as the control plane projects it.
#[derive(Debug, Clone, Copy)]
pub enum TenantKind {}

impl Projected for TenantKind {
    type Kube = cp_kube::Tenant;
    type Row = TenantRow;
    const ERROR_KIND: &'static str = "TENANT";
    const AUDIT_KIND: &'static str = "tenant";
    const ROUTE: &'static str = "/api/v1/tenants";

    const TABLE: &'static str = "tenants";
    const COLUMNS: &'static str = sql::SELECT_COLUMNS;
    const UPSERT: &'static str = sql::UPSERT_CREATED;
    const UPDATE: &'static str = sql::UPDATE;
    const DELETE: &'static str = sql::DELETE;

    fn row_params(obj: &TenantObject) -> Vec<Value> {
        Projection::of(obj).params()
    }

    fn differences(obj: &TenantObject, row: &TenantRow) -> Vec<&'static str> {
        Projection::of(obj).differences(row)
    }

    fn audit_tenant(name: &str) -> Option<&str> {
        Some(name)
    }
}

/// A UUID label of `obj` (anything else is ignored: labels can be edited in
/// the cluster, and the row's columns only take ids).
fn label_id(obj: &TenantObject, label: &str) -> Option<String> {
    obj.metadata
        .labels
        .get(label)
        .and_then(|v| cp_http::ids::parse_id(v).ok())
        .map(|id| id.to_string())
}

/// The projection of one CRD, field by field, as stored in a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// Tenant name.
    pub name: String,
    /// `spec.displayName` (None when empty).
    pub display_name: Option<String>,
    /// `spec.email`.
    pub email: String,
    /// `spec.team`.
    pub team: Option<String>,
    /// `spec.clusterTenantRef`.
    pub cluster_tenant_ref: Option<String>,
    /// `spec.monthlyBudgetUsd` in cents.
    pub budget_cents: Option<i64>,
    /// `spec.resources`.
    pub resources: Resources,
    /// `spec.skillAllowlist`.
    pub skill_allowlist: Vec<String>,
    /// `spec.policyRef`.
    pub policy_ref: Option<String>,
    /// `spec.suspended`.
    pub suspended: bool,
    /// Phase shown (see [`projected_phase`]).
    pub phase: String,
    /// `status.ingressHost`.
    pub ingress_host: Option<String>,
    /// `metadata.uid`.
    pub kube_uid: String,
    /// `metadata.resourceVersion`.
    pub kube_resource_version: String,
    /// The tenant id of its label; a new one for a CRD made without it
    /// (only an insert uses it: ids never change).
    pub id: String,
    /// The organisation id of its label, if it is a valid id.
    pub org_id: Option<String>,
    /// The owner's user id of its label, if it is a valid id.
    pub owner_id: Option<String>,
}

impl Projection {
    /// Projects a CRD.
    pub fn of(obj: &TenantObject) -> Self {
        let spec = &obj.spec;
        let resources = spec
            .resources
            .as_ref()
            .map(|r| Resources {
                cpu: r.cpu.clone(),
                memory: r.memory.clone(),
                storage: r.storage.clone(),
            })
            .unwrap_or_default();
        Self {
            name: obj.name().to_owned(),
            display_name: Some(spec.display_name.clone()).filter(|s| !s.is_empty()),
            email: spec.email.clone(),
            team: spec.team.clone(),
            cluster_tenant_ref: spec.cluster_tenant_ref.clone(),
            budget_cents: spec_budget_cents(spec),
            resources,
            skill_allowlist: spec.skill_allowlist.clone(),
            policy_ref: spec.policy_ref.clone(),
            suspended: spec.suspended,
            phase: projected_phase(obj),
            ingress_host: obj.status.as_ref().and_then(|s| s.ingress_host.clone()),
            kube_uid: obj.metadata.uid.clone().unwrap_or_default(),
            kube_resource_version: obj.metadata.resource_version.clone().unwrap_or_default(),
            id: label_id(obj, TENANT_ID_LABEL)
                .unwrap_or_else(|| cp_http::ids::new_id().to_string()),
            org_id: label_id(obj, ORG_ID_LABEL),
            owner_id: label_id(obj, OWNER_ID_LABEL),
        }
    }

    /// The parameters of `sql::UPSERT_CREATED`/`sql::UPDATE`.
    pub fn params(&self) -> Vec<Value> {
        vec![
            self.name.as_str().into(),
            self.display_name.clone().into(),
            self.email.as_str().into(),
            self.team.clone().into(),
            self.cluster_tenant_ref.clone().into(),
            self.budget_cents.into(),
            Value::Json(serde_json::to_value(&self.resources).unwrap_or_default()),
            Value::Json(json!(self.skill_allowlist)),
            self.policy_ref.clone().into(),
            self.suspended.into(),
            self.phase.as_str().into(),
            self.ingress_host.clone().into(),
            self.kube_uid.as_str().into(),
            self.kube_resource_version.as_str().into(),
            self.id.as_str().into(),
            self.org_id.clone().into(),
            self.owner_id.clone().into(),
        ]
    }

    /// Spec-derived fields that differ from `row` (status fields are the
    /// operator's and lag by design: a row is rewritten, status included,
    /// whenever one of these fields differs or the tenant is written again).
    pub fn differences(&self, row: &TenantRow) -> Vec<&'static str> {
        let t = &row.tenant;
        let mut diff = Vec::new();
        let mut check = |field: &'static str, same: bool| {
            if !same {
                diff.push(field);
            }
        };
        check("displayName", self.display_name == t.display_name);
        check("email", self.email == t.email);
        check("ownerId", self.owner_id == t.owner_id);
        check("team", self.team == t.team);
        check(
            "clusterTenantRef",
            self.cluster_tenant_ref == t.cluster_tenant_ref,
        );
        check("monthlyBudgetUsd", self.budget_cents == row.budget_cents);
        check("resources", self.resources == t.resources);
        check("skillAllowlist", self.skill_allowlist == t.skill_allowlist);
        check("policyRef", self.policy_ref == t.policy_ref);
        check("suspended", self.suspended == t.suspended);
        check("uid", self.kube_uid == row.kube_uid);
        diff
    }
}

impl ProjectionRow for TenantRow {
    fn name(&self) -> &str {
        &self.tenant.name
    }

    fn kube_uid(&self) -> &str {
        &self.kube_uid
    }

    fn kube_resource_version(&self) -> &str {
        &self.kube_resource_version
    }

    fn retired(&self) -> bool {
        self.state == State::Decommissioned
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::Tenant;
    use cp_kube::{Resource, TenantSpec};
    use cp_platform::dualwrite::{compare, DriftItem, DriftReport};

    fn compare_tenants(crds: &[TenantObject], rows: &[TenantRow]) -> DriftReport {
        compare::<TenantKind>(crds, rows)
    }

    fn crd(name: &str, email: &str) -> TenantObject {
        let mut obj = cp_kube::Tenant::object(
            name,
            TenantSpec {
                email: email.into(),
                ..TenantSpec::default()
            },
        );
        obj.metadata.uid = Some(format!("uid-{name}"));
        obj.metadata.resource_version = Some("1".into());
        obj
    }

    fn row_of(obj: &TenantObject) -> TenantRow {
        let p = Projection::of(obj);
        TenantRow {
            state: State::Provisioning,
            tenant: Tenant {
                id: p.id,
                organization_id: p.org_id,
                state: State::Provisioning,
                decommissioned_at: None,
                name: p.name,
                display_name: p.display_name,
                email: p.email,
                owner_id: p.owner_id,
                team: p.team,
                cluster_tenant_ref: p.cluster_tenant_ref,
                monthly_budget_usd: None,
                resources: p.resources,
                skill_allowlist: p.skill_allowlist,
                policy_ref: p.policy_ref,
                phase: p.phase,
                suspended: p.suspended,
                ingress_host: p.ingress_host,
                created_at: String::new(),
                updated_at: String::new(),
            },
            budget_cents: p.budget_cents,
            kube_uid: p.kube_uid,
            kube_resource_version: p.kube_resource_version,
            created_micros: 0,
        }
    }

    #[test]
    fn in_sync_when_rows_project_crds() {
        let crds = vec![crd("a", "a@x.io"), crd("b", "b@x.io")];
        let rows: Vec<_> = crds.iter().map(row_of).collect();
        let report = compare_tenants(&crds, &rows);
        assert!(report.in_sync());
        assert_eq!((report.crds, report.rows), (2, 2));
    }

    #[test]
    fn finds_missing_orphan_and_stale() {
        let a = crd("a", "a@x.io");
        let b = crd("b", "b@x.io");
        let mut stale = row_of(&b);
        stale.tenant.email = "old@x.io".into();
        stale.tenant.suspended = true;
        let orphan = row_of(&crd("c", "c@x.io"));
        let report = compare_tenants(&[a, b], &[stale, orphan]);
        assert_eq!(report.missing_rows, 1);
        assert_eq!(report.orphan_rows, 1);
        assert_eq!(report.stale_rows, 1);
        assert_eq!(
            report.items,
            vec![
                DriftItem {
                    name: "a".into(),
                    kind: "missingRow",
                    fields: vec![]
                },
                DriftItem {
                    name: "b".into(),
                    kind: "staleRow",
                    fields: vec!["email", "suspended"]
                },
                DriftItem {
                    name: "c".into(),
                    kind: "orphanRow",
                    fields: vec![]
                },
            ]
        );
    }

    #[test]
    fn budgets_survive_the_crd_float_exactly() {
        // The CRD stores dollars as a float; the row keeps cents. Every
        // accepted amount (0 to one billion dollars, whole cents) must come
        // back to the same cents, or drift would report phantom changes.
        let samples = (0..200_000i64)
            .chain((0..2_000).map(|i| i * 49_999_999 + 7))
            .chain([100_000_000_000, 99_999_999_999, 12_345_678_901]);
        for cents in samples {
            let spec = TenantSpec {
                monthly_budget_usd: Some(crate::model::cents_to_f64(cents)),
                ..TenantSpec::default()
            };
            assert_eq!(spec_budget_cents(&spec), Some(cents), "{cents}");
        }
    }

    #[test]
    fn tombstones_and_their_names_are_not_drift() {
        let live = crd("a", "a@x.io");
        let mut tomb = row_of(&crd("gone", "g@x.io"));
        tomb.state = State::Decommissioned;
        // Even a CRD re-created under the name is left alone.
        let report = compare_tenants(
            &[live.clone(), crd("gone", "g@x.io")],
            &[row_of(&live), tomb],
        );
        assert!(report.in_sync(), "{report:?}");
        assert_eq!((report.crds, report.rows), (1, 1));
    }

    #[test]
    fn labels_carry_the_ids() {
        let mut obj = crd("a", "a@x.io");
        let p = Projection::of(&obj);
        assert!(cp_http::ids::parse_id(&p.id).is_ok());
        assert_eq!(p.org_id, None);
        let id = cp_http::ids::new_id().to_string();
        obj.metadata
            .labels
            .insert(TENANT_ID_LABEL.into(), id.clone());
        obj.metadata
            .labels
            .insert(ORG_ID_LABEL.into(), "not-an-id".into());
        let p = Projection::of(&obj);
        assert_eq!(p.id, id);
        assert_eq!(p.org_id, None);
    }

    #[test]
    fn status_lag_is_not_drift() {
        let mut obj = crd("a", "a@x.io");
        let row = row_of(&obj);
        obj.status = Some(cp_kube::TenantStatus {
            phase: Some("Running".into()),
            ..Default::default()
        });
        obj.metadata.resource_version = Some("9".into());
        assert!(compare_tenants(&[obj], &[row]).in_sync());
    }
}
