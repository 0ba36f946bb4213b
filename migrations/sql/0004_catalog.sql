-- The catalog: MCP servers with grants and brokered credentials, groups with
-- members and awareness grants, third-party sources with their items.
-- `version` is each resource's ETag, bumped by every write to it (its
-- child rows included), so If-Match guards the whole representation.

CREATE TABLE groups (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    description text,
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX groups_keyset ON groups (created_at, id);

CREATE TABLE group_members (
    group_id    uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    member_kind text NOT NULL CHECK (member_kind IN ('tenant', 'user')),
    member_name text NOT NULL,
    -- Request order, so a group reads back as it was written.
    position    int  NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, member_kind, member_name)
);
-- "Which groups is tenant X in" (the effective-contract compiler).
CREATE INDEX group_members_member ON group_members (member_kind, member_name);

CREATE TABLE group_awareness_grants (
    group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    scope    text NOT NULL,
    access   text NOT NULL CHECK (access IN ('read', 'write')),
    position int  NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, scope)
);

CREATE TABLE mcp_servers (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    endpoint    text        NOT NULL,
    transport   text        NOT NULL CHECK (transport IN ('stdio', 'sse', 'streamable-http')),
    description text,
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mcp_servers_keyset ON mcp_servers (created_at, id);

CREATE TABLE mcp_server_grants (
    server_id    uuid NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    subject_kind text NOT NULL CHECK (subject_kind IN ('tenant', 'group')),
    subject_name text NOT NULL,
    position     int  NOT NULL DEFAULT 0,
    PRIMARY KEY (server_id, subject_kind, subject_name)
);
CREATE INDEX mcp_server_grants_subject ON mcp_server_grants (subject_kind, subject_name);

-- Brokered credentials. An inline value is AES-256-GCM ciphertext (tag
-- appended) under the secrets_key master key, with the server and
-- credential ids as associated data; the plaintext is never stored.
CREATE TABLE mcp_server_credentials (
    id               uuid        PRIMARY KEY,
    server_id        uuid        NOT NULL REFERENCES mcp_servers (id) ON DELETE CASCADE,
    display_name     text        NOT NULL,
    brokering_mode   text        NOT NULL CHECK (brokering_mode IN ('static', 'obo')),
    secret_ref       jsonb,
    value_ciphertext bytea,
    value_nonce      bytea,
    value_hint       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((value_ciphertext IS NULL) = (value_nonce IS NULL)),
    CHECK (brokering_mode = 'obo' OR ((secret_ref IS NULL) <> (value_ciphertext IS NULL))),
    CHECK (brokering_mode = 'static' OR (secret_ref IS NULL AND value_ciphertext IS NULL))
);
CREATE UNIQUE INDEX mcp_server_credentials_keyset ON mcp_server_credentials (server_id, created_at, id);

CREATE TABLE third_party_sources (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    type        text        NOT NULL CHECK (type IN ('github', 'gitlab', 'confluence', 'jira', 'notion', 'slack', 'gdrive', 'sharepoint', 'web')),
    url         text        NOT NULL,
    description text,
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX third_party_sources_keyset ON third_party_sources (created_at, id);

CREATE TABLE third_party_items (
    source_id   uuid NOT NULL REFERENCES third_party_sources (id) ON DELETE CASCADE,
    external_id text NOT NULL,
    title       text NOT NULL,
    url         text,
    position    int  NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, external_id)
);
