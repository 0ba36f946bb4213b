//! The enrolments' SQL: named queries over `agent_enrollments`
//! (migrations/sql/0026_agent_enrollments.sql).

use cp_http::pagination::PageRequest;
use cp_http::time::micros_rfc3339;
use cp_http::{ApiError, PaginationInfo};
use cp_orgs::roles::ListScope;
use cp_platform::resource::{keyset_page, views, KeysetList, TieBreak};
use cp_platform::Failure;
use cp_store::{epoch_micros, micros_timestamptz, Database, DbError, FromRow, Row, Value};
use serde_json::json;

use crate::enrollment::{Enrollment, EnrollmentStatus, ValidEnrollment};

/// Cursor scope of enrolment lists.
pub(crate) const ENROLLMENTS_SCOPE: &str = "agent-enrollments";

macro_rules! enrollment_columns {
    () => {
        concat!(
            "e.id::text AS id, e.org_id::text AS org_id, e.name, e.description, \
             e.approver_email, e.requested_scopes, e.status, e.expires_at <= now() AS expired, \
             e.agent_id::text AS agent_id, e.decided_by, e.reason, e.claim_hash, e.version, ",
            epoch_micros!("e.decided_at"),
            " AS decided_micros, ",
            epoch_micros!("e.expires_at"),
            " AS expires_micros, ",
            epoch_micros!("e.created_at"),
            " AS created_micros"
        )
    };
}

const GET: &str = concat!(
    "SELECT ",
    enrollment_columns!(),
    " FROM agent_enrollments e WHERE e.id = $1::text::uuid"
);
const GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    enrollment_columns!(),
    " FROM agent_enrollments e WHERE e.id = $1::text::uuid FOR UPDATE"
);
const LIST_ALL_FIRST: &str = concat!(
    "SELECT ",
    enrollment_columns!(),
    " FROM agent_enrollments e ORDER BY e.created_at, e.id LIMIT $1"
);
const LIST_ALL_AFTER: &str = concat!(
    "SELECT ",
    enrollment_columns!(),
    " FROM agent_enrollments e WHERE (e.created_at, e.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY e.created_at, e.id LIMIT $1"
);
const LIST_MINE_FIRST: &str = concat!(
    "SELECT ",
    enrollment_columns!(),
    " FROM agent_enrollments e WHERE e.org_id IN \
     (SELECT org_id FROM org_members WHERE user_id = $2::text::uuid) \
     ORDER BY e.created_at, e.id LIMIT $1"
);
const LIST_MINE_AFTER: &str = concat!(
    "SELECT ",
    enrollment_columns!(),
    " FROM agent_enrollments e WHERE e.org_id IN \
     (SELECT org_id FROM org_members WHERE user_id = $4::text::uuid) \
     AND (e.created_at, e.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY e.created_at, e.id LIMIT $1"
);
const LIST_ORG_FIRST: &str = concat!(
    "SELECT ",
    enrollment_columns!(),
    " FROM agent_enrollments e WHERE e.org_id = $2::text::uuid \
     ORDER BY e.created_at, e.id LIMIT $1"
);
const LIST_ORG_AFTER: &str = concat!(
    "SELECT ",
    enrollment_columns!(),
    " FROM agent_enrollments e WHERE e.org_id = $4::text::uuid AND (e.created_at, e.id) > (",
    micros_timestamptz!("$2"),
    ", $3::text::uuid) ORDER BY e.created_at, e.id LIMIT $1"
);
/// Locks organisation `$1` (the pending count is then exact) and answers
/// whether it exists and how many enrolments wait in it.
const ORG_PENDING: &str = "SELECT o.id::text AS id,
        (SELECT count(*) FROM agent_enrollments e
         WHERE e.org_id = o.id AND e.status = 'pending' AND e.expires_at > now())::int8 AS pending
    FROM organizations o WHERE o.id = $1::text::uuid FOR UPDATE OF o";
/// A new pending enrolment, open for `ENROLLMENT_DAYS` (7) days.
const INSERT: &str = "INSERT INTO agent_enrollments
        (id, org_id, name, description, approver_email, requested_scopes, claim_hash,
         source_address, expires_at)
    VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6::text::jsonb, $7, $8,
            now() + interval '7 days')";
/// Drops a few enrolments that expired a day ago or more (never a claimed
/// one: it names its agent's origin).
const PRUNE: &str = "DELETE FROM agent_enrollments WHERE id IN (
        SELECT id FROM agent_enrollments
        WHERE status <> 'claimed' AND expires_at < now() - interval '1 day'
        LIMIT 20 FOR UPDATE SKIP LOCKED)";
/// Whether `$2` is the verified email of an owner or admin of `$1`.
const APPROVER: &str = "SELECT 1 AS one FROM org_members m JOIN users u ON u.id = m.user_id
    WHERE m.org_id = $1::text::uuid AND m.role IN ('owner', 'admin')
      AND u.email = $2 AND u.email_verified_at IS NOT NULL";
const DECIDE: &str = "UPDATE agent_enrollments SET status = $2, agent_id = $3::text::uuid,
        decided_by = $4, decided_at = now(), reason = $5, version = version + 1
    WHERE id = $1::text::uuid";
const CLAIMED: &str = "UPDATE agent_enrollments SET status = 'claimed', version = version + 1
    WHERE id = $1::text::uuid";

/// An enrolment row: the view, and the claim token's digest.
pub(crate) struct EnrollmentRow {
    pub view: Enrollment,
    pub status: EnrollmentStatus,
    pub claim_hash: String,
}

impl FromRow for Enrollment {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let stored = row.text("status")?;
        let status = EnrollmentStatus::of(&stored, row.bool("expired")?)
            .map_or(stored, |s| s.as_str().to_owned());
        Ok(Self {
            id: row.text("id")?,
            org_id: row.text("org_id")?,
            name: row.text("name")?,
            description: row.opt_text("description")?,
            approver_email: row.text("approver_email")?,
            requested_scopes: serde_json::from_value(row.json("requested_scopes")?)
                .unwrap_or_default(),
            status,
            agent_id: row.opt_text("agent_id")?,
            decided_by: row.opt_text("decided_by")?,
            decided_at: row.opt_i64("decided_micros")?.map(micros_rfc3339),
            reason: row.opt_text("reason")?,
            expires_at: micros_rfc3339(row.i64("expires_micros")?),
            created_at: micros_rfc3339(row.i64("created_micros")?),
        })
    }
}

impl FromRow for EnrollmentRow {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let stored = row.text("status")?;
        let status = EnrollmentStatus::of(&stored, row.bool("expired")?)
            .ok_or_else(|| DbError::Decode(format!("enrolment status {stored:?}")))?;
        Ok(Self {
            view: Enrollment::from_row(row)?,
            status,
            claim_hash: row.text("claim_hash")?,
        })
    }
}

/// The enrolment `id` (locked when `lock`), or a 404.
pub(crate) async fn enrollment<D: Database>(
    db: &D,
    id: &str,
    lock: bool,
) -> Result<EnrollmentRow, Failure> {
    let row = db
        .query_opt(if lock { GET_FOR_UPDATE } else { GET }, &[id.into()])
        .await?
        .ok_or_else(|| enrollment_not_found(id))?;
    Ok(EnrollmentRow::from_row(&row)?)
}

/// The 404 of an enrolment that does not exist (or that the caller may not
/// see, or whose claim token is wrong).
pub(crate) fn enrollment_not_found(id: &str) -> ApiError {
    ApiError::not_found("ENROLLMENT", id)
}

/// One page of enrolments.
pub(crate) async fn list<D: Database>(
    db: &D,
    page: &PageRequest,
    scope: &ListScope,
) -> Result<(Vec<Enrollment>, PaginationInfo), Failure> {
    let (first, after, filter) = scope.pick(
        (LIST_ALL_FIRST, LIST_ALL_AFTER),
        (LIST_MINE_FIRST, LIST_MINE_AFTER),
        (LIST_ORG_FIRST, LIST_ORG_AFTER),
    );
    let list = KeysetList {
        scope: ENROLLMENTS_SCOPE,
        first,
        after,
        tie: TieBreak::Id,
    };
    let (rows, info) = keyset_page::<_, Enrollment>(db, page, list, filter).await?;
    Ok((views(rows), info))
}

/// How many enrolments wait in organisation `org_id`, with the
/// organisation locked for the transaction; `None` when it does not exist.
pub(crate) async fn lock_org_pending<D: Database>(
    db: &D,
    org_id: &str,
) -> Result<Option<i64>, Failure> {
    Ok(match db.query_opt(ORG_PENDING, &[org_id.into()]).await? {
        Some(row) => Some(row.i64("pending")?),
        None => None,
    })
}

/// Stores a new pending enrolment (and prunes a few long-expired ones).
pub(crate) async fn insert<D: Database>(
    db: &D,
    id: &str,
    e: &ValidEnrollment,
    claim_hash: &str,
    source_address: &str,
) -> Result<(), Failure> {
    db.execute(PRUNE, &[]).await?;
    db.execute(
        INSERT,
        &[
            id.into(),
            e.org_id.as_str().into(),
            e.name.as_str().into(),
            e.description.clone().into(),
            e.approver_email.as_str().into(),
            Value::from(json!(e.scopes).to_string()),
            claim_hash.into(),
            source_address.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Whether `email` is the verified address of an owner or admin of
/// `org_id` (only they are mailed).
pub(crate) async fn is_approver<D: Database>(
    db: &D,
    org_id: &str,
    email: &str,
) -> Result<bool, Failure> {
    Ok(db
        .query_opt(APPROVER, &[org_id.into(), email.into()])
        .await?
        .is_some())
}

/// Records a decision: `approved` with its agent, or `rejected` with a
/// reason.
pub(crate) async fn decide<D: Database>(
    db: &D,
    id: &str,
    status: EnrollmentStatus,
    agent_id: Option<&str>,
    decided_by: &str,
    reason: Option<&str>,
) -> Result<(), Failure> {
    db.execute(
        DECIDE,
        &[
            id.into(),
            status.as_str().into(),
            agent_id.map(str::to_owned).into(),
            decided_by.into(),
            reason.map(str::to_owned).into(),
        ],
    )
    .await?;
    Ok(())
}

/// Marks the enrolment's key as collected.
pub(crate) async fn mark_claimed<D: Database>(db: &D, id: &str) -> Result<(), Failure> {
    db.execute(CLAIMED, &[id.into()]).await?;
    Ok(())
}
