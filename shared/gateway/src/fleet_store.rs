//! Fair share and the gateway fleet on PostgreSQL: the named queries and
//! the reads and writes behind [`crate::fleet`]. Configuration changes run
//! in one transaction with their audit entry. A heartbeat writes its
//! instance and load in one transaction, then reads everything its answer
//! needs from one snapshot (a read-only REPEATABLE READ transaction), so
//! the capacity, the instances, the allocation and this instance's limits
//! agree with each other.

use std::collections::HashMap;

use cp_http::pagination::PageRequest;
use cp_http::{time, ApiError, ApiRequest, FieldError, PaginationInfo};
use cp_platform::resource::Versioned;
use cp_platform::resource::{keyset_page, views, KeysetList, TieBreak};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Row, Value};
use serde_json::json;

use crate::fairshare::{allocate, GroupWeight, TenantLoad};
use crate::fleet_model::{
    split_proportionally, Capacity, CapacityInstance, FairshareGroup, FleetCapacity, FleetLive,
    FleetStats, HeartbeatAnswer, InstanceAllocation, LiveInstance, TenantAllocation,
    TenantFairshare, ValidGroup, ValidHeartbeat, DEFAULT_GROUP, DEFAULT_TENANT_WEIGHT,
    EXPIRES_AFTER_SECONDS, HEARTBEAT_INTERVAL_SECONDS, QUOTA_WINDOW_SECONDS,
};

/// Cursor scope of `GET /fairshare/groups`.
pub(crate) const GROUPS_SCOPE: &str = "fairshare-groups";

/// Whether an instance is live: seen within the liveness window (`$n`,
/// seconds, passed as [`EXPIRES_AFTER_SECONDS`]).
macro_rules! live {
    ($col:literal, $param:literal) => {
        concat!($col, " >= now() - ", $param, "::int8 * interval '1 second'")
    };
}

// ------------------------------------------------------------------ tenants

/// The tenant, locked against deletion until the transaction ends.
const TENANT_FOR_SHARE: &str = "SELECT state FROM tenants WHERE name = $1 FOR SHARE";

/// Requires that tenant `name` exists and is not decommissioned (404
/// `TENANT_NOT_FOUND`, 409 naming the state), holding its row until the
/// transaction ends so it cannot go away before the caller's write.
pub(crate) async fn lock_live_tenant<D: Database>(db: &D, name: &str) -> Result<(), Failure> {
    let row = db
        .query_opt(TENANT_FOR_SHARE, &[name.into()])
        .await?
        .ok_or_else(|| ApiError::not_found("TENANT", name))?;
    let state = row.text("state")?;
    if state == "decommissioned" {
        return Err(ApiError::Conflict(format!(
            "tenant '{name}' is decommissioned: its gateway configuration can no longer change"
        ))
        .into());
    }
    Ok(())
}

macro_rules! settings_columns {
    () => {
        concat!(
            "tenant_name, weight, tokens_per_minute, group_name, version, ",
            cp_store::epoch_micros!("updated_at"),
            " AS updated_micros"
        )
    };
}

/// A settings row to lock (version 0: the defaults, never committed as such).
const SETTINGS_ENSURE: &str = "INSERT INTO tenant_fairshare (tenant_name, version) VALUES ($1, 0)
    ON CONFLICT (tenant_name) DO NOTHING";
const SETTINGS_FOR_UPDATE: &str = concat!(
    "SELECT ",
    settings_columns!(),
    " FROM tenant_fairshare WHERE tenant_name = $1 FOR UPDATE"
);
const SETTINGS_UPDATE: &str = concat!(
    "UPDATE tenant_fairshare SET weight = $2::int8, tokens_per_minute = $3, group_name = $4,
        version = version + 1, updated_at = now()
    WHERE tenant_name = $1 RETURNING ",
    settings_columns!()
);
/// The group, locked so it stays while a tenant is assigned to it.
const GROUP_FOR_SHARE: &str = "SELECT name FROM fairshare_groups WHERE name = $1 FOR SHARE";

/// A tenant's settings with their version (0: the defaults, never changed).
struct StoredSettings {
    settings: TenantFairshare,
    version: i64,
}

impl FromRow for StoredSettings {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let version = r.i64("version")?;
        let updated_micros = r.i64("updated_micros")?;
        Ok(Self {
            settings: TenantFairshare {
                tenant: r.text("tenant_name")?,
                weight: r.i64("weight")?,
                tokens_per_minute: r.opt_i64("tokens_per_minute")?,
                group: r.opt_text("group_name")?,
                updated_at: (version > 0).then(|| time::micros_rfc3339(updated_micros)),
            },
            version,
        })
    }
}

/// One change to a tenant's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SettingsChange {
    /// A new weight.
    Weight(i64),
    /// A new quota (`None`: unlimited).
    Quota(Option<i64>),
    /// A new group (`None`: the default group).
    Group(Option<String>),
}

impl SettingsChange {
    fn apply(&self, s: &mut TenantFairshare) -> serde_json::Value {
        match self {
            Self::Weight(w) => {
                let before = std::mem::replace(&mut s.weight, *w);
                json!({ "weight": w, "previousWeight": before })
            }
            Self::Quota(q) => {
                let before = std::mem::replace(&mut s.tokens_per_minute, *q);
                json!({ "tokensPerMinute": q, "previousTokensPerMinute": before })
            }
            Self::Group(g) => {
                let before = std::mem::replace(&mut s.group, g.clone());
                json!({ "group": g, "previousGroup": before })
            }
        }
    }
}

/// Applies `change` to tenant `name`'s settings (created with the defaults
/// on first change); returns them with their ETag.
pub(crate) async fn change_settings<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    name: &str,
    change: SettingsChange,
) -> Result<(TenantFairshare, String), Failure> {
    transaction(ctx.db(), async |db| {
        lock_live_tenant(db, name).await?;
        if let SettingsChange::Group(Some(g)) = &change {
            if db
                .query_opt(GROUP_FOR_SHARE, &[g.as_str().into()])
                .await?
                .is_none()
            {
                return Err(ApiError::validation(vec![FieldError::new(
                    "group",
                    format!("no fair-share group named '{g}' exists"),
                )])
                .into());
            }
        }
        db.execute(SETTINGS_ENSURE, &[name.into()]).await?;
        let current: StoredSettings = db.fetch_one(SETTINGS_FOR_UPDATE, &[name.into()]).await?;
        cp_http::etag::check_if_match(req, &etag(current.version))?;
        let mut settings = current.settings;
        let detail = change.apply(&mut settings);
        let after: StoredSettings = db
            .fetch_one(
                SETTINGS_UPDATE,
                &[
                    name.into(),
                    Value::Int(settings.weight),
                    settings.tokens_per_minute.into(),
                    settings.group.clone().into(),
                ],
            )
            .await?;
        ctx.audit("tenant_fairshare", name)
            .tenant(name)
            .detail(detail)
            .write(db)
            .await?;
        Ok::<_, Failure>((after.settings, etag(after.version)))
    })
    .await
}

fn etag(version: i64) -> String {
    cp_http::etag::for_version(&version.to_string())
}

// ------------------------------------------------------------------- groups

macro_rules! group_columns {
    () => {
        concat!(
            "g.name AS id, g.name, g.weight, g.version, ",
            cp_store::epoch_micros!("g.created_at"),
            " AS created_micros, ",
            cp_store::epoch_micros!("g.updated_at"),
            " AS updated_micros, ",
            "(SELECT count(*) FROM tenant_fairshare f WHERE f.group_name = g.name) AS member_count"
        )
    };
}

const GROUP_LIST_FIRST: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM fairshare_groups g ORDER BY g.created_at, g.name LIMIT $1"
);
const GROUP_LIST_AFTER: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM fairshare_groups g WHERE (g.created_at, g.name) >
        (",
    cp_store::micros_timestamptz!("$2"),
    ", $3)
    ORDER BY g.created_at, g.name LIMIT $1"
);
const GROUP_GET: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM fairshare_groups g WHERE g.name = $1"
);
const GROUP_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM fairshare_groups g WHERE g.name = $1 FOR UPDATE"
);
const GROUP_INSERT: &str = "INSERT INTO fairshare_groups (name, weight) VALUES ($1, $2::int8)";
const GROUP_UPDATE_WEIGHT: &str = "UPDATE fairshare_groups
    SET weight = $2::int8, version = version + 1, updated_at = now() WHERE name = $1";

impl FromRow for FairshareGroup {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            name: r.text("name")?,
            weight: r.i64("weight")?,
            member_count: r.i64("member_count")?,
            created_at: time::micros_rfc3339(r.i64("created_micros")?),
            updated_at: time::micros_rfc3339(r.i64("updated_micros")?),
        })
    }
}

fn group_not_found(name: &str) -> Failure {
    ApiError::not_found("FAIRSHARE_GROUP", name).into()
}

/// One page of groups, oldest first (ties broken by name).
pub(crate) async fn list_groups<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<FairshareGroup>, PaginationInfo), Failure> {
    let list = KeysetList {
        scope: GROUPS_SCOPE,
        first: GROUP_LIST_FIRST,
        after: GROUP_LIST_AFTER,
        tie: TieBreak::Name,
    };
    let (groups, info) = keyset_page::<_, FairshareGroup>(db, page, list, None).await?;
    Ok((views(groups), info))
}

pub(crate) async fn create_group<P: Platform>(
    ctx: &RequestContext<'_, P>,
    group: ValidGroup,
) -> Result<Versioned<FairshareGroup>, Failure> {
    transaction(ctx.db(), async |db| {
        db.execute(
            GROUP_INSERT,
            &[group.name.as_str().into(), Value::Int(group.weight)],
        )
        .await
        .map_err(|err| match err {
            DbError::UniqueViolation { .. } => Failure::with_cause(
                ApiError::Conflict(format!(
                    "a fair-share group named '{}' already exists",
                    group.name
                )),
                err.to_string(),
            ),
            other => other.into(),
        })?;
        ctx.audit("fairshare_group", &group.name)
            .detail(json!({ "name": group.name, "weight": group.weight }))
            .write(db)
            .await?;
        let row = db
            .query_one(GROUP_GET, &[group.name.as_str().into()])
            .await?;
        Ok::<_, Failure>(Versioned::from_row(&row)?)
    })
    .await
}

pub(crate) async fn set_group_weight<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    name: &str,
    weight: i64,
) -> Result<Versioned<FairshareGroup>, Failure> {
    transaction(ctx.db(), async |db| {
        let row = db
            .query_opt(GROUP_GET_FOR_UPDATE, &[name.into()])
            .await?
            .ok_or_else(|| group_not_found(name))?;
        let current = Versioned::<FairshareGroup>::from_row(&row)?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        db.execute(GROUP_UPDATE_WEIGHT, &[name.into(), Value::Int(weight)])
            .await?;
        ctx.audit("fairshare_group", name)
            .detail(json!({ "weight": weight, "previousWeight": current.view.weight }))
            .write(db)
            .await?;
        let row = db.query_one(GROUP_GET, &[name.into()]).await?;
        Ok::<_, Failure>(Versioned::from_row(&row)?)
    })
    .await
}

// ----------------------------------------------------------------- capacity

macro_rules! capacity_columns {
    () => {
        concat!(
            "max_in_flight, version, ",
            cp_store::epoch_micros!("updated_at"),
            " AS updated_micros"
        )
    };
}

const CAPACITY_GET: &str = concat!(
    "SELECT ",
    capacity_columns!(),
    " FROM gateway_capacity WHERE id"
);
const CAPACITY_FOR_UPDATE: &str = concat!(
    "SELECT ",
    capacity_columns!(),
    " FROM gateway_capacity WHERE id FOR UPDATE"
);
const CAPACITY_UPDATE: &str = concat!(
    "UPDATE gateway_capacity SET max_in_flight = $1::int8, version = version + 1, updated_at = now()
    WHERE id RETURNING ",
    capacity_columns!()
);

/// The capacity row: its limit, version and last change.
struct CapacityRow {
    max_in_flight: i64,
    version: i64,
    updated_micros: i64,
}

impl FromRow for CapacityRow {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            max_in_flight: r.i64("max_in_flight")?,
            version: r.i64("version")?,
            updated_micros: r.i64("updated_micros")?,
        })
    }
}

const LIVE_INSTANCES: &str = concat!(
    "SELECT i.instance_id, i.max_in_flight, ",
    cp_store::epoch_micros!("i.last_seen_at"),
    " AS last_seen_micros,
        COALESCE(sum(l.in_flight), 0)::int8 AS in_flight,
        COALESCE(sum(l.queued), 0)::int8 AS queued
    FROM gateway_instances i LEFT JOIN gateway_instance_load l ON l.instance_id = i.instance_id
    WHERE ",
    live!("i.last_seen_at", "$1"),
    " GROUP BY i.instance_id ORDER BY i.instance_id"
);

const LIVE_COUNT: &str = concat!(
    "SELECT count(*) AS live FROM gateway_instances WHERE ",
    live!("last_seen_at", "$1")
);

impl FromRow for LiveInstance {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            instance_id: r.text("instance_id")?,
            last_seen_at: time::micros_rfc3339(r.i64("last_seen_micros")?),
            max_in_flight: r.i64("max_in_flight")?,
            in_flight: r.i64("in_flight")?,
            queued: r.i64("queued")?,
        })
    }
}

async fn live_instances<D: Database>(db: &D) -> Result<Vec<LiveInstance>, Failure> {
    Ok(db
        .fetch_all(LIVE_INSTANCES, &[Value::Int(EXPIRES_AFTER_SECONDS)])
        .await?)
}

fn capacity_view(c: &CapacityRow, instances: Vec<LiveInstance>) -> Capacity {
    Capacity {
        max_in_flight: c.max_in_flight,
        updated_at: time::micros_rfc3339(c.updated_micros),
        instances: instances
            .into_iter()
            .map(|i| CapacityInstance {
                instance_id: i.instance_id,
                max_in_flight: i.max_in_flight,
                last_seen_at: i.last_seen_at,
            })
            .collect(),
    }
}

/// Runs `work` in a read-only REPEATABLE READ transaction: every query sees
/// the same snapshot (and such a transaction never fails to serialise).
async fn snapshot<D: Database, T>(
    db: &D,
    work: impl AsyncFnOnce(&D) -> Result<T, Failure>,
) -> Result<T, Failure> {
    transaction(db, async |db| {
        db.execute(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            &[],
        )
        .await?;
        work(db).await
    })
    .await
}

/// The capacity with the live instances, and its ETag.
pub(crate) async fn get_capacity<D: Database>(db: &D) -> Result<(Capacity, String), Failure> {
    snapshot(db, async |db| {
        let c = db.fetch_one::<CapacityRow>(CAPACITY_GET, &[]).await?;
        let instances = live_instances(db).await?;
        Ok((capacity_view(&c, instances), etag(c.version)))
    })
    .await
}

pub(crate) async fn set_capacity<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    max_in_flight: i64,
) -> Result<(Capacity, String), Failure> {
    let c = transaction(ctx.db(), async |db| {
        let current = db
            .fetch_one::<CapacityRow>(CAPACITY_FOR_UPDATE, &[])
            .await?;
        cp_http::etag::check_if_match(req, &etag(current.version))?;
        let row = db
            .query_one(CAPACITY_UPDATE, &[Value::Int(max_in_flight)])
            .await?;
        ctx.audit("gateway_capacity", "capacity")
            .detail(json!({
                "maxInFlight": max_in_flight,
                "previousMaxInFlight": current.max_in_flight,
            }))
            .write(db)
            .await?;
        Ok::<_, Failure>(CapacityRow::from_row(&row)?)
    })
    .await?;
    let instances = live_instances(ctx.db()).await?;
    Ok((capacity_view(&c, instances), etag(c.version)))
}

// --------------------------------------------------------------- allocation

/// Every tenant a live instance reports: its fleet-wide demand, settings,
/// group weight (null: no row for the group) and whether it used up its
/// quota in the last minute. The quota's usage is one grouped read of
/// `token_usage` on `(tenant_name, occurred_at)`, for the tenants with a
/// quota only. `$1` the liveness window, `$2` the quota window (seconds),
/// `$3` the default weight, `$4` the default group.
const ALLOCATION_INPUT: &str = concat!(
    "WITH live AS (
        SELECT instance_id FROM gateway_instances WHERE ",
    live!("last_seen_at", "$1"),
    "),
    demand AS (
        SELECT l.tenant_name, sum(l.in_flight::int8 + l.queued)::int8 AS demand
        FROM gateway_instance_load l JOIN live ON live.instance_id = l.instance_id
        GROUP BY l.tenant_name),
    settings AS (
        SELECT d.tenant_name, d.demand, COALESCE(f.weight, $3::int8) AS weight,
            f.tokens_per_minute, COALESCE(f.group_name, $4) AS group_name
        FROM demand d LEFT JOIN tenant_fairshare f ON f.tenant_name = d.tenant_name),
    used AS (
        SELECT u.tenant_name, sum(u.input_tokens) + sum(u.output_tokens) AS tokens
        FROM token_usage u
        WHERE u.tenant_name = ANY (ARRAY(
                SELECT tenant_name FROM settings WHERE tokens_per_minute IS NOT NULL))
            AND u.occurred_at > now() - $2::int8 * interval '1 second'
        GROUP BY u.tenant_name)
    SELECT s.tenant_name, s.demand, s.weight::int8 AS weight, s.group_name,
        g.weight::int8 AS group_weight,
        COALESCE(COALESCE(used.tokens, 0) >= s.tokens_per_minute, false) AS over_quota
    FROM settings s
        LEFT JOIN fairshare_groups g ON g.name = s.group_name
        LEFT JOIN used ON used.tenant_name = s.tenant_name
    ORDER BY s.tenant_name"
);

fn count(r: &Row, column: &str) -> Result<u64, DbError> {
    u64::try_from(r.i64(column)?).map_err(|_| DbError::Decode(format!("negative {column}")))
}

fn weight(value: i64) -> Result<u32, DbError> {
    u32::try_from(value).map_err(|_| DbError::Decode(format!("weight {value} out of range")))
}

/// The allocation of the fleet's `capacity` among every tenant the live
/// instances report, by tenant name.
async fn allocation<D: Database>(db: &D, capacity: u64) -> Result<Vec<TenantAllocation>, Failure> {
    let rows = db
        .query(
            ALLOCATION_INPUT,
            &[
                Value::Int(EXPIRES_AFTER_SECONDS),
                Value::Int(QUOTA_WINDOW_SECONDS),
                Value::Int(DEFAULT_TENANT_WEIGHT),
                DEFAULT_GROUP.into(),
            ],
        )
        .await?;
    let mut groups: Vec<GroupWeight> = Vec::new();
    let mut loads = Vec::with_capacity(rows.len());
    let mut weights = Vec::with_capacity(rows.len());
    for r in &rows {
        let group = r.text("group_name")?;
        if let Some(w) = r.opt_i64("group_weight")? {
            if !groups.iter().any(|g| g.name == group) {
                groups.push(GroupWeight {
                    name: group.clone(),
                    weight: weight(w)?,
                });
            }
        }
        let w = r.i64("weight")?;
        weights.push(w);
        loads.push(TenantLoad {
            tenant: r.text("tenant_name")?,
            group,
            weight: weight(w)?,
            demand: count(r, "demand")?,
            // A tenant that used up this minute's tokens gets nothing until
            // the window slides.
            cap: r.bool("over_quota")?.then_some(0),
        });
    }
    Ok(allocate(capacity, &groups, &loads)
        .into_iter()
        .zip(weights)
        .map(|(a, w)| TenantAllocation::new(a, w))
        .collect())
}

/// The fleet's capacity: the current per-instance limit times the live
/// instances.
fn fleet_capacity(max_in_flight: i64, instances: i64) -> FleetCapacity {
    FleetCapacity {
        max_in_flight,
        instances,
        total_slots: max_in_flight.saturating_mul(instances),
    }
}

fn slots(c: &FleetCapacity) -> u64 {
    u64::try_from(c.total_slots).unwrap_or(0)
}

pub(crate) async fn live<D: Database>(db: &D) -> Result<FleetLive, Failure> {
    snapshot(db, async |db| {
        let c = db.fetch_one::<CapacityRow>(CAPACITY_GET, &[]).await?;
        let instances = live_instances(db).await?;
        let n = i64::try_from(instances.len()).unwrap_or(i64::MAX);
        let capacity = fleet_capacity(c.max_in_flight, n);
        let allocation = allocation(db, slots(&capacity)).await?;
        let now = db.query_one(NOW, &[]).await?.i64("now_micros")?;
        Ok(FleetLive {
            generated_at: time::micros_rfc3339(now),
            capacity,
            instances,
            allocation,
        })
    })
    .await
}

/// The snapshot's time.
const NOW: &str = concat!(
    "SELECT ",
    cp_store::epoch_micros!("now()"),
    " AS now_micros"
);

const STATS: &str = concat!(
    "WITH live AS (SELECT instance_id FROM gateway_instances WHERE ",
    live!("last_seen_at", "$1"),
    ")
    SELECT (SELECT count(*) FROM live) AS instances,
        COALESCE(sum(l.in_flight), 0)::int8 AS in_flight,
        COALESCE(sum(l.queued), 0)::int8 AS queued
    FROM gateway_instance_load l JOIN live ON live.instance_id = l.instance_id"
);

pub(crate) async fn stats<D: Database>(db: &D) -> Result<FleetStats, Failure> {
    snapshot(db, async |db| {
        let c = db.fetch_one::<CapacityRow>(CAPACITY_GET, &[]).await?;
        let r = db
            .query_one(STATS, &[Value::Int(EXPIRES_AFTER_SECONDS)])
            .await?;
        let instances = r.i64("instances")?;
        Ok(FleetStats {
            instances,
            in_flight: r.i64("in_flight")?,
            queued: r.i64("queued")?,
            max_in_flight: c.max_in_flight,
            total_slots: c.max_in_flight.saturating_mul(instances),
        })
    })
    .await
}

// ---------------------------------------------------------------- heartbeat

/// Records the instance as seen now and told the current capacity; an
/// instance coming back after ageing out starts afresh. `$1` the instance,
/// `$2` the liveness window.
const INSTANCE_UPSERT: &str = concat!(
    "INSERT INTO gateway_instances AS i (instance_id, max_in_flight)
        SELECT $1, max_in_flight FROM gateway_capacity WHERE id
    ON CONFLICT (instance_id) DO UPDATE SET max_in_flight = EXCLUDED.max_in_flight,
        last_seen_at = now(),
        first_seen_at = CASE WHEN ",
    live!("i.last_seen_at", "$2"),
    " THEN i.first_seen_at ELSE now() END
    RETURNING max_in_flight"
);
const LOAD_CLEAR: &str = "DELETE FROM gateway_instance_load WHERE instance_id = $1";
/// The heartbeat's entries, as one JSON array.
const LOAD_INSERT: &str =
    "INSERT INTO gateway_instance_load (instance_id, tenant_name, in_flight, queued)
    SELECT $1, t.tenant, t.in_flight, t.queued
    FROM jsonb_to_recordset($2::jsonb) AS t(tenant text, in_flight int4, queued int4)";
/// Deletes instances that aged out (their load goes with them). Rows
/// another heartbeat holds are skipped, so concurrent heartbeats never
/// wait for (or deadlock on) each other here; a later one prunes them.
const PRUNE: &str = "DELETE FROM gateway_instances WHERE instance_id IN (
        SELECT instance_id FROM gateway_instances
        WHERE last_seen_at < now() - $1::int8 * interval '1 second'
        FOR UPDATE SKIP LOCKED)";
/// The per-instance demand, on every live instance, of the tenants instance
/// `$1` reports, by tenant then instance (the order every instance splits
/// in). `$2` the liveness window.
const TENANT_SPLITS: &str = concat!(
    "SELECT l.tenant_name, l.instance_id, (l.in_flight::int8 + l.queued) AS demand
    FROM gateway_instance_load l JOIN gateway_instances i ON i.instance_id = l.instance_id
    WHERE ",
    live!("i.last_seen_at", "$2"),
    " AND l.tenant_name IN (SELECT tenant_name FROM gateway_instance_load WHERE instance_id = $1)
    ORDER BY l.tenant_name, l.instance_id"
);

/// Records a heartbeat and answers with the instance's configuration.
pub(crate) async fn heartbeat<D: Database>(
    db: &D,
    beat: ValidHeartbeat,
) -> Result<HeartbeatAnswer, Failure> {
    let id = beat.instance_id.as_str();
    let loads: Vec<serde_json::Value> = beat
        .tenants
        .iter()
        .map(|t| json!({ "tenant": t.tenant, "in_flight": t.in_flight, "queued": t.queued }))
        .collect();
    // What the instance is told now, and recorded as told.
    let told = transaction(db, async |db| {
        let told = db
            .query_one(
                INSTANCE_UPSERT,
                &[id.into(), Value::Int(EXPIRES_AFTER_SECONDS)],
            )
            .await?
            .i64("max_in_flight")?;
        db.execute(LOAD_CLEAR, &[id.into()]).await?;
        if !loads.is_empty() {
            db.execute(LOAD_INSERT, &[id.into(), Value::Json(json!(loads))])
                .await?;
        }
        db.execute(PRUNE, &[Value::Int(EXPIRES_AFTER_SECONDS)])
            .await?;
        Ok::<_, Failure>(told)
    })
    .await?;

    snapshot(db, async |db| {
        let live = db
            .query_one(LIVE_COUNT, &[Value::Int(EXPIRES_AFTER_SECONDS)])
            .await?
            .i64("live")?;
        let capacity = fleet_capacity(told, live);
        let fleet = allocation(db, slots(&capacity)).await?;
        // Per tenant: (instance, demand) over the live instances.
        let mut parts: HashMap<String, Vec<(String, u64)>> = HashMap::new();
        for r in db
            .query(
                TENANT_SPLITS,
                &[id.into(), Value::Int(EXPIRES_AFTER_SECONDS)],
            )
            .await?
        {
            parts
                .entry(r.text("tenant_name")?)
                .or_default()
                .push((r.text("instance_id")?, count(&r, "demand")?));
        }
        let allocation = fleet
            .into_iter()
            .filter_map(|a| {
                let p = parts.get(&a.tenant)?;
                let demands: Vec<u64> = p.iter().map(|(_, d)| *d).collect();
                let split = split_proportionally(a.allocated, &demands);
                let mine = p.iter().position(|(i, _)| i == id)?;
                Some(InstanceAllocation {
                    instance_limit: split[mine],
                    allocation: a,
                })
            })
            .collect();
        Ok(HeartbeatAnswer {
            instance_id: id.to_owned(),
            max_in_flight: told,
            heartbeat_interval_seconds: HEARTBEAT_INTERVAL_SECONDS,
            expires_after_seconds: EXPIRES_AFTER_SECONDS,
            allocation,
        })
    })
    .await
}
