-- Token usage reported by the gateways: one row per LLM request, written
-- once (a tenant's request id is unique; a replayed batch inserts nothing
-- twice). Usage outlives keys, models and tenants (billing history), so
-- there are no foreign keys. Money is exact `numeric` (US dollars).
CREATE TABLE token_usage (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    text        NOT NULL,
    tenant_name   text        NOT NULL,
    key_id        uuid,
    model         text        NOT NULL,
    input_tokens  bigint      NOT NULL CHECK (input_tokens >= 0),
    output_tokens bigint      NOT NULL CHECK (output_tokens >= 0),
    -- The part of input_tokens served from the provider's prompt cache.
    cached_tokens bigint      NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
    -- Served from the gateway's response cache.
    cache_hit     boolean     NOT NULL DEFAULT false,
    latency_ms    bigint      NOT NULL DEFAULT 0 CHECK (latency_ms >= 0),
    -- What the request cost at the model's price when it was ingested: a
    -- later price change does not rewrite history.
    cost          numeric     NOT NULL DEFAULT 0 CHECK (cost >= 0),
    occurred_at   timestamptz NOT NULL,
    ingested_at   timestamptz NOT NULL DEFAULT now()
);
-- Duplicates are per tenant: one tenant's ids never shadow another's.
CREATE UNIQUE INDEX token_usage_request ON token_usage (tenant_name, request_id);
-- A tenant's recent tokens (the TPM quota window), per-tenant ranges and
-- the per-tenant keyset of GET /token-usage (newest first).
CREATE INDEX token_usage_tenant_time ON token_usage (tenant_name, occurred_at, id);
-- Time ranges over every tenant: the keyset of GET /token-usage, minute
-- series and the partial hours at the edges of a range.
CREATE INDEX token_usage_time ON token_usage (occurred_at, id);
-- One key's records.
CREATE INDEX token_usage_key_time ON token_usage (key_id, occurred_at, id)
    WHERE key_id IS NOT NULL;

-- The hourly rollup, maintained in the ingestion's transaction: what the
-- hour, day and month reads aggregate instead of millions of raw rows.
-- `hour` is the start of a UTC hour; `latency_ms` is a sum.
CREATE TABLE token_usage_hourly (
    hour          timestamptz NOT NULL,
    tenant_name   text        NOT NULL,
    key_id        uuid,
    model         text        NOT NULL,
    requests      bigint      NOT NULL,
    input_tokens  bigint      NOT NULL,
    output_tokens bigint      NOT NULL,
    cached_tokens bigint      NOT NULL,
    cache_hits    bigint      NOT NULL,
    latency_ms    bigint      NOT NULL,
    cost          numeric     NOT NULL
);
-- Usage without a key rolls up into one row per hour, tenant and model.
CREATE UNIQUE INDEX token_usage_hourly_key
    ON token_usage_hourly (hour, tenant_name, model, key_id) NULLS NOT DISTINCT;
CREATE INDEX token_usage_hourly_tenant ON token_usage_hourly (tenant_name, hour);
CREATE INDEX token_usage_hourly_model ON token_usage_hourly (model, hour);
CREATE INDEX token_usage_hourly_keys ON token_usage_hourly (key_id, hour)
    WHERE key_id IS NOT NULL;

-- Each tenant's spend per UTC calendar month (`month` is its first
-- instant), maintained with the rollup: budget checks read one row per
-- tenant instead of a month of hours.
CREATE TABLE token_usage_monthly (
    month       timestamptz NOT NULL,
    tenant_name text        NOT NULL,
    requests    bigint      NOT NULL,
    cost        numeric     NOT NULL,
    PRIMARY KEY (month, tenant_name)
);

-- Query bounds arrive as RFC 3339 text with an explicit offset, which
-- parses the same under any TimeZone and DateStyle: declared immutable, the
-- cast is folded into a constant when a statement is planned (index ranges
-- and row estimates use it) instead of being parsed again for every row.
CREATE FUNCTION token_usage_instant(text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT $1::timestamptz $$;
