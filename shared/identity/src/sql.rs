//! The identity group's named queries (cp-store conventions).

/// Columns of an access token row, as [`AccessToken`](crate::model::AccessToken) (its `FromRow`) reads them.
const TOKEN_COLUMNS: &str = concat!(
    "id::text AS id, name, token_prefix, scopes, created_by, ",
    cp_store::epoch_micros!("expires_at"),
    " AS expires_micros, ",
    cp_store::epoch_micros!("last_used_at"),
    " AS last_used_micros, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros"
);

/// First page, keyset order (created_at, id) on `access_tokens_keyset`.
pub(crate) fn list_first() -> String {
    format!("SELECT {TOKEN_COLUMNS} FROM access_tokens ORDER BY created_at, id LIMIT $1")
}

/// Next page after ($2 micros, $3 id).
pub(crate) fn list_after() -> String {
    format!(
        "SELECT {TOKEN_COLUMNS} FROM access_tokens
         WHERE (created_at, id) > ({p2_time}, $3::text::uuid)
         ORDER BY created_at, id LIMIT $1",
        p2_time = cp_store::micros_timestamptz!("$2")
    )
}

/// Stores a new token ($1 id, $2 name, $3 prefix, $4 digest, $5 scopes,
/// $6 creator, $7 lifetime in days or NULL, $8 the minting access token or
/// NULL, $9 its expiry in Unix microseconds or NULL). Without a lifetime of
/// its own a minted token expires with its parent.
pub(crate) fn insert() -> String {
    format!(
        "INSERT INTO access_tokens
             (id, name, token_prefix, token_hash, scopes, created_by, expires_at, parent_id)
         VALUES ($1::text::uuid, $2, $3, $4, $5, $6,
             COALESCE(now() + $7::int8 * interval '1 day',
                      {p9_time}),
             $8::text::uuid)
         RETURNING {TOKEN_COLUMNS}",
        p9_time = cp_store::micros_timestamptz!("$9")
    )
}

/// The expiry of a live access token ($1 id) in Unix microseconds (NULL:
/// never), and whether `now() + $2 days` would outlive it.
pub(crate) const TOKEN_EXPIRY: &str = concat!(
    "SELECT ",
    cp_store::epoch_micros!("expires_at"),
    " AS expires_micros,
        COALESCE(now() + $2::int8 * interval '1 day' > expires_at, false) AS outlives
    FROM access_tokens WHERE id = $1::text::uuid"
);

/// Revokes a token: its row goes.
pub(crate) const DELETE: &str =
    "DELETE FROM access_tokens WHERE id = $1::text::uuid RETURNING name";

/// Columns of a user row, as [`User`](crate::account::User) (its `FromRow`) reads them.
const USER_COLUMNS: &str = concat!(
    "id::text AS id, email, display_name,
    email_verified_at IS NOT NULL AS email_verified, pending_email, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros, ",
    cp_store::epoch_micros!("updated_at"),
    " AS updated_micros"
);

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

/// Changes the profile: NULL parameters keep the current value. A new
/// email ($3) becomes the pending email (the account's own email cancels a
/// pending change); `email` itself changes only through verification.
pub(crate) fn update_profile() -> String {
    format!(
        "UPDATE users SET display_name = COALESCE($2, display_name),
             pending_email = CASE WHEN $3::text IS NULL THEN pending_email
                                  WHEN $3::text = email THEN NULL ELSE $3::text END,
             updated_at = now()
         WHERE id = $1::text::uuid RETURNING {USER_COLUMNS}"
    )
}

/// Marks the account's email verified ($1 the user).
pub(crate) fn verify_email() -> String {
    format!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()), updated_at = now()
         WHERE id = $1::text::uuid RETURNING {USER_COLUMNS}"
    )
}

/// The verified pending email becomes the account's email ($1 the user).
pub(crate) fn adopt_pending_email() -> String {
    format!(
        "UPDATE users SET email = pending_email, pending_email = NULL,
             email_verified_at = now(), updated_at = now()
         WHERE id = $1::text::uuid AND pending_email IS NOT NULL RETURNING {USER_COLUMNS}"
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

/// Columns of an API key row, as [`ApiKey`](crate::account::ApiKey) (its `FromRow`) reads them.
const KEY_COLUMNS: &str = concat!(
    "id::text AS id, name, key_prefix, ",
    cp_store::epoch_micros!("last_used_at"),
    " AS last_used_micros, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros"
);

/// First page of a user's ($2) keys, keyset order on `user_api_keys_keyset`.
pub(crate) fn keys_first() -> String {
    format!(
        "SELECT {KEY_COLUMNS} FROM user_api_keys WHERE user_id = $2::text::uuid
         ORDER BY created_at, id LIMIT $1"
    )
}

/// Next page of a user's ($4) keys after ($2 micros, $3 id).
pub(crate) fn keys_after() -> String {
    format!(
        "SELECT {KEY_COLUMNS} FROM user_api_keys WHERE user_id = $4::text::uuid
           AND (created_at, id) > ({p2_time}, $3::text::uuid)
         ORDER BY created_at, id LIMIT $1",
        p2_time = cp_store::micros_timestamptz!("$2")
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

/// Revokes every key of a user ($1): their rows go.
pub(crate) const DELETE_USER_KEYS: &str =
    "DELETE FROM user_api_keys WHERE user_id = $1::text::uuid RETURNING id::text AS id";

/// The user of a key, by the key's digest.
pub(crate) fn user_by_key() -> String {
    format!(
        "SELECT {USER_COLUMNS} FROM users
         WHERE id = (SELECT user_id FROM user_api_keys WHERE key_hash = $1)"
    )
}

/// A user's ($1) MFA state: `enabled_micros` is NULL while pending.
pub(crate) const MFA_STATUS: &str = concat!(
    "SELECT ",
    cp_store::epoch_micros!("enabled_at"),
    " AS enabled_micros
     FROM user_mfa WHERE user_id = $1::text::uuid"
);

/// A user's ($1) MFA row with the sealed secret, locked: every code check
/// of the user runs one at a time.
pub(crate) const MFA_FOR_UPDATE: &str = concat!(
    "SELECT secret_nonce, secret_ciphertext, last_step, ",
    cp_store::epoch_micros!("enabled_at"),
    " AS enabled_micros
     FROM user_mfa WHERE user_id = $1::text::uuid FOR UPDATE"
);

/// Stores a pending secret ($2 nonce, $3 ciphertext) for user $1, replacing
/// a pending one; no row when MFA is already enabled.
pub(crate) const MFA_SET_PENDING: &str =
    "INSERT INTO user_mfa (user_id, secret_nonce, secret_ciphertext)
     VALUES ($1::text::uuid, $2, $3)
     ON CONFLICT (user_id) DO UPDATE
         SET secret_nonce = EXCLUDED.secret_nonce,
             secret_ciphertext = EXCLUDED.secret_ciphertext,
             last_step = NULL, created_at = now()
         WHERE user_mfa.enabled_at IS NULL
     RETURNING user_id::text AS user_id";

/// Enables the user's ($1) pending MFA.
pub(crate) const MFA_ENABLE: &str =
    "UPDATE user_mfa SET enabled_at = now() WHERE user_id = $1::text::uuid";

/// Records the last accepted time step ($2) of user $1.
pub(crate) const MFA_ACCEPT_STEP: &str =
    "UPDATE user_mfa SET last_step = $2::int8 WHERE user_id = $1::text::uuid";

/// Disables MFA of user $1 (the secret goes) and drops their challenges.
pub(crate) const MFA_DISABLE: &str = "WITH gone AS (
        DELETE FROM mfa_challenges WHERE user_id = $1::text::uuid
     )
     DELETE FROM user_mfa WHERE user_id = $1::text::uuid";

/// When user $1 has at least $3 + 1 failures within the last $2 seconds:
/// the seconds until the ($3 + 1)th most recent leaves the window.
pub(crate) const MFA_RETRY_AFTER: &str = "SELECT
        ceil(extract(epoch FROM failed_at + $2::int8 * interval '1 second' - now()))::int8
            AS retry_secs
     FROM mfa_failures
     WHERE user_id = $1::text::uuid AND failed_at > now() - $2::int8 * interval '1 second'
     ORDER BY failed_at DESC OFFSET $3::int8 LIMIT 1";

/// Forgets user $1's failures older than $2 seconds.
pub(crate) const MFA_PRUNE_FAILURES: &str = "DELETE FROM mfa_failures
     WHERE user_id = $1::text::uuid AND failed_at < now() - $2::int8 * interval '1 second'";

/// Records a failed verification of user $1.
pub(crate) const MFA_RECORD_FAILURE: &str =
    "INSERT INTO mfa_failures (user_id) VALUES ($1::text::uuid)";

/// Forgets user $1's failures (after a success).
pub(crate) const MFA_CLEAR_FAILURES: &str =
    "DELETE FROM mfa_failures WHERE user_id = $1::text::uuid";

/// Expired challenges are no longer needed.
pub(crate) const MFA_PRUNE_CHALLENGES: &str = "DELETE FROM mfa_challenges WHERE expires_at < now()";

/// Stores a challenge ($1 digest, $2 user, $3 lifetime in seconds).
pub(crate) const MFA_INSERT_CHALLENGE: &str =
    "INSERT INTO mfa_challenges (token_hash, user_id, expires_at)
     VALUES ($1, $2::text::uuid, now() + $3::int8 * interval '1 second')";

/// A live challenge by digest ($1), locked until it is used.
pub(crate) const MFA_CHALLENGE_FOR_UPDATE: &str = "SELECT user_id::text AS user_id
     FROM mfa_challenges WHERE token_hash = $1 AND expires_at > now() FOR UPDATE";

/// Consumes a challenge ($1 digest).
pub(crate) const MFA_DELETE_CHALLENGE: &str = "DELETE FROM mfa_challenges WHERE token_hash = $1";
