//! What the usage routes answer. Money is US dollars as decimal strings
//! (exact, from PostgreSQL `numeric`, never a float); times are RFC 3339
//! UTC.

use serde::Serialize;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

fn money() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(
            "US dollars as an exact decimal string (\"0.92592525\"), never a JSON number.",
        ))
        .build()
}

fn nullable_money() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "US dollars as an exact decimal string; null when no ceiling applies.",
        ))
        .build()
}

fn nullable_percent() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "Share of the ceiling used, in percent with two decimals, rounded down (\"85.50\"); \
             \"100.00\" for a ceiling of 0; null when no ceiling applies.",
        ))
        .build()
}

fn percent() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(
            "Share of the ceiling used, in percent with two decimals, rounded down.",
        ))
        .build()
}

/// How close to a spend ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BudgetLevel {
    /// Below 80 % of every ceiling.
    Ok,
    /// At least 80 % of a ceiling.
    Warning,
    /// A ceiling is reached: the gateway should refuse paid work.
    Exceeded,
}

/// Which ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CeilingSource {
    /// The tenant's own `monthlyBudgetUsd`.
    Tenant,
    /// The ceiling of the account (user) that owns the tenant (`ownerId`),
    /// against the spend of all that account's tenants.
    Account,
    /// The global ceiling, against the whole platform's spend.
    Global,
}

/// Whether a tenant is within its tokens-per-minute quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaLevel {
    /// Below the quota (or no quota).
    Ok,
    /// The last minute used the whole quota.
    Exceeded,
}

/// A tenant's budget as the ingestion answer reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetState {
    /// The most severe state over the ceilings that apply.
    pub state: BudgetLevel,
    /// The tenant's spend this UTC calendar month.
    #[schema(schema_with = money)]
    pub spend: String,
    /// The binding ceiling: the one with the least remaining.
    #[schema(schema_with = nullable_money)]
    pub ceiling: Option<String>,
    /// Where the binding ceiling comes from.
    #[schema(nullable)]
    pub ceiling_source: Option<CeilingSource>,
    /// What may still be spent before the binding ceiling (negative once
    /// past it).
    #[schema(schema_with = nullable_money)]
    pub remaining: Option<String>,
    /// `BUDGET_EXCEEDED`, only when `state` is `exceeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub code: Option<&'static str>,
}

/// A tenant's tokens-per-minute quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaState {
    /// `tenant_fairshare.tokens_per_minute`; null: unlimited.
    pub tokens_per_minute: Option<i64>,
    /// Input plus output tokens of the tenant's records of the last 60
    /// seconds (by their timestamps).
    pub used_last_minute: i64,
    /// `exceeded` when the last minute used at least the quota.
    pub state: QuotaLevel,
}

/// One tenant of an ingested batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantUsageState {
    /// The tenant.
    pub tenant: String,
    /// Its month-to-date spend against its ceilings.
    pub budget: BudgetState,
    /// Its tokens-per-minute quota.
    pub quota: QuotaState,
}

/// The answer to `POST /token-usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestResult {
    /// Records stored now.
    pub accepted: i64,
    /// Records ignored: their request id was already stored for the
    /// tenant, or repeated in the batch.
    pub duplicates: i64,
    /// Every tenant of the batch (by name), with what the gateway needs
    /// to refuse work.
    pub tenants: Vec<TenantUsageState>,
}

/// One stored usage record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageRecord {
    /// Storage id (a decimal string; orders records ingested at the same
    /// instant).
    pub id: String,
    /// The gateway's request id.
    pub request_id: String,
    /// The tenant.
    pub tenant: String,
    /// The gateway key; null when none was reported.
    pub key_id: Option<String>,
    /// The model.
    pub model: String,
    /// Input tokens, cached ones included.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Input tokens served from the provider's prompt cache.
    pub cached_tokens: i64,
    /// Served from the gateway's response cache.
    pub cache_hit: bool,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// The cost at the model's price when the record was ingested.
    #[schema(schema_with = money)]
    pub cost: String,
    /// When the request happened.
    pub timestamp: String,
    /// When the record was stored.
    pub ingested_at: String,
}

/// Totals of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageItem {
    /// The tenant (grouped by tenant or by key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The key (grouped by key); null for usage reported without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub key_id: Option<Option<String>>,
    /// The key's name (grouped by key); null when the key was deleted or
    /// never was a gateway key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub key_name: Option<Option<String>>,
    /// The model (grouped by model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Requests.
    pub requests: i64,
    /// Input tokens, cached ones included.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cached input tokens.
    pub cached_tokens: i64,
    /// Responses served from the gateway's cache.
    pub cache_hits: i64,
    /// Mean latency, milliseconds, rounded.
    pub avg_latency_ms: i64,
    /// Cost.
    #[schema(schema_with = money)]
    pub cost: String,
}

/// What usage is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Per tenant.
    Tenant,
    /// Per gateway key (and its tenant).
    Key,
    /// Per model.
    Model,
}

/// Usage totals over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// Start of the range (inclusive).
    pub from: String,
    /// End of the range (exclusive).
    pub to: String,
    /// The grouping.
    pub group_by: GroupBy,
    /// One item per group with usage, ordered by the group's name.
    pub items: Vec<UsageItem>,
}

/// The width of a series' buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// One UTC minute (from the raw records).
    Minute,
    /// One UTC hour (from the hourly rollup).
    Hour,
    /// One UTC day (from the hourly rollup).
    Day,
}

/// One bucket of a series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// The bucket's start (UTC); only the part inside the range counts.
    pub start: String,
    /// Requests.
    pub requests: i64,
    /// Input tokens.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Cached input tokens.
    pub cached_tokens: i64,
    /// Cost.
    #[schema(schema_with = money)]
    pub cost: String,
}

/// Usage over time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesReport {
    /// The bucket width.
    pub bucket: Bucket,
    /// Start of the range (inclusive).
    pub from: String,
    /// End of the range (exclusive).
    pub to: String,
    /// Buckets with usage, oldest first (empty buckets are omitted).
    pub points: Vec<SeriesPoint>,
}

/// One tenant's series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantSeries {
    /// The tenant.
    pub tenant: String,
    /// Its buckets with usage, oldest first.
    pub points: Vec<SeriesPoint>,
}

/// Usage over time per tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantSeriesReport {
    /// The bucket width.
    pub bucket: Bucket,
    /// Start of the range (inclusive).
    pub from: String,
    /// End of the range (exclusive).
    pub to: String,
    /// One series per tenant with usage, by tenant name.
    pub series: Vec<TenantSeries>,
}

/// Response-cache hits.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// Requests.
    pub requests: i64,
    /// Requests served from the gateway's response cache.
    pub cache_hits: i64,
    /// `cacheHits / requests`, 0 to 1, four decimals (0 without requests).
    pub hit_rate: f64,
}

/// One model's response-cache hits.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelCacheStats {
    /// The model.
    pub model: String,
    /// Requests.
    pub requests: i64,
    /// Requests served from the gateway's response cache.
    pub cache_hits: i64,
    /// `cacheHits / requests`, 0 to 1, four decimals.
    pub hit_rate: f64,
}

/// Response-cache hit rates over a range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheReport {
    /// Start of the range (inclusive).
    pub from: String,
    /// End of the range (exclusive).
    pub to: String,
    /// Every request of the range.
    pub overall: CacheStats,
    /// Per model with requests, by model name.
    pub models: Vec<ModelCacheStats>,
}

/// One line of a cost breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCost {
    /// The tenant.
    pub tenant: String,
    /// Requests.
    pub requests: i64,
    /// Cost.
    #[schema(schema_with = money)]
    pub cost: String,
}

/// One line of a cost breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelCost {
    /// The model.
    pub model: String,
    /// Requests.
    pub requests: i64,
    /// Cost.
    #[schema(schema_with = money)]
    pub cost: String,
}

/// Costs over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    /// Start of the range (inclusive).
    pub from: String,
    /// End of the range (exclusive).
    pub to: String,
    /// Always `USD`.
    pub currency: &'static str,
    /// Everything in the range.
    #[schema(schema_with = money)]
    pub total: String,
    /// Per tenant, most expensive first (then by name).
    pub by_tenant: Vec<TenantCost>,
    /// Per model, most expensive first (then by name).
    pub by_model: Vec<ModelCost>,
}

/// One ceiling that applies to a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CeilingState {
    /// Which ceiling.
    pub source: CeilingSource,
    /// US dollars per calendar month.
    #[schema(schema_with = money)]
    pub ceiling: String,
    /// The month's spend it is compared with: the tenant's, the account's
    /// tenants' or the platform's.
    #[schema(schema_with = money)]
    pub spend: String,
    /// `ceiling - spend` (negative once past it).
    #[schema(schema_with = money)]
    pub remaining: String,
    /// `spend / ceiling`.
    #[schema(schema_with = percent)]
    pub percent_used: String,
    /// Its state.
    pub state: BudgetLevel,
}

/// A tenant's month-to-date spend against its ceilings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpend {
    /// The tenant.
    pub tenant: String,
    /// The UTC calendar month (`2026-11`).
    pub month: String,
    /// The tenant's spend this month.
    #[schema(schema_with = money)]
    pub spend: String,
    /// The binding ceiling: the one with the least remaining.
    #[schema(schema_with = nullable_money)]
    pub ceiling: Option<String>,
    /// Where it comes from.
    #[schema(nullable)]
    pub ceiling_source: Option<CeilingSource>,
    /// What may still be spent before the binding ceiling.
    #[schema(schema_with = nullable_money)]
    pub remaining: Option<String>,
    /// The binding ceiling's use.
    #[schema(schema_with = nullable_percent)]
    pub percent_used: Option<String>,
    /// The most severe state over the ceilings: `warning` from 80 %,
    /// `exceeded` from 100 %.
    pub state: BudgetLevel,
    /// Every ceiling that applies, binding first.
    pub ceilings: Vec<CeilingState>,
}
