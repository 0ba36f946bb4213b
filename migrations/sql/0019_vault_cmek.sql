-- Client-side customer-managed keys (CMEK) for vaults: a vault with CMEK
-- holds values its clients encrypted with their own key, of which only the
-- SHA-256 fingerprint is stored; each version records the fingerprint of
-- the key that encrypted it, so a rotation knows what is left to do and a
-- client knows which key opens what it reads.
ALTER TABLE vaults ADD COLUMN cmek_fingerprint text;
ALTER TABLE vault_secret_versions ADD COLUMN cmek_fingerprint text;
CREATE INDEX vault_secret_versions_cmek ON vault_secret_versions (cmek_fingerprint, secret_id, version)
    WHERE cmek_fingerprint IS NOT NULL;

-- A rotation from one customer key to another: re-encrypted in batches,
-- each in its own transaction; resumable (same keys again) after a failure.
CREATE TABLE vault_cmek_jobs (
    id              uuid        PRIMARY KEY,
    vault_id        uuid        NOT NULL REFERENCES vaults (id) ON DELETE CASCADE,
    old_fingerprint text        NOT NULL,
    new_fingerprint text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    total           bigint      NOT NULL DEFAULT 0,
    processed       bigint      NOT NULL DEFAULT 0,
    error           text,
    created_by      text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- At most one unfinished rotation per vault.
CREATE UNIQUE INDEX vault_cmek_jobs_active ON vault_cmek_jobs (vault_id)
    WHERE status IN ('pending', 'running');
