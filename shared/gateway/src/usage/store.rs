//! Token usage on PostgreSQL: ingestion into the raw table, the hourly
//! rollup and the monthly per-tenant spend in one statement of one
//! transaction, and the reads over them.
//!
//! Reads over a range use the rollup for the whole UTC hours inside it and
//! the raw records only for the partial hours at its edges, so totals are
//! exact for any range while a month costs a few hundred rollup rows per
//! tenant, key and model instead of every request. Minute buckets read the
//! raw records (index on `occurred_at`).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, DurationRound, Utc};
use cp_http::pagination::{Cursor, PageRequest};
use cp_http::time::{micros_rfc3339, rfc3339};
use cp_http::{ApiError, PaginationInfo};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, Row, Value};
use rust_decimal::Decimal;
use serde_json::json;

use super::input::{Filters, Range, ValidRecord};
use super::spend::{Month, Scope};
use super::views::{
    Bucket, CacheReport, CacheStats, CeilingSource, CostReport, GroupBy, IngestResult,
    ModelCacheStats, ModelCost, QuotaLevel, QuotaState, SeriesPoint, TenantCost, TenantSeries,
    TenantUsageState, UsageItem, UsageRecord,
};
use crate::money::{cost, ModelPrice, TokenCounts};

/// Cursor scope of `GET /token-usage`.
pub(super) const RECORDS_SCOPE: &str = "token-usage";
/// Most buckets of one series.
pub(super) const MAX_BUCKETS: i64 = 10_000;
/// Most points of `GET /usage/series/tenants` (tenants times buckets).
pub(super) const MAX_TENANT_POINTS: i64 = 100_000;
/// How often an ingestion is retried after a deadlock or serialisation
/// failure (concurrent batches updating the same rollup rows).
const INGEST_ATTEMPTS: usize = 3;

// --------------------------------------------------------------- ingestion

/// Which of the batch's tenants exist (`$1`: a JSON array of names).
const TENANTS_EXISTING: &str =
    "SELECT name FROM tenants WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))";

/// The batch's models with their current prices (`$1`: names).
const MODEL_PRICES: &str = "SELECT name, input_price_per_million::text AS input_price,
        output_price_per_million::text AS output_price,
        cached_input_price_per_million::text AS cached_input_price
    FROM models WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))";

/// Inserts the records (`$1`: a JSON array), skipping request ids the
/// tenant already has, and adds what was inserted to the hourly rollup and
/// the monthly spend. Rows are locked in a fixed order so concurrent
/// batches wait for each other instead of deadlocking.
const INGEST: &str = "WITH input AS (
        SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
            request_id text, tenant_name text, key_id uuid, model text,
            input_tokens bigint, output_tokens bigint, cached_tokens bigint,
            cache_hit boolean, latency_ms bigint, cost numeric, occurred_at timestamptz)
    ),
    inserted AS (
        INSERT INTO token_usage (request_id, tenant_name, key_id, model, input_tokens,
            output_tokens, cached_tokens, cache_hit, latency_ms, cost, occurred_at)
        SELECT request_id, tenant_name, key_id, model, input_tokens, output_tokens,
            cached_tokens, cache_hit, latency_ms, cost, occurred_at
        FROM input ORDER BY tenant_name, request_id
        ON CONFLICT (tenant_name, request_id) DO NOTHING
        RETURNING tenant_name, key_id, model, input_tokens, output_tokens, cached_tokens,
            cache_hit, latency_ms, cost, occurred_at
    ),
    hourly AS (
        INSERT INTO token_usage_hourly AS h (hour, tenant_name, key_id, model, requests,
            input_tokens, output_tokens, cached_tokens, cache_hits, latency_ms, cost)
        SELECT date_bin('1 hour', occurred_at, timestamptz '1970-01-01 00:00:00+00') AS hour,
            tenant_name, key_id, model, count(*), sum(input_tokens), sum(output_tokens),
            sum(cached_tokens), count(*) FILTER (WHERE cache_hit), sum(latency_ms), sum(cost)
        FROM inserted
        GROUP BY 1, tenant_name, model, key_id
        ORDER BY 1, tenant_name, model, key_id
        ON CONFLICT (hour, tenant_name, model, key_id) DO UPDATE SET
            requests = h.requests + EXCLUDED.requests,
            input_tokens = h.input_tokens + EXCLUDED.input_tokens,
            output_tokens = h.output_tokens + EXCLUDED.output_tokens,
            cached_tokens = h.cached_tokens + EXCLUDED.cached_tokens,
            cache_hits = h.cache_hits + EXCLUDED.cache_hits,
            latency_ms = h.latency_ms + EXCLUDED.latency_ms,
            cost = h.cost + EXCLUDED.cost
    ),
    monthly AS (
        INSERT INTO token_usage_monthly AS m (month, tenant_name, requests, cost)
        SELECT date_trunc('month', occurred_at, 'UTC') AS month, tenant_name, count(*), sum(cost)
        FROM inserted
        GROUP BY 1, tenant_name
        ORDER BY 1, tenant_name
        ON CONFLICT (month, tenant_name) DO UPDATE SET
            requests = m.requests + EXCLUDED.requests,
            cost = m.cost + EXCLUDED.cost
    )
    SELECT tenant_name, count(*) AS accepted FROM inserted GROUP BY tenant_name";

/// What the budget and quota of the tenants `$1` (JSON array) depend on:
/// `$2` the current month's first instant, `$3` one minute ago.
const TENANT_FACTS: &str = "WITH g AS (
        SELECT (SELECT monthly_ceiling::text FROM ai_budget_global WHERE id) AS global_ceiling,
            (SELECT coalesce(sum(cost), 0) FROM token_usage_monthly
                WHERE month = token_usage_instant($2::text))::text AS platform_spend
    )
    SELECT t.name, t.monthly_budget_cents,
        coalesce((SELECT m.cost FROM token_usage_monthly m
            WHERE m.month = token_usage_instant($2::text) AND m.tenant_name = t.name), 0)::text AS spend,
        a.monthly_ceiling::text AS account_ceiling,
        CASE WHEN a.user_id IS NOT NULL THEN
            (SELECT coalesce(sum(m.cost), 0) FROM token_usage_monthly m
                JOIN tenants o ON o.name = m.tenant_name
                WHERE m.month = token_usage_instant($2::text) AND o.owner_user_id = u.id)::text
        END AS account_spend,
        f.tokens_per_minute,
        (SELECT coalesce(sum(x.input_tokens + x.output_tokens), 0) FROM token_usage x
            WHERE x.tenant_name = t.name AND x.occurred_at > token_usage_instant($3::text))::int8
            AS used_last_minute,
        g.global_ceiling, g.platform_spend
    FROM tenants t CROSS JOIN g
    LEFT JOIN users u ON u.id = t.owner_user_id
    LEFT JOIN ai_budget_accounts a ON a.user_id = u.id
    LEFT JOIN tenant_fairshare f ON f.tenant_name = t.name
    WHERE t.name IN (SELECT jsonb_array_elements_text($1::jsonb))
    ORDER BY t.name";

// ------------------------------------------------------------------- reads

/// The usage rows of a range: rollup rows of the whole hours `[$1, $2)`
/// and raw records of the edges `[$3, $1)` and `[$2, $4)`, filtered by
/// tenant `$5`, key `$6` and model `$7` (each NULL: any). `at` is the hour
/// or the record's time.
macro_rules! usage_rows {
    () => {
        "(SELECT tenant_name, key_id, model, hour AS at, requests, input_tokens,
                output_tokens, cached_tokens, cache_hits, latency_ms, cost
            FROM token_usage_hourly
            WHERE hour >= token_usage_instant($1::text) AND hour < token_usage_instant($2::text)
                AND ($5::text IS NULL OR tenant_name = $5::text)
                AND ($6::text IS NULL OR key_id = $6::text::uuid)
                AND ($7::text IS NULL OR model = $7::text)
        UNION ALL
        SELECT tenant_name, key_id, model, occurred_at, 1, input_tokens, output_tokens,
                cached_tokens, cache_hit::int::int8, latency_ms, cost
            FROM token_usage
            WHERE ((occurred_at >= token_usage_instant($3::text) AND occurred_at < token_usage_instant($1::text))
                    OR (occurred_at >= token_usage_instant($2::text) AND occurred_at < token_usage_instant($4::text)))
                AND ($5::text IS NULL OR tenant_name = $5::text)
                AND ($6::text IS NULL OR key_id = $6::text::uuid)
                AND ($7::text IS NULL OR model = $7::text)) AS u"
    };
}

/// The totals every grouping reports.
macro_rules! totals {
    () => {
        "sum(requests)::int8 AS requests, sum(input_tokens)::int8 AS input_tokens,
        sum(output_tokens)::int8 AS output_tokens, sum(cached_tokens)::int8 AS cached_tokens,
        sum(cache_hits)::int8 AS cache_hits,
        round(sum(latency_ms)::numeric / nullif(sum(requests), 0))::int8 AS avg_latency_ms,
        trim_scale(sum(cost))::text AS cost"
    };
}

const BY_TENANT: &str = concat!(
    "SELECT tenant_name, ",
    totals!(),
    " FROM ",
    usage_rows!(),
    " GROUP BY tenant_name ORDER BY tenant_name"
);

const BY_KEY: &str = concat!(
    "SELECT g.*, k.name AS key_name FROM (SELECT key_id::text AS key_id, tenant_name, ",
    totals!(),
    " FROM ",
    usage_rows!(),
    " GROUP BY key_id, tenant_name) g LEFT JOIN gateway_keys k ON k.id = g.key_id::uuid
    ORDER BY g.tenant_name, g.key_id NULLS FIRST"
);

const BY_MODEL: &str = concat!(
    "SELECT model, ",
    totals!(),
    " FROM ",
    usage_rows!(),
    " GROUP BY model ORDER BY model"
);

/// A series of `$width` buckets (an interval literal, so the planner sees
/// a constant). Buckets start at multiples of the width from the epoch:
/// UTC minutes, hours and days whatever the session's time zone.
macro_rules! series {
    ($width:literal) => {
        concat!(
            "SELECT ",
            cp_store::epoch_micros!("b"),
            " AS start_micros, sum(requests)::int8 AS requests,
                sum(input_tokens)::int8 AS input_tokens, sum(output_tokens)::int8 AS output_tokens,
                sum(cached_tokens)::int8 AS cached_tokens, trim_scale(sum(cost))::text AS cost
            FROM (SELECT date_bin(interval '",
            $width,
            "', at, timestamptz '1970-01-01 00:00:00+00') AS b, requests, input_tokens,
                output_tokens, cached_tokens, cost FROM ",
            usage_rows!(),
            ") s GROUP BY b ORDER BY b"
        )
    };
}

/// A series per tenant (`$8` how many points at most).
macro_rules! series_by_tenant {
    ($width:literal) => {
        concat!(
            "SELECT tenant_name, ",
            cp_store::epoch_micros!("b"),
            " AS start_micros, sum(requests)::int8 AS requests,
                sum(input_tokens)::int8 AS input_tokens, sum(output_tokens)::int8 AS output_tokens,
                sum(cached_tokens)::int8 AS cached_tokens, trim_scale(sum(cost))::text AS cost
            FROM (SELECT tenant_name, date_bin(interval '",
            $width,
            "', at, timestamptz '1970-01-01 00:00:00+00') AS b, requests, input_tokens,
                output_tokens, cached_tokens, cost FROM ",
            usage_rows!(),
            ") s GROUP BY tenant_name, b ORDER BY tenant_name, b LIMIT $8"
        )
    };
}

const SERIES_MINUTE: &str = series!("1 minute");
const SERIES_HOUR: &str = series!("1 hour");
const SERIES_DAY: &str = series!("1 day");
const TENANT_SERIES_MINUTE: &str = series_by_tenant!("1 minute");
const TENANT_SERIES_HOUR: &str = series_by_tenant!("1 hour");
const TENANT_SERIES_DAY: &str = series_by_tenant!("1 day");

/// Per model and overall (`all_models` marks the overall row, present
/// even without usage).
const CACHE: &str = concat!(
    "SELECT GROUPING(model) = 1 AS all_models, model,
        coalesce(sum(requests), 0)::int8 AS requests,
        coalesce(sum(cache_hits), 0)::int8 AS cache_hits
    FROM ",
    usage_rows!(),
    " GROUP BY GROUPING SETS ((model), ()) ORDER BY model"
);

/// Per tenant, per model and in total (`set`: 1 per tenant, 2 per model,
/// 3 the total, present even without usage).
const COSTS: &str = concat!(
    "SELECT GROUPING(tenant_name, model) AS set, tenant_name, model,
        coalesce(sum(requests), 0)::int8 AS requests,
        trim_scale(coalesce(sum(cost), 0))::text AS cost
    FROM ",
    usage_rows!(),
    " GROUP BY GROUPING SETS ((tenant_name), (model), ())
    ORDER BY sum(cost) DESC, tenant_name, model"
);

/// Raw records, newest first: `$1` the limit, `$2`-`$4` tenant, key and
/// model, `$5`/`$6` from and to (NULL: open), `$7`/`$8` the cursor's time
/// and id (NULL: the first page).
const RECORDS: &str = concat!(
    "SELECT id, request_id, tenant_name, key_id::text AS key_id, model, input_tokens,
        output_tokens, cached_tokens, cache_hit, latency_ms, trim_scale(cost)::text AS cost, ",
    cp_store::epoch_micros!("occurred_at"),
    " AS occurred_micros, ",
    cp_store::epoch_micros!("ingested_at"),
    " AS ingested_micros
    FROM token_usage
    WHERE ($2::text IS NULL OR tenant_name = $2::text)
        AND ($3::text IS NULL OR key_id = $3::text::uuid)
        AND ($4::text IS NULL OR model = $4::text)
        AND ($5::text IS NULL OR occurred_at >= token_usage_instant($5::text))
        AND ($6::text IS NULL OR occurred_at < token_usage_instant($6::text))
        AND ($7::text IS NULL OR (occurred_at, id) < (token_usage_instant($7::text), $8::int8))
    ORDER BY occurred_at DESC, id DESC LIMIT $1"
);

const TENANT_EXISTS: &str = "SELECT name FROM tenants WHERE name = $1";

// --------------------------------------------------------------- ingestion

fn decimal(text: &str) -> Result<Decimal, Failure> {
    Decimal::from_str(text).map_err(|e| {
        Failure::with_cause(
            ApiError::Internal,
            format!("amount {text:?} out of range: {e}"),
        )
    })
}

fn opt_decimal(text: Option<String>) -> Result<Option<Decimal>, Failure> {
    text.as_deref().map(decimal).transpose()
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> serde_json::Value {
    json!(items.collect::<BTreeSet<_>>())
}

fn field_error(field: String, message: String) -> cp_http::FieldError {
    cp_http::FieldError::new(field, message)
}

/// Checks that every record's tenant exists and model is registered (400
/// naming `records[i].tenant` / `records[i].model` otherwise) and prices
/// each record at its model's current prices.
async fn price<D: Database>(db: &D, records: &[ValidRecord]) -> Result<Vec<Decimal>, Failure> {
    let tenants = names(records.iter().map(|r| r.tenant.as_str()));
    let existing: BTreeSet<String> = db
        .query(TENANTS_EXISTING, &[Value::Json(tenants)])
        .await?
        .iter()
        .map(|r| r.text("name"))
        .collect::<Result<_, _>>()?;
    let models = names(records.iter().map(|r| r.model.as_str()));
    let mut prices = BTreeMap::new();
    for row in db.query(MODEL_PRICES, &[Value::Json(models)]).await? {
        let price = ModelPrice {
            input: decimal(&row.text("input_price")?)?,
            output: decimal(&row.text("output_price")?)?,
            cached_input: opt_decimal(row.opt_text("cached_input_price")?)?,
        };
        prices.insert(row.text("name")?, price);
    }
    let mut errors = Vec::new();
    let mut costs = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        if !existing.contains(&r.tenant) {
            errors.push(field_error(
                format!("records[{i}].tenant"),
                format!("tenant '{}' does not exist", r.tenant),
            ));
        }
        match prices.get(&r.model) {
            None => errors.push(field_error(
                format!("records[{i}].model"),
                format!("model '{}' is not registered", r.model),
            )),
            Some(p) => {
                let tokens = TokenCounts {
                    input: r.input_tokens.unsigned_abs(),
                    output: r.output_tokens.unsigned_abs(),
                    cached: r.cached_tokens.unsigned_abs(),
                };
                costs.push(cost(tokens, p).total.normalize());
            }
        }
    }
    if !errors.is_empty() {
        errors.truncate(100);
        return Err(ApiError::validation(errors).into());
    }
    Ok(costs)
}

/// Ingests a validated batch: duplicates (already stored, or repeated in
/// the batch) are skipped, the rest is written with the rollups and ONE
/// audit entry for the batch in one transaction; then each tenant's
/// budget and quota state.
pub(super) async fn ingest<P: Platform>(
    ctx: &RequestContext<'_, P>,
    records: Vec<ValidRecord>,
) -> Result<IngestResult, Failure> {
    let costs = price(ctx.db(), &records).await?;
    let total = records.len();
    let mut seen = BTreeSet::new();
    let rows: Vec<serde_json::Value> = records
        .iter()
        .zip(&costs)
        .filter(|(r, _)| seen.insert((r.tenant.as_str(), r.request_id.as_str())))
        .map(|(r, c)| {
            json!({
                "request_id": r.request_id,
                "tenant_name": r.tenant,
                "key_id": r.key_id,
                "model": r.model,
                "input_tokens": r.input_tokens,
                "output_tokens": r.output_tokens,
                "cached_tokens": r.cached_tokens,
                "cache_hit": r.cache_hit,
                "latency_ms": r.latency_ms,
                "cost": c.to_string(),
                "occurred_at": rfc3339(r.occurred_at),
            })
        })
        .collect();
    let tenants: BTreeSet<&str> = records.iter().map(|r| r.tenant.as_str()).collect();
    let rows = Value::Json(serde_json::Value::Array(rows));
    let mut attempt = 0;
    let accepted = loop {
        attempt += 1;
        let result = transaction(ctx.db(), async |db| {
            let per_tenant = db.query(INGEST, std::slice::from_ref(&rows)).await?;
            let mut accepted = 0;
            let mut detail = serde_json::Map::new();
            for r in &per_tenant {
                let n = r.i64("accepted")?;
                accepted += n;
                detail.insert(r.text("tenant_name")?, json!(n));
            }
            // Telemetry at volume: one audit entry per batch, not per record.
            let mut entry = ctx.audit("token_usage", &ctx.request_id).detail(json!({
                "records": total,
                "accepted": accepted,
                "duplicates": total as i64 - accepted,
                "tenants": tenants,
                "acceptedByTenant": detail,
            }));
            if let [only] = tenants.iter().collect::<Vec<_>>()[..] {
                entry = entry.tenant(only);
            }
            entry.write(db).await?;
            Ok::<_, DbError>(accepted)
        })
        .await;
        match result {
            Err(DbError::TransactionConflict(_)) if attempt < INGEST_ATTEMPTS => continue,
            other => break other?,
        }
    };
    let states = tenant_states(ctx, tenants.iter().copied()).await?;
    Ok(IngestResult {
        accepted,
        duplicates: total as i64 - accepted,
        tenants: states,
    })
}

/// One tenant's month and quota, from a [`TENANT_FACTS`] row.
struct Facts {
    name: String,
    month: Month,
    quota: QuotaState,
}

fn facts(row: &Row) -> Result<Facts, Failure> {
    let spend = decimal(&row.text("spend")?)?;
    let mut scopes = Vec::new();
    if let Some(cents) = row.opt_i64("monthly_budget_cents")? {
        scopes.push(Scope {
            source: CeilingSource::Tenant,
            ceiling: Decimal::new(cents, 2),
            spend,
        });
    }
    if let (Some(ceiling), Some(account_spend)) = (
        opt_decimal(row.opt_text("account_ceiling")?)?,
        opt_decimal(row.opt_text("account_spend")?)?,
    ) {
        scopes.push(Scope {
            source: CeilingSource::Account,
            ceiling,
            spend: account_spend,
        });
    }
    if let Some(ceiling) = opt_decimal(row.opt_text("global_ceiling")?)? {
        scopes.push(Scope {
            source: CeilingSource::Global,
            ceiling,
            spend: decimal(&row.text("platform_spend")?)?,
        });
    }
    let limit = row.opt_i64("tokens_per_minute")?;
    let used = row.i64("used_last_minute")?;
    Ok(Facts {
        name: row.text("name")?,
        month: Month { spend, scopes },
        quota: QuotaState {
            tokens_per_minute: limit,
            used_last_minute: used,
            state: match limit {
                Some(l) if used >= l => QuotaLevel::Exceeded,
                _ => QuotaLevel::Ok,
            },
        },
    })
}

async fn load_facts<'a, P: Platform>(
    ctx: &RequestContext<'_, P>,
    tenants: impl Iterator<Item = &'a str>,
) -> Result<Vec<Facts>, Failure> {
    let month = super::input::month_start(ctx.now);
    let minute_ago = ctx.now - Duration::seconds(60);
    ctx.db()
        .query(
            TENANT_FACTS,
            &[
                Value::Json(names(tenants)),
                rfc3339(month).into(),
                rfc3339(minute_ago).into(),
            ],
        )
        .await?
        .iter()
        .map(facts)
        .collect()
}

async fn tenant_states<'a, P: Platform>(
    ctx: &RequestContext<'_, P>,
    tenants: impl Iterator<Item = &'a str>,
) -> Result<Vec<TenantUsageState>, Failure> {
    Ok(load_facts(ctx, tenants)
        .await?
        .into_iter()
        .map(|f| TenantUsageState {
            tenant: f.name,
            budget: f.month.budget_state(),
            quota: f.quota,
        })
        .collect())
}

/// A tenant's month to date (404 `TENANT_NOT_FOUND` when there is no such
/// tenant).
pub(super) async fn tenant_month<P: Platform>(
    ctx: &RequestContext<'_, P>,
    tenant: &str,
) -> Result<Month, Failure> {
    ctx.db()
        .query_opt(TENANT_EXISTS, &[tenant.into()])
        .await?
        .ok_or_else(|| ApiError::not_found("TENANT", tenant))?;
    load_facts(ctx, std::iter::once(tenant))
        .await?
        .into_iter()
        .next()
        .map(|f| f.month)
        // Deleted between the two reads.
        .ok_or_else(|| ApiError::not_found("TENANT", tenant).into())
}

// ------------------------------------------------------------------- reads

/// How a range splits into whole hours (from the rollup) and edges (raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    rollup_from: DateTime<Utc>,
    rollup_to: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

fn ceil_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let f = floor_hour(t);
    if f == t {
        t
    } else {
        f + Duration::hours(1)
    }
}

fn split(range: Range, use_rollup: bool) -> Split {
    let (from, to) = (range.from, range.to.max(range.from));
    let (rf, rt) = (ceil_hour(from), floor_hour(to));
    if use_rollup && rf < rt {
        Split {
            rollup_from: rf,
            rollup_to: rt,
            from,
            to,
        }
    } else {
        // No whole hour: every record is an edge record, `[from, to)`.
        Split {
            rollup_from: to,
            rollup_to: to,
            from,
            to,
        }
    }
}

fn params(s: Split, f: &Filters) -> Vec<Value> {
    vec![
        rfc3339(s.rollup_from).into(),
        rfc3339(s.rollup_to).into(),
        rfc3339(s.from).into(),
        rfc3339(s.to).into(),
        f.tenant.clone().into(),
        f.key_id.clone().into(),
        f.model.clone().into(),
    ]
}

fn item(r: &Row, group: GroupBy) -> Result<UsageItem, DbError> {
    Ok(UsageItem {
        tenant: match group {
            GroupBy::Tenant | GroupBy::Key => Some(r.text("tenant_name")?),
            GroupBy::Model => None,
        },
        key_id: match group {
            GroupBy::Key => Some(r.opt_text("key_id")?),
            _ => None,
        },
        key_name: match group {
            GroupBy::Key => Some(r.opt_text("key_name")?),
            _ => None,
        },
        model: match group {
            GroupBy::Model => Some(r.text("model")?),
            _ => None,
        },
        requests: r.i64("requests")?,
        input_tokens: r.i64("input_tokens")?,
        output_tokens: r.i64("output_tokens")?,
        cached_tokens: r.i64("cached_tokens")?,
        cache_hits: r.i64("cache_hits")?,
        avg_latency_ms: r.opt_i64("avg_latency_ms")?.unwrap_or(0),
        cost: r.text("cost")?,
    })
}

/// Totals over a range, grouped.
pub(super) async fn totals<D: Database>(
    db: &D,
    range: Range,
    filters: &Filters,
    group: GroupBy,
) -> Result<Vec<UsageItem>, Failure> {
    let sql = match group {
        GroupBy::Tenant => BY_TENANT,
        GroupBy::Key => BY_KEY,
        GroupBy::Model => BY_MODEL,
    };
    let rows = db.query(sql, &params(split(range, true), filters)).await?;
    Ok(rows
        .iter()
        .map(|r| item(r, group))
        .collect::<Result<_, _>>()?)
}

fn stride(bucket: Bucket) -> Duration {
    match bucket {
        Bucket::Minute => Duration::minutes(1),
        Bucket::Hour => Duration::hours(1),
        Bucket::Day => Duration::days(1),
    }
}

/// How many buckets of `bucket` the range spans (its first bucket starts
/// at or before `from`).
pub(super) fn bucket_count(range: Range, bucket: Bucket) -> i64 {
    if range.to <= range.from {
        return 0;
    }
    let width = stride(bucket);
    let first = range.from.duration_trunc(width).unwrap_or(range.from);
    let span = (range.to - first).num_microseconds().unwrap_or(i64::MAX);
    let w = width.num_microseconds().unwrap_or(1);
    span / w + i64::from(span % w != 0)
}

fn series_params(range: Range, filters: &Filters, bucket: Bucket) -> Vec<Value> {
    params(split(range, bucket != Bucket::Minute), filters)
}

fn point(r: &Row) -> Result<SeriesPoint, DbError> {
    Ok(SeriesPoint {
        start: micros_rfc3339(r.i64("start_micros")?),
        requests: r.i64("requests")?,
        input_tokens: r.i64("input_tokens")?,
        output_tokens: r.i64("output_tokens")?,
        cached_tokens: r.i64("cached_tokens")?,
        cost: r.text("cost")?,
    })
}

/// A series (buckets without usage are omitted).
pub(super) async fn series<D: Database>(
    db: &D,
    range: Range,
    filters: &Filters,
    bucket: Bucket,
) -> Result<Vec<SeriesPoint>, Failure> {
    let sql = match bucket {
        Bucket::Minute => SERIES_MINUTE,
        Bucket::Hour => SERIES_HOUR,
        Bucket::Day => SERIES_DAY,
    };
    let rows = db
        .query(sql, &series_params(range, filters, bucket))
        .await?;
    Ok(rows.iter().map(point).collect::<Result<_, _>>()?)
}

/// A series per tenant; more than [`MAX_TENANT_POINTS`] points is a 400
/// naming `bucket`.
pub(super) async fn series_by_tenant<D: Database>(
    db: &D,
    range: Range,
    filters: &Filters,
    bucket: Bucket,
) -> Result<Vec<TenantSeries>, Failure> {
    let mut p = series_params(range, filters, bucket);
    p.push(Value::Int(MAX_TENANT_POINTS + 1));
    let sql = match bucket {
        Bucket::Minute => TENANT_SERIES_MINUTE,
        Bucket::Hour => TENANT_SERIES_HOUR,
        Bucket::Day => TENANT_SERIES_DAY,
    };
    let rows = db.query(sql, &p).await?;
    if rows.len() as i64 > MAX_TENANT_POINTS {
        return Err(ApiError::invalid(
            "bucket",
            format!(
                "the series would have more than {MAX_TENANT_POINTS} points: use a wider \
                 bucket, a shorter range or a tenant filter"
            ),
        )
        .into());
    }
    let mut out: Vec<TenantSeries> = Vec::new();
    for r in &rows {
        let tenant = r.text("tenant_name")?;
        let p = point(r)?;
        match out.last_mut() {
            Some(s) if s.tenant == tenant => s.points.push(p),
            _ => out.push(TenantSeries {
                tenant,
                points: vec![p],
            }),
        }
    }
    Ok(out)
}

fn hit_rate(hits: i64, requests: i64) -> f64 {
    if requests <= 0 {
        return 0.0;
    }
    // Four decimals; an exact ratio of counts, not money.
    ((hits as f64 / requests as f64) * 10_000.0).round() / 10_000.0
}

/// Response-cache hit rates.
pub(super) async fn cache<D: Database>(
    db: &D,
    range: Range,
    filters: &Filters,
) -> Result<CacheReport, Failure> {
    let rows = db
        .query(CACHE, &params(split(range, true), filters))
        .await?;
    let mut overall = CacheStats {
        requests: 0,
        cache_hits: 0,
        hit_rate: 0.0,
    };
    let mut models = Vec::new();
    for r in &rows {
        let (requests, hits) = (r.i64("requests")?, r.i64("cache_hits")?);
        if r.bool("all_models")? {
            overall = CacheStats {
                requests,
                cache_hits: hits,
                hit_rate: hit_rate(hits, requests),
            };
        } else {
            models.push(ModelCacheStats {
                model: r.text("model")?,
                requests,
                cache_hits: hits,
                hit_rate: hit_rate(hits, requests),
            });
        }
    }
    Ok(CacheReport {
        from: rfc3339(range.from),
        to: rfc3339(range.to),
        overall,
        models,
    })
}

/// Costs per tenant, per model and in total.
pub(super) async fn costs<D: Database>(
    db: &D,
    range: Range,
    filters: &Filters,
) -> Result<CostReport, Failure> {
    let rows = db
        .query(COSTS, &params(split(range, true), filters))
        .await?;
    let mut report = CostReport {
        from: rfc3339(range.from),
        to: rfc3339(range.to),
        currency: "USD",
        total: "0".into(),
        by_tenant: Vec::new(),
        by_model: Vec::new(),
    };
    for r in &rows {
        let (requests, cost) = (r.i64("requests")?, r.text("cost")?);
        match r.i64("set")? {
            1 => report.by_tenant.push(TenantCost {
                tenant: r.text("tenant_name")?,
                requests,
                cost,
            }),
            2 => report.by_model.push(ModelCost {
                model: r.text("model")?,
                requests,
                cost,
            }),
            _ => report.total = cost,
        }
    }
    Ok(report)
}

fn record(r: &Row) -> Result<UsageRecord, DbError> {
    Ok(UsageRecord {
        id: r.i64("id")?.to_string(),
        request_id: r.text("request_id")?,
        tenant: r.text("tenant_name")?,
        key_id: r.opt_text("key_id")?,
        model: r.text("model")?,
        input_tokens: r.i64("input_tokens")?,
        output_tokens: r.i64("output_tokens")?,
        cached_tokens: r.i64("cached_tokens")?,
        cache_hit: r.bool("cache_hit")?,
        latency_ms: r.i64("latency_ms")?,
        cost: r.text("cost")?,
        timestamp: micros_rfc3339(r.i64("occurred_micros")?),
        ingested_at: micros_rfc3339(r.i64("ingested_micros")?),
    })
}

/// The cursor's position: the record's time and id (a string, as other
/// lists' second key part).
fn position(c: &Cursor) -> Result<(String, i64), ApiError> {
    let micros = c.micros_at(0)?;
    let id = c
        .str_at(1)?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor issued by this list"))?;
    Ok((micros_rfc3339(micros), id))
}

/// One page of raw records, newest first.
pub(super) async fn records<D: Database>(
    db: &D,
    page: &PageRequest,
    filters: &Filters,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(Vec<UsageRecord>, PaginationInfo), Failure> {
    let (after_time, after_id) = match &page.after {
        None => (None, None),
        Some(c) => {
            let (t, id) = position(c)?;
            (Some(t), Some(id))
        }
    };
    let rows = db
        .query(
            RECORDS,
            &[
                Value::Int(page.fetch_limit()),
                filters.tenant.clone().into(),
                filters.key_id.clone().into(),
                filters.model.clone().into(),
                from.map(rfc3339).into(),
                to.map(rfc3339).into(),
                after_time.into(),
                after_id.into(),
            ],
        )
        .await?;
    let mut keyed = Vec::with_capacity(rows.len());
    for r in &rows {
        keyed.push((r.i64("occurred_micros")?, record(r)?));
    }
    let (items, info) = page.paginate(RECORDS_SCOPE, keyed, |(micros, rec)| {
        vec![json!(micros), json!(rec.id)]
    });
    Ok((items.into_iter().map(|(_, r)| r).collect(), info))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        super::super::input::parse_timestamp(s).unwrap()
    }

    fn range(from: &str, to: &str) -> Range {
        Range {
            from: t(from),
            to: t(to),
        }
    }

    #[test]
    fn ranges_split_into_whole_hours_and_raw_edges() {
        let s = split(range("2026-11-25T10:30:00Z", "2026-11-25T14:15:00Z"), true);
        assert_eq!(s.rollup_from, t("2026-11-25T11:00:00Z"));
        assert_eq!(s.rollup_to, t("2026-11-25T14:00:00Z"));
        // Aligned bounds: no edges.
        let s = split(range("2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z"), true);
        assert_eq!(
            (s.rollup_from, s.rollup_to),
            (t("2026-11-25T10:00:00Z"), t("2026-11-25T12:00:00Z"))
        );
        // Within one hour, across an hour, or minutes: raw only.
        for (from, to, rollup) in [
            ("2026-11-25T10:10:00Z", "2026-11-25T10:50:00Z", true),
            ("2026-11-25T10:30:00Z", "2026-11-25T11:30:00Z", true),
            ("2026-11-25T10:00:00Z", "2026-11-25T12:00:00Z", false),
        ] {
            let s = split(range(from, to), rollup);
            assert_eq!((s.rollup_from, s.rollup_to), (t(to), t(to)), "{from}");
            assert_eq!((s.from, s.to), (t(from), t(to)));
        }
        // An inverted range is empty.
        let s = split(range("2026-11-25T12:00:00Z", "2026-11-25T10:00:00Z"), true);
        assert_eq!(s.from, s.to);
    }

    #[test]
    fn buckets_are_counted_from_the_first_bucket_start() {
        let r = range("2026-11-25T10:30:00Z", "2026-11-25T12:00:00Z");
        assert_eq!(bucket_count(r, Bucket::Hour), 2);
        assert_eq!(bucket_count(r, Bucket::Minute), 90);
        assert_eq!(bucket_count(r, Bucket::Day), 1);
        let month = range("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
        assert_eq!(bucket_count(month, Bucket::Hour), 720);
        assert_eq!(bucket_count(month, Bucket::Minute), 43_200);
        assert_eq!(
            bucket_count(
                range("2026-11-25T12:00:00Z", "2026-11-25T10:00:00Z"),
                Bucket::Hour
            ),
            0
        );
    }

    #[test]
    fn cursors_carry_a_time_and_a_positive_id() {
        let c = |key: Vec<serde_json::Value>| Cursor {
            scope: RECORDS_SCOPE.into(),
            key,
        };
        assert_eq!(
            position(&c(vec![json!(1_795_600_800_000_000i64), json!("42")])).unwrap(),
            ("2026-11-25T10:00:00.000000Z".to_owned(), 42)
        );
        for bad in [
            vec![json!(-1), json!("1")],
            vec![json!(0), json!("x")],
            vec![json!(0), json!("0")],
            vec![json!(0), json!(1)],
            vec![json!(0)],
        ] {
            assert!(position(&c(bad.clone())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hit_rates_round_to_four_decimals() {
        assert_eq!(hit_rate(1, 4), 0.25);
        assert_eq!(hit_rate(1, 3), 0.3333);
        assert_eq!(hit_rate(0, 0), 0.0);
    }
}
