-- Access tokens: opaque bearer tokens for automation. Only the SHA-256
-- digest of a token is stored (lookups go by digest); the plaintext is
-- shown once, at creation. Revoking a token deletes its row.

CREATE TABLE access_tokens (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    -- The first characters of the token, to recognise it in lists.
    token_prefix text        NOT NULL,
    token_hash   text        NOT NULL UNIQUE,
    scopes       jsonb       NOT NULL,
    created_by   text        NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX access_tokens_keyset ON access_tokens (created_at, id);
