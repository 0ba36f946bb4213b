//! The identity group's named queries (cp-store conventions).

/// Columns of an access token row, as [`crate::model::AccessToken::from_row`] reads them.
const TOKEN_COLUMNS: &str = "id::text AS id, name, token_prefix, scopes, created_by,
    (extract(epoch FROM expires_at) * 1000000)::int8 AS expires_micros,
    (extract(epoch FROM last_used_at) * 1000000)::int8 AS last_used_micros,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_micros";

/// First page, keyset order (created_at, id) on `access_tokens_keyset`.
pub(crate) fn list_first() -> String {
    format!("SELECT {TOKEN_COLUMNS} FROM access_tokens ORDER BY created_at, id LIMIT $1")
}

/// Next page after ($2 micros, $3 id).
pub(crate) fn list_after() -> String {
    format!(
        "SELECT {TOKEN_COLUMNS} FROM access_tokens
         WHERE (created_at, id) > (timestamptz 'epoch' + $2::int8 * interval '1 microsecond', $3::text::uuid)
         ORDER BY created_at, id LIMIT $1"
    )
}

/// Stores a new token ($1 id, $2 name, $3 prefix, $4 digest, $5 scopes,
/// $6 creator, $7 lifetime in days or NULL).
pub(crate) fn insert() -> String {
    format!(
        "INSERT INTO access_tokens (id, name, token_prefix, token_hash, scopes, created_by, expires_at)
         VALUES ($1::text::uuid, $2, $3, $4, $5, $6, now() + $7::int8 * interval '1 day')
         RETURNING {TOKEN_COLUMNS}"
    )
}

/// Revokes a token: its row goes.
pub(crate) const DELETE: &str =
    "DELETE FROM access_tokens WHERE id = $1::text::uuid RETURNING name";
