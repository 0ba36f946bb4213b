-- Cross-cutting tables every route group uses: the audit trail, idempotency
-- keys, and the latest projection-drift report per resource kind.

CREATE TABLE audit_log (
    id            uuid        PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text        NOT NULL,
    action        text        NOT NULL,
    resource_kind text        NOT NULL,
    resource_name text        NOT NULL,
    tenant        text,
    request_id    text        NOT NULL,
    outcome       text        NOT NULL CHECK (outcome IN ('success', 'failure')),
    detail        jsonb       NOT NULL DEFAULT 'null'
);
-- Keyset pagination: (at, id) overall and per tenant.
CREATE INDEX audit_log_keyset ON audit_log (at, id);
CREATE INDEX audit_log_tenant_keyset ON audit_log (tenant, at, id) WHERE tenant IS NOT NULL;

CREATE TABLE idempotency_keys (
    principal    text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('pending', 'done')),
    status       bigint,
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Written by each drift check and repair, read by /prom and metrics:
-- a fresh component instance serves every request, so nothing is counted
-- in memory.
CREATE TABLE drift_reports (
    kind         text        PRIMARY KEY,
    checked_at   timestamptz NOT NULL,
    missing_rows bigint      NOT NULL,
    orphan_rows  bigint      NOT NULL,
    stale_rows   bigint      NOT NULL
);
