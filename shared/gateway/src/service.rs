//! Gateway administration on PostgreSQL. Every mutation runs in one
//! transaction with its audit entry, so a failure (a duplicate name, a
//! stale If-Match, a lost connection) leaves nothing half written. Audit
//! details never hold a provider key, nor any part of one.

use cp_crypto::MasterKey;
use cp_http::pagination::PageRequest;
use cp_http::{time, ApiError, ApiRequest, PaginationInfo};
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::{transaction, Database, DbError, FromRow, Row, Value};
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use crate::budget::{AccountBudget, GlobalBudget};
use crate::models::{CacheSettings, Model, ValidModel, DEFAULT_CACHE};
use crate::providers::{key_aad, key_hint, ProviderKey, ValidKey, PROVIDERS};
use crate::sql;
use cp_platform::resource::{delete_audited, keyset_page, views, KeysetList, TieBreak, Versioned};

/// Cursor scope of `GET /models`.
pub(crate) const MODELS_SCOPE: &str = "models";
/// Cursor scope of `GET /ai-budget/accounts`.
pub(crate) const ACCOUNTS_SCOPE: &str = "ai-budget-accounts";

// -------------------------------------------------------------- provider keys

/// The master key, or a 503 naming the missing configuration (never a value).
fn master_key<P: Platform>(ctx: &RequestContext<'_, P>) -> Result<MasterKey, Failure> {
    cp_platform::config::require_secrets_key(ctx.platform, "provider keys cannot be stored")
}

/// A stored (so configured) provider key.
impl FromRow for ProviderKey {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            provider: r.text("provider")?,
            configured: true,
            last_four: r.opt_text("key_hint")?,
            updated_at: Some(time::micros_rfc3339(r.i64("updated_micros")?)),
        })
    }
}

/// Every provider, configured or not, in [`PROVIDERS`] order.
pub(crate) async fn list_keys<D: Database>(db: &D) -> Result<Vec<ProviderKey>, Failure> {
    let stored: Vec<ProviderKey> = db.fetch_all(sql::PROVIDER_KEYS, &[]).await?;
    Ok(PROVIDERS
        .iter()
        .map(|p| {
            stored
                .iter()
                .find(|k| k.provider == *p)
                .cloned()
                .unwrap_or_else(|| ProviderKey {
                    provider: (*p).to_owned(),
                    configured: false,
                    last_four: None,
                    updated_at: None,
                })
        })
        .collect())
}

pub(crate) async fn put_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    provider: &str,
    key: ValidKey,
) -> Result<ProviderKey, Failure> {
    let master = master_key(ctx)?;
    let sealed = master
        .seal(key.0.as_bytes(), &key_aad(provider))
        .map_err(|e| Failure::with_cause(ApiError::Internal, e.to_string()))?;
    let hint = key_hint(&key.0);
    drop(key);
    transaction(ctx.db(), async |db| {
        let row = db
            .query_one(
                sql::PROVIDER_KEY_UPSERT,
                &[
                    provider.into(),
                    Value::Bytes(sealed.ciphertext.clone()),
                    Value::Bytes(sealed.nonce.clone()),
                    hint.clone().into(),
                ],
            )
            .await?;
        let replaced = row.bool("replaced")?;
        ctx.audit("provider_key", provider)
            .detail(json!({ "provider": provider, "replaced": replaced }))
            .write(db)
            .await?;
        Ok::<_, Failure>(ProviderKey::from_row(&row)?)
    })
    .await
}

pub(crate) async fn delete_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    provider: &str,
) -> Result<(), Failure> {
    transaction(ctx.db(), async |db| {
        db.query_opt(sql::PROVIDER_KEY_DELETE, &[provider.into()])
            .await?
            .ok_or_else(|| ApiError::not_found("PROVIDER_KEY", provider))?;
        ctx.audit("provider_key", provider)
            .detail(json!({ "provider": provider }))
            .write(db)
            .await?;
        Ok::<_, Failure>(())
    })
    .await
}

// --------------------------------------------------------------------- models

impl FromRow for Model {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            id: r.text("id")?,
            name: r.text("name")?,
            provider: r.text("provider")?,
            upstream_model: r.text("upstream_model")?,
            context_window: r.i64("context_window")?,
            input_price_per_million: r.text("input_price")?,
            output_price_per_million: r.text("output_price")?,
            cached_input_price_per_million: r.opt_text("cached_input_price")?,
            cache: CacheSettings {
                enabled: r.bool("cache_enabled")?,
                ttl_seconds: r.i64("cache_ttl_seconds")?,
                max_entries: r.i64("cache_max_entries")?,
            },
            created_at: time::micros_rfc3339(r.i64("created_micros")?),
            updated_at: time::micros_rfc3339(r.i64("updated_micros")?),
        })
    }
}

/// Maps a unique violation of the model name to a 409 naming it.
fn duplicate(name: &str) -> impl Fn(DbError) -> Failure + '_ {
    move |err| match err {
        DbError::UniqueViolation { .. } => Failure::with_cause(
            ApiError::Conflict(format!("a model named '{name}' already exists")),
            err.to_string(),
        ),
        other => other.into(),
    }
}

pub(crate) async fn list_models<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<Model>, PaginationInfo), Failure> {
    let list = KeysetList {
        scope: MODELS_SCOPE,
        first: sql::MODEL_LIST_FIRST,
        after: sql::MODEL_LIST_AFTER,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_page(db, page, list, None).await?;
    Ok((views(rows), info))
}

async fn find_model<D: Database>(db: &D, sql: &str, id: Uuid) -> Result<Versioned<Model>, Failure> {
    db.fetch_opt(sql, &[id.to_string().into()])
        .await?
        .ok_or_else(|| ApiError::not_found("MODEL", id.to_string()).into())
}

pub(crate) async fn get_model<D: Database>(db: &D, id: Uuid) -> Result<Versioned<Model>, Failure> {
    find_model(db, sql::MODEL_GET, id).await
}

fn amount(d: Option<Decimal>) -> Value {
    d.map(|d| d.to_string()).into()
}

/// `$2`-`$8` of the insert and update: the model's fields.
fn model_params(id: &str, m: &ValidModel) -> Vec<Value> {
    vec![
        id.into(),
        m.name.as_str().into(),
        m.provider.as_str().into(),
        m.upstream_model.as_str().into(),
        Value::Int(m.context_window),
        amount(Some(m.price.input)),
        amount(Some(m.price.output)),
        amount(m.price.cached_input),
    ]
}

fn model_detail(m: &ValidModel) -> serde_json::Value {
    json!({
        "name": m.name,
        "provider": m.provider,
        "upstreamModel": m.upstream_model,
        "contextWindow": m.context_window,
        "inputPricePerMillion": m.price.input.to_string(),
        "outputPricePerMillion": m.price.output.to_string(),
        "cachedInputPricePerMillion": m.price.cached_input.map(|d| d.to_string()),
    })
}

pub(crate) async fn create_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    input: ValidModel,
) -> Result<Versioned<Model>, Failure> {
    let id = cp_http::ids::new_id().to_string();
    transaction(ctx.db(), async |db| {
        let mut params = model_params(&id, &input);
        params.extend([
            Value::Bool(DEFAULT_CACHE.enabled),
            Value::Int(DEFAULT_CACHE.ttl_seconds),
            Value::Int(DEFAULT_CACHE.max_entries),
        ]);
        let row = db
            .query_one(sql::MODEL_INSERT, &params)
            .await
            .map_err(duplicate(&input.name))?;
        ctx.audit("model", &id)
            .detail(model_detail(&input))
            .write(db)
            .await?;
        Ok::<_, Failure>(Versioned::from_row(&row)?)
    })
    .await
}

pub(crate) async fn replace_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
    input: ValidModel,
) -> Result<Versioned<Model>, Failure> {
    let mid = id.to_string();
    transaction(ctx.db(), async |db| {
        let current = find_model(db, sql::MODEL_GET_FOR_UPDATE, id).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        let row = db
            .query_one(sql::MODEL_UPDATE, &model_params(&mid, &input))
            .await
            .map_err(duplicate(&input.name))?;
        let mut detail = model_detail(&input);
        detail["previousName"] = json!(current.view.name);
        ctx.audit("model", &mid).detail(detail).write(db).await?;
        Ok::<_, Failure>(Versioned::from_row(&row)?)
    })
    .await
}

pub(crate) async fn set_cache<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    id: Uuid,
    cache: CacheSettings,
) -> Result<Versioned<Model>, Failure> {
    let mid = id.to_string();
    transaction(ctx.db(), async |db| {
        let current = find_model(db, sql::MODEL_GET_FOR_UPDATE, id).await?;
        cp_http::etag::check_if_match(req, &current.etag())?;
        let row = db
            .query_one(
                sql::MODEL_CACHE_UPDATE,
                &[
                    mid.as_str().into(),
                    Value::Bool(cache.enabled),
                    Value::Int(cache.ttl_seconds),
                    Value::Int(cache.max_entries),
                ],
            )
            .await?;
        ctx.audit("model", &mid)
            .detail(json!({ "name": current.view.name, "cache": cache }))
            .write(db)
            .await?;
        Ok::<_, Failure>(Versioned::from_row(&row)?)
    })
    .await
}

pub(crate) async fn delete_model<P: Platform>(
    ctx: &RequestContext<'_, P>,
    id: Uuid,
) -> Result<(), Failure> {
    let detail = |row: &Row| Ok(json!({ "name": row.text("name")? }));
    delete_audited(
        ctx,
        sql::MODEL_DELETE,
        "MODEL",
        "model",
        &id.to_string(),
        detail,
    )
    .await
}

// ------------------------------------------------------------------ AI budget

/// The global ceiling with its version: 0 before it was ever set, when
/// there is no row yet or the row a first write locks.
struct StoredGlobal {
    budget: GlobalBudget,
    version: i64,
}

impl StoredGlobal {
    const UNSET: Self = Self {
        budget: GlobalBudget {
            monthly_ceiling: None,
            updated_at: None,
        },
        version: 0,
    };

    fn etag(&self) -> String {
        cp_http::etag::for_version(&self.version.to_string())
    }
}

impl FromRow for StoredGlobal {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let version = r.i64("version")?;
        let updated_micros = r.i64("updated_micros")?;
        Ok(Self {
            budget: GlobalBudget {
                monthly_ceiling: r.opt_text("monthly_ceiling")?,
                updated_at: (version > 0).then(|| time::micros_rfc3339(updated_micros)),
            },
            version,
        })
    }
}

/// The global budget and its ETag.
pub(crate) async fn get_global<D: Database>(db: &D) -> Result<(GlobalBudget, String), Failure> {
    let g: Option<StoredGlobal> = db.fetch_opt(sql::GLOBAL_GET, &[]).await?;
    let g = g.unwrap_or(StoredGlobal::UNSET);
    let etag = g.etag();
    Ok((g.budget, etag))
}

pub(crate) async fn put_global<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    ceiling: Option<Decimal>,
) -> Result<(GlobalBudget, String), Failure> {
    transaction(ctx.db(), async |db| {
        db.execute(sql::GLOBAL_ENSURE, &[]).await?;
        let before: StoredGlobal = db.fetch_one(sql::GLOBAL_GET_FOR_UPDATE, &[]).await?;
        cp_http::etag::check_if_match(req, &before.etag())?;
        let after: StoredGlobal = db.fetch_one(sql::GLOBAL_UPDATE, &[amount(ceiling)]).await?;
        ctx.audit("ai_budget", "global")
            .detail(json!({
                "monthlyCeiling": ceiling.map(|d| d.to_string()),
                "previousMonthlyCeiling": before.budget.monthly_ceiling,
            }))
            .write(db)
            .await?;
        let etag = after.etag();
        Ok::<_, Failure>((after.budget, etag))
    })
    .await
}

impl FromRow for AccountBudget {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        Ok(Self {
            user_id: r.text("id")?,
            email: r.text("email")?,
            monthly_ceiling: r.text("monthly_ceiling")?,
            created_at: time::micros_rfc3339(r.i64("created_micros")?),
            updated_at: time::micros_rfc3339(r.i64("updated_micros")?),
        })
    }
}

pub(crate) async fn list_accounts<D: Database>(
    db: &D,
    page: &PageRequest,
) -> Result<(Vec<AccountBudget>, PaginationInfo), Failure> {
    let list = KeysetList {
        scope: ACCOUNTS_SCOPE,
        first: sql::ACCOUNT_LIST_FIRST,
        after: sql::ACCOUNT_LIST_AFTER,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_page(db, page, list, None).await?;
    Ok((views(rows), info))
}

/// Sets an account's ceiling; `true` when it had none before.
pub(crate) async fn put_account<P: Platform>(
    ctx: &RequestContext<'_, P>,
    user: Uuid,
    ceiling: Decimal,
) -> Result<(AccountBudget, bool), Failure> {
    let uid = user.to_string();
    transaction(ctx.db(), async |db| {
        db.query_opt(sql::USER_FOR_SHARE, &[uid.as_str().into()])
            .await?
            .ok_or_else(|| ApiError::not_found("USER", &uid))?;
        let row = db
            .query_one(
                sql::ACCOUNT_UPSERT,
                &[uid.as_str().into(), amount(Some(ceiling))],
            )
            .await?;
        let created = row.bool("created")?;
        ctx.audit("ai_budget_account", &uid)
            .detail(json!({ "monthlyCeiling": ceiling.to_string(), "created": created }))
            .write(db)
            .await?;
        Ok::<_, Failure>((AccountBudget::from_row(&row)?, created))
    })
    .await
}

pub(crate) async fn delete_account<P: Platform>(
    ctx: &RequestContext<'_, P>,
    user: Uuid,
) -> Result<(), Failure> {
    let detail = |row: &Row| Ok(json!({ "previousMonthlyCeiling": row.text("monthly_ceiling")? }));
    let uid = user.to_string();
    delete_audited(
        ctx,
        sql::ACCOUNT_DELETE,
        "ACCOUNT_BUDGET",
        "ai_budget_account",
        &uid,
        detail,
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_global_budget_before_it_was_ever_set() {
        let g = StoredGlobal::UNSET;
        assert_eq!(g.version, 0);
        assert_eq!(g.budget.monthly_ceiling, None);
        assert_eq!(g.budget.updated_at, None);
        let row = cp_store::Row::new(
            ["monthly_ceiling", "version", "updated_micros"]
                .map(String::from)
                .into(),
            vec![Value::Null, Value::Int(0), Value::Int(1)],
        );
        let locked = StoredGlobal::from_row(&row).unwrap();
        assert_eq!((locked.version, locked.budget.updated_at), (0, None));
    }
}
