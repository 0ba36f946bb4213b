-- LLM gateway administration, second slice: tenant gateway keys and the
-- fair-share state the gateway fleet reports to and reads from.

-- Gateway keys (`sk_…`): authenticate usage ingestion for one tenant only.
-- Only the SHA-256 digest is stored; the plaintext is shown once.
CREATE TABLE gateway_keys (
    id           uuid        PRIMARY KEY,
    tenant_name  text        NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    name         text        NOT NULL,
    -- The first characters of the key (`sk_` + 12), to recognise it in lists.
    key_prefix   text        NOT NULL,
    key_hash     text        NOT NULL UNIQUE,
    disabled     boolean     NOT NULL DEFAULT false,
    created_by   text        NOT NULL,
    last_used_at timestamptz,
    version      bigint      NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_name, name)
);
CREATE UNIQUE INDEX gateway_keys_keyset ON gateway_keys (created_at, id);
CREATE INDEX gateway_keys_tenant ON gateway_keys (tenant_name, created_at, id);

-- Fair-share groups. Tenants without a group share the implicit `default`
-- group (weight 1, cp_gateway::fairshare::DEFAULT_GROUP_WEIGHT) unless a
-- row named `default` says otherwise.
CREATE TABLE fairshare_groups (
    name       text        PRIMARY KEY,
    -- 0: best effort (only capacity no weighted group wants).
    weight     integer     NOT NULL CHECK (weight BETWEEN 0 AND 1000000),
    version    bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX fairshare_groups_keyset ON fairshare_groups (created_at, name);

-- A tenant's fair-share settings; no row means the defaults (weight 100,
-- no quota, the default group). Gateway configuration, not part of the
-- Tenant CRD, so it lives only here and goes with the tenant's row.
CREATE TABLE tenant_fairshare (
    tenant_name       text        PRIMARY KEY REFERENCES tenants (name) ON DELETE CASCADE,
    weight            integer     NOT NULL DEFAULT 100 CHECK (weight BETWEEN 0 AND 1000000),
    -- Tokens per minute (input + output); NULL: unlimited.
    tokens_per_minute bigint      CHECK (tokens_per_minute > 0),
    group_name        text        REFERENCES fairshare_groups (name),
    version           bigint      NOT NULL DEFAULT 1,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tenant_fairshare_group ON tenant_fairshare (group_name);

-- The fleet-wide per-instance limit on in-flight requests: one row, read by
-- every heartbeat, so a change applies at each instance's next heartbeat.
CREATE TABLE gateway_capacity (
    id            boolean     PRIMARY KEY DEFAULT true CHECK (id),
    max_in_flight integer     NOT NULL CHECK (max_in_flight BETWEEN 1 AND 1000000),
    version       bigint      NOT NULL DEFAULT 1,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO gateway_capacity (max_in_flight) VALUES (256);

-- Gateway instances and their latest heartbeat. An instance whose
-- last_seen_at is older than the liveness window has aged out: it no longer
-- counts in allocations, /fairshare/live or /stats, and is pruned lazily.
CREATE TABLE gateway_instances (
    instance_id   text        PRIMARY KEY,
    -- The max in-flight the instance was last told.
    max_in_flight integer     NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_instances_seen ON gateway_instances (last_seen_at);

-- Per-tenant load in an instance's latest heartbeat (replaced each time).
-- No foreign key to tenants: a gateway may report a tenant being deleted.
CREATE TABLE gateway_instance_load (
    instance_id text    NOT NULL REFERENCES gateway_instances (instance_id) ON DELETE CASCADE,
    tenant_name text    NOT NULL,
    in_flight   integer NOT NULL CHECK (in_flight >= 0),
    queued      integer NOT NULL CHECK (queued >= 0),
    PRIMARY KEY (instance_id, tenant_name)
);
CREATE INDEX gateway_instance_load_tenant ON gateway_instance_load (tenant_name);
