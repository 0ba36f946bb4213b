-- The chains registry: the EVM chains agents may transact on. Operators
-- manage it; anyone reads the enabled chains. The RPC URL may carry a
-- provider's API key, so it is stored sealed under the master key
-- (AES-256-GCM, associated data `cp/chains/v1/<id>`) and shown only as its
-- origin.
CREATE TABLE chains (
    id                 uuid        PRIMARY KEY,
    name               text        NOT NULL UNIQUE,
    chain_id           bigint      NOT NULL UNIQUE CHECK (chain_id BETWEEN 1 AND 9007199254740991),
    rpc_origin         text        NOT NULL,
    rpc_url_ciphertext bytea       NOT NULL,
    rpc_url_nonce      bytea       NOT NULL,
    native_currency    jsonb       NOT NULL,
    block_explorer_url text,
    enabled            boolean     NOT NULL DEFAULT true,
    supports_eip1559   boolean     NOT NULL DEFAULT true,
    version            bigint      NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX chains_keyset ON chains (created_at, id);
CREATE INDEX chains_enabled_keyset ON chains (created_at, id) WHERE enabled;
