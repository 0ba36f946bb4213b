-- Multi-factor authentication with TOTP (RFC 6238) for users, and sealed
-- idempotency replays of responses that show a secret once.

-- One row per user who started or finished enrolment. The TOTP secret is
-- sealed with AES-256-GCM under the `secrets_key` master key (cp-crypto),
-- bound to the user's id; it is never returned after setup.
CREATE TABLE user_mfa (
    user_id           uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_nonce      bytea       NOT NULL,
    secret_ciphertext bytea       NOT NULL,
    -- NULL while the setup awaits its first code (POST /auth/mfa/verify-setup).
    enabled_at        timestamptz,
    -- The last accepted TOTP time step (Unix seconds / 30): a code is
    -- accepted at most once, and never one older than the last.
    last_step         bigint,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Login challenges: POST /auth/token answers an `mfaToken` (random, shown
-- once, stored as its SHA-256 digest) for users with MFA; POST
-- /auth/mfa/verify consumes it (single use, 5 minutes).
CREATE TABLE mfa_challenges (
    token_hash text        PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_challenges_expiry ON mfa_challenges (expires_at);
CREATE INDEX mfa_challenges_user ON mfa_challenges (user_id);

-- Failed MFA verifications, for the per-user rate limit (a rolling window;
-- older rows are pruned as new ones are written, and a success clears them).
CREATE TABLE mfa_failures (
    user_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_failures_user ON mfa_failures (user_id, failed_at);

-- Replays of responses that show a secret once (tokens, keys, JWTs, TOTP
-- secrets) are stored sealed under `secrets_key`: `body` then holds the
-- ciphertext and this column its nonce. NULL: `body` is plaintext.
ALTER TABLE idempotency_keys ADD COLUMN body_nonce bytea;
