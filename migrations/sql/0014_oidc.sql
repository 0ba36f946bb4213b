-- Federated login (OIDC authorization code flow with PKCE), browser
-- sessions, the device authorization grant (RFC 8628), and what pod tokens
-- need to find a tenant by email.

-- A user who only signs in through the identity provider has no password
-- (password login refuses them like a wrong password).
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

-- Provider accounts linked to users: (issuer, sub) is the provider's stable
-- id of the person; the first login links by verified email or creates the
-- user.
CREATE TABLE user_identities (
    issuer        text        NOT NULL,
    subject       text        NOT NULL,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);

-- The provider's discovery document and JWKS, cached (components keep no
-- memory between requests): refreshed after an hour, and the JWKS early
-- (at most once a minute) when a token names an unknown key.
CREATE TABLE oidc_provider_cache (
    issuer          text        PRIMARY KEY,
    discovery       jsonb       NOT NULL,
    jwks            jsonb       NOT NULL,
    fetched_at      timestamptz NOT NULL DEFAULT now(),
    jwks_fetched_at timestamptz NOT NULL DEFAULT now()
);

-- Logins in flight between /auth/login and /auth/callback: found by the
-- digest of `state`, bound to the browser by the digest of the `cp_login`
-- cookie, deleted when the callback uses them (single use), 10 minutes.
CREATE TABLE oidc_login_attempts (
    state_hash    text        PRIMARY KEY,
    browser_hash  text        NOT NULL,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    return_to     text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX oidc_login_attempts_expiry ON oidc_login_attempts (expires_at);

-- Browser sessions: the `cp_session` cookie's SHA-256 digest (the value is
-- never stored), the verified email the provider vouched for at sign-in
-- (pod tokens resolve the tenant from it, never from the profile email,
-- which the user may change), absolute expiry.
CREATE TABLE user_sessions (
    id         uuid        PRIMARY KEY,
    token_hash text        NOT NULL UNIQUE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text        NOT NULL,
    issuer     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expiry ON user_sessions (expires_at);

-- Device authorization grants (RFC 8628). The device code is a bearer
-- secret: only its digest is stored. The user code (XXXX-XXXX) is typed by
-- a person into the activation page. Rows stay a day past their expiry so
-- a late poll is told "expired" rather than "unknown".
CREATE TABLE device_grants (
    id               uuid        PRIMARY KEY,
    device_code_hash text        NOT NULL UNIQUE,
    user_code        text        NOT NULL UNIQUE,
    status           text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'denied', 'collected')),
    user_id          uuid        REFERENCES users (id) ON DELETE CASCADE,
    interval_secs    integer     NOT NULL,
    last_polled_at   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    decided_at       timestamptz,
    CHECK ((status IN ('approved', 'collected')) = (user_id IS NOT NULL))
);
CREATE INDEX device_grants_expiry ON device_grants (expires_at);

-- Pod tokens find the caller's tenant by email (case-insensitive).
CREATE INDEX tenants_email_lower ON tenants (lower(email));
