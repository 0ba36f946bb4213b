-- LLM gateway administration, first slice: provider API keys (encrypted at
-- rest), the model registry with exact prices and response-cache settings,
-- and AI budget ceilings (global and per account). Money is `numeric`
-- without a declared scale, so a value reads back exactly as written
-- ("0.10" stays "0.10"); the CHECKs mirror the API's validation.

-- One row per configured provider (the set is fixed in cp-gateway). The key
-- is AES-256-GCM ciphertext (tag appended) under the secrets_key master key,
-- with the provider as associated data; the plaintext is never stored.
CREATE TABLE provider_keys (
    provider   text        PRIMARY KEY,
    ciphertext bytea       NOT NULL,
    nonce      bytea       NOT NULL CHECK (length(nonce) = 12),
    -- The last four characters of a key of at least 12, else NULL.
    key_hint   text        CHECK (key_hint IS NULL OR char_length(key_hint) = 4),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE models (
    id                            uuid        PRIMARY KEY,
    name                          text        NOT NULL UNIQUE,
    provider                      text        NOT NULL,
    upstream_model                text        NOT NULL,
    context_window                bigint      NOT NULL CHECK (context_window > 0),
    -- US dollars per million tokens, at most 6 fractional digits.
    input_price_per_million       numeric     NOT NULL
        CHECK (input_price_per_million >= 0 AND scale(input_price_per_million) <= 6),
    output_price_per_million      numeric     NOT NULL
        CHECK (output_price_per_million >= 0 AND scale(output_price_per_million) <= 6),
    -- NULL: cached input tokens are priced as input.
    cached_input_price_per_million numeric
        CHECK (cached_input_price_per_million >= 0 AND scale(cached_input_price_per_million) <= 6),
    -- Response cache the gateway applies to this model.
    cache_enabled                 boolean     NOT NULL DEFAULT false,
    cache_ttl_seconds             bigint      NOT NULL DEFAULT 300 CHECK (cache_ttl_seconds > 0),
    cache_max_entries             bigint      NOT NULL DEFAULT 1000 CHECK (cache_max_entries > 0),
    -- Bumped by every write (cache settings included): the ETag.
    version                       bigint      NOT NULL DEFAULT 1,
    created_at                    timestamptz NOT NULL DEFAULT now(),
    updated_at                    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX models_keyset ON models (created_at, id);

-- The global monthly ceiling: at most one row (id is always true).
CREATE TABLE ai_budget_global (
    id              boolean     PRIMARY KEY DEFAULT true CHECK (id),
    -- US dollars per calendar month; NULL: no global ceiling.
    monthly_ceiling numeric     CHECK (monthly_ceiling >= 0 AND scale(monthly_ceiling) <= 6),
    version         bigint      NOT NULL DEFAULT 1,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Per-account (user) ceilings; removed with the user.
CREATE TABLE ai_budget_accounts (
    user_id         uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    monthly_ceiling numeric     NOT NULL
        CHECK (monthly_ceiling >= 0 AND scale(monthly_ceiling) <= 6),
    version         bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ai_budget_accounts_keyset ON ai_budget_accounts (created_at, user_id);
