//! A tenant's month-to-date spend against the ceilings that apply to it:
//! its own monthly budget, the ceiling of the account that owns the tenant
//! (`ownerId`; against all that account's tenants), and the global ceiling
//! (against the whole platform). The binding ceiling is the one with the
//! least remaining; the state is the most severe over all of them.

use rust_decimal::{Decimal, RoundingStrategy};

use super::views::{BudgetLevel, BudgetState, CeilingSource, CeilingState, TenantSpend};

/// One ceiling and the spend it is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scope {
    /// Which ceiling.
    pub source: CeilingSource,
    /// US dollars per month.
    pub ceiling: Decimal,
    /// The month's spend of the ceiling's scope.
    pub spend: Decimal,
}

impl Scope {
    fn remaining(&self) -> Decimal {
        self.ceiling - self.spend
    }

    /// `spend / ceiling` in percent, rounded down to two decimals; a
    /// ceiling of 0 is fully used.
    fn percent(&self) -> Decimal {
        if self.ceiling.is_zero() {
            return Decimal::ONE_HUNDRED;
        }
        self.spend
            .checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|p| p.checked_div(self.ceiling))
            .map_or(Decimal::MAX, |p| {
                p.round_dp_with_strategy(2, RoundingStrategy::ToZero)
            })
    }

    fn level(&self) -> BudgetLevel {
        if self.spend >= self.ceiling {
            BudgetLevel::Exceeded
        } else if self.percent() >= Decimal::from(80) {
            BudgetLevel::Warning
        } else {
            BudgetLevel::Ok
        }
    }

    fn view(&self) -> CeilingState {
        CeilingState {
            source: self.source,
            ceiling: self.ceiling.to_string(),
            spend: self.spend.normalize().to_string(),
            remaining: self.remaining().normalize().to_string(),
            percent_used: format!("{:.2}", self.percent()),
            state: self.level(),
        }
    }
}

/// What is known of one tenant's month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Month {
    /// The tenant's own spend.
    pub spend: Decimal,
    /// The ceilings that apply (any order).
    pub scopes: Vec<Scope>,
}

impl Month {
    /// The ceilings, binding (least remaining) first; ties keep the order
    /// tenant, account, global.
    fn ranked(&self) -> Vec<&Scope> {
        let mut s: Vec<&Scope> = self.scopes.iter().collect();
        s.sort_by_key(|c| (c.remaining(), c.source as u8));
        s
    }

    fn level(&self) -> BudgetLevel {
        self.scopes
            .iter()
            .map(Scope::level)
            .max()
            .unwrap_or(BudgetLevel::Ok)
    }

    /// The ingestion answer's view.
    pub(super) fn budget_state(&self) -> BudgetState {
        let state = self.level();
        let binding = self.ranked().into_iter().next();
        BudgetState {
            state,
            spend: self.spend.normalize().to_string(),
            ceiling: binding.map(|b| b.ceiling.to_string()),
            ceiling_source: binding.map(|b| b.source),
            remaining: binding.map(|b| b.remaining().normalize().to_string()),
            code: (state == BudgetLevel::Exceeded).then_some("BUDGET_EXCEEDED"),
        }
    }

    /// `GET /ai-budget/{tenantName}/spend`.
    pub(super) fn spend_view(&self, tenant: &str, month: &str) -> TenantSpend {
        let ranked = self.ranked();
        let binding = ranked.first();
        TenantSpend {
            tenant: tenant.to_owned(),
            month: month.to_owned(),
            spend: self.spend.normalize().to_string(),
            ceiling: binding.map(|b| b.ceiling.to_string()),
            ceiling_source: binding.map(|b| b.source),
            remaining: binding.map(|b| b.remaining().normalize().to_string()),
            percent_used: binding.map(|b| format!("{:.2}", b.percent())),
            state: self.level(),
            ceilings: ranked.iter().map(|s| s.view()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn scope(source: CeilingSource, ceiling: &str, spend: &str) -> Scope {
        Scope {
            source,
            ceiling: d(ceiling),
            spend: d(spend),
        }
    }

    #[test]
    fn no_ceiling_is_ok_and_says_so_with_nulls() {
        let m = Month {
            spend: d("12.50"),
            scopes: vec![],
        };
        let b = m.budget_state();
        assert_eq!(b.state, BudgetLevel::Ok);
        assert_eq!(b.spend, "12.5");
        assert_eq!(
            (b.ceiling, b.ceiling_source, b.remaining),
            (None, None, None)
        );
        assert_eq!(b.code, None);
        let s = m.spend_view("acme", "2026-11");
        assert_eq!(s.percent_used, None);
        assert!(s.ceilings.is_empty());
    }

    #[test]
    fn levels_turn_at_80_and_100_percent() {
        for (spend, level, percent) in [
            ("0", BudgetLevel::Ok, "0.00"),
            ("7.999999", BudgetLevel::Ok, "79.99"),
            ("8", BudgetLevel::Warning, "80.00"),
            ("9.99999", BudgetLevel::Warning, "99.99"),
            ("10", BudgetLevel::Exceeded, "100.00"),
            ("12.5", BudgetLevel::Exceeded, "125.00"),
        ] {
            let m = Month {
                spend: d(spend),
                scopes: vec![scope(CeilingSource::Tenant, "10.00", spend)],
            };
            let s = m.spend_view("acme", "2026-11");
            assert_eq!(s.state, level, "{spend}");
            assert_eq!(s.percent_used.as_deref(), Some(percent), "{spend}");
            assert_eq!(
                m.budget_state().code.is_some(),
                level == BudgetLevel::Exceeded
            );
        }
        // A zero ceiling allows nothing.
        let m = Month {
            spend: d("0"),
            scopes: vec![scope(CeilingSource::Account, "0", "0")],
        };
        assert_eq!(m.budget_state().state, BudgetLevel::Exceeded);
        assert_eq!(
            m.spend_view("a", "2026-11").percent_used.as_deref(),
            Some("100.00")
        );
    }

    #[test]
    fn the_binding_ceiling_has_the_least_remaining_and_the_worst_state_wins() {
        let m = Month {
            spend: d("9"),
            scopes: vec![
                // 90 % used but 1.00 left.
                scope(CeilingSource::Tenant, "10.00", "9"),
                // 99.5 % used with 5 left: warning too, but not binding.
                scope(CeilingSource::Global, "1000", "995"),
                scope(CeilingSource::Account, "100", "9"),
            ],
        };
        let s = m.spend_view("acme", "2026-11");
        assert_eq!(s.ceiling_source, Some(CeilingSource::Tenant));
        assert_eq!(s.remaining.as_deref(), Some("1"));
        assert_eq!(s.ceiling.as_deref(), Some("10.00"));
        assert_eq!(s.state, BudgetLevel::Warning);
        let order: Vec<_> = s.ceilings.iter().map(|c| c.source).collect();
        assert_eq!(
            order,
            [
                CeilingSource::Tenant,
                CeilingSource::Global,
                CeilingSource::Account
            ]
        );
        assert_eq!(s.ceilings[1].percent_used, "99.50");

        let m = Month {
            spend: d("1"),
            scopes: vec![
                scope(CeilingSource::Tenant, "10.00", "1"),
                scope(CeilingSource::Global, "100", "100.000001"),
            ],
        };
        let b = m.budget_state();
        assert_eq!(b.state, BudgetLevel::Exceeded);
        assert_eq!(b.ceiling_source, Some(CeilingSource::Global));
        assert_eq!(b.remaining.as_deref(), Some("-0.000001"));
        assert_eq!(b.code, Some("BUDGET_EXCEEDED"));
    }
}
