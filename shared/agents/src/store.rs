//! The agents' SQL: named queries over the `agents` table
//! (migrations/sql/0025_agents.sql), next to the domain that owns it.

use cp_http::pagination::PageRequest;
use cp_http::time::micros_rfc3339;
use cp_http::{ApiError, PaginationInfo};
use cp_orgs::roles::ListScope;
use cp_platform::resource::{keyset_page, views, KeysetList, TieBreak, Versioned};
use cp_platform::Failure;
use cp_store::{epoch_micros, micros_timestamptz, Database, DbError, FromRow, Row, Value};
use serde_json::json;

use crate::model::{Agent, AgentSpec};

/// Cursor scope of agent lists.
pub(crate) const AGENTS_SCOPE: &str = "agents";

macro_rules! agent_columns {
    () => {
        concat!(
            "a.id::text AS id, a.org_id::text AS org_id, a.name, a.description, a.scopes, \
             a.vault_ids, a.token_ttl_seconds::int8 AS token_ttl_seconds, \
             a.intents_api_enabled, a.status, a.key_prefix, a.created_by, a.version, ",
            epoch_micros!("a.created_at"),
            " AS created_micros, ",
            epoch_micros!("a.updated_at"),
            " AS updated_micros, ",
            epoch_micros!("a.key_rotated_at"),
            " AS key_rotated_micros, ",
            epoch_micros!("a.last_used_at"),
            " AS last_used_micros, ",
            epoch_micros!("a.deactivated_at"),
            " AS deactivated_micros"
        )
    };
}

const AGENT_GET: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents a WHERE a.id = $1::text::uuid"
);
const AGENT_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents a WHERE a.id = $1::text::uuid FOR UPDATE"
);
/// Every agent (operators), oldest first.
const LIST_ALL_FIRST: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents a ORDER BY a.created_at, a.id LIMIT $1"
);
const LIST_ALL_AFTER: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents a WHERE (a.created_at, a.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY a.created_at, a.id LIMIT $1"
);
/// The agents of the organisations user `$2` (`$4` after a cursor)
/// belongs to.
const LIST_MINE_FIRST: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents a WHERE a.org_id IN \
     (SELECT org_id FROM org_members WHERE user_id = $2::text::uuid) \
     ORDER BY a.created_at, a.id LIMIT $1"
);
const LIST_MINE_AFTER: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents a WHERE a.org_id IN \
     (SELECT org_id FROM org_members WHERE user_id = $4::text::uuid) \
     AND (a.created_at, a.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY a.created_at, a.id LIMIT $1"
);
/// One organisation's agents (`$2`, `$4` after a cursor).
const LIST_ORG_FIRST: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents a WHERE a.org_id = $2::text::uuid ORDER BY a.created_at, a.id LIMIT $1"
);
const LIST_ORG_AFTER: &str = concat!(
    "SELECT ",
    agent_columns!(),
    " FROM agents a WHERE a.org_id = $4::text::uuid AND (a.created_at, a.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY a.created_at, a.id LIMIT $1"
);
const AGENT_INSERT: &str = "INSERT INTO agents
    (id, org_id, name, description, scopes, vault_ids, token_ttl_seconds,
     intents_api_enabled, key_prefix, key_hash, created_by)
    VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5::text::jsonb, $6::text::jsonb, $7::int8,
            $8, $9, $10, $11)";
const AGENT_UPDATE: &str = "UPDATE agents SET name = $2, description = $3,
        scopes = $4::text::jsonb, vault_ids = $5::text::jsonb, token_ttl_seconds = $6::int8,
        intents_api_enabled = $7, version = version + 1, updated_at = now()
    WHERE id = $1::text::uuid";
/// A new key: the old one stops working, and so do the tokens issued
/// before now.
const AGENT_ROTATE: &str = "UPDATE agents SET key_prefix = $2, key_hash = $3,
        tokens_valid_after = clock_timestamp(), key_rotated_at = now(),
        version = version + 1, updated_at = now()
    WHERE id = $1::text::uuid";
const AGENT_DEACTIVATE: &str = "UPDATE agents SET status = 'deactivated',
        deactivated_at = now(), tokens_valid_after = clock_timestamp(),
        version = version + 1, updated_at = now()
    WHERE id = $1::text::uuid";
/// The vaults among JSON array `$2` that are live vaults of organisation `$1`.
const ORG_VAULTS_AMONG: &str = "SELECT v.id::text AS id FROM vaults v
    WHERE v.org_id = $1::text::uuid AND v.deleted_at IS NULL
      AND v.id IN (SELECT jsonb_array_elements_text($2::text::jsonb)::uuid)";
/// The agent holding key digest `$1`, for the token exchange; touches
/// `last_used_at`.
const AGENT_BY_KEY: &str = concat!(
    "WITH hit AS (SELECT id FROM agents WHERE key_hash = $1),
      touched AS (UPDATE agents t SET last_used_at = now() FROM hit
                  WHERE t.id = hit.id AND t.status = 'active')
    SELECT ",
    agent_columns!(),
    " FROM agents a JOIN hit ON hit.id = a.id"
);

/// The unique name index of active agents.
const ACTIVE_NAME_INDEX: &str = "agents_active_name";

impl FromRow for Agent {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let strings = |column: &str| -> Result<Vec<String>, DbError> {
            Ok(serde_json::from_value(row.json(column)?).unwrap_or_default())
        };
        Ok(Self {
            id: row.text("id")?,
            org_id: row.text("org_id")?,
            name: row.text("name")?,
            description: row.opt_text("description")?,
            scopes: strings("scopes")?,
            vault_ids: strings("vault_ids")?,
            token_ttl_seconds: row.i64("token_ttl_seconds")?,
            intents_api_enabled: row.bool("intents_api_enabled")?,
            status: row.text("status")?,
            key_prefix: row.opt_text("key_prefix")?,
            created_by: row.text("created_by")?,
            created_at: micros_rfc3339(row.i64("created_micros")?),
            updated_at: micros_rfc3339(row.i64("updated_micros")?),
            key_rotated_at: row.opt_i64("key_rotated_micros")?.map(micros_rfc3339),
            last_used_at: row.opt_i64("last_used_micros")?.map(micros_rfc3339),
            deactivated_at: row.opt_i64("deactivated_micros")?.map(micros_rfc3339),
        })
    }
}

/// An agent row with its version.
pub(crate) type AgentRow = Versioned<Agent>;

/// One page of agents.
pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
    scope: &ListScope,
) -> Result<(Vec<Agent>, PaginationInfo), Failure> {
    let (first, after, filter) = scope.pick(
        (LIST_ALL_FIRST, LIST_ALL_AFTER),
        (LIST_MINE_FIRST, LIST_MINE_AFTER),
        (LIST_ORG_FIRST, LIST_ORG_AFTER),
    );
    let list = KeysetList {
        scope: AGENTS_SCOPE,
        first,
        after,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_page::<_, Agent>(db, page, list, filter).await?;
    Ok((views(rows), info))
}

/// The agent `id` (locked for the transaction when `lock`), or a 404.
pub(crate) async fn agent<D: Database>(db: &D, id: &str, lock: bool) -> Result<AgentRow, Failure> {
    let sql = if lock {
        AGENT_GET_FOR_UPDATE
    } else {
        AGENT_GET
    };
    let row = db
        .query_opt(sql, &[id.into()])
        .await?
        .ok_or_else(|| agent_not_found(id))?;
    Ok(AgentRow::from_row(&row)?)
}

/// The 404 of an agent that does not exist (or that the caller may not
/// see).
pub(crate) fn agent_not_found(id: &str) -> ApiError {
    ApiError::not_found("AGENT", id)
}

/// What a new agent row holds besides its spec.
pub(crate) struct NewAgent<'a> {
    pub id: &'a str,
    pub spec: &'a AgentSpec,
    /// Its key's prefix and digest; none for an enrolled agent until it
    /// claims its key.
    pub key: Option<(&'a str, &'a str)>,
    pub created_by: &'a str,
}

/// Inserts an agent (an active agent of the same name in the organisation
/// is a 409).
pub(crate) async fn insert<D: Database>(db: &D, a: NewAgent<'_>) -> Result<(), Failure> {
    db.execute(
        AGENT_INSERT,
        &[
            a.id.into(),
            a.spec.org_id.as_str().into(),
            a.spec.name.as_str().into(),
            a.spec.description.clone().into(),
            json!(a.spec.scopes).to_string().into(),
            json!(a.spec.vault_ids).to_string().into(),
            a.spec.token_ttl_seconds.into(),
            a.spec.intents_api_enabled.into(),
            a.key.map(|(prefix, _)| prefix.to_owned()).into(),
            a.key.map(|(_, hash)| hash.to_owned()).into(),
            a.created_by.into(),
        ],
    )
    .await
    .map_err(|e| name_taken(e, &a.spec.name))?;
    Ok(())
}

/// Writes a patched spec.
pub(crate) async fn update<D: Database>(db: &D, id: &str, spec: &AgentSpec) -> Result<(), Failure> {
    db.execute(
        AGENT_UPDATE,
        &[
            id.into(),
            spec.name.as_str().into(),
            spec.description.clone().into(),
            json!(spec.scopes).to_string().into(),
            json!(spec.vault_ids).to_string().into(),
            spec.token_ttl_seconds.into(),
            spec.intents_api_enabled.into(),
        ],
    )
    .await
    .map_err(|e| name_taken(e, &spec.name))?;
    Ok(())
}

fn name_taken(e: DbError, name: &str) -> Failure {
    match e {
        DbError::UniqueViolation { ref constraint } if constraint == ACTIVE_NAME_INDEX => {
            ApiError::Conflict(format!(
                "the organisation already has an active agent named '{name}'"
            ))
            .into()
        }
        other => other.into(),
    }
}

/// Gives agent `id` a new key (and ends its older tokens).
pub(crate) async fn rotate<D: Database>(
    db: &D,
    id: &str,
    key_prefix: &str,
    key_hash: &str,
) -> Result<(), Failure> {
    db.execute(
        AGENT_ROTATE,
        &[id.into(), key_prefix.into(), key_hash.into()],
    )
    .await?;
    Ok(())
}

/// Deactivates agent `id` (its key and tokens stop working).
pub(crate) async fn deactivate<D: Database>(db: &D, id: &str) -> Result<(), Failure> {
    db.execute(AGENT_DEACTIVATE, &[id.into()]).await?;
    Ok(())
}

/// The ids among `ids` that are not live vaults of organisation `org_id`.
pub(crate) async fn foreign_vaults<D: Database>(
    db: &D,
    org_id: &str,
    ids: &[String],
) -> Result<Vec<String>, Failure> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .query(
            ORG_VAULTS_AMONG,
            &[org_id.into(), Value::from(json!(ids).to_string())],
        )
        .await?;
    let found = rows
        .iter()
        .map(|r| r.text("id"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids
        .iter()
        .filter(|id| !found.contains(id))
        .cloned()
        .collect())
}

/// The agent holding the key with digest `key_hash`, if any.
pub(crate) async fn agent_by_key<D: Database>(
    db: &D,
    key_hash: &str,
) -> Result<Option<AgentRow>, Failure> {
    Ok(db
        .query_opt(AGENT_BY_KEY, &[key_hash.into()])
        .await?
        .map(|row| AgentRow::from_row(&row))
        .transpose()?)
}
