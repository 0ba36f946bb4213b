//! Shares' storage (`migrations/sql/0020_vault_shares.sql`). An access is
//! counted by one conditional `UPDATE` ([`consume`]): PostgreSQL re-checks
//! its condition on the row a concurrent reader just changed, so a share
//! limited to five accesses opens exactly five times however many readers
//! race for it.

use cp_http::pagination::PageRequest;
use cp_http::{ApiError, PaginationInfo};
use cp_platform::resource::{keyset_list, KeysetList, TieBreak};
use cp_platform::Failure;
use cp_store::{epoch_micros, micros_timestamptz, Database, DbError, FromRow, Row, Value};
use serde_json::json;

use crate::share::{Share, ShareState, StoredStatus, ValidShare};

/// Cursor scope of the outbound list.
pub(crate) const OUTBOUND_SCOPE: &str = "vault-shares-outbound";
/// Cursor scope of the inbound list.
pub(crate) const INBOUND_SCOPE: &str = "vault-shares-inbound";

macro_rules! share_select {
    () => {
        concat!(
            "SELECT sh.id::text AS id, sh.secret_id::text AS secret_id, \
             sh.vault_id::text AS vault_id, s.path, s.secret_type, sh.version::int8 AS version, \
             sh.recipient_type, sh.recipient_id::text AS recipient_id, sh.recipient_email, \
             sh.key_hash, sh.status, sh.max_access_count::int8 AS max_access_count, \
             sh.access_count::int8 AS access_count, sh.created_by, sh.row_version, ",
            epoch_micros!("sh.expires_at"),
            " AS expires_micros, ",
            epoch_micros!("sh.created_at"),
            " AS created_micros, CASE WHEN sh.last_accessed_at IS NULL THEN NULL ELSE ",
            epoch_micros!("sh.last_accessed_at"),
            " END AS accessed_micros, CASE WHEN sh.revoked_at IS NULL THEN NULL ELSE ",
            epoch_micros!("sh.revoked_at"),
            " END AS revoked_micros \
             FROM vault_shares sh JOIN vault_secrets s ON s.id = sh.secret_id"
        )
    };
}

const SHARE_GET: &str = concat!(share_select!(), " WHERE sh.id = $1::text::uuid");
const SHARE_GET_FOR_UPDATE: &str = concat!(
    share_select!(),
    " WHERE sh.id = $1::text::uuid FOR UPDATE OF sh"
);
/// The shares created by actor `$2` (`$4` after a cursor), oldest first
/// (`vault_shares_outbound`).
const OUTBOUND_FIRST: &str = concat!(
    share_select!(),
    " WHERE sh.created_by = $2 ORDER BY sh.created_at, sh.id LIMIT $1"
);
const OUTBOUND_AFTER: &str = concat!(
    share_select!(),
    " WHERE sh.created_by = $4 AND (sh.created_at, sh.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY sh.created_at, sh.id LIMIT $1"
);
/// The shares sent to user or agent `$2` (`$4` after a cursor), oldest
/// first (`vault_shares_inbound`).
const INBOUND_FIRST: &str = concat!(
    share_select!(),
    " WHERE sh.recipient_id = $2::text::uuid ORDER BY sh.created_at, sh.id LIMIT $1"
);
const INBOUND_AFTER: &str = concat!(
    share_select!(),
    " WHERE sh.recipient_id = $4::text::uuid AND (sh.created_at, sh.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY sh.created_at, sh.id LIMIT $1"
);
const SHARE_INSERT: &str = concat!(
    "INSERT INTO vault_shares (id, secret_id, vault_id, version, recipient_type, recipient_id, \
     recipient_email, key_hash, status, max_access_count, expires_at, created_by) \
     VALUES ($1::text::uuid, $2::text::uuid, $3::text::uuid, $4::int8::int, $5, \
     $6::text::uuid, $7, $8, $9, $10::int8::int, ",
    micros_timestamptz!("$11"),
    ", $12)"
);
/// Counts one access, only while the share is readable at `$2` (micros):
/// accepted or active, not revoked, not expired, under its limit.
const SHARE_CONSUME: &str = concat!(
    "UPDATE vault_shares SET access_count = access_count + 1, last_accessed_at = now() \
     WHERE id = $1::text::uuid AND revoked_at IS NULL AND status IN ('accepted', 'active') \
     AND expires_at > ",
    micros_timestamptz!("$2"),
    " AND (max_access_count IS NULL OR access_count < max_access_count) \
     RETURNING access_count::int8 AS access_count"
);
const SHARE_SET_STATUS: &str = "UPDATE vault_shares SET status = $2,
    row_version = row_version + 1, updated_at = now() WHERE id = $1::text::uuid";
const SHARE_REVOKE: &str = "UPDATE vault_shares SET revoked_at = now(),
    row_version = row_version + 1, updated_at = now() WHERE id = $1::text::uuid";
const USER_EXISTS: &str = "SELECT 1 AS one FROM users WHERE id = $1::text::uuid";

/// A share row: its view, its state and what only the server sees.
pub(crate) struct ShareRow {
    /// The client's view (its `status` as of the read).
    pub view: Share,
    /// Its state, to decide transitions and reads.
    pub state: ShareState,
    /// The digest of its key (shares opened by key).
    pub key_hash: Option<String>,
    /// The row version (the ETag).
    pub row_version: i64,
    /// Creation time, for the cursor.
    pub created_micros: i64,
}

impl ShareRow {
    /// The share's ETag.
    pub(crate) fn etag(&self) -> String {
        cp_http::etag::for_version(&self.row_version.to_string())
    }

    /// Sets the view's status as of `now_micros`.
    fn at(mut self, now_micros: i64) -> Self {
        self.view.status = self.state.status(now_micros).as_str().to_owned();
        self
    }
}

impl FromRow for ShareRow {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let stored = r.text("status")?;
        let state = ShareState {
            stored: StoredStatus::parse(&stored)
                .ok_or_else(|| DbError::Decode(format!("share status {stored:?}")))?,
            revoked: r.opt_i64("revoked_micros")?.is_some(),
            expires_micros: r.i64("expires_micros")?,
            access_count: r.i64("access_count")?,
            max_access_count: r.opt_i64("max_access_count")?,
        };
        let micros = |column: &str| -> Result<Option<String>, DbError> {
            Ok(r.opt_i64(column)?.map(cp_http::time::micros_rfc3339))
        };
        let created_micros = r.i64("created_micros")?;
        Ok(Self {
            view: Share {
                id: r.text("id")?,
                secret_id: r.text("secret_id")?,
                vault_id: r.text("vault_id")?,
                path: r.text("path")?,
                secret_type: r.text("secret_type")?,
                version: r.opt_i64("version")?,
                recipient_type: r.text("recipient_type")?,
                recipient_id: r.opt_text("recipient_id")?,
                email: r.opt_text("recipient_email")?,
                status: stored,
                access_count: state.access_count,
                max_access_count: state.max_access_count,
                expires_at: cp_http::time::micros_rfc3339(state.expires_micros),
                created_by: r.text("created_by")?,
                created_at: cp_http::time::micros_rfc3339(created_micros),
                last_accessed_at: micros("accessed_micros")?,
                revoked_at: micros("revoked_micros")?,
            },
            state,
            key_hash: r.opt_text("key_hash")?,
            row_version: r.i64("row_version")?,
            created_micros,
        })
    }
}

/// The share not-found error (also a share the caller may not see).
pub(crate) fn share_not_found(id: &str) -> ApiError {
    ApiError::not_found("SHARE", id)
}

/// Share `id` as of `now_micros` (locked for the transaction when `lock`).
pub(crate) async fn share<D: Database>(
    db: &D,
    id: &str,
    lock: bool,
    now_micros: i64,
) -> Result<Option<ShareRow>, Failure> {
    let sql = if lock {
        SHARE_GET_FOR_UPDATE
    } else {
        SHARE_GET
    };
    let row: Option<ShareRow> = db.fetch_opt(sql, &[id.into()]).await?;
    Ok(row.map(|r| r.at(now_micros)))
}

/// Which shares a list shows.
pub(crate) enum Direction<'a> {
    /// Those created by this actor.
    Outbound(&'a str),
    /// Those sent to this user or agent id.
    Inbound(&'a str),
}

/// One page of shares, oldest first.
pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
    direction: Direction<'_>,
    now_micros: i64,
) -> Result<(Vec<Share>, PaginationInfo), Failure> {
    let (list, filter) = match direction {
        Direction::Outbound(actor) => (
            KeysetList {
                scope: OUTBOUND_SCOPE,
                first: OUTBOUND_FIRST,
                after: OUTBOUND_AFTER,
                tie: TieBreak::Id,
            },
            actor,
        ),
        Direction::Inbound(id) => (
            KeysetList {
                scope: INBOUND_SCOPE,
                first: INBOUND_FIRST,
                after: INBOUND_AFTER,
                tie: TieBreak::Id,
            },
            id,
        ),
    };
    let (rows, info) = keyset_list(db, page, list, Some(filter.into()), |s: &ShareRow| {
        vec![json!(s.created_micros), json!(s.view.id)]
    })
    .await?;
    Ok((
        rows.into_iter().map(|r| r.at(now_micros).view).collect(),
        info,
    ))
}

/// What a new share row holds.
pub(crate) struct NewShare<'a> {
    pub id: &'a str,
    pub secret_id: &'a str,
    pub vault_id: &'a str,
    pub share: &'a ValidShare,
    pub key_hash: Option<String>,
    pub created_by: &'a str,
}

/// Inserts a share.
pub(crate) async fn insert<D: Database>(db: &D, s: NewShare<'_>) -> Result<(), Failure> {
    use crate::share::Recipient;
    let (recipient_id, email) = match &s.share.recipient {
        Recipient::User(id) | Recipient::Agent(id) => (Some(id.to_string()), None),
        Recipient::ExternalEmail(email) => (None, Some(email.clone())),
        Recipient::AnyoneWithLink => (None, None),
    };
    let kind = s.share.recipient.kind();
    db.execute(
        SHARE_INSERT,
        &[
            s.id.into(),
            s.secret_id.into(),
            s.vault_id.into(),
            s.share.version.into(),
            kind.as_str().into(),
            recipient_id.into(),
            email.into(),
            s.key_hash.into(),
            kind.initial_status().as_str().into(),
            s.share.max_access_count.into(),
            Value::Int(s.share.expires_at.timestamp_micros()),
            s.created_by.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Counts one access to share `id` if it is readable at `now_micros`;
/// `None` when it is not (read the share again to say why).
pub(crate) async fn consume<D: Database>(
    db: &D,
    id: &str,
    now_micros: i64,
) -> Result<Option<i64>, Failure> {
    let row = db
        .query_opt(SHARE_CONSUME, &[id.into(), Value::Int(now_micros)])
        .await?;
    Ok(match row {
        None => None,
        Some(r) => Some(r.i64("access_count")?),
    })
}

/// Stores a recipient's answer.
pub(crate) async fn set_status<D: Database>(
    db: &D,
    id: &str,
    status: StoredStatus,
) -> Result<(), Failure> {
    db.execute(SHARE_SET_STATUS, &[id.into(), status.as_str().into()])
        .await?;
    Ok(())
}

/// Revokes a share.
pub(crate) async fn revoke<D: Database>(db: &D, id: &str) -> Result<(), Failure> {
    db.execute(SHARE_REVOKE, &[id.into()]).await?;
    Ok(())
}

/// Whether agent `id` exists and is active.
pub(crate) async fn active_agent_exists<D: Database>(db: &D, id: &str) -> Result<bool, Failure> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM agents WHERE id = $1::text::uuid AND status = 'active'",
            &[id.into()],
        )
        .await?
        .is_some())
}

/// Whether user `id` exists.
pub(crate) async fn user_exists<D: Database>(db: &D, id: &str) -> Result<bool, Failure> {
    Ok(db.query_opt(USER_EXISTS, &[id.into()]).await?.is_some())
}
