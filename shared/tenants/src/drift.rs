//! Drift between Tenant CRDs (truth) and projection rows, as a pure
//! comparison: what is missing, orphaned or stale, and what repair does.

use std::collections::BTreeMap;

use cp_kube::TenantObject;
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::{projected_phase, spec_budget_cents, Resources, TenantRow};

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
        }
    }

    /// Spec-derived fields that differ from `row` (status fields are the
    /// operator's and lag by design; repair refreshes them anyway).
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

/// One divergence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftItem {
    /// Tenant name.
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
    /// Number of Tenant CRDs.
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

/// Compares CRDs with rows.
pub fn compare(crds: &[TenantObject], rows: &[TenantRow]) -> DriftReport {
    let by_name: BTreeMap<&str, &TenantRow> =
        rows.iter().map(|r| (r.tenant.name.as_str(), r)).collect();
    let crd_names: BTreeMap<&str, &TenantObject> = crds.iter().map(|c| (c.name(), c)).collect();
    let mut items = Vec::new();
    for (name, obj) in &crd_names {
        match by_name.get(name) {
            None => items.push(DriftItem {
                name: (*name).to_owned(),
                kind: "missingRow",
                fields: Vec::new(),
            }),
            Some(row) => {
                let fields = Projection::of(obj).differences(row);
                if !fields.is_empty() {
                    items.push(DriftItem {
                        name: (*name).to_owned(),
                        kind: "staleRow",
                        fields,
                    });
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::Tenant;
    use cp_kube::{Resource, Tenant as TenantCrd, TenantSpec};

    fn crd(name: &str, email: &str) -> TenantObject {
        let mut obj = TenantCrd::object(
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
            tenant: Tenant {
                name: p.name,
                display_name: p.display_name,
                email: p.email,
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
        let report = compare(&crds, &rows);
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
        let report = compare(&[a, b], &[stale, orphan]);
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
    fn status_lag_is_not_drift() {
        let mut obj = crd("a", "a@x.io");
        let row = row_of(&obj);
        obj.status = Some(cp_kube::TenantStatus {
            phase: Some("Running".into()),
            ..Default::default()
        });
        obj.metadata.resource_version = Some("9".into());
        assert!(compare(&[obj], &[row]).in_sync());
    }
}
