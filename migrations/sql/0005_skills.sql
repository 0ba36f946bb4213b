-- Skills catalog: versioned skill bundles, who may use them (entitlements),
-- their stage history (promotions), and what the backfill pushed to the OCI
-- registry. The effective contract (tenants) reads skill_bundles and
-- skill_entitlements: keep these names and columns.

CREATE TABLE skill_bundles (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    version     text        NOT NULL,
    -- sha256:<64 hex> of the bundle's content (verified when content is given).
    digest      text        NOT NULL CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
    scope       text        NOT NULL CHECK (scope IN ('platform', 'organization', 'team', 'tenant')),
    stage       text        NOT NULL CHECK (stage IN ('draft', 'staging', 'published')),
    description text,
    content     bytea,
    -- Bumped by every write: the ETag.
    revision    bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT skill_bundles_name_version UNIQUE (name, version)
);
CREATE UNIQUE INDEX skill_bundles_keyset ON skill_bundles (created_at, id);
-- `?name=` lists one name's versions in keyset order.
CREATE INDEX skill_bundles_name_keyset ON skill_bundles (name, created_at, id);
-- The backfill reads published bundles only.
CREATE INDEX skill_bundles_stage ON skill_bundles (stage, created_at, id);

CREATE TABLE skill_entitlements (
    bundle_id    uuid NOT NULL REFERENCES skill_bundles (id) ON DELETE CASCADE,
    subject_kind text NOT NULL CHECK (subject_kind IN ('tenant', 'group')),
    subject_name text NOT NULL,
    PRIMARY KEY (bundle_id, subject_kind, subject_name)
);
-- "Which bundles may this tenant / group use" (effective contract).
CREATE INDEX skill_entitlements_subject ON skill_entitlements (subject_kind, subject_name);

-- Append-only: an audit trail of stage changes, never rewritten by PUT.
CREATE TABLE skill_promotions (
    id         uuid        PRIMARY KEY,
    bundle_id  uuid        NOT NULL REFERENCES skill_bundles (id) ON DELETE CASCADE,
    from_stage text        CHECK (from_stage IN ('draft', 'staging', 'published')),
    to_stage   text        NOT NULL CHECK (to_stage IN ('draft', 'staging', 'published')),
    actor      text        NOT NULL,
    request_id text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX skill_promotions_bundle ON skill_promotions (bundle_id, created_at, id);

-- What the backfill pushed: one row per bundle and registry location, the
-- latest push winning. Removed with the bundle (the registry keeps the
-- artifact: deleting from a registry is an operator decision).
CREATE TABLE skill_oci_pushes (
    bundle_id       uuid        NOT NULL REFERENCES skill_bundles (id) ON DELETE CASCADE,
    registry        text        NOT NULL,
    repository      text        NOT NULL,
    tag             text        NOT NULL,
    manifest_digest text        NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('pushed', 'alreadyPresent')),
    request_id      text        NOT NULL,
    pushed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bundle_id, registry, repository, tag)
);
