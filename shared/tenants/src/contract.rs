//! The effective contract of a tenant: what it may use (awareness scopes,
//! datasets, MCP servers, skills), compiled from everything that grants it,
//! with the reasons for each entry.
//!
//! # Algorithm (deterministic)
//! Grants are collected from each source in this fixed order, and an entry
//! granted by several sources lists every reason in that order:
//! 1. the tenant's own spec: `skillAllowlist` (`tenant.spec.skillAllowlist`);
//! 2. its dataset memberships (`datasetMembership`);
//! 3. its groups, by name: their awareness grants (`group:<name>`);
//! 4. catalog grants to the tenant itself: MCP server grants
//!    (`grant:tenant`) and published skill bundle entitlements
//!    (`entitlement:tenant (<bundle>@<version>)`);
//! 5. catalog grants naming one of its groups, by group name
//!    (`grant:group:<name>`, `entitlement:group:<name> (...)`);
//! 6. the access policies that apply to it (see `cp_policies::rules`), by
//!    name: their MCP servers and skills (`policy:<name>`).
//!
//! Memberships, grants, entitlements and policy subjects count when they
//! are bound to this tenant's id (they were granted to it, not to its
//! name; see `migrations/sql/0017_tenant_bindings.sql`): a tenant created
//! under the name of a deleted one starts with nothing.
//!
//! Conflicts: when sources give different access to one awareness scope or
//! dataset, the strongest (`write` over `read`) wins. Datasets are then
//! filtered by the applicable policies: deny wins over any allow, non-empty
//! allow lists restrict (as a union), and a `policyRef` naming no policy
//! fails closed; every dataset removed is listed in `denied` with the reason.
//! Entries are sorted by name.

use std::collections::BTreeMap;

use cp_policies::rules::TenantPolicies;
use serde::Serialize;
use utoipa::ToSchema;

/// One granted item and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// Item name (awareness scope, dataset, MCP server or skill).
    pub name: String,
    /// Access level, for awareness scopes and datasets (`read`/`write`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    /// Why it is granted, in source order (see the algorithm).
    pub reasons: Vec<String>,
}

/// A dataset the applicable policies removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Denial {
    /// Dataset name.
    pub name: String,
    /// Why it is denied.
    pub reason: String,
}

/// An access policy that applies to the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyBinding {
    /// Policy name.
    pub name: String,
    /// Why it applies: `policyRef`, `subjects.tenants`, `subjects.groups:<group>`.
    pub via: Vec<String>,
}

/// The compiled contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveContract {
    /// Tenant name.
    pub tenant: String,
    /// The groups the tenant is a member of.
    pub groups: Vec<String>,
    /// The access policies that apply to it.
    pub policies: Vec<PolicyBinding>,
    /// Its `policyRef` when it names no existing policy (datasets then fail closed).
    pub missing_policy_ref: Option<String>,
    /// Awareness scopes the tenant may see.
    pub awareness: Vec<Grant>,
    /// Datasets the tenant may use.
    pub datasets: Vec<Grant>,
    /// MCP servers the tenant may use.
    pub mcp_servers: Vec<Grant>,
    /// Skills the tenant may use.
    pub skills: Vec<Grant>,
    /// Datasets removed by the policies.
    pub denied: Vec<Denial>,
}

/// Who a catalog grant names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    /// The tenant itself.
    Tenant,
    /// One of its groups.
    Group(String),
}

/// A catalog grant of `item` (an MCP server or skill name) to a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectGrant {
    /// MCP server or skill name.
    pub item: String,
    /// Who it is granted to.
    pub subject: Subject,
    /// What exactly grants it (for skills: `bundle@version`).
    pub detail: Option<String>,
}

/// A group of the tenant and its awareness grants (scope, access).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAwareness {
    /// Group name.
    pub group: String,
    /// (scope, access) pairs.
    pub grants: Vec<(String, String)>,
}

/// What the compiler reads.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// Tenant name.
    pub tenant: &'a str,
    /// `spec.skillAllowlist`.
    pub skill_allowlist: &'a [String],
    /// Dataset memberships (name, access).
    pub datasets: &'a [(String, String)],
    /// The tenant's groups with their awareness grants.
    pub groups: &'a [GroupAwareness],
    /// MCP server grants naming the tenant or its groups.
    pub mcp_grants: &'a [SubjectGrant],
    /// Published skill bundle entitlements naming the tenant or its groups.
    pub skill_entitlements: &'a [SubjectGrant],
    /// The applicable access policies.
    pub policies: &'a TenantPolicies,
}

fn add(map: &mut BTreeMap<String, Grant>, name: &str, access: Option<&str>, reason: String) {
    let entry = map.entry(name.to_owned()).or_insert_with(|| Grant {
        name: name.to_owned(),
        access: None,
        reasons: Vec::new(),
    });
    if let Some(a) = access {
        // The strongest access wins when sources disagree.
        if entry.access.as_deref() != Some("write") {
            entry.access = Some(a.to_owned());
        }
    }
    if !entry.reasons.contains(&reason) {
        entry.reasons.push(reason);
    }
}

/// Adds catalog grants: the tenant's own first, then its groups' by name.
fn add_subject_grants(map: &mut BTreeMap<String, Grant>, grants: &[SubjectGrant], kind: &str) {
    let mut ordered: Vec<&SubjectGrant> = grants.iter().collect();
    ordered.sort_by(|a, b| (&a.subject, &a.item, &a.detail).cmp(&(&b.subject, &b.item, &b.detail)));
    for g in ordered {
        let who = match &g.subject {
            Subject::Tenant => "tenant".to_owned(),
            Subject::Group(name) => format!("group:{name}"),
        };
        let reason = match &g.detail {
            Some(d) => format!("{kind}:{who} ({d})"),
            None => format!("{kind}:{who}"),
        };
        add(map, &g.item, None, reason);
    }
}

/// Compiles the contract.
pub fn compile(src: &Sources<'_>) -> EffectiveContract {
    let mut awareness = BTreeMap::new();
    let mut datasets = BTreeMap::new();
    let mut mcp = BTreeMap::new();
    let mut skills = BTreeMap::new();
    for s in src.skill_allowlist {
        add(&mut skills, s, None, "tenant.spec.skillAllowlist".into());
    }
    for (d, access) in src.datasets {
        add(&mut datasets, d, Some(access), "datasetMembership".into());
    }
    let mut groups: Vec<&GroupAwareness> = src.groups.iter().collect();
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    for g in &groups {
        for (scope, access) in &g.grants {
            add(
                &mut awareness,
                scope,
                Some(access),
                format!("group:{}", g.group),
            );
        }
    }
    add_subject_grants(&mut mcp, src.mcp_grants, "grant");
    add_subject_grants(&mut skills, src.skill_entitlements, "entitlement");
    for p in &src.policies.policies {
        let reason = format!("policy:{}", p.name);
        for m in &p.spec.mcp_servers {
            add(&mut mcp, m, None, reason.clone());
        }
        for s in &p.spec.skills {
            add(&mut skills, s, None, reason.clone());
        }
    }
    let mut denied = Vec::new();
    datasets.retain(|d, _| match src.policies.dataset_denial(d) {
        Some(reason) => {
            denied.push(Denial {
                name: d.clone(),
                reason,
            });
            false
        }
        None => true,
    });
    EffectiveContract {
        tenant: src.tenant.to_owned(),
        groups: groups.iter().map(|g| g.group.clone()).collect(),
        policies: src
            .policies
            .policies
            .iter()
            .map(|p| PolicyBinding {
                name: p.name.clone(),
                via: p.via.clone(),
            })
            .collect(),
        missing_policy_ref: src.policies.missing_ref.clone(),
        awareness: awareness.into_values().collect(),
        datasets: datasets.into_values().collect(),
        mcp_servers: mcp.into_values().collect(),
        skills: skills.into_values().collect(),
        denied,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cp_kube::{AccessPolicySpec, DatasetRules, PolicySubjects};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn policy(
        tenants: &[&str],
        groups: &[&str],
        allow: &[&str],
        deny: &[&str],
        mcp: &[&str],
        skills: &[&str],
    ) -> AccessPolicySpec {
        AccessPolicySpec {
            subjects: PolicySubjects {
                tenants: strings(tenants),
                groups: strings(groups),
            },
            datasets: DatasetRules {
                allow: strings(allow),
                deny: strings(deny),
            },
            mcp_servers: strings(mcp),
            skills: strings(skills),
            ..AccessPolicySpec::default()
        }
    }

    fn policies(
        groups: &[&str],
        policy_ref: Option<&str>,
        all: Vec<(&str, AccessPolicySpec)>,
    ) -> TenantPolicies {
        TenantPolicies::select(
            "acme",
            &strings(groups),
            policy_ref,
            all.into_iter().map(|(n, s)| (n.to_owned(), s)),
        )
    }

    fn grant(item: &str, subject: Subject, detail: Option<&str>) -> SubjectGrant {
        SubjectGrant {
            item: item.into(),
            subject,
            detail: detail.map(str::to_owned),
        }
    }

    fn names(grants: &[Grant]) -> Vec<&str> {
        grants.iter().map(|g| g.name.as_str()).collect()
    }

    fn empty_sources<'a>(p: &'a TenantPolicies) -> Sources<'a> {
        Sources {
            tenant: "acme",
            skill_allowlist: &[],
            datasets: &[],
            groups: &[],
            mcp_grants: &[],
            skill_entitlements: &[],
            policies: p,
        }
    }

    #[test]
    fn overlapping_grants_merge_reasons_in_source_order() {
        let p = policies(
            &["eng"],
            None,
            vec![(
                "eng-policy",
                policy(&[], &["eng"], &[], &[], &["github"], &["search", "deploy"]),
            )],
        );
        let allowlist = strings(&["search", "code"]);
        // Given out of order on purpose: the compiler orders the sources.
        let mcp = vec![
            grant("github", Subject::Group("eng".into()), None),
            grant("github", Subject::Tenant, None),
        ];
        let skills = vec![grant(
            "search",
            Subject::Group("eng".into()),
            Some("search@1.0.0"),
        )];
        let c = compile(&Sources {
            skill_allowlist: &allowlist,
            mcp_grants: &mcp,
            skill_entitlements: &skills,
            ..empty_sources(&p)
        });
        assert_eq!(names(&c.skills), vec!["code", "deploy", "search"]);
        assert_eq!(
            c.skills[2].reasons,
            vec![
                "tenant.spec.skillAllowlist",
                "entitlement:group:eng (search@1.0.0)",
                "policy:eng-policy"
            ]
        );
        assert_eq!(
            c.mcp_servers[0].reasons,
            vec!["grant:tenant", "grant:group:eng", "policy:eng-policy"]
        );
        assert_eq!(
            c.policies,
            vec![PolicyBinding {
                name: "eng-policy".into(),
                via: vec!["subjects.groups:eng".into()]
            }]
        );
    }

    #[test]
    fn awareness_from_groups_takes_the_strongest_access() {
        let p = policies(&[], None, vec![]);
        let groups = vec![
            GroupAwareness {
                group: "support".into(),
                grants: vec![("channel:support".into(), "write".into())],
            },
            GroupAwareness {
                group: "eng".into(),
                grants: vec![
                    ("channel:support".into(), "read".into()),
                    ("datasets:sales-*".into(), "read".into()),
                ],
            },
        ];
        let c = compile(&Sources {
            groups: &groups,
            ..empty_sources(&p)
        });
        assert_eq!(c.groups, vec!["eng", "support"]);
        assert_eq!(
            names(&c.awareness),
            vec!["channel:support", "datasets:sales-*"]
        );
        assert_eq!(c.awareness[0].access.as_deref(), Some("write"));
        assert_eq!(c.awareness[0].reasons, vec!["group:eng", "group:support"]);
    }

    #[test]
    fn conflicting_dataset_rules_deny_wins_and_allow_lists_restrict() {
        let memberships = vec![
            ("sales-2024".to_owned(), "read".to_owned()),
            ("hr".to_owned(), "write".to_owned()),
            ("ops".to_owned(), "read".to_owned()),
        ];
        let p = policies(
            &["eng"],
            None,
            vec![
                (
                    "a",
                    policy(&["acme"], &[], &["sales-*", "hr"], &[], &[], &[]),
                ),
                ("b", policy(&[], &["eng"], &[], &["hr"], &[], &[])),
            ],
        );
        let c = compile(&Sources {
            datasets: &memberships,
            ..empty_sources(&p)
        });
        assert_eq!(names(&c.datasets), vec!["sales-2024"]);
        let denied: Vec<_> = c
            .denied
            .iter()
            .map(|d| (d.name.as_str(), d.reason.as_str()))
            .collect();
        assert_eq!(
            denied,
            vec![
                ("hr", "policy:b denies 'hr'"),
                ("ops", "not in the allow list of policy:a")
            ]
        );
    }

    #[test]
    fn dangling_policy_ref_fails_closed_and_no_policy_is_open() {
        let memberships = vec![("a".to_owned(), "read".to_owned())];
        let p = policies(&[], Some("gone"), vec![]);
        let c = compile(&Sources {
            datasets: &memberships,
            ..empty_sources(&p)
        });
        assert!(c.datasets.is_empty());
        assert_eq!(c.missing_policy_ref.as_deref(), Some("gone"));
        let open = policies(&[], None, vec![]);
        let c = compile(&Sources {
            datasets: &memberships,
            ..empty_sources(&open)
        });
        assert_eq!(c.datasets[0].access.as_deref(), Some("read"));
        assert!(c.denied.is_empty());
    }

    #[test]
    fn the_same_sources_in_any_order_compile_to_the_same_contract() {
        let p = policies(&["a", "b"], None, vec![]);
        let mut grants = vec![
            grant("x", Subject::Group("b".into()), None),
            grant("x", Subject::Group("a".into()), None),
            grant("y", Subject::Tenant, None),
        ];
        let first = compile(&Sources {
            mcp_grants: &grants,
            ..empty_sources(&p)
        });
        grants.reverse();
        let second = compile(&Sources {
            mcp_grants: &grants,
            ..empty_sources(&p)
        });
        assert_eq!(first, second);
        assert_eq!(
            first.mcp_servers[0].reasons,
            vec!["grant:group:a", "grant:group:b"]
        );
    }
}
