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

/// Columns of a user row, as [`crate::account::User::from_row`] reads them.
const USER_COLUMNS: &str = "id::text AS id, email, display_name,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_micros,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_micros";

/// Creates a user ($1 id, $2 email, $3 display name, $4 password hash).
pub(crate) fn insert_user() -> String {
    format!(
        "INSERT INTO users (id, email, display_name, password_hash)
         VALUES ($1::text::uuid, $2, $3, $4) RETURNING {USER_COLUMNS}"
    )
}

/// A user by email, with their password hash (login).
pub(crate) fn user_by_email() -> String {
    format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1")
}

/// A user by id, with their password hash, locked for a change.
pub(crate) fn user_for_update() -> String {
    format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE id = $1::text::uuid FOR UPDATE")
}

/// A user by id.
pub(crate) fn user_by_id() -> String {
    format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1::text::uuid")
}

/// Sets a new password hash ($2) and refuses JWTs issued before $3 (Unix
/// milliseconds).
pub(crate) fn set_password() -> String {
    format!(
        "UPDATE users SET password_hash = $2, updated_at = now(),
             tokens_valid_after = timestamptz 'epoch' + $3::int8 * interval '1 millisecond'
         WHERE id = $1::text::uuid RETURNING {USER_COLUMNS}"
    )
}

/// Changes the profile: NULL parameters keep the current value.
pub(crate) fn update_profile() -> String {
    format!(
        "UPDATE users SET display_name = COALESCE($2, display_name), email = COALESCE($3, email),
             updated_at = now()
         WHERE id = $1::text::uuid RETURNING {USER_COLUMNS}"
    )
}

/// Deletes a user; their API keys go with them (foreign key cascade).
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE id = $1::text::uuid RETURNING email";

/// Revokes a JWT ($1 jti, $2 user, $3 expiry in Unix seconds); a second
/// revocation of the same token changes nothing.
pub(crate) const REVOKE_JTI: &str = "INSERT INTO revoked_tokens (jti, user_id, expires_at)
    VALUES ($1::text::uuid, $2::text::uuid, timestamptz 'epoch' + $3::int8 * interval '1 second')
    ON CONFLICT (jti) DO NOTHING";

/// Revocations of tokens that have expired anyway are no longer needed.
pub(crate) const PRUNE_REVOKED: &str = "DELETE FROM revoked_tokens WHERE expires_at < now()";

/// Columns of an API key row, as [`crate::account::ApiKey::from_row`] reads them.
const KEY_COLUMNS: &str = "id::text AS id, name, key_prefix,
    (extract(epoch FROM last_used_at) * 1000000)::int8 AS last_used_micros,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_micros";

/// First page of a user's ($2) keys, keyset order on `user_api_keys_keyset`.
pub(crate) fn keys_first() -> String {
    format!(
        "SELECT {KEY_COLUMNS} FROM user_api_keys WHERE user_id = $2::text::uuid
         ORDER BY created_at, id LIMIT $1"
    )
}

/// Next page of a user's ($2) keys after ($3 micros, $4 id).
pub(crate) fn keys_after() -> String {
    format!(
        "SELECT {KEY_COLUMNS} FROM user_api_keys WHERE user_id = $2::text::uuid
           AND (created_at, id) > (timestamptz 'epoch' + $3::int8 * interval '1 microsecond', $4::text::uuid)
         ORDER BY created_at, id LIMIT $1"
    )
}

/// Stores a new key ($1 id, $2 user, $3 name, $4 prefix, $5 digest).
pub(crate) fn insert_key() -> String {
    format!(
        "INSERT INTO user_api_keys (id, user_id, name, key_prefix, key_hash)
         VALUES ($1::text::uuid, $2::text::uuid, $3, $4, $5) RETURNING {KEY_COLUMNS}"
    )
}

/// Revokes one of a user's ($2) keys ($1): its row goes.
pub(crate) const DELETE_KEY: &str = "DELETE FROM user_api_keys
    WHERE id = $1::text::uuid AND user_id = $2::text::uuid RETURNING name";

/// The user of a key, by the key's digest.
pub(crate) fn user_by_key() -> String {
    format!(
        "SELECT {USER_COLUMNS} FROM users
         WHERE id = (SELECT user_id FROM user_api_keys WHERE key_hash = $1)"
    )
}
