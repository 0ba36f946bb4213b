//! The chains' SQL: named queries over `chains`
//! (migrations/sql/0027_chains.sql), and the sealing of RPC URLs.

use cp_crypto::{MasterKey, Sealed};
use cp_http::pagination::PageRequest;
use cp_http::time::micros_rfc3339;
use cp_http::{ApiError, PaginationInfo};
use cp_platform::resource::{keyset_page, views, KeysetList, TieBreak, Versioned};
use cp_platform::Failure;
use cp_store::{epoch_micros, micros_timestamptz, Database, DbError, FromRow, Row, Value};
use serde_json::json;

use crate::chains::{Chain, ChainRef, ChainSpec};

/// Cursor scope of chain lists.
pub(crate) const CHAINS_SCOPE: &str = "chains";

macro_rules! chain_columns {
    () => {
        concat!(
            "c.id::text AS id, c.name, c.chain_id, c.rpc_origin, c.native_currency, \
             c.block_explorer_url, c.enabled, c.supports_eip1559, c.version, ",
            epoch_micros!("c.created_at"),
            " AS created_micros, ",
            epoch_micros!("c.updated_at"),
            " AS updated_micros"
        )
    };
}

const BY_ID: &str = concat!(
    "SELECT ",
    chain_columns!(),
    " FROM chains c WHERE c.id = $1::text::uuid"
);
const BY_CHAIN_ID: &str = concat!(
    "SELECT ",
    chain_columns!(),
    " FROM chains c WHERE c.chain_id = $1"
);
const BY_ID_FOR_UPDATE: &str = concat!(
    "SELECT ",
    chain_columns!(),
    " FROM chains c WHERE c.id = $1::text::uuid FOR UPDATE"
);
const BY_CHAIN_ID_FOR_UPDATE: &str = concat!(
    "SELECT ",
    chain_columns!(),
    " FROM chains c WHERE c.chain_id = $1 FOR UPDATE"
);
const LIST_ALL_FIRST: &str = concat!(
    "SELECT ",
    chain_columns!(),
    " FROM chains c ORDER BY c.created_at, c.id LIMIT $1"
);
const LIST_ALL_AFTER: &str = concat!(
    "SELECT ",
    chain_columns!(),
    " FROM chains c WHERE (c.created_at, c.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY c.created_at, c.id LIMIT $1"
);
const LIST_ENABLED_FIRST: &str = concat!(
    "SELECT ",
    chain_columns!(),
    " FROM chains c WHERE c.enabled ORDER BY c.created_at, c.id LIMIT $1"
);
const LIST_ENABLED_AFTER: &str = concat!(
    "SELECT ",
    chain_columns!(),
    " FROM chains c WHERE c.enabled AND (c.created_at, c.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY c.created_at, c.id LIMIT $1"
);
const INSERT: &str = "INSERT INTO chains
    (id, name, chain_id, rpc_origin, rpc_url_ciphertext, rpc_url_nonce, native_currency,
     block_explorer_url, enabled, supports_eip1559)
    VALUES ($1::text::uuid, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9, $10)";
const UPDATE: &str = "UPDATE chains SET name = $2, chain_id = $3, rpc_origin = $4,
        rpc_url_ciphertext = $5, rpc_url_nonce = $6, native_currency = $7::text::jsonb,
        block_explorer_url = $8, enabled = $9, supports_eip1559 = $10,
        version = version + 1, updated_at = now()
    WHERE id = $1::text::uuid";
const DELETE: &str = "DELETE FROM chains WHERE id = $1::text::uuid";

impl FromRow for Chain {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        Ok(Self {
            id: row.text("id")?,
            name: row.text("name")?,
            chain_id: row.i64("chain_id")?,
            rpc_origin: row.text("rpc_origin")?,
            native_currency: serde_json::from_value(row.json("native_currency")?)
                .map_err(|e| DbError::Decode(format!("native_currency: {e}")))?,
            block_explorer_url: row.opt_text("block_explorer_url")?,
            enabled: row.bool("enabled")?,
            supports_eip1559: row.bool("supports_eip1559")?,
            created_at: micros_rfc3339(row.i64("created_micros")?),
            updated_at: micros_rfc3339(row.i64("updated_micros")?),
        })
    }
}

/// A chain row with its version.
pub(crate) type ChainRow = Versioned<Chain>;

/// The associated data sealing chain `id`'s RPC URL.
fn rpc_aad(id: &str) -> Vec<u8> {
    format!("cp/chains/v1/{id}").into_bytes()
}

/// One page of chains: every one, or the enabled ones only.
pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
    enabled_only: bool,
) -> Result<(Vec<Chain>, PaginationInfo), Failure> {
    let (first, after) = if enabled_only {
        (LIST_ENABLED_FIRST, LIST_ENABLED_AFTER)
    } else {
        (LIST_ALL_FIRST, LIST_ALL_AFTER)
    };
    let list = KeysetList {
        scope: CHAINS_SCOPE,
        first,
        after,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_page::<_, Chain>(db, page, list, None).await?;
    Ok((views(rows), info))
}

/// The chain `chain` names (locked when `lock`), or a 404 naming `shown`.
pub(crate) async fn chain<D: Database>(
    db: &D,
    chain: &ChainRef,
    shown: &str,
    lock: bool,
) -> Result<ChainRow, Failure> {
    let found = match (chain, lock) {
        (ChainRef::Id(id), false) => db.query_opt(BY_ID, &[id.as_str().into()]).await?,
        (ChainRef::Id(id), true) => {
            db.query_opt(BY_ID_FOR_UPDATE, &[id.as_str().into()])
                .await?
        }
        (ChainRef::ChainId(n), false) => db.query_opt(BY_CHAIN_ID, &[Value::Int(*n)]).await?,
        (ChainRef::ChainId(n), true) => {
            db.query_opt(BY_CHAIN_ID_FOR_UPDATE, &[Value::Int(*n)])
                .await?
        }
    };
    let row = found.ok_or_else(|| chain_not_found(shown))?;
    Ok(ChainRow::from_row(&row)?)
}

/// The 404 of a chain that is not registered (or not shown).
pub(crate) fn chain_not_found(shown: &str) -> ApiError {
    ApiError::not_found("CHAIN", shown)
}

fn seal(key: &MasterKey, id: &str, url: &str) -> Result<Sealed, Failure> {
    key.seal(url.as_bytes(), &rpc_aad(id))
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("sealing an RPC URL: {e}")))
}

fn spec_params(id: &str, spec: &ChainSpec, sealed: Sealed) -> Vec<Value> {
    vec![
        id.into(),
        spec.name.as_str().into(),
        Value::Int(spec.chain_id),
        spec.rpc_origin.as_str().into(),
        Value::Bytes(sealed.ciphertext),
        Value::Bytes(sealed.nonce),
        json!(spec.native_currency).to_string().into(),
        spec.block_explorer_url.clone().into(),
        spec.enabled.into(),
        spec.supports_eip1559.into(),
    ]
}

/// Stores a new chain (a taken name or chain id is a 409).
pub(crate) async fn insert<D: Database>(
    db: &D,
    key: &MasterKey,
    id: &str,
    spec: &ChainSpec,
) -> Result<(), Failure> {
    let sealed = seal(key, id, &spec.rpc_url)?;
    db.execute(INSERT, &spec_params(id, spec, sealed))
        .await
        .map_err(|e| taken(e, spec))?;
    Ok(())
}

/// Replaces chain `id` (a name or chain id another chain has is a 409).
pub(crate) async fn update<D: Database>(
    db: &D,
    key: &MasterKey,
    id: &str,
    spec: &ChainSpec,
) -> Result<(), Failure> {
    let sealed = seal(key, id, &spec.rpc_url)?;
    db.execute(UPDATE, &spec_params(id, spec, sealed))
        .await
        .map_err(|e| taken(e, spec))?;
    Ok(())
}

fn taken(e: DbError, spec: &ChainSpec) -> Failure {
    match e {
        DbError::UniqueViolation { ref constraint } if constraint == "chains_chain_id_key" => {
            ApiError::Conflict(format!("chain id {} is already registered", spec.chain_id)).into()
        }
        DbError::UniqueViolation { ref constraint } if constraint == "chains_name_key" => {
            ApiError::Conflict(format!(
                "a chain named '{}' is already registered",
                spec.name
            ))
            .into()
        }
        other => other.into(),
    }
}

/// Deletes chain `id`.
pub(crate) async fn delete<D: Database>(db: &D, id: &str) -> Result<(), Failure> {
    db.execute(DELETE, &[id.into()]).await?;
    Ok(())
}
