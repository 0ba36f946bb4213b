-- Email verification: a signup (and an email change) mails a one-time
-- token; POST /auth/verify-email with it verifies the address (an email
-- change takes effect then). Tokens live 24 hours, are stored as SHA-256
-- digests, and a newer one replaces the older ones of the same user.
CREATE TABLE email_verifications (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The address it verifies: the account's email or its pending email.
    email       text        NOT NULL,
    token_hash  text        NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_verifications_user ON email_verifications (user_id) WHERE used_at IS NULL;

-- A secret a notification must carry (a verification token), sealed with
-- the secrets_key master key (AES-256-GCM, nonce || ciphertext || tag,
-- associated data `cp/outbox/v1/<id>`): only a sender holding the key
-- opens it.
ALTER TABLE notification_outbox ADD COLUMN sealed bytea;
