//! The `gateway` route group. This module serves provider keys, the model
//! registry with response-cache settings and AI budget ceilings, and
//! composes the group's other areas, each of which owns its routes,
//! handlers and OpenAPI description: [`crate::keys`] (tenant gateway keys),
//! [`crate::fleet`] (fair-share settings, heartbeats, live state and
//! capacity), [`crate::usage`] (token-usage ingestion, usage, costs, spend)
//! and [`crate::litellm`] (LiteLLM virtual keys).

use cp_http::error::ErrorBody;
use cp_http::ids::{id_param, path_id};
use cp_http::json::parse_body;
use cp_http::pagination::PageRequest;
use cp_http::params::{IdempotencyKeyHeader, IfMatchHeader, PageQuery};
use cp_http::{ApiRequest, ApiResponse, Envelope, ListEnvelope, PathParams, Route};
use cp_platform::openapi::ResourceLinks;
use cp_platform::{Failure, Platform, RequestContext, RouteGroup};
use std::sync::LazyLock;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, OpenApi};
use uuid::Uuid;

use crate::budget::{AccountBudget, AccountBudgetInput, GlobalBudget, GlobalBudgetInput};
use crate::models::{CacheInput, CacheSettings, Model, ModelInput};
use crate::providers::{parse_provider, ProviderKey, ProviderKeyInput, ProviderPath};
use crate::service;
use cp_platform::resource::Versioned;

/// The operations of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET /providers/keys`
    ListProviderKeys,
    /// `PUT /providers/keys/{provider}`
    SetProviderKey,
    /// `DELETE /providers/keys/{provider}`
    DeleteProviderKey,
    /// `GET /models`
    ListModels,
    /// `POST /models`
    CreateModel,
    /// `GET /models/{id}`
    GetModel,
    /// `PUT /models/{id}`
    ReplaceModel,
    /// `DELETE /models/{id}`
    DeleteModel,
    /// `PUT /models/{id}/cache`
    SetModelCache,
    /// `GET /ai-budget/global`
    GetGlobalBudget,
    /// `PUT /ai-budget/global`
    SetGlobalBudget,
    /// `GET /ai-budget/accounts`
    ListAccountBudgets,
    /// `PUT /ai-budget/accounts/{userId}`
    SetAccountBudget,
    /// `DELETE /ai-budget/accounts/{userId}`
    DeleteAccountBudget,
    /// Tenant gateway keys ([`crate::keys`]).
    Keys(crate::keys::KeyOp),
    /// Fair share and the gateway fleet ([`crate::fleet`]).
    Fleet(crate::fleet::FleetOp),
    /// Token usage, costs and spend ([`crate::usage`]).
    Usage(crate::usage::UsageOp),
    /// LiteLLM virtual keys ([`crate::litellm`]).
    Litellm(crate::litellm::LitellmOp),
}

/// The routes this module serves; [`Gateway::routes`] adds the other areas'.
const ROUTES: &[Route<Op>] = &[
    Route::new("GET", "/api/v1/providers/keys", Op::ListProviderKeys),
    Route::new(
        "PUT",
        "/api/v1/providers/keys/{provider}",
        Op::SetProviderKey,
    ),
    Route::new(
        "DELETE",
        "/api/v1/providers/keys/{provider}",
        Op::DeleteProviderKey,
    ),
    Route::new("GET", "/api/v1/models", Op::ListModels),
    Route::new("POST", "/api/v1/models", Op::CreateModel),
    Route::new("GET", "/api/v1/models/{id}", Op::GetModel),
    Route::new("PUT", "/api/v1/models/{id}", Op::ReplaceModel),
    Route::new("DELETE", "/api/v1/models/{id}", Op::DeleteModel),
    Route::new("PUT", "/api/v1/models/{id}/cache", Op::SetModelCache),
    Route::new("GET", "/api/v1/ai-budget/global", Op::GetGlobalBudget),
    Route::new("PUT", "/api/v1/ai-budget/global", Op::SetGlobalBudget),
    Route::new("GET", "/api/v1/ai-budget/accounts", Op::ListAccountBudgets),
    Route::new(
        "PUT",
        "/api/v1/ai-budget/accounts/{userId}",
        Op::SetAccountBudget,
    ),
    Route::new(
        "DELETE",
        "/api/v1/ai-budget/accounts/{userId}",
        Op::DeleteAccountBudget,
    ),
];

/// The gateway route group.
pub struct Gateway;

impl RouteGroup for Gateway {
    type Op = Op;

    fn routes() -> &'static [Route<Op>] {
        static ALL: LazyLock<Vec<Route<Op>>> = LazyLock::new(|| {
            [
                ROUTES,
                crate::keys::ROUTES,
                crate::fleet::ROUTES,
                crate::usage::ROUTES,
                crate::litellm::ROUTES,
            ]
            .concat()
        });
        &ALL
    }

    fn operation_id(op: Op) -> &'static str {
        match op {
            Op::ListProviderKeys => "listProviderKeys",
            Op::SetProviderKey => "setProviderKey",
            Op::DeleteProviderKey => "deleteProviderKey",
            Op::ListModels => "listModels",
            Op::CreateModel => "createModel",
            Op::GetModel => "getModel",
            Op::ReplaceModel => "replaceModel",
            Op::DeleteModel => "deleteModel",
            Op::SetModelCache => "setModelCache",
            Op::GetGlobalBudget => "getGlobalBudget",
            Op::SetGlobalBudget => "setGlobalBudget",
            Op::ListAccountBudgets => "listAccountBudgets",
            Op::SetAccountBudget => "setAccountBudget",
            Op::DeleteAccountBudget => "deleteAccountBudget",
            Op::Keys(op) => crate::keys::operation_id(op),
            Op::Fleet(op) => crate::fleet::operation_id(op),
            Op::Usage(op) => crate::usage::operation_id(op),
            Op::Litellm(op) => crate::litellm::operation_id(op),
        }
    }

    fn resource_kind(op: Op) -> &'static str {
        match op {
            Op::ListProviderKeys | Op::SetProviderKey | Op::DeleteProviderKey => "provider_key",
            Op::ListModels
            | Op::CreateModel
            | Op::GetModel
            | Op::ReplaceModel
            | Op::DeleteModel
            | Op::SetModelCache => "model",
            Op::GetGlobalBudget | Op::SetGlobalBudget => "ai_budget",
            Op::ListAccountBudgets | Op::SetAccountBudget | Op::DeleteAccountBudget => {
                "ai_budget_account"
            }
            Op::Keys(op) => crate::keys::resource_kind(op),
            Op::Fleet(op) => crate::fleet::resource_kind(op),
            Op::Usage(op) => crate::usage::resource_kind(op),
            Op::Litellm(op) => crate::litellm::resource_kind(op),
        }
    }

    async fn handle<P: Platform>(
        op: Op,
        ctx: &RequestContext<'_, P>,
        req: &ApiRequest,
        params: &PathParams,
    ) -> Result<ApiResponse, Failure> {
        match op {
            Op::ListProviderKeys => list_provider_keys(ctx).await,
            Op::SetProviderKey => set_provider_key(ctx, req, provider(params)?).await,
            Op::DeleteProviderKey => delete_provider_key(ctx, provider(params)?).await,
            Op::ListModels => list_models(ctx, req).await,
            Op::CreateModel => create_model(ctx, req).await,
            Op::GetModel => get_model(ctx, id(params)?).await,
            Op::ReplaceModel => replace_model(ctx, req, id(params)?).await,
            Op::DeleteModel => delete_model(ctx, id(params)?).await,
            Op::SetModelCache => set_model_cache(ctx, req, id(params)?).await,
            Op::GetGlobalBudget => get_global_budget(ctx).await,
            Op::SetGlobalBudget => set_global_budget(ctx, req).await,
            Op::ListAccountBudgets => list_account_budgets(ctx, req).await,
            Op::SetAccountBudget => set_account_budget(ctx, req, user(params)?).await,
            Op::DeleteAccountBudget => delete_account_budget(ctx, user(params)?).await,
            Op::Keys(op) => crate::keys::handle(op, ctx, req, params).await,
            Op::Fleet(op) => crate::fleet::handle(op, ctx, req, params).await,
            Op::Usage(op) => crate::usage::handle(op, ctx, req, params).await,
            Op::Litellm(op) => crate::litellm::handle(op, ctx, req, params).await,
        }
    }
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

fn with_etag<T: serde::Serialize>(mut resp: ApiResponse, v: &Versioned<T>) -> ApiResponse {
    resp.set_header("etag", v.etag());
    resp
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

#[utoipa::path(get, path = "/api/v1/providers/keys", tag = "providers", operation_id = "listProviderKeys",
    summary = "Every provider and whether its API key is configured (never the key)",
    description = "One entry per provider of the fixed set, in a fixed order: `configured`, and for a \
        configured key `updatedAt` and, when the key has at least 12 characters, `lastFour`.",
    responses((status = 200, body = Envelope<Vec<ProviderKey>>),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list_provider_keys<P: Platform>(
    ctx: &RequestContext<'_, P>,
) -> Result<ApiResponse, Failure> {
    Ok(ctx.ok(&service::list_keys(ctx.db()).await?))
}

#[utoipa::path(put, path = "/api/v1/providers/keys/{provider}", tag = "providers",
    operation_id = "setProviderKey",
    summary = "Set or replace a provider's API key (write-only)",
    description = "The key is encrypted at rest (AES-256-GCM under the `secrets_key` variable, the \
        provider bound as associated data) and never returned, logged or audited. Without a usable \
        `secrets_key` this is a 503 UNAVAILABLE naming the variable.",
    request_body = ProviderKeyInput,
    params(ProviderPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<ProviderKey>),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn set_provider_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    provider: &'static str,
) -> Result<ApiResponse, Failure> {
    let key = parse_body::<ProviderKeyInput>(req)?.validate()?;
    Ok(ctx.ok(&service::put_key(ctx, provider, key).await?))
}

#[utoipa::path(delete, path = "/api/v1/providers/keys/{provider}", tag = "providers",
    operation_id = "deleteProviderKey",
    summary = "Remove a provider's API key",
    params(ProviderPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn delete_provider_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    provider: &'static str,
) -> Result<ApiResponse, Failure> {
    service::delete_key(ctx, provider).await?;
    Ok(ApiResponse::empty(204))
}

// --------------------------------------------------------------------- models

#[utoipa::path(get, path = "/api/v1/models", tag = "models", operation_id = "listModels",
    summary = "List registered models (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<Model>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list_models<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::MODELS_SCOPE)?;
    let (items, pagination) = service::list_models(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[utoipa::path(post, path = "/api/v1/models", tag = "models", operation_id = "createModel",
    summary = "Register a model with its provider, context window and prices",
    description = "Prices are US dollars per million tokens as decimal STRINGS (\"0.15\"), stored \
        exactly (PostgreSQL numeric) and returned as written; a JSON number is a 400 naming the \
        field. The response cache starts disabled (ttlSeconds 300, maxEntries 1000). A duplicate \
        name is a 409.",
    request_body = ModelInput,
    params(IdempotencyKeyHeader),
    responses((status = 201, body = Envelope<Model>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn create_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<ModelInput>(req)?.validate()?;
    let model = service::create_model(ctx, input).await?;
    Ok(with_etag(ctx.created(&model.view), &model))
}

#[utoipa::path(get, path = "/api/v1/models/{id}", tag = "models", operation_id = "getModel",
    summary = "Get a model",
    params(ModelPath),
    responses((status = 200, body = Envelope<Model>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let model = service::get_model(ctx.db(), id).await?;
    Ok(with_etag(ctx.ok(&model.view), &model))
}

#[utoipa::path(put, path = "/api/v1/models/{id}", tag = "models", operation_id = "replaceModel",
    summary = "Replace a model's name, provider, upstream model, context window and prices",
    description = "A full replacement of these fields (an absent cachedInputPricePerMillion \
        removes it); the cache settings are kept (`PUT /models/{id}/cache` changes them). A stale \
        If-Match or a name another model has is a 409.",
    request_body = ModelInput,
    params(ModelPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Model>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn replace_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let input = parse_body::<ModelInput>(req)?.validate()?;
    let model = service::replace_model(ctx, req, id, input).await?;
    Ok(with_etag(ctx.ok(&model.view), &model))
}

#[utoipa::path(delete, path = "/api/v1/models/{id}", tag = "models", operation_id = "deleteModel",
    summary = "Delete a model",
    params(ModelPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn delete_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    service::delete_model(ctx, id).await?;
    Ok(ApiResponse::empty(204))
}

#[utoipa::path(put, path = "/api/v1/models/{id}/cache", tag = "models", operation_id = "setModelCache",
    summary = "Configure a model's response cache (enabled, TTL, max entries)",
    description = "Every field is required. Changes the model's ETag; If-Match guards it like the \
        model's own PUT.",
    request_body = CacheInput,
    params(ModelPath, IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<Model>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn set_model_cache<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
) -> Result<ApiResponse, Failure> {
    let cache = parse_body::<CacheInput>(req)?.validate()?;
    let model = service::set_cache(ctx, req, id, cache).await?;
    Ok(with_etag(ctx.ok(&model.view), &model))
}

// ------------------------------------------------------------------ AI budget

#[utoipa::path(get, path = "/api/v1/ai-budget/global", tag = "ai-budget",
    operation_id = "getGlobalBudget",
    summary = "The global monthly AI spend ceiling (null: none)",
    responses((status = 200, body = Envelope<GlobalBudget>, headers(("ETag" = String))),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn get_global_budget<P: Platform>(
    ctx: &RequestContext<'_, P>,
) -> Result<ApiResponse, Failure> {
    let (budget, etag) = service::get_global(ctx.db()).await?;
    let mut resp = ctx.ok(&budget);
    resp.set_header("etag", etag);
    Ok(resp)
}

#[utoipa::path(put, path = "/api/v1/ai-budget/global", tag = "ai-budget",
    operation_id = "setGlobalBudget",
    summary = "Set (or, with null, remove) the global monthly AI spend ceiling",
    description = "`monthlyCeiling` is US dollars as a decimal STRING, exact (a JSON number is a 400).",
    request_body = GlobalBudgetInput,
    params(IfMatchHeader, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<GlobalBudget>, headers(("ETag" = String))),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn set_global_budget<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let ceiling = parse_body::<GlobalBudgetInput>(req)?.validate()?;
    let (budget, etag) = service::put_global(ctx, req, ceiling).await?;
    let mut resp = ctx.ok(&budget);
    resp.set_header("etag", etag);
    Ok(resp)
}

#[utoipa::path(get, path = "/api/v1/ai-budget/accounts", tag = "ai-budget",
    operation_id = "listAccountBudgets",
    summary = "List per-account monthly ceilings (keyset pagination, oldest first)",
    params(PageQuery),
    responses((status = 200, body = ListEnvelope<AccountBudget>), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list_account_budgets<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
) -> Result<ApiResponse, Failure> {
    let page = PageRequest::from_request(req, service::ACCOUNTS_SCOPE)?;
    let (items, pagination) = service::list_accounts(ctx.db(), &page).await?;
    Ok(ctx.list(&items, pagination))
}

#[utoipa::path(put, path = "/api/v1/ai-budget/accounts/{userId}", tag = "ai-budget",
    operation_id = "setAccountBudget",
    summary = "Set or replace an account's monthly ceiling (201 when it had none)",
    description = "The account is a user (404 USER_NOT_FOUND otherwise); its ceiling goes when the \
        user is deleted.",
    request_body = AccountBudgetInput,
    params(AccountPath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<AccountBudget>),
              (status = 201, body = Envelope<AccountBudget>),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn set_account_budget<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    user: Uuid,
) -> Result<ApiResponse, Failure> {
    let ceiling = parse_body::<AccountBudgetInput>(req)?.validate()?;
    let (budget, created) = service::put_account(ctx, user, ceiling).await?;
    Ok(if created {
        ctx.created(&budget)
    } else {
        ctx.ok(&budget)
    })
}

#[utoipa::path(delete, path = "/api/v1/ai-budget/accounts/{userId}", tag = "ai-budget",
    operation_id = "deleteAccountBudget",
    summary = "Remove an account's monthly ceiling",
    params(AccountPath, IdempotencyKeyHeader),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
async fn delete_account_budget<P: Platform>(
    ctx: &RequestContext<'_, P>,
    user: Uuid,
) -> Result<ApiResponse, Failure> {
    service::delete_account(ctx, user).await?;
    Ok(ApiResponse::empty(204))
}

/// The OpenAPI description of the group's routes: this module's and every
/// area's.
pub struct GatewayApi;

impl OpenApi for GatewayApi {
    fn openapi() -> utoipa::openapi::OpenApi {
        let mut doc = AdminApi::openapi();
        doc.merge(crate::keys::KeysApi::openapi());
        doc.merge(crate::fleet::FleetApi::openapi());
        doc.merge(crate::usage::UsageApi::openapi());
        doc.merge(crate::litellm::LitellmApi::openapi());
        doc
    }
}

/// The OpenAPI description of this module's routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_provider_keys, set_provider_key, delete_provider_key,
        list_models, create_model, get_model, replace_model, delete_model, set_model_cache,
        get_global_budget, set_global_budget, list_account_budgets, set_account_budget,
        delete_account_budget,
    ),
    components(schemas(
        ProviderKey, ProviderKeyInput, Model, ModelInput, CacheInput, CacheSettings,
        GlobalBudget, GlobalBudgetInput, AccountBudget, AccountBudgetInput,
    )),
    modifiers(&GatewayLinks),
    tags(
        (name = "providers", description = "LLM provider API keys (write-only, encrypted at rest)"),
        (name = "models", description = "The model registry: providers, exact prices, response cache"),
        (name = "ai-budget", description = "Monthly AI spend ceilings: global and per account"),
    )
)]
struct AdminApi;

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
