//! Fair share and the gateway fleet: request bodies with their validation
//! (every problem at once, each naming its field), the views returned, and
//! the pure arithmetic the heartbeat answer needs besides
//! [`crate::fairshare::allocate`].

use cp_http::validate::{dns_label, dns_label_schema, integer_schema, pattern_string, Validator};
use cp_http::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{ArrayBuilder, RefOr};
use utoipa::ToSchema;

use crate::fairshare::{Allocation, Limit};
use cp_http::json::opt_whole_number as whole_number;

/// A tenant's weight when it has no settings row.
pub(crate) const DEFAULT_TENANT_WEIGHT: i64 = 100;
/// The group of a tenant assigned to none.
pub(crate) const DEFAULT_GROUP: &str = "default";
/// The largest tenant or group weight.
pub(crate) const MAX_WEIGHT: i64 = 1_000_000;
/// The largest tokens-per-minute quota.
// Within i32 so the schema bound survives utoipa's isize on wasm32.
pub(crate) const MAX_TOKENS_PER_MINUTE: i64 = 1_000_000_000;
/// The largest per-instance max in-flight.
pub(crate) const MAX_IN_FLIGHT: i64 = 1_000_000;
/// The largest in-flight or queued count one heartbeat entry may report.
pub(crate) const MAX_LOAD: i64 = 1_000_000;
/// Most tenants in one heartbeat.
pub(crate) const MAX_HEARTBEAT_TENANTS: usize = 10_000;
/// Longest instance id.
pub(crate) const INSTANCE_ID_MAX: usize = 128;
/// OpenAPI pattern of an instance id (what [`is_instance_id`] accepts).
pub(crate) const INSTANCE_ID_PATTERN: &str = "^[A-Za-z0-9._:-]{1,128}$";
/// How often a gateway instance should send its heartbeat, in seconds.
pub(crate) const HEARTBEAT_INTERVAL_SECONDS: i64 = 10;
/// An instance not seen for longer than this has aged out (three missed
/// heartbeats): it no longer counts anywhere and is pruned lazily.
pub(crate) const EXPIRES_AFTER_SECONDS: i64 = 30;
/// The window of a tokens-per-minute quota, in seconds.
pub(crate) const QUOTA_WINDOW_SECONDS: i64 = 60;

// ------------------------------------------------------------------ schemas

fn weight_schema() -> Object {
    integer_schema(
        false,
        0,
        MAX_WEIGHT,
        "Weight (0-1000000); 0 is best effort: only capacity no positively weighted sibling wants.",
    )
}

fn tpm_schema() -> Object {
    integer_schema(
        true,
        1,
        MAX_TOKENS_PER_MINUTE,
        "Tokens (input + output) per minute the tenant may use (1-1000000000); null: unlimited.",
    )
}

fn group_ref_schema() -> Object {
    dns_label_schema(
        true,
        "An existing fair-share group (a 400 naming `group` otherwise); null: the default group.",
    )
}

fn group_name_schema() -> Object {
    dns_label_schema(false, "Unique group name (DNS-1123 label).")
}

fn capacity_schema() -> Object {
    integer_schema(
        false,
        1,
        MAX_IN_FLIGHT,
        "Requests each gateway instance may have in flight (1-1000000).",
    )
}

fn instance_id_schema() -> Object {
    let mut s = pattern_string(
        false,
        INSTANCE_ID_PATTERN,
        INSTANCE_ID_MAX,
        "The gateway instance (1-128 of A-Z, a-z, 0-9, '.', '_', ':', '-'), e.g. its pod name.",
    );
    s.min_length = Some(1);
    s
}

fn load_schema() -> Object {
    integer_schema(false, 0, MAX_LOAD, "A count (0-1000000).")
}

fn heartbeat_tenant_schema() -> Object {
    dns_label_schema(
        false,
        "The tenant (DNS-1123 label); at most once per heartbeat. Tenants that do not (or no \
         longer) exist are accepted and get the default settings.",
    )
}

fn heartbeat_tenants_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "TenantLoadReport",
        )))
        .max_items(Some(MAX_HEARTBEAT_TENANTS))
        .description(Some(
            "The instance's load per tenant (at most 10000, each tenant once); replaces what the \
             previous heartbeat reported.",
        ))
}

fn limit_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(["demand", "quota", "share"]))
        .description(Some(
            "What bound the allocation: `demand` (everything asked for), `quota` (the tenant used \
             up its tokens per minute), `share` (its fair share, below both).",
        ))
        .build()
}

// ----------------------------------------------------------------- helpers

fn required_weight(v: &mut Validator, field: &str, value: Option<i64>) -> i64 {
    match value {
        None => v.error(field, "is required"),
        Some(w) => v.check(
            (0..=MAX_WEIGHT).contains(&w),
            field,
            format!("must be between 0 and {MAX_WEIGHT}"),
        ),
    }
    value.unwrap_or_default()
}

/// Whether `s` is an instance id: 1-128 of `[A-Za-z0-9._:-]`.
pub(crate) fn is_instance_id(s: &str) -> bool {
    (1..=INSTANCE_ID_MAX).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

// ------------------------------------------------------------------ bodies

/// Body of `PATCH /tenants/{name}/weight` and `PATCH /fairshare/groups/{name}/weight`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct WeightInput {
    /// The new weight.
    #[schema(schema_with = weight_schema, required = true)]
    #[serde(default, deserialize_with = "whole_number")]
    weight: Option<i64>,
}

impl WeightInput {
    /// The weight.
    pub(crate) fn validate(self) -> Result<i64, ApiError> {
        let mut v = Validator::new();
        let w = required_weight(&mut v, "weight", self.weight);
        v.finish()?;
        Ok(w)
    }
}

/// Body of `PUT /tenants/{name}/quota`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct QuotaInput {
    /// The quota; `null` removes it.
    #[schema(schema_with = tpm_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::present")]
    tokens_per_minute: Option<serde_json::Value>,
}

impl QuotaInput {
    /// The quota (`None`: unlimited).
    pub(crate) fn validate(self) -> Result<Option<i64>, ApiError> {
        let mut v = Validator::new();
        let field = "tokensPerMinute";
        let quota = match self.tokens_per_minute {
            None => {
                v.error(field, "is required (null removes the quota)");
                None
            }
            Some(serde_json::Value::Null) => None,
            Some(value) => match whole_number(value) {
                Ok(Some(n)) if (1..=MAX_TOKENS_PER_MINUTE).contains(&n) => Some(n),
                _ => {
                    v.error(
                        field,
                        format!(
                            "must be an integer between 1 and {MAX_TOKENS_PER_MINUTE}, or null"
                        ),
                    );
                    None
                }
            },
        };
        v.finish()?;
        Ok(quota)
    }
}

/// Body of `PATCH /tenants/{name}/group`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GroupAssignInput {
    /// The group; `null` puts the tenant back in the default group.
    #[schema(schema_with = group_ref_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::present")]
    group: Option<Option<String>>,
}

impl GroupAssignInput {
    /// The group (`None`: the default group).
    pub(crate) fn validate(self) -> Result<Option<String>, ApiError> {
        let mut v = Validator::new();
        match &self.group {
            None => v.error("group", "is required (null assigns the default group)"),
            Some(Some(g)) => v.dns_label("group", g),
            Some(None) => {}
        }
        v.finish()?;
        Ok(self.group.flatten())
    }
}

/// Body of `POST /fairshare/groups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct GroupCreateInput {
    /// Unique name.
    #[schema(schema_with = group_name_schema, required = true)]
    name: Option<String>,
    /// Weight among groups.
    #[schema(schema_with = weight_schema, required = true)]
    #[serde(default, deserialize_with = "whole_number")]
    weight: Option<i64>,
}

/// A validated group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidGroup {
    /// Name.
    pub(crate) name: String,
    /// Weight.
    pub(crate) weight: i64,
}

impl GroupCreateInput {
    /// Validates every field.
    pub(crate) fn validate(self) -> Result<ValidGroup, ApiError> {
        let mut v = Validator::new();
        match self.name.as_deref() {
            None => v.error("name", "is required"),
            Some(n) => v.dns_label("name", n),
        }
        let weight = required_weight(&mut v, "weight", self.weight);
        v.finish()?;
        Ok(ValidGroup {
            name: self.name.unwrap_or_default(),
            weight,
        })
    }
}

/// Body of `PUT /capacity`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CapacityInput {
    /// The new per-instance limit.
    #[schema(schema_with = capacity_schema, required = true)]
    #[serde(default, deserialize_with = "whole_number")]
    max_in_flight: Option<i64>,
}

impl CapacityInput {
    /// The per-instance limit.
    pub(crate) fn validate(self) -> Result<i64, ApiError> {
        let mut v = Validator::new();
        match self.max_in_flight {
            None => v.error("maxInFlight", "is required"),
            Some(n) => v.check(
                (1..=MAX_IN_FLIGHT).contains(&n),
                "maxInFlight",
                format!("must be between 1 and {MAX_IN_FLIGHT}"),
            ),
        }
        v.finish()?;
        Ok(self.max_in_flight.unwrap_or_default())
    }
}

/// One tenant's load in a heartbeat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = TenantLoadReport)]
pub(crate) struct TenantLoadInput {
    /// The tenant.
    #[schema(schema_with = heartbeat_tenant_schema, required = true)]
    tenant: Option<String>,
    /// Requests of the tenant in flight on this instance.
    #[schema(schema_with = load_schema, required = true)]
    #[serde(default, deserialize_with = "whole_number")]
    in_flight: Option<i64>,
    /// Requests of the tenant queued on this instance.
    #[schema(schema_with = load_schema, required = true)]
    #[serde(default, deserialize_with = "whole_number")]
    queued: Option<i64>,
}

/// Body of `POST /fairshare/heartbeat`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HeartbeatInput {
    /// The reporting instance.
    #[schema(schema_with = instance_id_schema, required = true)]
    instance_id: Option<String>,
    /// Its load per tenant.
    #[schema(schema_with = heartbeat_tenants_schema, required = true)]
    tenants: Option<Vec<TenantLoadInput>>,
}

/// One validated load entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct LoadReport {
    /// The tenant.
    pub(crate) tenant: String,
    /// In flight.
    pub(crate) in_flight: i64,
    /// Queued.
    pub(crate) queued: i64,
}

/// A validated heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidHeartbeat {
    /// The instance.
    pub(crate) instance_id: String,
    /// Its load, in the order reported.
    pub(crate) tenants: Vec<LoadReport>,
}

impl HeartbeatInput {
    /// Validates every field (each entry's problems name `tenants[i].…`).
    pub(crate) fn validate(self) -> Result<ValidHeartbeat, ApiError> {
        let mut v = Validator::new();
        match self.instance_id.as_deref() {
            None => v.error("instanceId", "is required"),
            Some(id) => v.check(
                is_instance_id(id),
                "instanceId",
                "must be 1-128 of A-Z, a-z, 0-9, '.', '_', ':', '-'",
            ),
        }
        let entries = self.tenants.unwrap_or_else(|| {
            v.error("tenants", "is required (an empty list reports no load)");
            Vec::new()
        });
        // Too many: said once, without looking at each entry.
        let entries = if entries.len() > MAX_HEARTBEAT_TENANTS {
            v.error(
                "tenants",
                format!("must have at most {MAX_HEARTBEAT_TENANTS} entries"),
            );
            Vec::new()
        } else {
            entries
        };
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        let mut tenants = Vec::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            let field = |f: &str| format!("tenants[{i}].{f}");
            match e.tenant.as_deref() {
                None => v.error(field("tenant"), "is required"),
                Some(t) => match dns_label(t) {
                    Err(msg) => v.error(field("tenant"), msg),
                    Ok(()) if !seen.insert(t.to_owned()) => {
                        v.error(field("tenant"), "is reported twice in this heartbeat");
                    }
                    Ok(()) => {}
                },
            }
            for (name, value) in [("inFlight", e.in_flight), ("queued", e.queued)] {
                match value {
                    None => v.error(field(name), "is required"),
                    Some(n) => v.check(
                        (0..=MAX_LOAD).contains(&n),
                        field(name),
                        format!("must be between 0 and {MAX_LOAD}"),
                    ),
                }
            }
            tenants.push(LoadReport {
                tenant: e.tenant.unwrap_or_default(),
                in_flight: e.in_flight.unwrap_or_default(),
                queued: e.queued.unwrap_or_default(),
            });
        }
        v.finish()?;
        Ok(ValidHeartbeat {
            instance_id: self.instance_id.unwrap_or_default(),
            tenants,
        })
    }
}

// ------------------------------------------------------------------- views

/// A tenant's fair-share settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TenantFairshare {
    /// The tenant.
    pub(crate) tenant: String,
    /// Its weight within its group (default 100; 0: best effort).
    pub(crate) weight: i64,
    /// Tokens (input + output) per minute; null: unlimited.
    pub(crate) tokens_per_minute: Option<i64>,
    /// Its fair-share group; null: the default group.
    pub(crate) group: Option<String>,
    /// When the settings last changed (RFC 3339); null: never set.
    pub(crate) updated_at: Option<String>,
}

/// A fair-share group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FairshareGroup {
    /// Unique name.
    pub(crate) name: String,
    /// Weight among groups (0: best effort).
    pub(crate) weight: i64,
    /// Tenants assigned to it.
    pub(crate) member_count: i64,
    /// Creation time (RFC 3339).
    pub(crate) created_at: String,
    /// Last change (RFC 3339).
    pub(crate) updated_at: String,
}

/// One tenant's share of the fleet's in-flight capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TenantAllocation {
    /// The tenant.
    pub(crate) tenant: String,
    /// Its group (`default` unless assigned).
    pub(crate) group: String,
    /// Its weight within the group.
    pub(crate) weight: i64,
    /// In flight plus queued, over the live instances.
    pub(crate) demand: u64,
    /// In-flight requests it may have across the fleet.
    pub(crate) allocated: u64,
    /// What bound the allocation.
    #[schema(schema_with = limit_schema)]
    pub(crate) limited_by: Limit,
}

impl TenantAllocation {
    /// The view of an allocation with the tenant's weight.
    pub(crate) fn new(a: Allocation, weight: i64) -> Self {
        Self {
            tenant: a.tenant,
            group: a.group,
            weight,
            demand: a.demand,
            allocated: a.allocated,
            limited_by: a.limited_by,
        }
    }
}

/// A tenant's allocation as one instance enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceAllocation {
    /// The fleet-wide allocation.
    #[serde(flatten)]
    pub(crate) allocation: TenantAllocation,
    /// This instance's part of `allocated`, in proportion to its part of
    /// the tenant's demand (the parts of all instances sum to `allocated`).
    pub(crate) instance_limit: u64,
}

/// The answer to a heartbeat: the instance's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeartbeatAnswer {
    /// The instance.
    pub(crate) instance_id: String,
    /// Requests the instance may have in flight (the fleet's current capacity setting).
    pub(crate) max_in_flight: i64,
    /// Send the next heartbeat within this many seconds.
    pub(crate) heartbeat_interval_seconds: i64,
    /// Without a heartbeat for this long the instance ages out.
    pub(crate) expires_after_seconds: i64,
    /// The allocation of each tenant this heartbeat reported, by tenant name.
    pub(crate) allocation: Vec<InstanceAllocation>,
}

/// The fleet's capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FleetCapacity {
    /// The per-instance limit now in force.
    pub(crate) max_in_flight: i64,
    /// Live instances.
    pub(crate) instances: i64,
    /// `maxInFlight` × `instances`: what the allocation divides.
    pub(crate) total_slots: i64,
}

/// A live gateway instance and its latest load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LiveInstance {
    /// The instance.
    pub(crate) instance_id: String,
    /// Its latest heartbeat (RFC 3339).
    pub(crate) last_seen_at: String,
    /// The max in-flight it was last told.
    pub(crate) max_in_flight: i64,
    /// Requests in flight, over its tenants.
    pub(crate) in_flight: i64,
    /// Requests queued, over its tenants.
    pub(crate) queued: i64,
}

/// `GET /fairshare/live`: the live scheduler snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FleetLive {
    /// When the snapshot was taken (RFC 3339).
    pub(crate) generated_at: String,
    /// What is divided.
    pub(crate) capacity: FleetCapacity,
    /// Live instances, by id.
    pub(crate) instances: Vec<LiveInstance>,
    /// Every tenant a live instance reports, by name.
    pub(crate) allocation: Vec<TenantAllocation>,
}

/// `GET /stats`: totals over the live instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = GatewayStats)]
pub(crate) struct FleetStats {
    /// Live instances.
    pub(crate) instances: i64,
    /// Requests in flight.
    pub(crate) in_flight: i64,
    /// Requests queued.
    pub(crate) queued: i64,
    /// The per-instance limit now in force.
    pub(crate) max_in_flight: i64,
    /// `maxInFlight` × `instances`.
    pub(crate) total_slots: i64,
}

/// One live instance as `GET /capacity` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CapacityInstance {
    /// The instance.
    pub(crate) instance_id: String,
    /// The max in-flight it was last told (the setting applies at its next heartbeat).
    pub(crate) max_in_flight: i64,
    /// Its latest heartbeat (RFC 3339).
    pub(crate) last_seen_at: String,
}

/// The fleet's per-instance max in-flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Capacity {
    /// Requests each instance may have in flight.
    pub(crate) max_in_flight: i64,
    /// When it last changed (RFC 3339).
    pub(crate) updated_at: String,
    /// Live instances, by id, with what they were last told.
    pub(crate) instances: Vec<CapacityInstance>,
}

/// Splits `total` over `parts` in proportion to them: each part gets the
/// floor of its exact share and the units left over go to the largest
/// remainders (ties: the earlier part). The result sums to `total` unless
/// every part is 0 (then everything is 0), and with `total <= Σ parts` no
/// part gets more than itself. Every instance computes the same split from
/// the same rows (ordered by instance id), so the instances' limits add up
/// to the tenant's allocation exactly.
pub(crate) fn split_proportionally(total: u64, parts: &[u64]) -> Vec<u64> {
    let sum: u128 = parts.iter().map(|&p| u128::from(p)).sum();
    if sum == 0 {
        return vec![0; parts.len()];
    }
    let mut shares = Vec::with_capacity(parts.len());
    let mut remainders = Vec::with_capacity(parts.len());
    let mut given: u128 = 0;
    for (i, &p) in parts.iter().enumerate() {
        let exact = u128::from(total) * u128::from(p);
        let floor = exact / sum;
        given += floor;
        shares.push(u64::try_from(floor).unwrap_or(u64::MAX));
        remainders.push((exact % sum, i));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let leftover = usize::try_from(u128::from(total).saturating_sub(given)).unwrap_or(usize::MAX);
    for &(_, i) in remainders.iter().take(leftover) {
        shares[i] += 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(err: ApiError) -> Vec<String> {
        err.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn weights_are_bounded_and_required() {
        let w = |j: &str| parse::<WeightInput>(j).validate();
        assert_eq!(w(r#"{"weight":0}"#).unwrap(), 0);
        assert_eq!(w(r#"{"weight":1000000}"#).unwrap(), 1_000_000);
        assert_eq!(w(r#"{"weight":5.0}"#).unwrap(), 5);
        for bad in [r#"{}"#, r#"{"weight":-1}"#, r#"{"weight":1000001}"#] {
            assert_eq!(fields(w(bad).unwrap_err()), ["weight"], "{bad}");
        }
        assert!(serde_json::from_str::<WeightInput>(r#"{"weight":1.5}"#).is_err());
        assert!(serde_json::from_str::<WeightInput>(r#"{"weight":1,"x":1}"#).is_err());
    }

    #[test]
    fn quotas_are_positive_integers_or_null() {
        let q = |j: &str| parse::<QuotaInput>(j).validate();
        assert_eq!(q(r#"{"tokensPerMinute":1}"#).unwrap(), Some(1));
        assert_eq!(q(r#"{"tokensPerMinute":100000.0}"#).unwrap(), Some(100_000));
        assert_eq!(q(r#"{"tokensPerMinute":null}"#).unwrap(), None);
        for bad in [
            r#"{}"#,
            r#"{"tokensPerMinute":0}"#,
            r#"{"tokensPerMinute":1.5}"#,
            r#"{"tokensPerMinute":"5"}"#,
            r#"{"tokensPerMinute":1000000000001}"#,
            r#"{"tokensPerMinute":1e300}"#,
        ] {
            assert_eq!(fields(q(bad).unwrap_err()), ["tokensPerMinute"], "{bad}");
        }
    }

    #[test]
    fn groups_are_labels_or_null() {
        let g = |j: &str| parse::<GroupAssignInput>(j).validate();
        assert_eq!(g(r#"{"group":"gold"}"#).unwrap().as_deref(), Some("gold"));
        assert_eq!(g(r#"{"group":null}"#).unwrap(), None);
        for bad in [r#"{}"#, r#"{"group":"Gold"}"#, r#"{"group":""}"#] {
            assert_eq!(fields(g(bad).unwrap_err()), ["group"], "{bad}");
        }
        let c = |j: &str| parse::<GroupCreateInput>(j).validate();
        assert_eq!(
            c(r#"{"name":"gold","weight":3}"#).unwrap(),
            ValidGroup {
                name: "gold".into(),
                weight: 3
            }
        );
        assert_eq!(fields(c("{}").unwrap_err()), ["name", "weight"]);
        assert_eq!(
            fields(c(r#"{"name":"-x","weight":-2}"#).unwrap_err()),
            ["name", "weight"]
        );
    }

    #[test]
    fn capacity_is_bounded() {
        let c = |j: &str| parse::<CapacityInput>(j).validate();
        assert_eq!(c(r#"{"maxInFlight":64}"#).unwrap(), 64);
        for bad in [
            r#"{}"#,
            r#"{"maxInFlight":0}"#,
            r#"{"maxInFlight":1000001}"#,
        ] {
            assert_eq!(fields(c(bad).unwrap_err()), ["maxInFlight"], "{bad}");
        }
    }

    #[test]
    fn heartbeats_name_every_bad_entry() {
        let h = |j: &str| parse::<HeartbeatInput>(j).validate();
        let ok = h(
            r#"{"instanceId":"gw-1.pod:a_b","tenants":[{"tenant":"acme","inFlight":3,"queued":5},
            {"tenant":"beta","inFlight":0,"queued":0}]}"#,
        )
        .unwrap();
        assert_eq!(ok.instance_id, "gw-1.pod:a_b");
        assert_eq!(
            ok.tenants[0],
            LoadReport {
                tenant: "acme".into(),
                in_flight: 3,
                queued: 5
            }
        );
        assert_eq!(fields(h("{}").unwrap_err()), ["instanceId", "tenants"]);
        let err = h(
            r#"{"instanceId":"gw 1","tenants":[{"tenant":"acme","inFlight":1,"queued":1},
            {"tenant":"Bad","inFlight":-1},{"tenant":"acme","inFlight":1,"queued":1000001}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            fields(err.clone()),
            [
                "instanceId",
                "tenants[1].tenant",
                "tenants[1].inFlight",
                "tenants[1].queued",
                "tenants[2].tenant",
                "tenants[2].queued"
            ]
        );
        assert!(err.field_errors()[4].message.contains("twice"));
        let many: Vec<String> = (0..=MAX_HEARTBEAT_TENANTS)
            .map(|i| format!(r#"{{"tenant":"t{i}","inFlight":0,"queued":0}}"#))
            .collect();
        let body = format!(r#"{{"instanceId":"gw","tenants":[{}]}}"#, many.join(","));
        assert_eq!(fields(h(&body).unwrap_err()), ["tenants"]);
        assert!(!is_instance_id("") && !is_instance_id(&"a".repeat(129)));
        assert!(is_instance_id(&"a".repeat(128)));
    }

    #[test]
    fn splits_sum_to_the_total_by_largest_remainder() {
        assert_eq!(split_proportionally(10, &[5, 5]), [5, 5]);
        assert_eq!(split_proportionally(10, &[1, 1, 1]), [4, 3, 3]);
        assert_eq!(split_proportionally(7, &[2, 0, 5]), [2, 0, 5]);
        assert_eq!(split_proportionally(5, &[3, 1, 6]), [2, 0, 3]);
        assert_eq!(split_proportionally(0, &[3, 4]), [0, 0]);
        assert_eq!(split_proportionally(4, &[0, 0]), [0, 0]);
        assert!(split_proportionally(4, &[]).is_empty());
        // Pseudo-random cases: the sum is exact, no part exceeds its demand
        // when the total does not exceed the demand, and each part is
        // within one unit of its exact share.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..2000 {
            let parts: Vec<u64> = (0..1 + next(6)).map(|_| next(50)).collect();
            let sum: u64 = parts.iter().sum();
            let total = if sum == 0 { 0 } else { next(sum + 1) };
            let s = split_proportionally(total, &parts);
            assert_eq!(s.iter().sum::<u64>(), total, "{parts:?} {total}");
            for (x, p) in s.iter().zip(&parts) {
                assert!(x <= p, "{parts:?} {total} {s:?}");
                if sum == 0 {
                    continue;
                }
                let exact = u128::from(total) * u128::from(*p);
                let lo = exact / u128::from(sum);
                assert!(u128::from(*x) == lo || u128::from(*x) == lo + 1);
            }
        }
    }
}
