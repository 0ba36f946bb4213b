//! How an AccessPolicy CRD projects into its PostgreSQL row: the policies'
//! side of the shared dual-write mechanism (`cp_platform::dualwrite`).

use cp_kube::AccessPolicyObject;
use cp_platform::dualwrite::{Projected, ProjectionRow};
use cp_store::Value;

use crate::model::PolicyRow;
use crate::sql;

/// The AccessPolicy kind as the control plane projects it.
#[derive(Debug, Clone, Copy)]
pub enum PolicyKind {}

impl Projected for PolicyKind {
    type Kube = cp_kube::AccessPolicy;
    type Row = PolicyRow;
    const ERROR_KIND: &'static str = "POLICY";
    const AUDIT_KIND: &'static str = "policy";
    const ROUTE: &'static str = "/api/v1/policies";

    const TABLE: &'static str = "access_policies";
    const COLUMNS: &'static str = sql::COLUMNS;
    const UPSERT: &'static str = sql::UPSERT_CREATED;
    const UPDATE: &'static str = sql::UPDATE;
    const DELETE: &'static str = sql::DELETE;

    fn row_params(obj: &AccessPolicyObject) -> Vec<Value> {
        vec![
            obj.name().into(),
            Value::Json(serde_json::to_value(&obj.spec).unwrap_or_default()),
            obj.metadata.uid.clone().unwrap_or_default().into(),
            obj.metadata
                .resource_version
                .clone()
                .unwrap_or_default()
                .into(),
        ]
    }

    fn differences(obj: &AccessPolicyObject, row: &PolicyRow) -> Vec<&'static str> {
        let (a, b) = (&obj.spec, &row.spec);
        let mut diff = Vec::new();
        let mut check = |field: &'static str, same: bool| {
            if !same {
                diff.push(field);
            }
        };
        check("description", a.description == b.description);
        check("subjects.tenants", a.subjects.tenants == b.subjects.tenants);
        check("subjects.groups", a.subjects.groups == b.subjects.groups);
        check("datasets.allow", a.datasets.allow == b.datasets.allow);
        check("datasets.deny", a.datasets.deny == b.datasets.deny);
        check("mcpServers", a.mcp_servers == b.mcp_servers);
        check("skills", a.skills == b.skills);
        check(
            "uid",
            obj.metadata.uid.as_deref().unwrap_or_default() == row.kube_uid,
        );
        diff
    }
}

impl ProjectionRow for PolicyRow {
    fn name(&self) -> &str {
        &self.policy.name
    }

    fn kube_uid(&self) -> &str {
        &self.kube_uid
    }

    fn kube_resource_version(&self) -> &str {
        &self.kube_resource_version
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::Policy;
    use cp_kube::{AccessPolicySpec, Resource};
    use cp_platform::dualwrite::compare;

    fn crd(name: &str, skills: &[&str]) -> AccessPolicyObject {
        let mut obj = cp_kube::AccessPolicy::object(
            name,
            AccessPolicySpec {
                skills: skills.iter().map(|s| (*s).to_owned()).collect(),
                ..AccessPolicySpec::default()
            },
        );
        obj.metadata.uid = Some(format!("uid-{name}"));
        obj.metadata.resource_version = Some("1".into());
        obj
    }

    fn row_of(obj: &AccessPolicyObject) -> PolicyRow {
        PolicyRow {
            policy: Policy {
                name: obj.name().to_owned(),
                description: None,
                subjects: Default::default(),
                datasets: Default::default(),
                mcp_servers: vec![],
                skills: vec![],
                created_at: String::new(),
                updated_at: String::new(),
            },
            spec: obj.spec.clone(),
            kube_uid: obj.metadata.uid.clone().unwrap(),
            kube_resource_version: "1".into(),
            created_micros: 0,
        }
    }

    #[test]
    fn finds_missing_orphan_and_stale_policies() {
        let a = crd("a", &["x"]);
        let b = crd("b", &["x"]);
        let mut stale = row_of(&b);
        stale.spec.skills = vec!["y".into()];
        stale.kube_uid = "other".into();
        let orphan = row_of(&crd("c", &[]));
        let report = compare::<PolicyKind>(&[a.clone(), b], &[stale, orphan]);
        assert_eq!(
            (report.missing_rows, report.stale_rows, report.orphan_rows),
            (1, 1, 1)
        );
        assert_eq!(report.items[1].fields, vec!["skills", "uid"]);
        assert!(compare::<PolicyKind>(std::slice::from_ref(&a), &[row_of(&a)]).in_sync());
    }
}
