//! Who may set which tenant field, and the limits users' tenants stay within.
//!
//! Operators and access tokens (which operators issue) set every field.
//! Users write through their role in the tenant's organisation:
//! - `policyRef`, `clusterTenantRef` and `ownerId` are the platform
//!   operator's: they decide what a tenant may reach and who it belongs to.
//! - `monthlyBudgetUsd` and `resources` are the organisation admins' (admin
//!   or owner), within the organisation's limits ([`TenantLimits`]).
//! - every other field is any member's.
//!
//! A field a user sends unchanged is always accepted (so a tenant that was
//! read can be sent back), including a value above today's limits that an
//! operator set. A refused field is a 403 naming it: `FIELD_FORBIDDEN` for a
//! role that may not set it, `LIMIT_EXCEEDED` for a value above the limit.

use cp_http::error::FieldError;
use cp_http::ApiError;
use cp_orgs::roles::OrgRole;
use cp_platform::Platform;

use crate::model::{is_quantity, Resources, TenantRow, ValidTenant};

/// Platform defaults of the limits, used when the Spin variable is unset.
pub const DEFAULT_MAX_CPU: &str = "4";
/// See [`DEFAULT_MAX_CPU`].
pub const DEFAULT_MAX_MEMORY: &str = "8Gi";
/// See [`DEFAULT_MAX_CPU`].
pub const DEFAULT_MAX_STORAGE: &str = "50Gi";
/// See [`DEFAULT_MAX_CPU`] (US dollars a month).
pub const DEFAULT_MAX_MONTHLY_BUDGET_USD: &str = "1000";

/// The most a user may give one of their organisation's tenants.
///
/// Every organisation has the platform's limits, from the Spin variables
/// `tenant_max_cpu`, `tenant_max_memory`, `tenant_max_storage` and
/// `tenant_max_monthly_budget_usd` (defaults above); per-organisation limits
/// arrive with the admin API and will take precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLimits {
    cpu: String,
    memory: String,
    storage: String,
    budget_cents: i64,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            cpu: DEFAULT_MAX_CPU.into(),
            memory: DEFAULT_MAX_MEMORY.into(),
            storage: DEFAULT_MAX_STORAGE.into(),
            budget_cents: 100_000,
        }
    }
}

impl TenantLimits {
    /// The limits configured for the component. A malformed variable falls
    /// back to the default (and says so in the log): a deployment typo must
    /// not lift a limit.
    pub fn from_platform<P: Platform>(platform: &P) -> Self {
        let defaults = Self::default();
        let quantity = |name: &str, default: String| match platform.variable(name) {
            Some(v) if is_quantity(&v) => v,
            Some(v) => {
                eprintln!("variable {name}={v:?} is not a quantity; using {default}");
                default
            }
            None => default,
        };
        let budget_cents = match platform.variable("tenant_max_monthly_budget_usd") {
            None => defaults.budget_cents,
            Some(v) => match serde_json::from_str::<serde_json::Number>(&v)
                .map_err(|e| e.to_string())
                .and_then(|n| crate::model::dollars_to_cents(&n))
            {
                Ok(cents) => cents,
                Err(_) => {
                    eprintln!(
                        "variable tenant_max_monthly_budget_usd={v:?} is not an amount; using \
                         {DEFAULT_MAX_MONTHLY_BUDGET_USD}"
                    );
                    defaults.budget_cents
                }
            },
        };
        Self {
            cpu: quantity("tenant_max_cpu", defaults.cpu),
            memory: quantity("tenant_max_memory", defaults.memory),
            storage: quantity("tenant_max_storage", defaults.storage),
            budget_cents,
        }
    }
}

/// Who is writing: `None` for operators and access tokens, else the user's
/// role in the tenant's organisation.
pub type Writer = Option<OrgRole>;

/// The request's fields a writer may not set, or that exceed the limits.
///
/// `current` is the tenant before the write (`None` on create); `user_id`
/// is the writing user's id (a user may name themselves as the owner of a
/// tenant they create).
pub fn check_write(
    writer: Writer,
    limits: &TenantLimits,
    new: &ValidTenant,
    current: Option<&TenantRow>,
    user_id: Option<&str>,
) -> Result<(), ApiError> {
    let Some(role) = writer else {
        return Ok(());
    };
    let old = current.map(|c| &c.tenant);
    let old_resources = old.map(|t| t.resources.clone()).unwrap_or_default();
    let new_resources = Resources {
        cpu: new.spec.resources.as_ref().and_then(|r| r.cpu.clone()),
        memory: new.spec.resources.as_ref().and_then(|r| r.memory.clone()),
        storage: new.spec.resources.as_ref().and_then(|r| r.storage.clone()),
    };

    let mut forbidden = Vec::new();
    let operator_field = "is set by the platform operator; send it unchanged";
    if new.spec.policy_ref.as_deref() != old.and_then(|t| t.policy_ref.as_deref()) {
        forbidden.push(FieldError::new("policyRef", operator_field));
    }
    if new.spec.cluster_tenant_ref.as_deref() != old.and_then(|t| t.cluster_tenant_ref.as_deref()) {
        forbidden.push(FieldError::new("clusterTenantRef", operator_field));
    }
    if let Some(owner) = &new.owner_id {
        let unchanged = match old {
            Some(t) => t.owner_id.as_deref() == Some(owner.as_str()),
            None => user_id == Some(owner.as_str()),
        };
        if !unchanged {
            forbidden.push(FieldError::new(
                "ownerId",
                "is set by the server (the creating user) or the platform operator",
            ));
        }
    }
    let changed = Changes::between(new, &new_resources, current, &old_resources);
    if role < OrgRole::Admin {
        for field in changed.fields() {
            forbidden.push(FieldError::new(
                field,
                format!(
                    "needs the admin role in the organisation; you are {}",
                    role.as_str()
                ),
            ));
        }
    }
    if !forbidden.is_empty() {
        return Err(ApiError::FieldForbidden {
            message: "you may not set some of these fields".into(),
            fields: forbidden,
        });
    }

    let mut exceeded = Vec::new();
    if changed.budget {
        if let Some(cents) = new.budget_cents.filter(|c| *c > limits.budget_cents) {
            exceeded.push(FieldError::new(
                "monthlyBudgetUsd",
                format!(
                    "{} exceeds the organisation's limit of {}",
                    crate::model::cents_to_number(cents),
                    crate::model::cents_to_number(limits.budget_cents)
                ),
            ));
        }
    }
    for (field, value, limit, is_changed) in [
        (
            "resources.cpu",
            &new_resources.cpu,
            &limits.cpu,
            changed.cpu,
        ),
        (
            "resources.memory",
            &new_resources.memory,
            &limits.memory,
            changed.memory,
        ),
        (
            "resources.storage",
            &new_resources.storage,
            &limits.storage,
            changed.storage,
        ),
    ] {
        if let Some(v) = value.as_deref().filter(|_| is_changed) {
            if quantity_nanos(v) > quantity_nanos(limit) {
                exceeded.push(FieldError::new(
                    field,
                    format!("{v} exceeds the organisation's limit of {limit}"),
                ));
            }
        }
    }
    if !exceeded.is_empty() {
        return Err(ApiError::LimitExceeded {
            message: "the request exceeds the organisation's tenant limits".into(),
            fields: exceeded,
        });
    }
    Ok(())
}

/// Which admin-only fields a write changes.
struct Changes {
    budget: bool,
    cpu: bool,
    memory: bool,
    storage: bool,
}

impl Changes {
    fn between(
        new: &ValidTenant,
        new_resources: &Resources,
        current: Option<&TenantRow>,
        old_resources: &Resources,
    ) -> Self {
        // Quantities compare by value: `1Gi` and `1024Mi` are the same.
        let same = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => quantity_nanos(a) == quantity_nanos(b),
            (a, b) => a == b,
        };
        Self {
            budget: new.budget_cents != current.and_then(|c| c.budget_cents),
            cpu: !same(&new_resources.cpu, &old_resources.cpu),
            memory: !same(&new_resources.memory, &old_resources.memory),
            storage: !same(&new_resources.storage, &old_resources.storage),
        }
    }

    fn fields(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.budget, "monthlyBudgetUsd"),
            (self.cpu, "resources.cpu"),
            (self.memory, "resources.memory"),
            (self.storage, "resources.storage"),
        ]
        .into_iter()
        .filter_map(|(changed, field)| changed.then_some(field))
    }
}

/// A Kubernetes quantity ([`is_quantity`]) in billionths of its unit,
/// rounded up; `u128::MAX` for anything too large to represent (so it
/// exceeds every limit) or not a quantity at all.
pub fn quantity_nanos(q: &str) -> u128 {
    const NANO: u128 = 1_000_000_000;
    if !is_quantity(q) {
        return u128::MAX;
    }
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    // Fraction digits beyond nanos round up: `4.0000000001` is above `4`.
    let (frac9, rest) = frac.split_at(frac.len().min(9));
    let round_up = u128::from(rest.bytes().any(|b| b != b'0'));
    let frac_nanos = format!("{frac9:0<9}").parse::<u128>().unwrap_or(0);
    let Some(value) = whole
        .parse::<u128>()
        .ok()
        .and_then(|w| w.checked_mul(NANO))
        .and_then(|w| w.checked_add(frac_nanos + round_up))
    else {
        return u128::MAX;
    };
    let (mul, div): (u128, u128) = match suffix {
        "" => (1, 1),
        "m" => (1, 1000),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (NANO, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        _ => return u128::MAX,
    };
    value
        .checked_mul(mul)
        .map_or(u128::MAX, |v| v.div_ceil(div))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::TenantInput;

    fn valid(json: &str) -> ValidTenant {
        serde_json::from_str::<TenantInput>(json)
            .unwrap()
            .validate(None)
            .unwrap()
    }

    fn fields(err: ApiError) -> (String, Vec<String>) {
        let f = err.field_errors().iter().map(|f| f.field.clone()).collect();
        (err.code(), f)
    }

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(quantity_nanos("1Gi"), quantity_nanos("1024Mi"));
        assert_eq!(quantity_nanos("500m"), quantity_nanos("0.5"));
        assert!(quantity_nanos("4.0000000001") > quantity_nanos("4"));
        assert!(quantity_nanos("100000") > quantity_nanos("4"));
        assert!(quantity_nanos("1000Ti") > quantity_nanos("8Gi"));
        assert!(quantity_nanos("1000Pi") > quantity_nanos("50Gi"));
        assert_eq!(quantity_nanos("99999999999999999999999E"), u128::MAX);
        assert_eq!(quantity_nanos("-1"), u128::MAX);
        assert!(quantity_nanos("1m") > 0);
    }

    #[test]
    fn operators_set_anything() {
        let t = valid(
            r#"{"name":"a","email":"a@b.co","policyRef":"open","monthlyBudgetUsd":1e9,
                "resources":{"cpu":"100000","memory":"1000Ti","storage":"1000Pi"}}"#,
        );
        assert!(check_write(None, &TenantLimits::default(), &t, None, None).is_ok());
    }

    #[test]
    fn users_cannot_set_operator_fields_and_members_not_admin_fields() {
        let t = valid(
            r#"{"name":"a","email":"a@b.co","policyRef":"open","clusterTenantRef":"c",
                "monthlyBudgetUsd":10,"resources":{"cpu":"1"}}"#,
        );
        let limits = TenantLimits::default();
        let (code, f) =
            fields(check_write(Some(OrgRole::Member), &limits, &t, None, Some("u")).unwrap_err());
        assert_eq!(code, "FIELD_FORBIDDEN");
        assert_eq!(
            f,
            [
                "policyRef",
                "clusterTenantRef",
                "monthlyBudgetUsd",
                "resources.cpu"
            ]
        );
        let (_, f) =
            fields(check_write(Some(OrgRole::Admin), &limits, &t, None, Some("u")).unwrap_err());
        assert_eq!(f, ["policyRef", "clusterTenantRef"]);
    }

    #[test]
    fn admins_stay_within_limits() {
        let t = valid(
            r#"{"name":"a","email":"a@b.co","monthlyBudgetUsd":1e9,
                "resources":{"cpu":"100000","memory":"1000Ti","storage":"1000Pi"}}"#,
        );
        let (code, f) = fields(
            check_write(
                Some(OrgRole::Owner),
                &TenantLimits::default(),
                &t,
                None,
                None,
            )
            .unwrap_err(),
        );
        assert_eq!(code, "LIMIT_EXCEEDED");
        assert_eq!(
            f,
            [
                "monthlyBudgetUsd",
                "resources.cpu",
                "resources.memory",
                "resources.storage"
            ]
        );
        let ok = valid(
            r#"{"name":"a","email":"a@b.co","monthlyBudgetUsd":1000,
                "resources":{"cpu":"4000m","memory":"8Gi","storage":"50Gi"}}"#,
        );
        assert!(check_write(
            Some(OrgRole::Admin),
            &TenantLimits::default(),
            &ok,
            None,
            None
        )
        .is_ok());
    }

    #[test]
    fn an_owner_is_only_ever_oneself_on_create() {
        let limits = TenantLimits::default();
        let me = valid(
            r#"{"name":"a","email":"a@b.co","ownerId":"0190a000-0000-7000-8000-000000000001"}"#,
        );
        assert!(check_write(
            Some(OrgRole::Member),
            &limits,
            &me,
            None,
            Some("0190a000-0000-7000-8000-000000000001")
        )
        .is_ok());
        let (_, f) = fields(
            check_write(
                Some(OrgRole::Owner),
                &limits,
                &me,
                None,
                Some("someone-else"),
            )
            .unwrap_err(),
        );
        assert_eq!(f, ["ownerId"]);
    }
}
