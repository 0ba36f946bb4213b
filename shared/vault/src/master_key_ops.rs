//! Master-key rotation: which master keys wrap the vaults' keys now, and
//! moving them to the current one. A deployment changes its master key by
//! configuration (a new `secrets_key` with the old one as
//! `secrets_key_previous`, or a KMS, or another KMS key); every vault keeps
//! opening with the key that wrapped it, and the rewrap moves them in
//! batches, one transaction and one audit entry per vault, never touching
//! a data key or a value.

use cp_http::params::query_param;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::transaction;
use serde::Serialize;
use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::{IntoParams, ToSchema};

use crate::keyring::keyring;
use crate::store;

/// The most vaults one rewrap request moves.
const MAX_BATCH: i64 = 1000;
/// How many it moves unless told.
const DEFAULT_BATCH: i64 = 100;

/// How many live vaults one master key wraps.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MasterKeyUsage {
    /// The master key's name (`null`: vaults from before keys had names).
    pub key_id: Option<String>,
    /// `local` or `aws-kms`.
    pub provider: String,
    /// How many vaults.
    pub vaults: i64,
    /// Whether it is the current master key.
    pub current: bool,
}

/// The master keys in use.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MasterKeyStatus {
    /// The current master key: new vaults are wrapped with it, and a
    /// rewrap moves the others to it.
    pub key_id: String,
    /// Every master key wrapping a live vault.
    pub keys: Vec<MasterKeyUsage>,
    /// Vaults wrapped by another key than the current one.
    pub stale: i64,
}

/// A vault a rewrap could not move.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RewrapFailure {
    /// The vault.
    pub vault_id: String,
    /// Why (the error a request on the vault would get).
    pub error: String,
}

/// What one rewrap request did.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RewrapResult {
    /// The key the vaults were moved to.
    pub key_id: String,
    /// How many moved.
    pub rewrapped: i64,
    /// Those that could not (they stay readable with their old key).
    pub failed: Vec<RewrapFailure>,
    /// Vaults still wrapped by another key: call again while this is not 0
    /// and `rewrapped` is.
    pub remaining: i64,
}

/// `?limit=`, for the OpenAPI document.
pub(crate) struct BatchQuery;

impl IntoParams for BatchQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query_param(
            "limit",
            "How many vaults to move in this request (default 100)",
            cp_http::validate::integer_schema(false, 1, MAX_BATCH, "A batch size."),
        )]
    }
}

#[operation(get, "/api/v1/vault-master-key", id = "getVaultMasterKey", callers = operator, area = "vaults",
    tag = "vaults",
    summary = "The vaults' master keys: the current one, and how many vaults each wraps",
    description = "Names only: `local:` and 16 hex digits of a MAC under the local key (never \
        the key), or `aws-kms:` and the KMS key id. `stale` counts the vaults a rewrap would \
        move to the current key.",
    responses((status = 200, body = Envelope<MasterKeyStatus>)))]
pub(crate) async fn get_master_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let current = keyring(ctx)?.current_id()?;
    let keys: Vec<MasterKeyUsage> = store::master_key_usage(ctx.db())
        .await?
        .into_iter()
        .map(|(key_id, provider, vaults)| MasterKeyUsage {
            current: key_id.as_deref() == Some(current.as_str()),
            key_id,
            provider,
            vaults,
        })
        .collect();
    let stale = keys.iter().filter(|k| !k.current).map(|k| k.vaults).sum();
    Ok(ctx.ok(&MasterKeyStatus {
        key_id: current,
        keys,
        stale,
    }))
}

#[operation(post, "/api/v1/vault-master-key/rewrap", id = "rewrapVaultKeys", callers = operator, area = "vaults",
    tag = "vaults",
    summary = "Master-key rotation: move up to `limit` vaults' keys to the current master key",
    description = "Each vault's key is unwrapped by the master key that wrapped it and wrapped \
        by the current one, in its own transaction with its audit entry; no data key and no \
        value changes. Configure the new master key first, keeping the old local one as \
        `secrets_key_previous` (a KMS key needs nothing: its ciphertexts name their key). A \
        vault that cannot be moved is listed in `failed` and keeps working with its old key. \
        Repeat until `remaining` is 0; requests may run concurrently.",
    params(BatchQuery),
    responses((status = 200, body = Envelope<RewrapResult>)))]
pub(crate) async fn rewrap<P: Platform>(
    ctx: &RequestContext<'_, P>,
    req: &ApiRequest,
    _params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let limit = match req.query_param("limit") {
        None => DEFAULT_BATCH,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_BATCH).contains(n))
            .ok_or_else(|| {
                ApiError::invalid("limit", format!("must be between 1 and {MAX_BATCH}"))
            })?,
    };
    let keys = keyring(ctx)?;
    let current = keys.current_id()?;
    let mut rewrapped = 0;
    let mut failed = Vec::new();
    for id in store::stale_vaults(ctx.db(), &current, limit).await? {
        let moved = transaction(ctx.db(), async |db| {
            let vault = store::vault(db, &id, true).await?;
            let from = vault.master_key_id.clone();
            if from.as_deref() == Some(current.as_str()) {
                // A concurrent rewrap moved it first.
                return Ok::<_, Failure>(false);
            }
            let wrapped = keys
                .rewrap(
                    &vault.view.key_provider,
                    from.as_deref(),
                    vault.uuid()?,
                    &vault.wrapped_key,
                )
                .await?;
            store::set_wrapped_key(db, &id, &wrapped).await?;
            ctx.audit("vault", &id)
                .detail(json!({
                    "fromMasterKey": from,
                    "toMasterKey": wrapped.key_id,
                    "provider": wrapped.provider,
                }))
                .write(db)
                .await?;
            Ok(true)
        })
        .await;
        match moved {
            Ok(true) => rewrapped += 1,
            Ok(false) => {}
            Err(f) => {
                if let Some(cause) = &f.cause {
                    eprintln!(
                        "request_id={} rewrapping vault {id} failed: {cause}",
                        ctx.request_id
                    );
                }
                failed.push(RewrapFailure {
                    vault_id: id,
                    error: f.error.to_string(),
                });
            }
        }
    }
    let remaining = store::stale_vault_count(ctx.db(), &current).await?;
    Ok(ctx.ok(&RewrapResult {
        key_id: current,
        rewrapped,
        failed,
        remaining,
    }))
}
