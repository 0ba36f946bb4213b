-- Agents: an organisation's non-human identities. An agent exchanges its
-- API key (`cpag_…`, stored only as its SHA-256 digest) for a short-lived
-- JWT at POST /auth/agent-token, and reaches the vaults it was given
-- (vault_ids), as far as its scopes and the vaults' policies allow.
--
-- Deactivating an agent keeps its row (audit entries and secrets name it)
-- and cuts off its key and tokens at once: every request checks `status`.
-- A key rotation moves `tokens_valid_after`, which ends the tokens issued
-- with the old key.
CREATE TABLE agents (
    id                  uuid        PRIMARY KEY,
    org_id              uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                text        NOT NULL,
    description         text,
    -- Scope strings (`vaults:read`, `vaults:write`).
    scopes              jsonb       NOT NULL,
    -- Vault ids (strings) of the agent's organisation.
    vault_ids           jsonb       NOT NULL,
    token_ttl_seconds   integer     NOT NULL
        CHECK (token_ttl_seconds BETWEEN 60 AND 86400),
    intents_api_enabled boolean     NOT NULL DEFAULT false,
    -- The first characters of the key, to recognise it in lists, and its
    -- digest. NULL while an enrolled agent has not collected its key yet.
    key_prefix          text,
    key_hash            text        UNIQUE,
    status              text        NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'deactivated')),
    -- The principal that registered it (`user:<id>`, `operator`, ...).
    created_by          text        NOT NULL,
    tokens_valid_after  timestamptz NOT NULL DEFAULT now(),
    key_rotated_at      timestamptz,
    last_used_at        timestamptz,
    deactivated_at      timestamptz,
    version             bigint      NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- Keyset lists: every agent, and an organisation's.
CREATE UNIQUE INDEX agents_keyset ON agents (created_at, id);
CREATE UNIQUE INDEX agents_org_keyset ON agents (org_id, created_at, id);
-- An active agent's name is unique in its organisation.
CREATE UNIQUE INDEX agents_active_name ON agents (org_id, name) WHERE status = 'active';
