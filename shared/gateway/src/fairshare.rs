//! Fair share: how the gateways' in-flight capacity is divided among tenants.
//!
//! The allocation is hierarchical weighted max-min fairness:
//!
//! 1. Each tenant's *effective demand* is what it asks for (in-flight plus
//!    queued requests, summed over gateway instances), capped by its TPM
//!    quota when the caller says the quota binds ([`TenantLoad::cap`]).
//! 2. Capacity is divided among groups by group weight, by water-filling: a
//!    group that wants less than its weighted share gets what it wants, and
//!    the surplus is divided among the others by their weights, until every
//!    group is satisfied or the capacity is used up.
//! 3. Each group's allocation is divided among its tenants the same way, by
//!    tenant weight.
//! 4. Weight 0 means best effort: such a group or tenant gets only capacity
//!    that no positively weighted sibling wants, shared equally among the
//!    best-effort siblings.
//!
//! Slots are whole requests. The exact (rational) water level is computed
//! with integers; each share is rounded down and the units left over go to
//! the largest remainders, ties broken by input order (callers sort by name),
//! so the result is deterministic, sums to `min(capacity, total effective
//! demand)`, and never exceeds anyone's effective demand.

use std::collections::BTreeMap;

use serde::Serialize;

/// The weight of a group no [`GroupWeight`] names.
pub const DEFAULT_GROUP_WEIGHT: u32 = 1;

/// A fair-share group and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWeight {
    /// The group's name.
    pub name: String,
    /// Its weight (0: best effort).
    pub weight: u32,
}

/// One tenant's load, as the latest heartbeats report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLoad {
    /// The tenant's name.
    pub tenant: String,
    /// Its fair-share group.
    pub group: String,
    /// Its weight within the group (0: best effort).
    pub weight: u32,
    /// Requests it wants in flight (in-flight plus queued).
    pub demand: u64,
    /// An upper bound from its tokens-per-minute quota, when that binds
    /// (`Some(0)` for a tenant that has used up this minute's tokens).
    pub cap: Option<u64>,
}

/// Why a tenant got what it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Limit {
    /// Everything it asked for.
    Demand,
    /// Its quota cap, below its demand.
    Quota,
    /// Its fair share, below both.
    Share,
}

/// One tenant's allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    /// The tenant.
    pub tenant: String,
    /// Its group.
    pub group: String,
    /// What it asked for.
    pub demand: u64,
    /// In-flight requests it may have.
    pub allocated: u64,
    /// What bound the allocation.
    pub limited_by: Limit,
}

/// Divides `capacity` among `tenants` (see the module documentation).
/// Allocations come back in the order of `tenants`.
pub fn allocate(capacity: u64, groups: &[GroupWeight], tenants: &[TenantLoad]) -> Vec<Allocation> {
    let effective: Vec<u64> = tenants
        .iter()
        .map(|t| t.cap.map_or(t.demand, |c| c.min(t.demand)))
        .collect();

    // Groups in first-appearance order, with their members' indices.
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        let entry = members.entry(t.group.as_str()).or_default();
        if entry.is_empty() {
            order.push(t.group.as_str());
        }
        entry.push(i);
    }
    let group_entries: Vec<(u64, u64)> = order
        .iter()
        .map(|g| {
            let weight = groups
                .iter()
                .find(|w| w.name == *g)
                .map_or(DEFAULT_GROUP_WEIGHT, |w| w.weight);
            let demand = members[g].iter().map(|&i| effective[i]).sum();
            (u64::from(weight), demand)
        })
        .collect();
    let group_shares = fill(capacity, &group_entries);

    let mut allocated = vec![0u64; tenants.len()];
    for (g, share) in order.iter().zip(group_shares) {
        let idx = &members[g];
        let entries: Vec<(u64, u64)> = idx
            .iter()
            .map(|&i| (u64::from(tenants[i].weight), effective[i]))
            .collect();
        for (&i, a) in idx.iter().zip(fill(share, &entries)) {
            allocated[i] = a;
        }
    }

    tenants
        .iter()
        .zip(allocated)
        .zip(effective)
        .map(|((t, allocated), effective)| Allocation {
            tenant: t.tenant.clone(),
            group: t.group.clone(),
            demand: t.demand,
            allocated,
            limited_by: if allocated >= t.demand {
                Limit::Demand
            } else if allocated == effective && effective < t.demand {
                Limit::Quota
            } else {
                Limit::Share
            },
        })
        .collect()
}

/// Water-fills `capacity` over `(weight, demand)` entries: weighted entries
/// first, then best-effort (weight 0) entries equally from what is left.
fn fill(capacity: u64, entries: &[(u64, u64)]) -> Vec<u64> {
    let weighted: Vec<(u64, u64)> = entries
        .iter()
        .map(|&(w, d)| if w == 0 { (0, 0) } else { (w, d) })
        .collect();
    let mut shares = weighted_fill(capacity, &weighted);
    let left = capacity - shares.iter().sum::<u64>();
    let best_effort: Vec<(u64, u64)> = entries
        .iter()
        .map(|&(w, d)| if w == 0 { (1, d) } else { (0, 0) })
        .collect();
    for (s, extra) in shares.iter_mut().zip(weighted_fill(left, &best_effort)) {
        *s += extra;
    }
    shares
}

/// Weighted max-min over entries with positive weight (zero-weight or
/// zero-demand entries get 0). Exact: the water level is the rational
/// `remaining / weight_sum`, never a float.
fn weighted_fill(capacity: u64, entries: &[(u64, u64)]) -> Vec<u64> {
    let mut shares = vec![0u64; entries.len()];
    let mut active: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].0 > 0 && entries[i].1 > 0)
        .collect();
    let total: u128 = active.iter().map(|&i| u128::from(entries[i].1)).sum();
    if total <= u128::from(capacity) {
        for &i in &active {
            shares[i] = entries[i].1;
        }
        return shares;
    }
    // Least demand per unit of weight first: those saturate first.
    active.sort_by(|&a, &b| {
        let (wa, da) = (u128::from(entries[a].0), u128::from(entries[a].1));
        let (wb, db) = (u128::from(entries[b].0), u128::from(entries[b].1));
        (da * wb).cmp(&(db * wa)).then(a.cmp(&b))
    });
    let mut remaining = u128::from(capacity);
    let mut weight_sum: u128 = active.iter().map(|&i| u128::from(entries[i].0)).sum();
    let mut k = 0;
    while k < active.len() {
        let i = active[k];
        let (w, d) = (u128::from(entries[i].0), u128::from(entries[i].1));
        // Saturated when its demand is at or below its weighted share.
        if d * weight_sum > remaining * w {
            break;
        }
        shares[i] = entries[i].1;
        remaining -= d;
        weight_sum -= w;
        k += 1;
    }
    let rest = &active[k..];
    if rest.is_empty() {
        return shares;
    }
    // The rest share `remaining` by weight: floors, then the leftover units
    // to the largest remainders (ties: input order).
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(rest.len());
    let mut given: u128 = 0;
    for &i in rest {
        let exact = u128::from(entries[i].0) * remaining;
        let floor = exact / weight_sum;
        given += floor;
        shares[i] = u64::try_from(floor).unwrap_or(u64::MAX);
        remainders.push((exact % weight_sum, i));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let leftover = usize::try_from(remaining - given).unwrap_or(usize::MAX);
    for &(_, i) in remainders.iter().take(leftover) {
        shares[i] += 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(tenant: &str, group: &str, weight: u32, demand: u64) -> TenantLoad {
        TenantLoad {
            tenant: tenant.into(),
            group: group.into(),
            weight,
            demand,
            cap: None,
        }
    }

    fn group(name: &str, weight: u32) -> GroupWeight {
        GroupWeight {
            name: name.into(),
            weight,
        }
    }

    fn shares(capacity: u64, groups: &[GroupWeight], tenants: &[TenantLoad]) -> Vec<u64> {
        allocate(capacity, groups, tenants)
            .iter()
            .map(|a| a.allocated)
            .collect()
    }

    #[test]
    fn equal_weights_split_evenly_and_the_odd_unit_goes_first_in_order() {
        let t = [load("a", "g", 1, 100), load("b", "g", 1, 100)];
        assert_eq!(shares(10, &[], &t), [5, 5]);
        assert_eq!(shares(11, &[], &t), [6, 5]);
    }

    #[test]
    fn weights_divide_in_proportion() {
        let t = [load("a", "g", 3, 100), load("b", "g", 1, 100)];
        assert_eq!(shares(100, &[], &t), [75, 25]);
    }

    #[test]
    fn enough_capacity_serves_every_demand() {
        let t = [load("a", "g", 1, 3), load("b", "g", 5, 4)];
        let a = allocate(100, &[], &t);
        assert_eq!(a.iter().map(|a| a.allocated).collect::<Vec<_>>(), [3, 4]);
        assert!(a.iter().all(|a| a.limited_by == Limit::Demand));
    }

    #[test]
    fn an_idle_tenant_gets_nothing_and_its_share_goes_to_the_others() {
        let t = [
            load("a", "g", 1, 0),
            load("b", "g", 1, 100),
            load("c", "g", 1, 100),
        ];
        assert_eq!(shares(10, &[], &t), [0, 5, 5]);
    }

    #[test]
    fn a_small_demand_is_served_and_the_surplus_redistributed() {
        let t = [
            load("a", "g", 1, 2),
            load("b", "g", 1, 100),
            load("c", "g", 1, 100),
        ];
        assert_eq!(shares(12, &[], &t), [2, 5, 5]);
    }

    #[test]
    fn a_tenant_over_its_quota_is_capped_and_the_others_absorb_it() {
        let mut over = load("a", "g", 1, 50);
        over.cap = Some(0);
        let mut capped = load("b", "g", 1, 50);
        capped.cap = Some(3);
        let t = [over, capped, load("c", "g", 1, 50)];
        let a = allocate(20, &[], &t);
        assert_eq!(
            a.iter().map(|a| a.allocated).collect::<Vec<_>>(),
            [0, 3, 17]
        );
        assert_eq!(a[0].limited_by, Limit::Quota);
        assert_eq!(a[1].limited_by, Limit::Quota);
        assert_eq!(a[2].limited_by, Limit::Share);
    }

    #[test]
    fn zero_weights_get_only_what_weighted_tenants_leave() {
        let t = [load("a", "g", 0, 100), load("b", "g", 1, 100)];
        assert_eq!(shares(10, &[], &t), [0, 10]);
        let t = [
            load("a", "g", 0, 100),
            load("b", "g", 1, 4),
            load("c", "g", 0, 100),
        ];
        assert_eq!(shares(10, &[], &t), [3, 4, 3]);
        let t = [load("a", "g", 0, 5), load("b", "g", 0, 5)];
        assert_eq!(shares(6, &[], &t), [3, 3]);
    }

    #[test]
    fn groups_share_first_whatever_their_sizes() {
        let mut t = vec![load("solo", "a", 1, 100)];
        for i in 0..9 {
            t.push(load(&format!("crowd-{i}"), "b", 1, 100));
        }
        let s = shares(90, &[group("a", 1), group("b", 1)], &t);
        assert_eq!(s[0], 45);
        assert_eq!(s[1..].iter().sum::<u64>(), 45);
        assert!(s[1..].iter().all(|&x| x == 5));
    }

    #[test]
    fn group_weights_and_unknown_groups() {
        let t = [
            load("a", "gold", 1, 100),
            load("b", "silver", 1, 100),
            load("c", "unlisted", 1, 100),
        ];
        // gold 3, silver 1, unlisted gets DEFAULT_GROUP_WEIGHT (1).
        assert_eq!(
            shares(50, &[group("gold", 3), group("silver", 1)], &t),
            [30, 10, 10]
        );
        // A zero-weight group only gets leftovers.
        assert_eq!(
            shares(50, &[group("gold", 3), group("silver", 0)], &t),
            [38, 0, 12]
        );
    }

    #[test]
    fn no_capacity_or_no_tenants() {
        assert_eq!(shares(0, &[], &[load("a", "g", 1, 5)]), [0]);
        assert!(allocate(10, &[], &[]).is_empty());
    }

    /// Invariants over many pseudo-random cases: the total is
    /// min(capacity, effective demand), nobody exceeds their effective
    /// demand, and within a group no positively weighted tenant with unmet
    /// demand holds less per unit of weight than another (up to one slot of
    /// rounding).
    #[test]
    fn invariants_hold_on_generated_cases() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..2000 {
            let n = 1 + next(8) as usize;
            let tenants: Vec<TenantLoad> = (0..n)
                .map(|i| TenantLoad {
                    tenant: format!("t{i}"),
                    group: format!("g{}", next(3)),
                    weight: next(5) as u32,
                    demand: next(40),
                    cap: if next(4) == 0 { Some(next(10)) } else { None },
                })
                .collect();
            let groups: Vec<GroupWeight> = (0..3)
                .map(|g| group(&format!("g{g}"), next(4) as u32))
                .collect();
            let capacity = next(120);
            let a = allocate(capacity, &groups, &tenants);
            let eff: Vec<u64> = tenants
                .iter()
                .map(|t| t.cap.map_or(t.demand, |c| c.min(t.demand)))
                .collect();
            let total: u64 = a.iter().map(|x| x.allocated).sum();
            assert_eq!(
                total,
                capacity.min(eff.iter().sum()),
                "{tenants:?} {capacity}"
            );
            for (x, e) in a.iter().zip(&eff) {
                assert!(x.allocated <= *e);
            }
            for (i, x) in a.iter().enumerate() {
                let ti = &tenants[i];
                // Best effort only once every weighted sibling is served.
                if ti.weight == 0 && x.allocated > 0 {
                    assert!(a
                        .iter()
                        .enumerate()
                        .all(|(j, y)| tenants[j].group != ti.group
                            || tenants[j].weight == 0
                            || y.allocated == eff[j]));
                }
                if ti.weight == 0 || x.allocated >= eff[i] {
                    continue;
                }
                for (j, y) in a.iter().enumerate() {
                    let tj = &tenants[j];
                    if tj.group != ti.group || tj.weight == 0 || y.allocated == 0 {
                        continue;
                    }
                    // (x + 1) / w_i >= (y - 1) / w_j, in integers: the
                    // exact shares satisfy x' / w_i >= y' / w_j, and
                    // rounding moves each by less than one slot.
                    assert!(
                        (x.allocated + 1) * u64::from(tj.weight)
                            >= (y.allocated - 1) * u64::from(ti.weight),
                        "{tenants:?} {capacity} {a:?}"
                    );
                }
            }
        }
    }
}
