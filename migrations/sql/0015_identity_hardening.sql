-- Identity hardening (issue 12): verified emails, sign-in throttles,
-- single-use ID tokens at /auth/oidc-token, and access tokens bound to the
-- token that minted them.

-- Whether the account's email is verified, and an email change waiting for
-- verification. Password signups start unverified (the verification flow
-- comes later); accounts the identity provider vouched for are verified.
-- Nothing trusts an unverified email: OIDC sign-ins do not link to such an
-- account, invitations are not accepted with it, and a pending email is
-- not used for anything until it is verified.
ALTER TABLE users
    ADD COLUMN email_verified_at timestamptz,
    ADD COLUMN pending_email     text;

-- Existing accounts whose email one of their provider identities verified.
UPDATE users u SET email_verified_at = i.created_at
FROM user_identities i
WHERE i.user_id = u.id AND i.email = u.email AND u.email_verified_at IS NULL;

-- Fixed-window counters of sign-in attempts: failed password logins per
-- account and per source address, signups and device-login starts per
-- source address. `bucket` is a SHA-256 digest of the kind and key (an
-- email typed into a login form may be a password; it is never stored).
-- A counter starts at the first attempt and is reset when its window ends.
CREATE TABLE auth_throttle (
    bucket       text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    count        integer     NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX auth_throttle_expiry ON auth_throttle (expires_at);

-- ID tokens exchanged at /auth/oidc-token, kept until they expire so each
-- is exchanged once: the digest of the issuer and `jti` (or of the whole
-- token when it has no `jti`).
CREATE TABLE oidc_used_id_tokens (
    token_key  text        PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX oidc_used_id_tokens_expiry ON oidc_used_id_tokens (expires_at);

-- The access token that minted a token (NULL when the operator did): the
-- child goes with its parent, so it never outlives it.
ALTER TABLE access_tokens
    ADD COLUMN parent_id uuid REFERENCES access_tokens (id) ON DELETE CASCADE;
CREATE INDEX access_tokens_parent ON access_tokens (parent_id);
