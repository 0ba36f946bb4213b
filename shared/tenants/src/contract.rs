//! The effective contract of a tenant: what it may use (datasets, MCP
//! servers, skills), compiled from everything that grants it, with the
//! reasons for each entry.
//!
//! Algorithm (deterministic): collect grants from each source in a fixed
//! order — the tenant's own spec, its dataset memberships, its bound
//! AccessPolicy — then merge by name; an entry granted by several sources
//! lists every reason in source order. A policy's `datasets.deny` removes a
//! dataset whatever granted it (deny wins), and a non-empty
//! `datasets.allow` limits datasets to the listed patterns. Entries are
//! sorted by name. Later sources (groups, catalog grants) plug in as further
//! grant sources.

use std::collections::BTreeMap;

use cp_kube::AccessPolicySpec;
use serde::Serialize;
use utoipa::ToSchema;

/// One granted item and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// Item name.
    pub name: String,
    /// Access level, for datasets (`read`/`write`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    /// Why it is granted, e.g. `tenant.spec.skillAllowlist`, `policy:eng`.
    pub reasons: Vec<String>,
}

/// A dataset the bound policy removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Denial {
    /// Dataset name.
    pub name: String,
    /// Why it is denied.
    pub reason: String,
}

/// The compiled contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveContract {
    /// Tenant name.
    pub tenant: String,
    /// Bound policy, if any.
    pub policy_ref: Option<String>,
    /// Whether the bound policy exists (false: fail closed, no datasets).
    pub policy_found: bool,
    /// Datasets the tenant may use.
    pub datasets: Vec<Grant>,
    /// MCP servers the tenant may use.
    pub mcp_servers: Vec<Grant>,
    /// Skills the tenant may use.
    pub skills: Vec<Grant>,
    /// Datasets removed by the policy.
    pub denied: Vec<Denial>,
}

/// What the compiler reads.
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    /// Tenant name.
    pub tenant: &'a str,
    /// `spec.skillAllowlist`.
    pub skill_allowlist: &'a [String],
    /// Dataset memberships (name, access).
    pub datasets: &'a [(String, String)],
    /// `spec.policyRef`, and the policy's spec when it exists.
    pub policy: Option<(&'a str, Option<&'a AccessPolicySpec>)>,
}

/// Whether `name` matches a pattern: exact, or a `prefix*` wildcard.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Why a policy refuses a dataset, if it does.
pub fn dataset_denial(
    policy_name: &str,
    policy: &AccessPolicySpec,
    dataset: &str,
) -> Option<String> {
    if let Some(p) = policy
        .datasets
        .deny
        .iter()
        .find(|p| pattern_matches(p, dataset))
    {
        return Some(format!("policy:{policy_name} denies '{p}'"));
    }
    let allow = &policy.datasets.allow;
    if !allow.is_empty() && !allow.iter().any(|p| pattern_matches(p, dataset)) {
        return Some(format!(
            "policy:{policy_name} allows only {}",
            allow.join(", ")
        ));
    }
    None
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

/// Compiles the contract.
pub fn compile(src: &Sources<'_>) -> EffectiveContract {
    let mut datasets = BTreeMap::new();
    let mut mcp = BTreeMap::new();
    let mut skills = BTreeMap::new();
    for s in src.skill_allowlist {
        add(&mut skills, s, None, "tenant.spec.skillAllowlist".into());
    }
    for (d, access) in src.datasets {
        add(&mut datasets, d, Some(access), "datasetMembership".into());
    }
    let mut denied = Vec::new();
    let (policy_ref, policy_found) = match src.policy {
        None => (None, true),
        Some((name, None)) => {
            // A dangling policyRef fails closed: no datasets at all.
            for d in std::mem::take(&mut datasets).into_keys() {
                denied.push(Denial {
                    name: d,
                    reason: format!("policy:{name} does not exist"),
                });
            }
            (Some(name.to_owned()), false)
        }
        Some((name, Some(policy))) => {
            let reason = format!("policy:{name}");
            for s in &policy.skills {
                add(&mut skills, s, None, reason.clone());
            }
            for m in &policy.mcp_servers {
                add(&mut mcp, m, None, reason.clone());
            }
            datasets.retain(|d, _| match dataset_denial(name, policy, d) {
                Some(why) => {
                    denied.push(Denial {
                        name: d.clone(),
                        reason: why,
                    });
                    false
                }
                None => true,
            });
            (Some(name.to_owned()), true)
        }
    };
    EffectiveContract {
        tenant: src.tenant.to_owned(),
        policy_ref,
        policy_found,
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
    use cp_kube::{AccessPolicySpec, DatasetRules};

    fn policy(allow: &[&str], deny: &[&str], skills: &[&str]) -> AccessPolicySpec {
        AccessPolicySpec {
            datasets: DatasetRules {
                allow: allow.iter().map(|s| (*s).to_owned()).collect(),
                deny: deny.iter().map(|s| (*s).to_owned()).collect(),
            },
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
            mcp_servers: vec!["github".into()],
            ..AccessPolicySpec::default()
        }
    }

    fn ds(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn overlapping_grants_merge_reasons_in_source_order() {
        let skills = vec!["search".to_owned(), "code".to_owned()];
        let p = policy(&[], &[], &["search", "deploy"]);
        let c = compile(&Sources {
            tenant: "acme",
            skill_allowlist: &skills,
            datasets: &[],
            policy: Some(("eng", Some(&p))),
        });
        let names: Vec<_> = c.skills.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["code", "deploy", "search"]);
        assert_eq!(
            c.skills[2].reasons,
            vec!["tenant.spec.skillAllowlist", "policy:eng"]
        );
        assert_eq!(c.mcp_servers[0].name, "github");
    }

    #[test]
    fn deny_wins_and_allow_limits() {
        let memberships = ds(&[("sales-2024", "read"), ("hr", "write"), ("ops", "read")]);
        let p = policy(&["sales-*", "hr"], &["hr"], &[]);
        let c = compile(&Sources {
            tenant: "acme",
            skill_allowlist: &[],
            datasets: &memberships,
            policy: Some(("eng", Some(&p))),
        });
        let names: Vec<_> = c.datasets.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["sales-2024"]);
        let denied: Vec<_> = c.denied.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(denied, vec!["hr", "ops"]);
        assert!(c.denied[0].reason.contains("denies"));
    }

    #[test]
    fn dangling_policy_fails_closed_and_no_policy_is_open() {
        let memberships = ds(&[("a", "read")]);
        let c = compile(&Sources {
            tenant: "t",
            skill_allowlist: &[],
            datasets: &memberships,
            policy: Some(("gone", None)),
        });
        assert!(c.datasets.is_empty());
        assert!(!c.policy_found);
        let c = compile(&Sources {
            tenant: "t",
            skill_allowlist: &[],
            datasets: &memberships,
            policy: None,
        });
        assert_eq!(c.datasets[0].access.as_deref(), Some("read"));
    }
}
