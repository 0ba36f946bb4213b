-- Users who sign up with an email and a password, their personal API keys,
-- and revoked session tokens (JWTs).

CREATE TABLE users (
    id                 uuid        PRIMARY KEY,
    -- Normalised (trimmed, lowercased) by the API, so plain uniqueness is
    -- case-insensitive uniqueness.
    email              text        NOT NULL UNIQUE,
    display_name       text,
    -- argon2id PHC string; never returned.
    password_hash      text        NOT NULL,
    -- JWTs issued before this instant are refused (a password change sets
    -- it to the issue instant of the fresh token it hands out).
    tokens_valid_after timestamptz NOT NULL DEFAULT 'epoch',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Personal API keys (`cpk_…`): only the SHA-256 digest is stored; the
-- plaintext is shown once. Revoking a key deletes its row; deleting the
-- user deletes their keys.
CREATE TABLE user_api_keys (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text        NOT NULL,
    key_prefix   text        NOT NULL,
    key_hash     text        NOT NULL UNIQUE,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination of one user's keys.
CREATE UNIQUE INDEX user_api_keys_keyset ON user_api_keys (user_id, created_at, id);

-- Revoked JWTs by `jti`, kept until the token would have expired anyway
-- (expired rows are pruned when a token is revoked). No foreign key: a
-- deleted user's revocations may outlive them harmlessly.
CREATE TABLE revoked_tokens (
    jti        uuid        PRIMARY KEY,
    user_id    uuid        NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
