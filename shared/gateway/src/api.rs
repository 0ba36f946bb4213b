//! The `gateway` route group. This module serves provider keys, the model
//! registry with response-cache settings and AI budget ceilings, and
//! composes the group's other areas, each of which owns its routes,
//! handlers and OpenAPI description: [`crate::keys`] (tenant gateway keys),
//! [`crate::fleet`] (fair-share settings, heartbeats, live state and
//! capacity), [`crate::usage`] (token-usage ingestion, usage, costs, spend)
//! and [`crate::litellm`] (LiteLLM virtual keys).

use cp_http::ids::{id_param, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams};
use cp_macros::operation;
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::budget::{AccountBudget, AccountBudgetInput, GlobalBudget, GlobalBudgetInput};
use crate::fleet::FleetLinks;
use crate::fleet_model::{
    Capacity, CapacityInput, CapacityInstance, FairshareGroup, FleetCapacity, FleetLive,
    FleetStats, GroupAssignInput, GroupCreateInput, HeartbeatAnswer, HeartbeatInput,
    InstanceAllocation, LiveInstance, QuotaInput, TenantAllocation, TenantFairshare,
    TenantLoadInput, WeightInput,
};
use crate::keys::KeyLinks;
use crate::models::{CacheInput, CacheSettings, Model, ModelInput};
use crate::providers::{parse_provider, ProviderKey, ProviderKeyInput, ProviderPath};
use crate::service;
use crate::usage::{
    Bucket, BudgetLevel, BudgetState, CacheReport, CacheStats, CeilingSource, CeilingState,
    CostReport, GroupBy, IngestResult, ModelCacheStats, ModelCost, QuotaLevel, QuotaState,
    SeriesPoint, SeriesReport, TenantCost, TenantSeries, TenantSeriesReport, TenantSpend,
    TenantUsageState, UsageBatch, UsageItem, UsageRecord, UsageRecordInput, UsageReport,
};

cp_macros::route_group! {
    /// The gateway route group: provider keys, models, AI budgets, gateway
    /// keys, fair share and the fleet, token usage, LiteLLM keys.
    pub struct Gateway;
    kind = "model";
    openapi(
        components(schemas(
            ProviderKey, ProviderKeyInput, Model, ModelInput, CacheInput, CacheSettings,
            GlobalBudget, GlobalBudgetInput, AccountBudget, AccountBudgetInput,
            crate::keys::GatewayKeyCreate, crate::keys::GatewayKeyDisabled,
            crate::keys::GatewayKey, crate::keys::CreatedGatewayKey,
            WeightInput, QuotaInput, GroupAssignInput, GroupCreateInput, CapacityInput,
            HeartbeatInput, TenantLoadInput, TenantFairshare, FairshareGroup, TenantAllocation,
            InstanceAllocation, HeartbeatAnswer, FleetCapacity, LiveInstance, FleetLive,
            FleetStats, CapacityInstance, Capacity,
            UsageBatch, UsageRecordInput, IngestResult, TenantUsageState, BudgetState,
            QuotaState, BudgetLevel, QuotaLevel, CeilingSource, UsageRecord, UsageReport,
            UsageItem, GroupBy, SeriesReport, SeriesPoint, TenantSeriesReport, TenantSeries,
            Bucket, CacheReport, CacheStats, ModelCacheStats, CostReport, TenantCost, ModelCost,
            TenantSpend, CeilingState,
            crate::litellm::LitellmKey, crate::litellm::LitellmKeyRevocation,
        )),
        modifiers(&GatewayLinks, &KeyLinks, &FleetLinks),
        tags(
            (name = "providers", description = "LLM provider API keys (write-only, encrypted at rest)"),
            (name = "models", description = "The model registry: providers, exact prices, response cache"),
            (name = "ai-budget", description = "Monthly AI spend ceilings: global and per account"),
            (name = "gateway-keys", description = "Tenant gateway keys (`sk_…`): they authenticate \
                usage ingestion for one tenant; shown once, stored as SHA-256 digests"),
            (name = "fairshare", description = "Fair share of the gateways' in-flight capacity: \
                tenant weights, tokens-per-minute quotas and groups, group weights, the gateway \
                fleet's heartbeats, live state, stats and capacity"),
            (name = "usage", description = "Token usage from the gateways: ingestion, records, \
                totals, series, cache hit rates and costs"),
        )
    );
    operations = [
        list_provider_keys,
        set_provider_key,
        delete_provider_key,
        list_models,
        create_model,
        get_model,
        replace_model,
        delete_model,
        set_model_cache,
        get_global_budget,
        set_global_budget,
        list_account_budgets,
        set_account_budget,
        delete_account_budget,
        crate::keys::create_key,
        crate::keys::list_keys,
        crate::keys::delete_key,
        crate::keys::set_disabled,
        crate::fleet::set_tenant_weight,
        crate::fleet::set_tenant_quota,
        crate::fleet::set_tenant_group,
        crate::fleet::list_groups,
        crate::fleet::create_group,
        crate::fleet::set_group_weight,
        crate::fleet::heartbeat,
        crate::fleet::live,
        crate::fleet::stats,
        crate::fleet::get_capacity,
        crate::fleet::set_capacity,
        crate::usage::ingest_token_usage,
        crate::usage::list_token_usage,
        crate::usage::get_usage,
        crate::usage::get_usage_by_key,
        crate::usage::get_usage_by_model,
        crate::usage::get_usage_series,
        crate::usage::get_usage_series_by_tenant,
        crate::usage::get_usage_cache,
        crate::usage::get_costs,
        crate::usage::get_tenant_spend,
        crate::usage::get_accounts_tenant_spend,
        crate::litellm::get_litellm_key,
        crate::litellm::revoke_litellm_key,
    ];
}

fn id(params: &PathParams) -> Result<Uuid, Failure> {
    Ok(path_id(params, "id")?)
}

fn user(params: &PathParams) -> Result<Uuid, Failure> {
    Ok(path_id(params, "userId")?)
}

fn provider(params: &PathParams) -> Result<&'static str, Failure> {
    Ok(parse_provider(params.get("provider"))?)
}

/// `{id}` of a model, for the OpenAPI document.
pub struct ModelPath;

impl IntoParams for ModelPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("id", "Model id")]
    }
}

/// `{userId}` of an account, for the OpenAPI document.
pub struct AccountPath;

impl IntoParams for AccountPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![id_param("userId", "The account's user id")]
    }
}

// -------------------------------------------------------------- provider keys

#[operation(get, "/api/v1/providers/keys", id = "listProviderKeys", callers = operator, kind = "provider_key",
    tag = "providers",
    summary = "Every provider and whether its API key is configured (never the key)",
    description = "One entry per provider of the fixed set, in a fixed order: `configured`, and for a \
        configured key `updatedAt` and, when the key has at least 12 characters, `lastFour`.",
    responses((status = 200, body = Envelope<Vec<ProviderKey>>)))]
async fn list_provider_keys<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&service::list_keys(ctx.db()).await?))
}

#[operation(put, "/api/v1/providers/keys/{provider}", id = "setProviderKey", callers = operator, kind = "provider_key",
    tag = "providers",
    summary = "Set or replace a provider's API key (write-only)",
    description = "The key is encrypted at rest (AES-256-GCM under the `secrets_key` variable, the \
        provider bound as associated data) and never returned, logged or audited. Without a usable \
        `secrets_key` this is a 503 UNAVAILABLE naming the variable.",
    request_body = ProviderKeyInput,
    params(ProviderPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<ProviderKey>)))]
async fn set_provider_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let provider: &'static str = provider(params)?;
    let key = parse_body::<ProviderKeyInput>(req)?.validate()?;
    Ok(ctx.ok(&service::put_key(ctx, provider, key).await?))
}

#[operation(delete, "/api/v1/providers/keys/{provider}", id = "deleteProviderKey", callers = operator, kind = "provider_key",
    tag = "providers",
    summary = "Remove a provider's API key",
    params(ProviderPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_provider_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let provider: &'static str = provider(params)?;
    service::delete_key(ctx, provider).await?;
    Ok(ApiResponse::empty(204))
}

// --------------------------------------------------------------------- models

#[operation(get, "/api/v1/models", id = "listModels", callers = operator,
    tag = "models",
    summary = "List registered models (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Model>)))]
async fn list_models<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::MODELS_SCOPE)?;
    let (items, pagination) = service::list_models(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(post, "/api/v1/models", id = "createModel", callers = operator,
    tag = "models",
    summary = "Register a model with its provider, context window and prices",
    description = "Prices are US dollars per million tokens as decimal STRINGS (\"0.15\"), stored \
        exactly (PostgreSQL numeric) and returned as written; a JSON number is a 400 naming the \
        field. The response cache starts disabled (ttlSeconds 300, maxEntries 1000). A duplicate \
        name is a 409.",
    request_body = ModelInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Model>, headers(("ETag" = String)))))]
async fn create_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<ModelInput>(req)?.validate()?;
    let model = service::create_model(ctx, input).await?;
    Ok(ctx.created(&model.view).with_etag(model.etag()))
}

#[operation(get, "/api/v1/models/{id}", id = "getModel", callers = operator,
    tag = "models",
    summary = "Get a model",
    params(ModelPath),
    responses((status = 200, body = Envelope<Model>, headers(("ETag" = String)))))]
async fn get_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let model = service::get_model(ctx.db(), id).await?;
    Ok(ctx.ok(&model.view).with_etag(model.etag()))
}

#[operation(put, "/api/v1/models/{id}", id = "replaceModel", callers = operator,
    tag = "models",
    summary = "Replace a model's name, provider, upstream model, context window and prices",
    description = "A full replacement of these fields (an absent cachedInputPricePerMillion \
        removes it); the cache settings are kept (`PUT /models/{id}/cache` changes them). A stale \
        If-Match or a name another model has is a 409.",
    request_body = ModelInput,
    params(ModelPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Model>, headers(("ETag" = String)))))]
async fn replace_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let input = parse_body::<ModelInput>(req)?.validate()?;
    let model = service::replace_model(ctx, req, id, input).await?;
    Ok(ctx.ok(&model.view).with_etag(model.etag()))
}

#[operation(delete, "/api/v1/models/{id}", id = "deleteModel", callers = operator,
    tag = "models",
    summary = "Delete a model",
    params(ModelPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    service::delete_model(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

#[operation(put, "/api/v1/models/{id}/cache", id = "setModelCache", callers = operator,
    tag = "models",
    summary = "Configure a model's response cache (enabled, TTL, max entries)",
    description = "Every field is required. Changes the model's ETag; If-Match guards it like the \
        model's own PUT.",
    request_body = CacheInput,
    params(ModelPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Model>, headers(("ETag" = String)))))]
async fn set_model_cache<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let id: Uuid = id(params)?;
    let cache = parse_body::<CacheInput>(req)?.validate()?;
    let model = service::set_cache(ctx, req, id, cache).await?;
    Ok(ctx.ok(&model.view).with_etag(model.etag()))
}

// ------------------------------------------------------------------ AI budget

#[operation(get, "/api/v1/ai-budget/global", id = "getGlobalBudget", callers = operator, kind = "ai_budget",
    tag = "ai-budget",
    summary = "The global monthly AI spend ceiling (null: none)",
    responses((status = 200, body = Envelope<GlobalBudget>, headers(("ETag" = String)))))]
async fn get_global_budget<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let (budget, etag) = service::get_global(ctx.db()).await?;
    Ok(ctx.ok(&budget).with_etag(etag))
}

#[operation(put, "/api/v1/ai-budget/global", id = "setGlobalBudget", callers = operator, kind = "ai_budget",
    tag = "ai-budget",
    summary = "Set (or, with null, remove) the global monthly AI spend ceiling",
    description = "`monthlyCeiling` is US dollars as a decimal STRING, exact (a JSON number is a 400).",
    request_body = GlobalBudgetInput,
    params(IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<GlobalBudget>, headers(("ETag" = String)))))]
async fn set_global_budget<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let ceiling = parse_body::<GlobalBudgetInput>(req)?.validate()?;
    let (budget, etag) = service::put_global(ctx, req, ceiling).await?;
    Ok(ctx.ok(&budget).with_etag(etag))
}

#[operation(get, "/api/v1/ai-budget/accounts", id = "listAccountBudgets", callers = operator, kind = "ai_budget_account",
    tag = "ai-budget",
    summary = "List per-account monthly ceilings (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<AccountBudget>)))]
async fn list_account_budgets<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::ACCOUNTS_SCOPE)?;
    let (items, pagination) = service::list_accounts(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[operation(put, "/api/v1/ai-budget/accounts/{userId}", id = "setAccountBudget", callers = operator, kind = "ai_budget_account",
    tag = "ai-budget",
    summary = "Set or replace an account's monthly ceiling (201 when it had none)",
    description = "The account is a user (404 USER_NOT_FOUND otherwise); its ceiling goes when the \
        user is deleted.",
    request_body = AccountBudgetInput,
    params(AccountPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<AccountBudget>),
              (status = 201, body = Envelope<AccountBudget>)))]
async fn set_account_budget<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let user: Uuid = user(params)?;
    let ceiling = parse_body::<AccountBudgetInput>(req)?.validate()?;
    let (budget, created) = service::put_account(ctx, user, ceiling).await?;
    Ok(if created {
        ctx.created(&budget)
    } else {
        ctx.ok(&budget)
    })
}

#[operation(delete, "/api/v1/ai-budget/accounts/{userId}", id = "deleteAccountBudget", callers = operator, kind = "ai_budget_account",
    tag = "ai-budget",
    summary = "Remove an account's monthly ceiling",
    params(AccountPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted")))]
async fn delete_account_budget<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let user: Uuid = user(params)?;
    service::delete_account(ctx, user).await?;
    Ok(ApiResponse::empty(204))
}

/// Adds the OpenAPI links between a model's operations (by `id`).
struct GatewayLinks;

impl utoipa::Modify for GatewayLinks {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        ResourceLinks {
            key: "id",
            by_key: &[
                ("GetModel", "getModel"),
                ("ReplaceModel", "replaceModel"),
                ("DeleteModel", "deleteModel"),
                ("SetModelCache", "setModelCache"),
            ],
            update: Some("replaceModel"),
            one: &[
                ("/api/v1/models", "post", "201"),
                ("/api/v1/models/{id}", "get", "200"),
                ("/api/v1/models/{id}", "put", "200"),
                ("/api/v1/models/{id}/cache", "put", "200"),
            ],
            list: Some(("/api/v1/models", "listModels")),
        }
        .apply(doc);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use utoipa::OpenApi;

    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let problems = cp_platform::openapi::route_mismatches::<Gateway>(&GatewayApi::openapi());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn money_is_documented_as_strings_with_the_accepted_pattern() {
        let doc = serde_json::to_value(GatewayApi::openapi()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let input = &schemas["ModelInput"];
        assert_eq!(input["additionalProperties"], false);
        assert_eq!(
            input["properties"]["inputPricePerMillion"]["pattern"],
            crate::models::PRICE_PATTERN
        );
        assert_eq!(
            input["properties"]["inputPricePerMillion"]["type"],
            "string"
        );
        assert_eq!(
            schemas["Model"]["properties"]["outputPricePerMillion"]["type"],
            "string"
        );
        assert_eq!(
            schemas["ProviderKeyInput"]["required"],
            serde_json::json!(["key"])
        );
        let provider = &doc["paths"]["/api/v1/providers/keys/{provider}"]["put"]["parameters"][0];
        assert_eq!(
            provider["schema"]["enum"].as_array().unwrap().len(),
            crate::providers::PROVIDERS.len()
        );
    }
}
