//! The orgs group's named queries (cp-store conventions: ids and uuids
//! cross the port as text, times as microseconds since the epoch).

/// Columns of an organisation, as [`Organization`](crate::model::Organization) (its `FromRow`)
/// reads them; `m` is the caller's membership row (or none).
const ORG_COLUMNS: &str = concat!(
    "o.id::text AS id, o.name, o.created_by::text AS created_by, m.role,
    (SELECT count(*) FROM org_members c WHERE c.org_id = o.id)::int8 AS member_count, ",
    cp_store::epoch_micros!("o.created_at"),
    " AS created_micros, ",
    cp_store::epoch_micros!("o.updated_at"),
    " AS updated_micros"
);

/// One organisation with the role of user $2 (NULL: none).
pub(crate) fn org_by_id() -> String {
    format!(
        "SELECT {ORG_COLUMNS} FROM organizations o
         LEFT JOIN org_members m ON m.org_id = o.id AND m.user_id = $2::text::uuid
         WHERE o.id = $1::text::uuid"
    )
}

/// First page of every organisation (operators), keyset (created_at, id).
pub(crate) fn all_first() -> String {
    format!(
        "SELECT {ORG_COLUMNS} FROM organizations o
         LEFT JOIN org_members m ON false
         ORDER BY o.created_at, o.id LIMIT $1"
    )
}

/// Next page of every organisation after ($2 micros, $3 id).
pub(crate) fn all_after() -> String {
    format!(
        "SELECT {ORG_COLUMNS} FROM organizations o
         LEFT JOIN org_members m ON false
         WHERE (o.created_at, o.id) > ({}, $3::text::uuid)
         ORDER BY o.created_at, o.id LIMIT $1",
        cp_store::micros_timestamptz!("$2")
    )
}

/// First page of user $2's organisations, keyset (created_at, id).
pub(crate) fn mine_first() -> String {
    format!(
        "SELECT {ORG_COLUMNS} FROM organizations o
         JOIN org_members m ON m.org_id = o.id AND m.user_id = $2::text::uuid
         ORDER BY o.created_at, o.id LIMIT $1"
    )
}

/// Next page of user $2's organisations after ($3 micros, $4 id).
pub(crate) fn mine_after() -> String {
    format!(
        "SELECT {ORG_COLUMNS} FROM organizations o
         JOIN org_members m ON m.org_id = o.id AND m.user_id = $2::text::uuid
         WHERE (o.created_at, o.id) > ({}, $4::text::uuid)
         ORDER BY o.created_at, o.id LIMIT $1",
        cp_store::micros_timestamptz!("$3")
    )
}

/// Creates an organisation ($1 id, $2 name, $3 the creating user's id).
pub(crate) const INSERT_ORG: &str = "INSERT INTO organizations (id, name, created_by)
    VALUES ($1::text::uuid, $2, $3::text::uuid)";

/// Adds member $2 to organisation $1 with role $3.
pub(crate) const INSERT_MEMBER: &str = "INSERT INTO org_members (org_id, user_id, role)
    VALUES ($1::text::uuid, $2::text::uuid, $3)";

/// Locks organisation $1's owner rows (the last-owner rule is decided
/// under these locks, so two concurrent demotions cannot both pass) and
/// answers them.
pub(crate) const LOCK_OWNERS: &str = "SELECT user_id::text AS user_id FROM org_members
    WHERE org_id = $1::text::uuid AND role = 'owner' ORDER BY user_id FOR UPDATE";

/// Columns of a member, as [`OrgMember`](crate::model::OrgMember) (its `FromRow`) reads them.
const MEMBER_COLUMNS: &str = concat!(
    "m.org_id::text AS org_id, m.user_id::text AS user_id,
    u.email, u.display_name, m.role, ",
    cp_store::epoch_micros!("m.created_at"),
    " AS joined_micros, ",
    cp_store::epoch_micros!("m.updated_at"),
    " AS updated_micros"
);

/// Member $2 of organisation $1.
pub(crate) fn member() -> String {
    format!(
        "SELECT {MEMBER_COLUMNS} FROM org_members m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $1::text::uuid AND m.user_id = $2::text::uuid"
    )
}

/// Member $2 of organisation $1, locked for a change.
pub(crate) fn member_for_update() -> String {
    format!("{} FOR UPDATE OF m", member())
}

/// First page of organisation $2's members, keyset (created_at, user_id).
pub(crate) fn members_first() -> String {
    format!(
        "SELECT {MEMBER_COLUMNS} FROM org_members m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $2::text::uuid
         ORDER BY m.created_at, m.user_id LIMIT $1"
    )
}

/// Next page of organisation $4's members after ($2 micros, $3 user id).
pub(crate) fn members_after() -> String {
    format!(
        "SELECT {MEMBER_COLUMNS} FROM org_members m JOIN users u ON u.id = m.user_id
         WHERE m.org_id = $4::text::uuid AND (m.created_at, m.user_id) > ({}, $3::text::uuid)
         ORDER BY m.created_at, m.user_id LIMIT $1",
        cp_store::micros_timestamptz!("$2")
    )
}

/// Sets member $2's role to $3 in organisation $1.
pub(crate) const SET_ROLE: &str = "UPDATE org_members SET role = $3, updated_at = now()
    WHERE org_id = $1::text::uuid AND user_id = $2::text::uuid";

/// Removes member $2 from organisation $1.
pub(crate) const DELETE_MEMBER: &str =
    "DELETE FROM org_members WHERE org_id = $1::text::uuid AND user_id = $2::text::uuid";

/// Whether a user with email $2 is a member of organisation $1.
pub(crate) const MEMBER_BY_EMAIL: &str = "SELECT m.user_id::text AS user_id, m.role
    FROM org_members m JOIN users u ON u.id = m.user_id
    WHERE m.org_id = $1::text::uuid AND u.email = $2";

/// Columns of an invitation, as [`OrgInvitation`](crate::model::OrgInvitation) (its `FromRow`) reads them.
const INVITATION_COLUMNS: &str = concat!(
    "id::text AS id, org_id::text AS org_id, email, role, invited_by, ",
    cp_store::epoch_micros!("expires_at"),
    " AS expires_micros,
    expires_at <= now() AS expired, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros"
);

/// Deletes the pending invitation of ($1 org, $2 email), if any (re-inviting
/// replaces it).
pub(crate) const DELETE_PENDING: &str = "DELETE FROM org_invitations
    WHERE org_id = $1::text::uuid AND email = $2 AND accepted_at IS NULL
    RETURNING id::text AS id";

/// Stores an invitation ($1 id, $2 org, $3 email, $4 role, $5 digest,
/// $6 inviter, $7 lifetime in days).
pub(crate) fn insert_invitation() -> String {
    format!(
        "INSERT INTO org_invitations (id, org_id, email, role, token_hash, invited_by, expires_at)
         VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6, now() + $7::int8 * interval '1 day')
         RETURNING {INVITATION_COLUMNS}"
    )
}

/// First page of organisation $2's pending invitations, keyset (created_at, id).
pub(crate) fn invitations_first() -> String {
    format!(
        "SELECT {INVITATION_COLUMNS} FROM org_invitations
         WHERE org_id = $2::text::uuid AND accepted_at IS NULL
         ORDER BY created_at, id LIMIT $1"
    )
}

/// Next page of organisation $4's pending invitations after ($2 micros, $3 id).
pub(crate) fn invitations_after() -> String {
    format!(
        "SELECT {INVITATION_COLUMNS} FROM org_invitations
         WHERE org_id = $4::text::uuid AND accepted_at IS NULL
           AND (created_at, id) > ({}, $3::text::uuid)
         ORDER BY created_at, id LIMIT $1",
        cp_store::micros_timestamptz!("$2")
    )
}

/// Revokes pending invitation $2 of organisation $1.
pub(crate) const DELETE_INVITATION: &str = "DELETE FROM org_invitations
    WHERE org_id = $1::text::uuid AND id = $2::text::uuid AND accepted_at IS NULL
    RETURNING email, role";

/// An invitation by its token's digest, locked so it is accepted once.
pub(crate) fn invitation_by_token() -> String {
    format!(
        "SELECT {INVITATION_COLUMNS}, accepted_at IS NOT NULL AS accepted
         FROM org_invitations WHERE token_hash = $1 FOR UPDATE"
    )
}

/// Marks invitation $1 accepted by user $2.
pub(crate) const MARK_ACCEPTED: &str = "UPDATE org_invitations
    SET accepted_at = now(), accepted_by = $2::text::uuid WHERE id = $1::text::uuid";

/// Columns of an event, as [`OrgEventView`](crate::model::OrgEventView) (its `FromRow`) reads them.
const EVENT_COLUMNS: &str = concat!(
    "id::text AS id, kind, actor, subject, detail, request_id, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros"
);

/// First page of organisation $2's events, newest first (keyset
/// `org_events_keyset`).
pub(crate) fn events_first() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM org_events WHERE org_id = $2::text::uuid
         ORDER BY created_at DESC, id DESC LIMIT $1"
    )
}

/// Next (older) page of organisation $4's events before ($2 micros, $3 id).
pub(crate) fn events_after() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM org_events
         WHERE org_id = $4::text::uuid AND (created_at, id) < ({}, $3::text::uuid)
         ORDER BY created_at DESC, id DESC LIMIT $1",
        cp_store::micros_timestamptz!("$2")
    )
}

/// The accepting user's ($1) email and whether it is verified.
pub(crate) const ACCEPTOR: &str = "SELECT email, email_verified_at IS NOT NULL AS verified
    FROM users WHERE id = $1::text::uuid";
