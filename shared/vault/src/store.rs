//! The vault's storage: vaults, secrets with their versions, and policies.
//! Every mutation runs in one transaction with its audit entry (and, for
//! vaults, its organisation event); every value is sealed before it reaches
//! a statement (`crate::envelope`).

use cp_http::pagination::PageRequest;
use cp_http::ApiError;
use cp_http::PaginationInfo;
use cp_platform::resource::{keyset_list, KeysetList, TieBreak};
use cp_platform::Failure;
use cp_store::{epoch_micros, micros_timestamptz, Database, DbError, FromRow, Row, Value};
use serde_json::json;

use crate::policy::Policy;
use crate::views::{CmekJob, SecretMeta, SecretVersion, Vault, VaultPolicy};

/// Cursor scope of the vault list.
pub(crate) const VAULTS_SCOPE: &str = "vaults";
/// Cursor scope of a vault's secret list.
pub(crate) const SECRETS_SCOPE: &str = "vault-secrets";
/// Cursor scope of a vault's policy list.
pub(crate) const POLICIES_SCOPE: &str = "vault-policies";
/// How long a deleted secret can be restored.
pub(crate) const RESTORE_DAYS: i64 = 30;

// ------------------------------------------------------------------ vaults

macro_rules! vault_columns {
    () => {
        concat!(
            "v.id::text AS id, v.org_id::text AS org_id, v.name, v.description, v.key_provider, \
             v.master_key_id, v.cmek_fingerprint, v.created_by, v.version, ",
            epoch_micros!("v.created_at"),
            " AS created_micros, v.secret_count"
        )
    };
}

const VAULT_GET: &str = concat!(
    "SELECT ",
    vault_columns!(),
    ", v.wrapped_key FROM vaults v WHERE v.id = $1::text::uuid AND v.deleted_at IS NULL"
);
const VAULT_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    vault_columns!(),
    ", v.wrapped_key FROM vaults v WHERE v.id = $1::text::uuid AND v.deleted_at IS NULL \
     FOR UPDATE OF v"
);
/// Every live vault (operators), oldest first; `$2`/`$3` the cursor.
const VAULT_LIST_FIRST: &str = concat!(
    "SELECT ",
    vault_columns!(),
    " FROM vaults v WHERE v.deleted_at IS NULL ORDER BY v.created_at, v.id LIMIT $1"
);
const VAULT_LIST_AFTER: &str = concat!(
    "SELECT ",
    vault_columns!(),
    " FROM vaults v WHERE v.deleted_at IS NULL AND (v.created_at, v.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY v.created_at, v.id LIMIT $1"
);
/// The live vaults of the organisations user `$2` (first page) / `$4`
/// (after a cursor) belongs to.
const VAULT_LIST_MINE_FIRST: &str = concat!(
    "SELECT ",
    vault_columns!(),
    " FROM vaults v WHERE v.deleted_at IS NULL AND v.org_id IN \
     (SELECT org_id FROM org_members WHERE user_id = $2::text::uuid) \
     ORDER BY v.created_at, v.id LIMIT $1"
);
const VAULT_LIST_MINE_AFTER: &str = concat!(
    "SELECT ",
    vault_columns!(),
    " FROM vaults v WHERE v.deleted_at IS NULL AND v.org_id IN \
     (SELECT org_id FROM org_members WHERE user_id = $4::text::uuid) \
     AND (v.created_at, v.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY v.created_at, v.id LIMIT $1"
);
/// The live vaults among the ids of JSON array `$2` (first page) / `$4`
/// (after a cursor): an agent's.
const VAULT_LIST_GIVEN_FIRST: &str = concat!(
    "SELECT ",
    vault_columns!(),
    " FROM vaults v WHERE v.deleted_at IS NULL AND v.id IN \
     (SELECT jsonb_array_elements_text($2::text::jsonb)::uuid) \
     ORDER BY v.created_at, v.id LIMIT $1"
);
const VAULT_LIST_GIVEN_AFTER: &str = concat!(
    "SELECT ",
    vault_columns!(),
    " FROM vaults v WHERE v.deleted_at IS NULL AND v.id IN \
     (SELECT jsonb_array_elements_text($4::text::jsonb)::uuid) \
     AND (v.created_at, v.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY v.created_at, v.id LIMIT $1"
);
const VAULT_INSERT: &str = "INSERT INTO vaults
    (id, org_id, name, description, wrapped_key, key_provider, master_key_id, created_by)
    VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6, $7, $8)";
const VAULT_SOFT_DELETE: &str =
    "UPDATE vaults SET deleted_at = now(), updated_at = now() WHERE id = $1::text::uuid";
const VAULT_DELETE_SECRETS: &str = "UPDATE vault_secrets SET deleted_at = now()
    WHERE vault_id = $1::text::uuid AND deleted_at IS NULL";

/// A vault row: its view and what only the server sees.
pub(crate) struct VaultRow {
    /// The client's view.
    pub view: Vault,
    /// The vault key wrapped by the master key (absent in lists).
    pub wrapped_key: Vec<u8>,
    /// The master key that wrapped it (`None`: before keys had names).
    pub master_key_id: Option<String>,
    /// The row version (the ETag).
    pub version: i64,
    /// Creation time, for the cursor.
    pub created_micros: i64,
}

impl VaultRow {
    /// The vault's id as a UUID (what ciphertexts are bound to).
    pub(crate) fn uuid(&self) -> Result<uuid::Uuid, Failure> {
        uuid::Uuid::parse_str(&self.view.id)
            .map_err(|e| Failure::with_cause(ApiError::Internal, format!("vault id: {e}")))
    }

    /// The vault's ETag.
    pub(crate) fn etag(&self) -> String {
        cp_http::etag::for_version(&self.version.to_string())
    }
}

impl FromRow for VaultRow {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let created_micros = r.i64("created_micros")?;
        Ok(Self {
            view: Vault {
                id: r.text("id")?,
                org_id: r.text("org_id")?,
                name: r.text("name")?,
                description: r.opt_text("description")?,
                secret_count: r.i64("secret_count")?,
                key_provider: r.text("key_provider")?,
                cmek_fingerprint: r.opt_text("cmek_fingerprint")?,
                created_by: r.text("created_by")?,
                created_at: cp_http::time::micros_rfc3339(created_micros),
            },
            wrapped_key: if r.value("wrapped_key").is_ok() {
                r.bytes("wrapped_key")?
            } else {
                Vec::new()
            },
            master_key_id: r.opt_text("master_key_id")?,
            version: r.i64("version")?,
            created_micros,
        })
    }
}

/// The live vault `id`, or a 404.
pub(crate) async fn vault<D: Database>(db: &D, id: &str, lock: bool) -> Result<VaultRow, Failure> {
    let sql = if lock {
        VAULT_GET_FOR_UPDATE
    } else {
        VAULT_GET
    };
    db.fetch_opt(sql, &[id.into()])
        .await?
        .ok_or_else(|| vault_not_found(id).into())
}

/// The vault not-found error (also another organisation's vault).
pub(crate) fn vault_not_found(id: &str) -> ApiError {
    ApiError::not_found("VAULT", id)
}

/// One page of vaults: every one (`user` None) or those of the user's
/// organisations.
pub(crate) async fn list_vaults<D: Database>(
    db: &D,
    page: &PageRequest,
    lister: VaultLister<'_>,
) -> Result<(Vec<Vault>, PaginationInfo), Failure> {
    let (first, after, param) = match lister {
        VaultLister::All => (VAULT_LIST_FIRST, VAULT_LIST_AFTER, None),
        VaultLister::Member(user) => (
            VAULT_LIST_MINE_FIRST,
            VAULT_LIST_MINE_AFTER,
            Some(Value::from(user)),
        ),
        VaultLister::Given(ids) => (
            VAULT_LIST_GIVEN_FIRST,
            VAULT_LIST_GIVEN_AFTER,
            Some(Value::from(json!(ids).to_string())),
        ),
    };
    let list = KeysetList {
        scope: VAULTS_SCOPE,
        first,
        after,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_list(db, page, list, param, |v: &VaultRow| {
        vec![json!(v.created_micros), json!(v.view.id)]
    })
    .await?;
    Ok((rows.into_iter().map(|r| r.view).collect(), info))
}

/// Whose vaults a list shows.
pub(crate) enum VaultLister<'a> {
    /// Every live vault (operators and access tokens).
    All,
    /// Those of the organisations this user belongs to.
    Member(&'a str),
    /// These (an agent's vaults).
    Given(&'a [String]),
}

/// What a new vault row holds.
pub(crate) struct NewVault<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub wrapped: crate::keyring::WrappedKey,
    pub created_by: &'a str,
}

/// Inserts a vault (a duplicate live name in the organisation is a 409).
pub(crate) async fn insert_vault<D: Database>(db: &D, v: NewVault<'_>) -> Result<(), Failure> {
    db.execute(
        VAULT_INSERT,
        &[
            v.id.into(),
            v.org_id.into(),
            v.name.into(),
            v.description.map(str::to_owned).into(),
            Value::Bytes(v.wrapped.bytes),
            v.wrapped.provider.into(),
            v.wrapped.key_id.into(),
            v.created_by.into(),
        ],
    )
    .await
    .map_err(|e| match e {
        DbError::UniqueViolation { .. } => Failure::from(ApiError::Conflict(format!(
            "the organisation already has a vault named {:?}",
            v.name
        ))),
        other => other.into(),
    })?;
    Ok(())
}

/// Soft-deletes a vault and (forced) its live secrets; returns how many
/// secrets went with it.
pub(crate) async fn delete_vault<D: Database>(db: &D, id: &str) -> Result<u64, Failure> {
    let secrets = db.execute(VAULT_DELETE_SECRETS, &[id.into()]).await?;
    db.execute(VAULT_SOFT_DELETE, &[id.into()]).await?;
    Ok(secrets)
}

const MASTER_KEY_USAGE: &str = "SELECT master_key_id, key_provider, count(*) AS vaults
    FROM vaults WHERE deleted_at IS NULL GROUP BY master_key_id, key_provider
    ORDER BY master_key_id NULLS FIRST, key_provider";
/// Live vaults wrapped by another master key than `$1`, `$2` at most.
const STALE_VAULTS: &str = "SELECT id::text AS id FROM vaults
    WHERE deleted_at IS NULL AND master_key_id IS DISTINCT FROM $1 ORDER BY id LIMIT $2";
const STALE_VAULT_COUNT: &str = "SELECT count(*) AS n FROM vaults
    WHERE deleted_at IS NULL AND master_key_id IS DISTINCT FROM $1";
const VAULT_SET_WRAPPED: &str = "UPDATE vaults SET wrapped_key = $2, key_provider = $3,
    master_key_id = $4, version = version + 1, updated_at = now() WHERE id = $1::text::uuid";

/// How many live vaults each master key wraps: (key name, provider, count).
pub(crate) async fn master_key_usage<D: Database>(
    db: &D,
) -> Result<Vec<(Option<String>, String, i64)>, Failure> {
    let rows = db.query(MASTER_KEY_USAGE, &[]).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.opt_text("master_key_id")?,
                r.text("key_provider")?,
                r.i64("vaults")?,
            ))
        })
        .collect::<Result<Vec<_>, DbError>>()
        .map_err(Failure::from)
}

/// Up to `limit` live vaults wrapped by another master key than `current`.
pub(crate) async fn stale_vaults<D: Database>(
    db: &D,
    current: &str,
    limit: i64,
) -> Result<Vec<String>, Failure> {
    let rows = db
        .query(STALE_VAULTS, &[current.into(), Value::Int(limit)])
        .await?;
    rows.iter()
        .map(|r| r.text("id"))
        .collect::<Result<Vec<_>, DbError>>()
        .map_err(Failure::from)
}

/// How many live vaults another master key than `current` wraps.
pub(crate) async fn stale_vault_count<D: Database>(db: &D, current: &str) -> Result<i64, Failure> {
    Ok(db
        .query_one(STALE_VAULT_COUNT, &[current.into()])
        .await?
        .i64("n")?)
}

/// Stores a vault's key as wrapped by another master key.
pub(crate) async fn set_wrapped_key<D: Database>(
    db: &D,
    id: &str,
    wrapped: &crate::keyring::WrappedKey,
) -> Result<(), Failure> {
    db.execute(
        VAULT_SET_WRAPPED,
        &[
            id.into(),
            Value::Bytes(wrapped.bytes.clone()),
            wrapped.provider.into(),
            wrapped.key_id.as_str().into(),
        ],
    )
    .await?;
    Ok(())
}

// ----------------------------------------------------------------- secrets

macro_rules! secret_columns {
    () => {
        concat!(
            "s.id::text AS id, s.vault_id::text AS vault_id, s.path, s.secret_type, \
             s.description, s.tags, s.current_version, s.created_by, s.updated_by, ",
            epoch_micros!("s.created_at"),
            " AS created_micros, ",
            epoch_micros!("s.updated_at"),
            " AS updated_micros, CASE WHEN s.expires_at IS NULL THEN NULL ELSE ",
            epoch_micros!("s.expires_at"),
            " END AS expires_micros"
        )
    };
}

const SECRET_GET: &str = concat!(
    "SELECT ",
    secret_columns!(),
    " FROM vault_secrets s WHERE s.vault_id = $1::text::uuid AND s.path = $2 \
     AND s.deleted_at IS NULL"
);
const SECRET_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    secret_columns!(),
    " FROM vault_secrets s WHERE s.vault_id = $1::text::uuid AND s.path = $2 \
     AND s.deleted_at IS NULL FOR UPDATE"
);
const SECRET_BY_ID: &str = concat!(
    "SELECT ",
    secret_columns!(),
    " FROM vault_secrets s WHERE s.id = $1::text::uuid AND s.deleted_at IS NULL"
);
/// Vault `$2`'s live secrets at path `$3` or under the `LIKE` pattern `$4`,
/// by path (`vault_secrets_path`); `$5` the path the page starts after.
const SECRET_LIST_FIRST: &str = concat!(
    "SELECT ",
    secret_columns!(),
    " FROM vault_secrets s WHERE s.vault_id = $2::text::uuid AND s.deleted_at IS NULL \
     AND (s.path = $3 OR s.path LIKE $4) ORDER BY s.path LIMIT $1"
);
const SECRET_LIST_AFTER: &str = concat!(
    "SELECT ",
    secret_columns!(),
    " FROM vault_secrets s WHERE s.vault_id = $2::text::uuid AND s.deleted_at IS NULL \
     AND (s.path = $3 OR s.path LIKE $4) AND s.path > $5 ORDER BY s.path LIMIT $1"
);
const SECRET_INSERT: &str = "INSERT INTO vault_secrets
    (id, vault_id, path, secret_type, description, tags, expires_at, current_version,
     created_by, updated_by)
    VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6, to_timestamp($7::int8 / 1e6), 1, $8, $8)";
const SECRET_UPDATE: &str = "UPDATE vault_secrets SET secret_type = $2, description = $3,
    tags = $4, expires_at = to_timestamp($5::int8 / 1e6), current_version = current_version + 1,
    updated_by = $6, updated_at = now()
    WHERE id = $1::text::uuid RETURNING current_version";
const VERSION_INSERT: &str = "INSERT INTO vault_secret_versions
    (secret_id, version, sealed, created_by, cmek_fingerprint)
    VALUES ($1::text::uuid, $2::int8, $3, $4, $5)";
const VERSION_GET: &str = "SELECT sealed, disabled, cmek_fingerprint FROM vault_secret_versions
    WHERE secret_id = $1::text::uuid AND version = $2::int8";
const VERSION_LIST: &str = concat!(
    "SELECT version::int8 AS version, disabled, created_by, ",
    epoch_micros!("created_at"),
    " AS created_micros FROM vault_secret_versions WHERE secret_id = $1::text::uuid \
     ORDER BY version DESC"
);
const VERSION_SET_DISABLED: &str = "UPDATE vault_secret_versions SET disabled = $3
    WHERE secret_id = $1::text::uuid AND version = $2::int8";
const SECRET_SOFT_DELETE: &str =
    "UPDATE vault_secrets SET deleted_at = now() WHERE id = $1::text::uuid";
/// The most recently deleted secret at a path, still restorable.
const SECRET_DELETED_GET: &str = concat!(
    "SELECT ",
    secret_columns!(),
    " FROM vault_secrets s WHERE s.vault_id = $1::text::uuid AND s.path = $2 \
     AND s.deleted_at > now() - make_interval(days => $3::int8::int) \
     ORDER BY s.deleted_at DESC LIMIT 1 FOR UPDATE"
);
const SECRET_RESTORE: &str =
    "UPDATE vault_secrets SET deleted_at = NULL, updated_at = now() WHERE id = $1::text::uuid";
/// Purges for good the vault's secrets deleted longer ago than `$2` days
/// (their versions go with them: `ON DELETE CASCADE`).
const SECRET_PURGE: &str = "DELETE FROM vault_secrets WHERE vault_id = $1::text::uuid
    AND deleted_at IS NOT NULL AND deleted_at <= now() - make_interval(days => $2::int8::int)";

/// A secret's row.
#[derive(Debug, Clone)]
pub(crate) struct SecretRow {
    /// Its view.
    pub meta: SecretMeta,
    /// When it expires, in microseconds.
    pub expires_micros: Option<i64>,
    /// Its description, as stored.
    pub description: Option<String>,
    /// Its tags, as stored.
    pub tags: Vec<String>,
}

impl SecretRow {
    /// The secret's ETag: its id and current version (a secret deleted
    /// and written again is another secret).
    pub(crate) fn etag(&self) -> String {
        cp_http::etag::for_version(&format!("{}.{}", self.meta.id, self.meta.version))
    }
}

impl FromRow for SecretRow {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let tags: Vec<String> = serde_json::from_value(r.json("tags")?).unwrap_or_default();
        let description = r.opt_text("description")?;
        let expires_micros = r.opt_i64("expires_micros")?;
        Ok(Self {
            meta: SecretMeta {
                id: r.text("id")?,
                vault_id: r.text("vault_id")?,
                path: r.text("path")?,
                secret_type: r.text("secret_type")?,
                description: description.clone(),
                tags: tags.clone(),
                expires_at: expires_micros.map(cp_http::time::micros_rfc3339),
                version: r.i64("current_version")?,
                created_at: cp_http::time::micros_rfc3339(r.i64("created_micros")?),
                updated_at: cp_http::time::micros_rfc3339(r.i64("updated_micros")?),
                created_by: r.text("created_by")?,
                updated_by: r.text("updated_by")?,
            },
            expires_micros,
            description,
            tags,
        })
    }
}

/// The live secret at `path`, locked for the transaction when `lock`.
pub(crate) async fn secret<D: Database>(
    db: &D,
    vault_id: &str,
    path: &str,
    lock: bool,
) -> Result<Option<SecretRow>, Failure> {
    let sql = if lock {
        SECRET_GET_FOR_UPDATE
    } else {
        SECRET_GET
    };
    Ok(db.fetch_opt(sql, &[vault_id.into(), path.into()]).await?)
}

/// The live secret `id` (whatever its path).
pub(crate) async fn secret_by_id<D: Database>(
    db: &D,
    id: &str,
) -> Result<Option<SecretRow>, Failure> {
    Ok(db.fetch_opt(SECRET_BY_ID, &[id.into()]).await?)
}

/// The secret not-found error.
pub(crate) fn secret_not_found(path: &str) -> ApiError {
    ApiError::not_found("SECRET", path)
}

/// A page of a vault's secrets under `prefix` (whole segments: `config`
/// covers `config` and `config/...`, `config/` only what lies below, the
/// empty prefix everything), by path.
pub(crate) async fn list_secrets<D: Database>(
    db: &D,
    page: &PageRequest,
    vault_id: &str,
    prefix: &str,
) -> Result<(Vec<SecretRow>, PaginationInfo), Failure> {
    // `_` is a path character and a LIKE wildcard: escape it.
    let literal = prefix.replace('_', "\\_");
    let (exact, pattern) = if prefix.is_empty() {
        (String::new(), "%".to_owned())
    } else if prefix.ends_with('/') {
        (String::new(), format!("{literal}%"))
    } else {
        (prefix.to_owned(), format!("{literal}/%"))
    };
    let mut params = vec![
        Value::Int(page.fetch_limit()),
        vault_id.into(),
        exact.into(),
        pattern.into(),
    ];
    let sql = match &page.after {
        None => SECRET_LIST_FIRST,
        Some(c) => {
            params.push(c.str_at(0)?.into());
            SECRET_LIST_AFTER
        }
    };
    let rows: Vec<SecretRow> = db.fetch_all(sql, &params).await?;
    Ok(page.paginate(SECRETS_SCOPE, rows, |s| vec![json!(s.meta.path)]))
}

/// What a write stores for a secret (beyond the sealed value).
pub(crate) struct SecretFields<'a> {
    pub secret_type: &'a str,
    pub description: Option<&'a str>,
    pub tags: &'a [String],
    pub expires_micros: Option<i64>,
    pub actor: &'a str,
}

/// Inserts a new secret at version 1.
pub(crate) async fn insert_secret<D: Database>(
    db: &D,
    id: &str,
    vault_id: &str,
    path: &str,
    f: &SecretFields<'_>,
) -> Result<(), Failure> {
    db.execute(
        SECRET_INSERT,
        &[
            id.into(),
            vault_id.into(),
            path.into(),
            f.secret_type.into(),
            f.description.map(str::to_owned).into(),
            Value::Json(json!(f.tags)),
            f.expires_micros.into(),
            f.actor.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Moves a secret to its next version; returns that version.
pub(crate) async fn bump_secret<D: Database>(
    db: &D,
    id: &str,
    f: &SecretFields<'_>,
) -> Result<i64, Failure> {
    let row = db
        .query_one(
            SECRET_UPDATE,
            &[
                id.into(),
                f.secret_type.into(),
                f.description.map(str::to_owned).into(),
                Value::Json(json!(f.tags)),
                f.expires_micros.into(),
                f.actor.into(),
            ],
        )
        .await?;
    Ok(row.i64("current_version")?)
}

/// Stores a sealed version (`cmek`: the fingerprint of the customer key
/// the client encrypted the value with).
pub(crate) async fn insert_version<D: Database>(
    db: &D,
    secret_id: &str,
    version: i64,
    sealed: Vec<u8>,
    actor: &str,
    cmek: Option<&str>,
) -> Result<(), Failure> {
    db.execute(
        VERSION_INSERT,
        &[
            secret_id.into(),
            Value::Int(version),
            Value::Bytes(sealed),
            actor.into(),
            cmek.map(str::to_owned).into(),
        ],
    )
    .await?;
    Ok(())
}

/// A stored version.
pub(crate) struct StoredVersion {
    /// `EncryptedVersion::to_bytes`.
    pub sealed: Vec<u8>,
    /// Disabled versions are not read.
    pub disabled: bool,
    /// The customer key's fingerprint, for a client-encrypted value.
    pub cmek_fingerprint: Option<String>,
}

/// A stored version of a secret.
pub(crate) async fn version<D: Database>(
    db: &D,
    secret_id: &str,
    version: i64,
) -> Result<Option<StoredVersion>, Failure> {
    let row = db
        .query_opt(VERSION_GET, &[secret_id.into(), Value::Int(version)])
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(StoredVersion {
            sealed: r.bytes("sealed")?,
            disabled: r.bool("disabled")?,
            cmek_fingerprint: r.opt_text("cmek_fingerprint")?,
        }),
    })
}

/// Every version of a secret, newest first.
pub(crate) async fn versions<D: Database>(
    db: &D,
    secret: &SecretRow,
) -> Result<Vec<SecretVersion>, Failure> {
    let rows = db
        .query(VERSION_LIST, &[secret.meta.id.as_str().into()])
        .await?;
    rows.iter()
        .map(|r| {
            let version = r.i64("version")?;
            Ok(SecretVersion {
                version,
                disabled: r.bool("disabled")?,
                current: version == secret.meta.version,
                created_by: r.text("created_by")?,
                created_at: cp_http::time::micros_rfc3339(r.i64("created_micros")?),
            })
        })
        .collect::<Result<Vec<_>, DbError>>()
        .map_err(Failure::from)
}

/// Disables or enables one version; false when it does not exist.
pub(crate) async fn set_version_disabled<D: Database>(
    db: &D,
    secret_id: &str,
    version: i64,
    disabled: bool,
) -> Result<bool, Failure> {
    let changed = db
        .execute(
            VERSION_SET_DISABLED,
            &[secret_id.into(), Value::Int(version), Value::Bool(disabled)],
        )
        .await?;
    Ok(changed == 1)
}

/// Soft-deletes a secret.
pub(crate) async fn soft_delete_secret<D: Database>(db: &D, id: &str) -> Result<(), Failure> {
    db.execute(SECRET_SOFT_DELETE, &[id.into()]).await?;
    Ok(())
}

/// The most recently deleted, still restorable secret at `path`, locked.
pub(crate) async fn deleted_secret<D: Database>(
    db: &D,
    vault_id: &str,
    path: &str,
) -> Result<Option<SecretRow>, Failure> {
    Ok(db
        .fetch_opt(
            SECRET_DELETED_GET,
            &[vault_id.into(), path.into(), Value::Int(RESTORE_DAYS)],
        )
        .await?)
}

/// Restores a deleted secret (a live secret at its path is a 409).
pub(crate) async fn restore_secret<D: Database>(
    db: &D,
    id: &str,
    path: &str,
) -> Result<(), Failure> {
    db.execute(SECRET_RESTORE, &[id.into()])
        .await
        .map_err(|e| match e {
            DbError::UniqueViolation { .. } => Failure::from(ApiError::Conflict(format!(
                "a live secret holds {path:?}: delete it first"
            ))),
            other => other.into(),
        })?;
    Ok(())
}

/// Purges the vault's secrets deleted more than [`RESTORE_DAYS`] ago.
pub(crate) async fn purge_expired_deletions<D: Database>(
    db: &D,
    vault_id: &str,
) -> Result<u64, Failure> {
    Ok(db
        .execute(SECRET_PURGE, &[vault_id.into(), Value::Int(RESTORE_DAYS)])
        .await?)
}

// -------------------------------------------------------------------- CMEK

const VAULT_SET_CMEK: &str = "UPDATE vaults SET cmek_fingerprint = $2, version = version + 1,
    updated_at = now() WHERE id = $1::text::uuid";
/// The next batch of a vault's versions encrypted under customer key `$2`,
/// locked (`$3` the batch size); with their secret's path.
const CMEK_BATCH: &str = "SELECT v.secret_id::text AS secret_id, v.version::int8 AS version,
        v.sealed, s.path
    FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id
    WHERE s.vault_id = $1::text::uuid AND v.cmek_fingerprint = $2
    ORDER BY v.secret_id, v.version LIMIT $3 FOR UPDATE OF v";
const CMEK_COUNT: &str = "SELECT count(*) AS n
    FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id
    WHERE s.vault_id = $1::text::uuid AND v.cmek_fingerprint = $2";
const CMEK_VERSION_UPDATE: &str =
    "UPDATE vault_secret_versions SET sealed = $3, cmek_fingerprint = $4
    WHERE secret_id = $1::text::uuid AND version = $2::int8";

macro_rules! job_columns {
    () => {
        concat!(
            "id::text AS id, vault_id::text AS vault_id, old_fingerprint, new_fingerprint, \
             status, total, processed, error, ",
            epoch_micros!("created_at"),
            " AS created_micros, ",
            epoch_micros!("updated_at"),
            " AS updated_micros"
        )
    };
}

const JOB_INSERT: &str = concat!(
    "INSERT INTO vault_cmek_jobs (id, vault_id, old_fingerprint, new_fingerprint, status, total, \
     created_by) VALUES ($1::text::uuid, $2::text::uuid, $3, $4, 'running', $5, $6) RETURNING ",
    job_columns!()
);
const JOB_ACTIVE: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM vault_cmek_jobs WHERE vault_id = $1::text::uuid \
     AND status IN ('pending', 'running') FOR UPDATE"
);
const JOB_GET: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM vault_cmek_jobs WHERE vault_id = $1::text::uuid AND id = $2::text::uuid"
);
const JOB_PROGRESS: &str = "UPDATE vault_cmek_jobs SET processed = processed + $2,
    updated_at = now() WHERE id = $1::text::uuid";
const JOB_FINISH: &str = "UPDATE vault_cmek_jobs SET status = $2, error = $3, updated_at = now()
    WHERE id = $1::text::uuid";

/// Sets (or, with `None`, clears) a vault's customer key fingerprint.
pub(crate) async fn set_cmek<D: Database>(
    db: &D,
    vault_id: &str,
    fingerprint: Option<&str>,
) -> Result<(), Failure> {
    db.execute(
        VAULT_SET_CMEK,
        &[vault_id.into(), fingerprint.map(str::to_owned).into()],
    )
    .await?;
    Ok(())
}

/// One version awaiting re-encryption.
pub(crate) struct CmekVersion {
    /// Its secret.
    pub secret_id: String,
    /// Its number.
    pub version: i64,
    /// Its sealed bytes.
    pub sealed: Vec<u8>,
    /// Its secret's path (bound into the ciphertext).
    pub path: String,
}

/// The next `limit` versions of the vault under customer key `fingerprint`,
/// locked for the batch's transaction.
pub(crate) async fn cmek_batch<D: Database>(
    db: &D,
    vault_id: &str,
    fingerprint: &str,
    limit: i64,
) -> Result<Vec<CmekVersion>, Failure> {
    let rows = db
        .query(
            CMEK_BATCH,
            &[vault_id.into(), fingerprint.into(), Value::Int(limit)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CmekVersion {
                secret_id: r.text("secret_id")?,
                version: r.i64("version")?,
                sealed: r.bytes("sealed")?,
                path: r.text("path")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()
        .map_err(Failure::from)
}

/// How many of the vault's versions are under customer key `fingerprint`.
pub(crate) async fn cmek_count<D: Database>(
    db: &D,
    vault_id: &str,
    fingerprint: &str,
) -> Result<i64, Failure> {
    Ok(db
        .query_one(CMEK_COUNT, &[vault_id.into(), fingerprint.into()])
        .await?
        .i64("n")?)
}

/// Replaces a version's sealed bytes and customer key fingerprint.
pub(crate) async fn cmek_update_version<D: Database>(
    db: &D,
    v: &CmekVersion,
    sealed: Vec<u8>,
    fingerprint: &str,
) -> Result<(), Failure> {
    db.execute(
        CMEK_VERSION_UPDATE,
        &[
            v.secret_id.as_str().into(),
            Value::Int(v.version),
            Value::Bytes(sealed),
            fingerprint.into(),
        ],
    )
    .await?;
    Ok(())
}

/// A rotation job.
#[derive(Debug, Clone)]
pub(crate) struct CmekJobRow {
    /// Its view.
    pub view: CmekJob,
    /// The key it rotates from.
    pub old_fingerprint: String,
    /// The key it rotates to.
    pub new_fingerprint: String,
}

impl FromRow for CmekJobRow {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let old_fingerprint = r.text("old_fingerprint")?;
        let new_fingerprint = r.text("new_fingerprint")?;
        Ok(Self {
            view: CmekJob {
                id: r.text("id")?,
                vault_id: r.text("vault_id")?,
                status: r.text("status")?,
                total: r.i64("total")?,
                processed: r.i64("processed")?,
                error: r.opt_text("error")?,
                new_fingerprint: new_fingerprint.clone(),
                created_at: cp_http::time::micros_rfc3339(r.i64("created_micros")?),
                updated_at: cp_http::time::micros_rfc3339(r.i64("updated_micros")?),
            },
            old_fingerprint,
            new_fingerprint,
        })
    }
}

/// Starts a rotation job.
pub(crate) async fn insert_job<D: Database>(
    db: &D,
    id: &str,
    vault_id: &str,
    old: &str,
    new: &str,
    total: i64,
    actor: &str,
) -> Result<CmekJobRow, Failure> {
    Ok(db
        .fetch_one(
            JOB_INSERT,
            &[
                id.into(),
                vault_id.into(),
                old.into(),
                new.into(),
                Value::Int(total),
                actor.into(),
            ],
        )
        .await?)
}

/// The vault's unfinished rotation, locked, if any.
pub(crate) async fn active_job<D: Database>(
    db: &D,
    vault_id: &str,
) -> Result<Option<CmekJobRow>, Failure> {
    Ok(db.fetch_opt(JOB_ACTIVE, &[vault_id.into()]).await?)
}

/// A rotation job of the vault, or a 404.
pub(crate) async fn job<D: Database>(
    db: &D,
    vault_id: &str,
    id: &str,
) -> Result<CmekJobRow, Failure> {
    db.fetch_opt(JOB_GET, &[vault_id.into(), id.into()])
        .await?
        .ok_or_else(|| ApiError::not_found("CMEK_JOB", id).into())
}

/// Counts `n` more versions done.
pub(crate) async fn job_progress<D: Database>(db: &D, id: &str, n: i64) -> Result<(), Failure> {
    db.execute(JOB_PROGRESS, &[id.into(), Value::Int(n)])
        .await?;
    Ok(())
}

/// Ends a job: `completed`, or `failed` with what went wrong.
pub(crate) async fn finish_job<D: Database>(
    db: &D,
    id: &str,
    status: &str,
    error: Option<&str>,
) -> Result<(), Failure> {
    db.execute(
        JOB_FINISH,
        &[id.into(), status.into(), error.map(str::to_owned).into()],
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------- policies

macro_rules! policy_columns {
    () => {
        concat!(
            "id::text AS id, vault_id::text AS vault_id, policy, version, ",
            epoch_micros!("created_at"),
            " AS created_micros, ",
            epoch_micros!("updated_at"),
            " AS updated_micros"
        )
    };
}

const POLICY_ALL: &str = concat!(
    "SELECT ",
    policy_columns!(),
    " FROM vault_policies WHERE vault_id = $1::text::uuid"
);
const POLICY_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    policy_columns!(),
    " FROM vault_policies WHERE vault_id = $1::text::uuid AND id = $2::text::uuid FOR UPDATE"
);
const POLICY_LIST_FIRST: &str = concat!(
    "SELECT ",
    policy_columns!(),
    " FROM vault_policies WHERE vault_id = $2::text::uuid ORDER BY created_at, id LIMIT $1"
);
const POLICY_LIST_AFTER: &str = concat!(
    "SELECT ",
    policy_columns!(),
    " FROM vault_policies WHERE vault_id = $4::text::uuid AND (created_at, id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY created_at, id LIMIT $1"
);
const POLICY_INSERT: &str = concat!(
    "INSERT INTO vault_policies (id, vault_id, policy) VALUES ($1::text::uuid, $2::text::uuid, $3) \
     RETURNING ",
    policy_columns!()
);
const POLICY_UPDATE: &str = concat!(
    "UPDATE vault_policies SET policy = $3, version = version + 1, updated_at = now() \
     WHERE vault_id = $1::text::uuid AND id = $2::text::uuid RETURNING ",
    policy_columns!()
);
const POLICY_DELETE: &str =
    "DELETE FROM vault_policies WHERE vault_id = $1::text::uuid AND id = $2::text::uuid";

/// A stored policy.
#[derive(Debug, Clone)]
pub(crate) struct PolicyRow {
    /// The policy, re-validated when read.
    pub policy: Policy,
    /// Its vault.
    pub vault_id: String,
    /// Row version (the ETag).
    pub version: i64,
    /// Creation time.
    pub created_micros: i64,
    /// Last change.
    pub updated_micros: i64,
}

impl PolicyRow {
    /// The client's view.
    pub(crate) fn view(&self) -> VaultPolicy {
        VaultPolicy::of(
            &self.policy,
            &self.vault_id,
            self.created_micros,
            self.updated_micros,
        )
    }

    /// The policy's ETag.
    pub(crate) fn etag(&self) -> String {
        cp_http::etag::for_version(&self.version.to_string())
    }
}

impl FromRow for PolicyRow {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let policy: Policy = serde_json::from_value(r.json("policy")?)
            .map_err(|e| DbError::Decode(format!("vault policy: {e}")))?;
        Ok(Self {
            policy,
            vault_id: r.text("vault_id")?,
            version: r.i64("version")?,
            created_micros: r.i64("created_micros")?,
            updated_micros: r.i64("updated_micros")?,
        })
    }
}

/// Every policy of a vault (what the evaluator decides with).
pub(crate) async fn policies<D: Database>(db: &D, vault_id: &str) -> Result<Vec<Policy>, Failure> {
    let rows: Vec<PolicyRow> = db.fetch_all(POLICY_ALL, &[vault_id.into()]).await?;
    Ok(rows.into_iter().map(|r| r.policy).collect())
}

/// One page of a vault's policies, oldest first.
pub(crate) async fn list_policies<D: Database>(
    db: &D,
    page: &PageRequest,
    vault_id: &str,
) -> Result<(Vec<VaultPolicy>, PaginationInfo), Failure> {
    let list = KeysetList {
        scope: POLICIES_SCOPE,
        first: POLICY_LIST_FIRST,
        after: POLICY_LIST_AFTER,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_list(db, page, list, Some(vault_id.into()), |p: &PolicyRow| {
        vec![json!(p.created_micros), json!(p.policy.id.to_string())]
    })
    .await?;
    Ok((rows.iter().map(PolicyRow::view).collect(), info))
}

/// The policy `id` of the vault, locked, or a 404.
pub(crate) async fn policy_for_update<D: Database>(
    db: &D,
    vault_id: &str,
    id: &str,
) -> Result<PolicyRow, Failure> {
    db.fetch_opt(POLICY_GET_FOR_UPDATE, &[vault_id.into(), id.into()])
        .await?
        .ok_or_else(|| ApiError::not_found("VAULT_POLICY", id).into())
}

fn policy_json(policy: &Policy) -> Result<Value, Failure> {
    serde_json::to_value(policy)
        .map(Value::Json)
        .map_err(|e| Failure::with_cause(ApiError::Internal, format!("encoding a policy: {e}")))
}

/// Inserts a policy.
pub(crate) async fn insert_policy<D: Database>(
    db: &D,
    vault_id: &str,
    policy: &Policy,
) -> Result<PolicyRow, Failure> {
    Ok(db
        .fetch_one(
            POLICY_INSERT,
            &[
                policy.id.to_string().into(),
                vault_id.into(),
                policy_json(policy)?,
            ],
        )
        .await?)
}

/// Replaces a policy.
pub(crate) async fn update_policy<D: Database>(
    db: &D,
    vault_id: &str,
    policy: &Policy,
) -> Result<PolicyRow, Failure> {
    Ok(db
        .fetch_one(
            POLICY_UPDATE,
            &[
                vault_id.into(),
                policy.id.to_string().into(),
                policy_json(policy)?,
            ],
        )
        .await?)
}

/// Deletes a policy.
pub(crate) async fn delete_policy<D: Database>(
    db: &D,
    vault_id: &str,
    id: &str,
) -> Result<(), Failure> {
    db.execute(POLICY_DELETE, &[vault_id.into(), id.into()])
        .await?;
    Ok(())
}

// ------------------------------------------------------------------ groups

/// The catalog groups whose user members include user `$1`'s email, only
/// once that email is verified (an unverified address proves nothing).
const USER_GROUPS: &str = "SELECT g.name FROM groups g
    JOIN group_members m ON m.group_id = g.id AND m.member_kind = 'user'
    JOIN users u ON u.email = m.member_name
    WHERE u.id = $1::text::uuid AND u.email_verified_at IS NOT NULL
    ORDER BY g.name";

/// The groups user `user_id` belongs to, for group principals.
pub(crate) async fn user_groups<D: Database>(
    db: &D,
    user_id: &str,
) -> Result<Vec<String>, Failure> {
    let rows = db.query(USER_GROUPS, &[user_id.into()]).await?;
    rows.iter()
        .map(|r| r.text("name"))
        .collect::<Result<Vec<_>, DbError>>()
        .map_err(Failure::from)
}
