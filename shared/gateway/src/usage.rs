//! Token usage: ingestion from the gateways (batches, duplicate request ids
//! ignored, the tenant's budget and quota state in the answer), the raw
//! records, aggregates, time series, cache hit rates, costs from model
//! prices, and a tenant's month-to-date spend against its ceilings.
//!
//! Storage ([`store`]): the raw `token_usage` table, an hourly rollup per
//! tenant, key and model and a monthly spend per tenant, all written in the
//! ingestion's one transaction. Audit: the ingestion is telemetry at
//! volume, so a batch writes ONE audit entry (counts per tenant), not one
//! per record; refused batches are audited by the pipeline like every
//! refused mutation.

mod input;
mod spend;
mod store;
mod views;

use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, PageQuery};
use cp_http::validate::{dns_label, Validator};
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::auth::Principal;
use cp_platform::{Failure, Platform, RequestContext};

pub(crate) use input::TenantNamePath;
use input::{BucketQuery, GroupByQuery, RecordsQuery, Reporter, UsageQuery};
pub use input::{UsageBatch, UsageRecordInput};
pub use views::{
    Bucket, BudgetLevel, BudgetState, CacheReport, CacheStats, CeilingSource, CeilingState,
    CostReport, GroupBy, IngestResult, ModelCacheStats, ModelCost, QuotaLevel, QuotaState,
    SeriesPoint, SeriesReport, TenantCost, TenantSeries, TenantSeriesReport, TenantSpend,
    TenantUsageState, UsageItem, UsageRecord, UsageReport,
};

/// The tenant whose spend path collides with `/ai-budget/accounts/{userId}`.
const ACCOUNTS_TENANT: &str = "accounts";

// --------------------------------------------------------------- ingestion

#[operation(post, "/api/v1/token-usage", id = "ingestTokenUsage", callers = gateway_keys, kind = "token_usage",
    tag = "usage",
    summary = "Ingest a batch of token-usage records from a gateway (1-1000)",
    description = "Callers: a tenant gateway key (`sk_…`, its own tenant only: a record naming \
        another tenant or key is a 403; `tenant` and `keyId` default to the key's), the operator, \
        or an access token with `token-usage:write`. The whole batch is validated first (field \
        errors name `records[i].field`; a tenant that does not exist or a model that is not \
        registered is a 400 too) and then written in ONE transaction: a failure writes nothing. \
        Records whose tenant already has their `requestId`, or that repeat one of the batch, are \
        ignored and counted in `duplicates`, so a replayed batch is harmless. Each record is \
        priced at its model's current prices (exact decimals); later price changes do not \
        rewrite it. One audit entry per batch (not per record). The answer gives every tenant's \
        month-to-date budget state (`code: BUDGET_EXCEEDED` once a ceiling is reached) and \
        tokens-per-minute quota state, so the gateway can refuse work.",
    request_body = UsageBatch,
    params(IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<IngestResult>)))]
pub(crate) async fn ingest_token_usage<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let batch = parse_body::<UsageBatch>(req)?;
    let reporter = match &ctx.principal {
        Principal::GatewayKey(k) => Reporter::Key {
            tenant: &k.tenant,
            id: &k.id,
        },
        _ => Reporter::Admin,
    };
    batch.check_reporter(reporter)?;
    let records = batch.validate(reporter, ctx.now)?;
    Ok(ctx.ok(&store::ingest(ctx, records).await?))
}

// ------------------------------------------------------------------- reads

#[operation(get, "/api/v1/token-usage", id = "listTokenUsage", callers = operator, kind = "token_usage",
    tag = "usage",
    summary = "List raw usage records, newest first (keyset pagination)",
    description = "Ordered by timestamp then id, newest first; the cursor is a position, so \
        records ingested later with older timestamps appear on later pages only if they sort \
        after it.",
    params(RecordsQuery, PageQuery),
    responses((status = 200, body = ListEnvelope<UsageRecord>)))]
pub(crate) async fn list_token_usage<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let mut v = Validator::new();
    let filters = input::filters(req, &mut v);
    let (from, to) = input::open_range(req, &mut v);
    v.finish()?;
    let page = PageRequest::from_request(req, store::RECORDS_SCOPE)?;
    let (items, pagination) = store::records(ctx.db(), &page, &filters, from, to).await?;
    Ok(ctx.list(&items, pagination))
}

async fn totals<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    fixed: Option<GroupBy>,
) -> Result<ApiResponse, Failure> {
    let mut v = Validator::new();
    let range = input::range(req, &mut v, ctx.now);
    let filters = input::filters(req, &mut v);
    let group_by = match fixed {
        Some(g) => g,
        None => input::group_by(req, &mut v),
    };
    v.finish()?;
    let items = store::totals(ctx.db(), range, &filters, group_by).await?;
    Ok(ctx.ok(&UsageReport {
        from: cp_http::time::rfc3339(range.from),
        to: cp_http::time::rfc3339(range.to),
        group_by,
        items,
    }))
}

#[operation(get, "/api/v1/usage", id = "getUsage", callers = operator, kind = "token_usage",
    tag = "usage",
    summary = "Usage totals over a range, grouped by tenant, key or model",
    description = "The range is `[from, to)`, by default the current UTC calendar month to now; \
        whole hours come from the hourly rollup and the partial hours at the edges from the raw \
        records, so totals are exact for any range.",
    params(UsageQuery, GroupByQuery),
    responses((status = 200, body = Envelope<UsageReport>)))]
pub(crate) async fn get_usage<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    totals(ctx, req, None).await
}

#[operation(get, "/api/v1/usage/keys", id = "getUsageByKey", callers = operator, kind = "token_usage",
    tag = "usage",
    summary = "Usage totals over a range per gateway key (`GET /usage?groupBy=key`)",
    params(UsageQuery),
    responses((status = 200, body = Envelope<UsageReport>)))]
pub(crate) async fn get_usage_by_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    totals(ctx, req, Some(GroupBy::Key)).await
}

#[operation(get, "/api/v1/usage/models", id = "getUsageByModel", callers = operator, kind = "token_usage",
    tag = "usage",
    summary = "Usage totals over a range per model (`GET /usage?groupBy=model`)",
    params(UsageQuery),
    responses((status = 200, body = Envelope<UsageReport>)))]
pub(crate) async fn get_usage_by_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    totals(ctx, req, Some(GroupBy::Model)).await
}

/// Range, filters and bucket of a series, with the bucket cap.
fn series_query(
    req: &ApiRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(input::Range, input::Filters, Bucket), ApiError> {
    let mut v = Validator::new();
    let range = input::range(req, &mut v, now);
    let filters = input::filters(req, &mut v);
    let bucket = input::bucket(req, &mut v);
    v.finish()?;
    let n = store::bucket_count(range, bucket);
    if n > store::MAX_BUCKETS {
        return Err(ApiError::invalid(
            "bucket",
            format!(
                "the range spans {n} buckets, more than {}: use a wider bucket or a shorter range",
                store::MAX_BUCKETS
            ),
        ));
    }
    Ok((range, filters, bucket))
}

#[operation(get, "/api/v1/usage/series", id = "getUsageSeries", callers = operator, kind = "token_usage",
    tag = "usage",
    summary = "Usage over time in minute, hour or day buckets (UTC)",
    description = "Buckets without usage are omitted (not zero-filled). Hours and days come from \
        the hourly rollup plus the raw records of partial edge hours, minutes from the raw \
        records. A bucket straddling `from` or `to` counts only what lies inside the range. At \
        most 10000 buckets (a 400 naming `bucket` otherwise).",
    params(BucketQuery, UsageQuery),
    responses((status = 200, body = Envelope<SeriesReport>)))]
pub(crate) async fn get_usage_series<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let (range, filters, bucket) = series_query(req, ctx.now)?;
    let points = store::series(ctx.db(), range, &filters, bucket).await?;
    Ok(ctx.ok(&SeriesReport {
        bucket,
        from: cp_http::time::rfc3339(range.from),
        to: cp_http::time::rfc3339(range.to),
        points,
    }))
}

#[operation(get, "/api/v1/usage/series/tenants", id = "getUsageSeriesByTenant", callers = operator, kind = "token_usage",
    tag = "usage",
    summary = "Usage over time per tenant",
    description = "As `GET /usage/series`, one series per tenant with usage (by name). At most \
        100000 points in all (a 400 naming `bucket` otherwise).",
    params(BucketQuery, UsageQuery),
    responses((status = 200, body = Envelope<TenantSeriesReport>)))]
pub(crate) async fn get_usage_series_by_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let (range, filters, bucket) = series_query(req, ctx.now)?;
    let series = store::series_by_tenant(ctx.db(), range, &filters, bucket).await?;
    Ok(ctx.ok(&TenantSeriesReport {
        bucket,
        from: cp_http::time::rfc3339(range.from),
        to: cp_http::time::rfc3339(range.to),
        series,
    }))
}

#[operation(get, "/api/v1/usage/cache", id = "getUsageCache", callers = operator, kind = "token_usage",
    tag = "usage",
    summary = "Response-cache hit rate over a range, overall and per model",
    params(UsageQuery),
    responses((status = 200, body = Envelope<CacheReport>)))]
pub(crate) async fn get_usage_cache<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let mut v = Validator::new();
    let range = input::range(req, &mut v, ctx.now);
    let filters = input::filters(req, &mut v);
    v.finish()?;
    Ok(ctx.ok(&store::cache(ctx.db(), range, &filters).await?))
}

#[operation(get, "/api/v1/costs", id = "getCosts", callers = operator, kind = "token_usage",
    tag = "usage",
    summary = "Costs over a range per tenant and per model, and the total (exact decimals)",
    description = "Each record's cost was fixed at ingestion from its model's prices then. \
        Amounts are US dollars as decimal strings.",
    params(UsageQuery),
    responses((status = 200, body = Envelope<CostReport>)))]
pub(crate) async fn get_costs<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let mut v = Validator::new();
    let range = input::range(req, &mut v, ctx.now);
    let filters = input::filters(req, &mut v);
    v.finish()?;
    Ok(ctx.ok(&store::costs(ctx.db(), range, &filters).await?))
}

// ------------------------------------------------------------------- spend

async fn spend<P: Platform>(
    ctx: &RequestContext<'_, P>,
    tenant: &str,
) -> Result<ApiResponse, Failure> {
    let month = store::tenant_month(ctx, tenant).await?;
    let label = ctx.now.format("%Y-%m").to_string();
    Ok(ctx.ok(&month.spend_view(tenant, &label)))
}

#[operation(get, "/api/v1/ai-budget/{tenantName}/spend", id = "getTenantSpend", callers = operator, kind = "token_usage",
    tag = "ai-budget",
    summary = "A tenant's month-to-date AI spend against the ceilings that apply",
    description = "The UTC calendar month to now. Ceilings: the tenant's `monthlyBudgetUsd` \
        (against its spend), the account ceiling of the user who owns the tenant (`ownerId`; \
        against the spend of all tenants that user owns) and the global ceiling (against the \
        whole platform's spend). The binding ceiling is the one with the least remaining; \
        `state` is the most severe over all of them: `warning` from 80 %, `exceeded` from \
        100 %. With no ceiling, `ceiling`, `ceilingSource`, `remaining` and `percentUsed` are \
        null. A tenant named `accounts` is served at `/ai-budget/accounts/spend`.",
    params(TenantNamePath),
    responses((status = 200, body = Envelope<TenantSpend>)))]
pub(crate) async fn get_tenant_spend<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let tenant = params.valid("tenantName", dns_label)?;
    spend(ctx, tenant).await
}

#[operation(get, "/api/v1/ai-budget/accounts/spend", id = "getAccountsTenantSpend", callers = operator, kind = "token_usage",
    tag = "ai-budget",
    summary = "The spend of the tenant named `accounts`",
    description = "`GET /ai-budget/{tenantName}/spend` for the tenant named `accounts`, whose \
        path the account ceiling routes (`/ai-budget/accounts/{userId}`) would otherwise take. \
        404 TENANT_NOT_FOUND when there is no such tenant.",
    responses((status = 200, body = Envelope<TenantSpend>)))]
pub(crate) async fn get_accounts_tenant_spend<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    spend(ctx, ACCOUNTS_TENANT).await
}
