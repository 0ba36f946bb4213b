//! What the policies that apply to a tenant decide: which policies apply,
//! and whether a dataset is allowed. Pure functions, used by the tenants'
//! dataset check (`DATASET_DENIED`) and the effective contract alike.
//!
//! # Which policies apply to a tenant
//! Every policy whose `subjects.tenants` names the tenant, every policy whose
//! `subjects.groups` names a group the tenant is a member of, and the policy
//! its `spec.policyRef` binds. A policy applying for several reasons is
//! counted once and lists each reason (`policyRef`, `subjects.tenants`,
//! `subjects.groups:<group>`). Policies are ordered by name.
//!
//! # Datasets
//! Evaluated in this order; the first rule that decides, decides:
//! 1. A `policyRef` naming a policy that does not exist fails closed: no
//!    dataset is allowed (a typo must never open access).
//! 2. Deny wins: a dataset matching any applicable policy's `datasets.deny`
//!    is refused, whatever allows it.
//! 3. Allow lists restrict, and each one counts: when applicable policies
//!    have non-empty `datasets.allow` lists, the dataset must match an entry
//!    of *every* one of them (an intersection), so adding a policy can only
//!    narrow what a tenant reaches, never widen what another policy denies.
//!    Policies with an empty allow list do not restrict.
//! 4. No allow list applies: an organisation's tenant is denied (deny by
//!    default: a self-service tenant reaches only what an operator's policy
//!    grants it, [`TenantPolicies::deny_by_default`]); a platform tenant,
//!    which only operators create, is unrestricted.
//!
//! Patterns are a dataset name, `prefix*`, or `*`.

use cp_kube::AccessPolicySpec;

/// A policy that applies to a tenant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicablePolicy {
    /// Policy name.
    pub name: String,
    /// Its spec.
    pub spec: AccessPolicySpec,
    /// Why it applies (`policyRef`, `subjects.tenants`, `subjects.groups:eng`).
    pub via: Vec<String>,
}

/// The policies that apply to one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantPolicies {
    /// The applicable policies, by name.
    pub policies: Vec<ApplicablePolicy>,
    /// The tenant's `policyRef` when it names no existing policy.
    pub missing_ref: Option<String>,
    /// Whether a dataset no allow list names is denied (organisations'
    /// tenants) rather than allowed (platform tenants).
    pub default_deny: bool,
}

/// Whether `name` matches a pattern: exact, `prefix*`, or `*`.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

impl TenantPolicies {
    /// Selects, from `candidates` (name, spec), the policies that apply to
    /// `tenant` in `groups` with `policy_ref` (see the module docs).
    pub fn select(
        tenant: &str,
        groups: &[String],
        policy_ref: Option<&str>,
        candidates: impl IntoIterator<Item = (String, AccessPolicySpec)>,
    ) -> Self {
        let mut policies: Vec<ApplicablePolicy> = candidates
            .into_iter()
            .filter_map(|(name, spec)| {
                let mut via = Vec::new();
                if policy_ref == Some(name.as_str()) {
                    via.push("policyRef".to_owned());
                }
                if spec.subjects.tenants.iter().any(|t| t == tenant) {
                    via.push("subjects.tenants".to_owned());
                }
                for g in &spec.subjects.groups {
                    if groups.contains(g) {
                        via.push(format!("subjects.groups:{g}"));
                    }
                }
                (!via.is_empty()).then_some(ApplicablePolicy { name, spec, via })
            })
            .collect();
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        let missing_ref = policy_ref
            .filter(|r| !policies.iter().any(|p| p.name == *r))
            .map(str::to_owned);
        Self {
            policies,
            missing_ref,
            default_deny: false,
        }
    }

    /// The same policies, denying datasets that no allow list names when
    /// `deny` (rule 4 of the module docs).
    pub fn deny_by_default(mut self, deny: bool) -> Self {
        self.default_deny = deny;
        self
    }

    /// Why `dataset` is refused, or `None` when it is allowed.
    pub fn dataset_denial(&self, dataset: &str) -> Option<String> {
        if let Some(missing) = &self.missing_ref {
            return Some(format!(
                "policy:{missing} (the tenant's policyRef) does not exist"
            ));
        }
        for p in &self.policies {
            if let Some(rule) = p
                .spec
                .datasets
                .deny
                .iter()
                .find(|r| pattern_matches(r, dataset))
            {
                return Some(format!("policy:{} denies '{rule}'", p.name));
            }
        }
        let restricting: Vec<&ApplicablePolicy> = self
            .policies
            .iter()
            .filter(|p| !p.spec.datasets.allow.is_empty())
            .collect();
        if restricting.is_empty() {
            return self.default_deny.then(|| {
                "no access policy of the tenant allows it (an organisation's tenant reaches only \
                 the datasets an operator's policy allows)"
                    .to_owned()
            });
        }
        let refusing: Vec<String> = restricting
            .iter()
            .filter(|p| {
                !p.spec
                    .datasets
                    .allow
                    .iter()
                    .any(|r| pattern_matches(r, dataset))
            })
            .map(|p| format!("policy:{}", p.name))
            .collect();
        if refusing.is_empty() {
            return None;
        }
        Some(format!("not in the allow list of {}", refusing.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cp_kube::{DatasetRules, PolicySubjects};

    fn spec(tenants: &[&str], groups: &[&str], allow: &[&str], deny: &[&str]) -> AccessPolicySpec {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        AccessPolicySpec {
            subjects: PolicySubjects {
                tenants: v(tenants),
                groups: v(groups),
            },
            datasets: DatasetRules {
                allow: v(allow),
                deny: v(deny),
            },
            ..AccessPolicySpec::default()
        }
    }

    fn select(
        groups: &[&str],
        policy_ref: Option<&str>,
        all: Vec<(&str, AccessPolicySpec)>,
    ) -> TenantPolicies {
        let groups: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
        TenantPolicies::select(
            "acme",
            &groups,
            policy_ref,
            all.into_iter().map(|(n, s)| (n.to_owned(), s)),
        )
    }

    #[test]
    fn a_policy_applies_once_with_every_reason_in_name_order() {
        let tp = select(
            &["eng", "ops"],
            Some("zeta"),
            vec![
                ("zeta", spec(&["acme"], &["ops"], &[], &[])),
                ("alpha", spec(&[], &["eng"], &[], &[])),
                ("other", spec(&["someone"], &["sales"], &[], &[])),
            ],
        );
        let names: Vec<_> = tp.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["alpha", "zeta"]);
        assert_eq!(
            tp.policies[1].via,
            vec!["policyRef", "subjects.tenants", "subjects.groups:ops"]
        );
        assert_eq!(tp.missing_ref, None);
    }

    #[test]
    fn deny_in_any_policy_wins_over_allow_in_another() {
        let tp = select(
            &["eng"],
            None,
            vec![
                ("a", spec(&["acme"], &[], &["hr", "sales-*"], &[])),
                ("b", spec(&[], &["eng"], &[], &["hr"])),
            ],
        );
        assert_eq!(tp.dataset_denial("hr").unwrap(), "policy:b denies 'hr'");
        assert_eq!(tp.dataset_denial("sales-eu"), None);
    }

    #[test]
    fn allow_lists_intersect_and_empty_ones_do_not_restrict() {
        let tp = select(
            &[],
            None,
            vec![
                ("a", spec(&["acme"], &[], &["sales-*", "ops"], &[])),
                ("b", spec(&["acme"], &[], &["ops", "hr-*"], &[])),
                ("c", spec(&["acme"], &[], &[], &[])),
            ],
        );
        assert_eq!(tp.dataset_denial("ops"), None);
        // Each policy that restricts must allow it: a second policy never
        // widens what the first one leaves out.
        assert_eq!(
            tp.dataset_denial("sales-1").unwrap(),
            "not in the allow list of policy:b"
        );
        assert_eq!(
            tp.dataset_denial("hr-payroll").unwrap(),
            "not in the allow list of policy:a"
        );
        assert_eq!(
            tp.dataset_denial("x").unwrap(),
            "not in the allow list of policy:a, policy:b"
        );
        let open = select(&[], None, vec![("c", spec(&["acme"], &[], &[], &[]))]);
        assert_eq!(open.dataset_denial("anything"), None);
        let star = select(
            &[],
            None,
            vec![("s", spec(&["acme"], &[], &["*"], &["x*"]))],
        );
        assert_eq!(star.dataset_denial("anything"), None);
        assert!(star.dataset_denial("xy").is_some());
    }

    #[test]
    fn a_dangling_policy_ref_fails_closed_and_no_policy_is_open() {
        let tp = select(&[], Some("gone"), vec![("a", spec(&[], &[], &[], &[]))]);
        assert_eq!(tp.missing_ref.as_deref(), Some("gone"));
        assert!(tp.policies.is_empty());
        assert!(tp.dataset_denial("ops").unwrap().contains("does not exist"));
        assert_eq!(select(&[], None, vec![]).dataset_denial("ops"), None);
    }

    #[test]
    fn organisation_tenants_are_denied_what_no_allow_list_names() {
        let none = select(&[], None, vec![]).deny_by_default(true);
        assert!(none
            .dataset_denial("hr-payroll")
            .unwrap()
            .contains("no access policy"));
        let deny_only =
            select(&[], None, vec![("d", spec(&["acme"], &[], &[], &["x"]))]).deny_by_default(true);
        assert!(deny_only.dataset_denial("ops").is_some());
        let allowing = select(&[], None, vec![("a", spec(&["acme"], &[], &["ops"], &[]))])
            .deny_by_default(true);
        assert_eq!(allowing.dataset_denial("ops"), None);
        assert!(allowing.dataset_denial("hr").is_some());
    }
}
