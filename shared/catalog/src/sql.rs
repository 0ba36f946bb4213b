//! The catalog's named queries. Parameters follow the `cp-store` conventions
//! (text, int8, bool, bytea, jsonb; casts in SQL); ids travel as text, times
//! are read as microseconds. Child rows are written from one jsonb array per
//! statement (`WITH ORDINALITY` keeps the request order in `position`).

/// The keyset condition after ($2 micros, $3 id).
macro_rules! after {
    () => {
        concat!(
            "(created_at, id) > (",
            cp_store::micros_timestamptz!("$2"),
            ", $3::text::uuid)"
        )
    };
}

/// The ids of a jsonb array parameter, as uuids.
macro_rules! ids_in {
    ($n:literal) => {
        concat!("(SELECT jsonb_array_elements_text($", $n, "::jsonb)::uuid)")
    };
}

// ---------------------------------------------------------------- MCP servers

macro_rules! server_columns {
    () => {
        concat!(
            "id::text AS id, name, endpoint, transport, description, version, ",
            cp_store::epoch_micros!("created_at"),
            " AS created_micros, ",
            cp_store::epoch_micros!("updated_at"),
            " AS updated_micros"
        )
    };
}

pub(crate) const SERVER_GET: &str = concat!(
    "SELECT ",
    server_columns!(),
    " FROM mcp_servers WHERE id = $1::text::uuid"
);
/// Locks the server until the transaction ends (writes to one server are serialised).
pub(crate) const SERVER_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    server_columns!(),
    " FROM mcp_servers WHERE id = $1::text::uuid FOR UPDATE"
);
pub(crate) const SERVER_LIST_FIRST: &str = concat!(
    "SELECT ",
    server_columns!(),
    " FROM mcp_servers ORDER BY created_at, id LIMIT $1"
);
pub(crate) const SERVER_LIST_AFTER: &str = concat!(
    "SELECT ",
    server_columns!(),
    " FROM mcp_servers WHERE ",
    after!(),
    " ORDER BY created_at, id LIMIT $1"
);
pub(crate) const SERVER_INSERT: &str =
    "INSERT INTO mcp_servers (id, name, endpoint, transport, description)
    VALUES ($1::text::uuid, $2, $3, $4, $5)";
pub(crate) const SERVER_UPDATE: &str =
    "UPDATE mcp_servers SET name = $2, endpoint = $3, transport = $4,
    description = $5, version = version + 1, updated_at = now() WHERE id = $1::text::uuid";
/// A change to the server's credentials changes its representation (and ETag).
pub(crate) const SERVER_TOUCH: &str =
    "UPDATE mcp_servers SET version = version + 1, updated_at = now() WHERE id = $1::text::uuid";
pub(crate) const SERVER_DELETE: &str =
    "DELETE FROM mcp_servers WHERE id = $1::text::uuid RETURNING name";

pub(crate) const GRANTS_OF: &str = concat!(
    "SELECT server_id::text AS owner, subject_kind, subject_name FROM mcp_server_grants WHERE server_id IN ",
    ids_in!(1),
    " ORDER BY server_id, position"
);
pub(crate) const GRANTS_CLEAR: &str =
    "DELETE FROM mcp_server_grants WHERE server_id = $1::text::uuid";
/// $2: `[{"kind","name"}]`; a tenant grant is bound to the live tenant's id
/// (checked first, `cp_platform::tenant_refs`).
pub(crate) const GRANTS_INSERT: &str = concat!(
    "INSERT INTO mcp_server_grants (server_id, subject_kind, subject_name, position, tenant_id)
    SELECT $1::text::uuid, e->>'kind', e->>'name', (n - 1)::int, ",
    cp_platform::tenant_id_of_element!(),
    " FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n)"
);
macro_rules! credential_columns {
    () => {
        concat!(
            // Credentials are never changed in place: their version is 0.
            "id::text AS id, 0::int8 AS version, server_id::text AS owner, display_name, ",
            "brokering_mode, secret_ref, ",
            "value_ciphertext IS NOT NULL AS has_value, value_hint, ",
            cp_store::epoch_micros!("created_at"),
            " AS created_micros"
        )
    };
}

pub(crate) const CREDENTIALS_OF: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM mcp_server_credentials WHERE server_id IN ",
    ids_in!(1),
    " ORDER BY created_at, id"
);
/// The first page of one server's credentials ($2: the server).
pub(crate) const CREDENTIALS_FIRST: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM mcp_server_credentials WHERE server_id = $2::text::uuid",
    " ORDER BY created_at, id LIMIT $1"
);
/// A later page of one server's credentials ($4: the server).
pub(crate) const CREDENTIALS_AFTER: &str = concat!(
    "SELECT ",
    credential_columns!(),
    " FROM mcp_server_credentials WHERE server_id = $4::text::uuid AND ",
    after!(),
    " ORDER BY created_at, id LIMIT $1"
);
pub(crate) const CREDENTIAL_INSERT: &str = "INSERT INTO mcp_server_credentials
    (id, server_id, display_name, brokering_mode, secret_ref, value_ciphertext, value_nonce, value_hint)
    VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5, $6, $7, $8)";
pub(crate) const CREDENTIALS_CLEAR: &str =
    "DELETE FROM mcp_server_credentials WHERE server_id = $1::text::uuid";
pub(crate) const CREDENTIAL_DELETE: &str = "DELETE FROM mcp_server_credentials
    WHERE id = $1::text::uuid AND server_id = $2::text::uuid RETURNING display_name, brokering_mode";

// --------------------------------------------------------------------- groups

macro_rules! group_columns {
    () => {
        concat!(
            "g.id::text AS id, g.name, g.description, g.version, ",
            "(SELECT count(*) FROM group_members m WHERE m.group_id = g.id) AS member_count, ",
            cp_store::epoch_micros!("g.created_at"),
            " AS created_micros, ",
            cp_store::epoch_micros!("g.updated_at"),
            " AS updated_micros"
        )
    };
}

pub(crate) const GROUP_GET: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM groups g WHERE g.id = $1::text::uuid"
);
pub(crate) const GROUP_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM groups g WHERE g.id = $1::text::uuid FOR UPDATE"
);
pub(crate) const GROUP_LIST_FIRST: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM groups g ORDER BY g.created_at, g.id LIMIT $1"
);
pub(crate) const GROUP_LIST_AFTER: &str = concat!(
    "SELECT ",
    group_columns!(),
    " FROM groups g WHERE (g.created_at, g.id) > (",
    cp_store::micros_timestamptz!("$2"),
    ", $3::text::uuid)",
    " ORDER BY g.created_at, g.id LIMIT $1"
);
pub(crate) const GROUP_INSERT: &str =
    "INSERT INTO groups (id, name, description) VALUES ($1::text::uuid, $2, $3)";
pub(crate) const GROUP_UPDATE: &str = "UPDATE groups SET description = $2, version = version + 1,
    updated_at = now() WHERE id = $1::text::uuid";
pub(crate) const GROUP_DELETE: &str = "DELETE FROM groups WHERE id = $1::text::uuid RETURNING name";
/// Revokes every catalog grant naming group `$1` (MCP server grants and
/// skill entitlements): a group created later under the same name must not
/// inherit them.
pub(crate) const GROUP_GRANTS_REVOKE: &str = "WITH mcp AS (
        DELETE FROM mcp_server_grants WHERE subject_kind = 'group' AND subject_name = $1 RETURNING 1),
      skills AS (
        DELETE FROM skill_entitlements WHERE subject_kind = 'group' AND subject_name = $1 RETURNING 1)
    SELECT (SELECT count(*) FROM mcp)::int8 AS mcp_grants, (SELECT count(*) FROM skills)::int8 AS skill_entitlements";

pub(crate) const MEMBERS_OF: &str = "SELECT member_kind, member_name FROM group_members
    WHERE group_id = $1::text::uuid ORDER BY position";
pub(crate) const MEMBERS_CLEAR: &str = "DELETE FROM group_members WHERE group_id = $1::text::uuid";
/// $2: `[{"kind","name"}]`; a tenant member is bound to the live tenant's
/// id (checked first, `cp_platform::tenant_refs`).
pub(crate) const MEMBERS_INSERT: &str = concat!(
    "INSERT INTO group_members (group_id, member_kind, member_name, position, tenant_id)
    SELECT $1::text::uuid, e->>'kind', e->>'name', (n - 1)::int, ",
    cp_platform::tenant_id_of_element!(),
    " FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n)"
);
pub(crate) const AWARENESS_OF: &str = concat!(
    "SELECT group_id::text AS owner, scope, access FROM group_awareness_grants WHERE group_id IN ",
    ids_in!(1),
    " ORDER BY group_id, position"
);
pub(crate) const AWARENESS_CLEAR: &str =
    "DELETE FROM group_awareness_grants WHERE group_id = $1::text::uuid";
/// $2: `[{"scope","access"}]`.
pub(crate) const AWARENESS_INSERT: &str =
    "INSERT INTO group_awareness_grants (group_id, scope, access, position)
    SELECT $1::text::uuid, e->>'scope', e->>'access', (n - 1)::int
    FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n)";

// -------------------------------------------------------- third-party sources

macro_rules! source_columns {
    () => {
        concat!(
            "s.id::text AS id, s.name, s.type, s.url, s.description, s.version, ",
            "(SELECT count(*) FROM third_party_items i WHERE i.source_id = s.id) AS item_count, ",
            cp_store::epoch_micros!("s.created_at"),
            " AS created_micros, ",
            cp_store::epoch_micros!("s.updated_at"),
            " AS updated_micros"
        )
    };
}

pub(crate) const SOURCE_GET: &str = concat!(
    "SELECT ",
    source_columns!(),
    " FROM third_party_sources s WHERE s.id = $1::text::uuid"
);
pub(crate) const SOURCE_GET_FOR_UPDATE: &str = concat!(
    "SELECT ",
    source_columns!(),
    " FROM third_party_sources s WHERE s.id = $1::text::uuid FOR UPDATE"
);
pub(crate) const SOURCE_LIST_FIRST: &str = concat!(
    "SELECT ",
    source_columns!(),
    " FROM third_party_sources s ORDER BY s.created_at, s.id LIMIT $1"
);
pub(crate) const SOURCE_LIST_AFTER: &str = concat!(
    "SELECT ",
    source_columns!(),
    " FROM third_party_sources s WHERE (s.created_at, s.id) > (",
    cp_store::micros_timestamptz!("$2"),
    ", $3::text::uuid)",
    " ORDER BY s.created_at, s.id LIMIT $1"
);
pub(crate) const SOURCE_INSERT: &str =
    "INSERT INTO third_party_sources (id, name, type, url, description)
    VALUES ($1::text::uuid, $2, $3, $4, $5)";
pub(crate) const SOURCE_UPDATE: &str =
    "UPDATE third_party_sources SET name = $2, type = $3, url = $4,
    description = $5, version = version + 1, updated_at = now() WHERE id = $1::text::uuid";
pub(crate) const SOURCE_DELETE: &str =
    "DELETE FROM third_party_sources WHERE id = $1::text::uuid RETURNING name";
pub(crate) const ITEMS_OF: &str = "SELECT external_id, title, url FROM third_party_items
    WHERE source_id = $1::text::uuid ORDER BY position";
pub(crate) const ITEMS_CLEAR: &str =
    "DELETE FROM third_party_items WHERE source_id = $1::text::uuid";
/// $2: `[{"externalId","title","url"}]`.
pub(crate) const ITEMS_INSERT: &str =
    "INSERT INTO third_party_items (source_id, external_id, title, url, position)
    SELECT $1::text::uuid, e->>'externalId', e->>'title', e->>'url', (n - 1)::int
    FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS t(e, n)";
