-- The agent secrets vault: vaults of an organisation, path-addressed secrets
-- with immutable versions, and vault policies. Nothing here is plaintext:
-- each version holds its value sealed under its own data key, the data key
-- wrapped by the vault's key, and the vault's key wrapped by the master key
-- (`cp_vault::envelope`).

CREATE TABLE vaults (
    id            uuid        PRIMARY KEY,
    org_id        uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    description   text,
    -- The vault key, wrapped by the master key of `key_provider`.
    wrapped_key   bytea       NOT NULL,
    key_provider  text        NOT NULL CHECK (key_provider IN ('local', 'aws-kms')),
    created_by    text        NOT NULL,
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
-- A name is unique among an organisation's live vaults.
CREATE UNIQUE INDEX vaults_org_name ON vaults (org_id, name) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX vaults_keyset ON vaults (created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX vaults_org_keyset ON vaults (org_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE vault_secrets (
    id              uuid        PRIMARY KEY,
    vault_id        uuid        NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    path            text        NOT NULL,
    secret_type     text        NOT NULL,
    description     text,
    tags            jsonb       NOT NULL DEFAULT '[]',
    expires_at      timestamptz,
    current_version int         NOT NULL,
    created_by      text        NOT NULL,
    updated_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: hidden from reads and lists, restorable for 30 days,
    -- then purged with its versions.
    deleted_at      timestamptz
);
-- One live secret per path; deleted ones may share it until purged.
CREATE UNIQUE INDEX vault_secrets_path ON vault_secrets (vault_id, path) WHERE deleted_at IS NULL;
-- Listing (by path, which `?prefix=` ranges over) and purging.
CREATE INDEX vault_secrets_deleted ON vault_secrets (vault_id, deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE vault_secret_versions (
    secret_id        uuid        NOT NULL REFERENCES vault_secrets (id) ON DELETE CASCADE,
    version          int         NOT NULL CHECK (version >= 1),
    -- `EncryptedVersion::to_bytes`: the sealed value and its wrapped data key.
    sealed           bytea       NOT NULL,
    disabled         boolean     NOT NULL DEFAULT false,
    created_by       text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (secret_id, version)
);

CREATE TABLE vault_policies (
    id             uuid        PRIMARY KEY,
    vault_id       uuid        NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    -- `cp_vault::Policy` as JSON: principal, actions, pathGlob, effect,
    -- priority, conditions (re-validated when read).
    policy         jsonb       NOT NULL,
    version        bigint      NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vault_policies_keyset ON vault_policies (vault_id, created_at, id);
