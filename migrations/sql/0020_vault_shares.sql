-- Sharing one secret with one recipient: a user, an agent, an external
-- email address, or anyone holding the link's key. Each share has an
-- expiry and an optional access limit, both enforced by the one UPDATE that
-- counts an access (`cp_vault` share_store::SHARE_CONSUME), so concurrent
-- readers can never exceed the limit.

CREATE TABLE vault_shares (
    id               uuid        PRIMARY KEY,
    secret_id        uuid        NOT NULL REFERENCES vault_secrets (id) ON DELETE CASCADE,
    vault_id         uuid        NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    -- A pinned version; NULL follows the secret's latest version.
    version          int         CHECK (version >= 1),
    recipient_type   text        NOT NULL
        CHECK (recipient_type IN ('user', 'agent', 'external_email', 'anyone_with_link')),
    -- The user's or agent's id (user and agent shares).
    recipient_id     uuid,
    -- The address (external_email shares), lowercased.
    recipient_email  text,
    -- SHA-256 (hex) of the share key that opens an external_email or
    -- anyone_with_link share; the key itself is shown once, to its creator.
    key_hash         text,
    -- pending -> accepted | declined (user and agent shares); active (the
    -- others, which need no acceptance). Revocation is `revoked_at`.
    status           text        NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'active')),
    max_access_count int         CHECK (max_access_count >= 1),
    access_count     int         NOT NULL DEFAULT 0,
    expires_at       timestamptz NOT NULL,
    created_by       text        NOT NULL,
    -- The row version (the ETag).
    row_version      bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_accessed_at timestamptz,
    revoked_at       timestamptz,
    CHECK ((recipient_type IN ('user', 'agent')) = (recipient_id IS NOT NULL)),
    CHECK ((recipient_type = 'external_email') = (recipient_email IS NOT NULL)),
    CHECK ((recipient_type IN ('external_email', 'anyone_with_link')) = (key_hash IS NOT NULL))
);
-- Outbound (by creator) and inbound (by recipient) lists, oldest first.
CREATE UNIQUE INDEX vault_shares_outbound ON vault_shares (created_by, created_at, id);
CREATE UNIQUE INDEX vault_shares_inbound ON vault_shares (recipient_id, created_at, id)
    WHERE recipient_id IS NOT NULL;

-- Notifications waiting to be sent by mail (a share to an external
-- address, later agent enrolments). Written in the transaction of the
-- change they announce; a sender outside this API delivers them and sets
-- `sent_at`. Nothing secret is ever put here.
CREATE TABLE notification_outbox (
    id         uuid        PRIMARY KEY,
    kind       text        NOT NULL,
    recipient  text        NOT NULL,
    payload    jsonb       NOT NULL,
    request_id text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX notification_outbox_unsent ON notification_outbox (created_at, id) WHERE sent_at IS NULL;
