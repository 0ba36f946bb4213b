-- Refresh tokens: a user's sign-in (password, MFA, identity provider,
-- device grant, signup) answers a short access JWT and a refresh token;
-- POST /auth/refresh trades a refresh token for a new pair. Tokens of one
-- sign-in form a family: each refresh uses its token up and issues the
-- next, and a used token presented again (a stolen copy, or the thief's
-- after the owner refreshed) revokes the whole family. Logging out revokes
-- the family of the JWT that logs out; a password change makes every
-- earlier token stale (`issued_at` before the user's tokens_valid_after).
-- Only the SHA-256 of a token is stored.
CREATE TABLE refresh_tokens (
    id          uuid        PRIMARY KEY,
    family_id   uuid        NOT NULL,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  text        NOT NULL UNIQUE,
    -- The access JWT issued with it (its jti): logout finds the family.
    access_jti  uuid        NOT NULL,
    -- When it was issued, by the clock that issued its JWT (compared with
    -- tokens_valid_after, which the same clocks set).
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_access_jti ON refresh_tokens (access_jti);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
