-- Organisations, their members and roles, pending invitations, and the
-- organisation-visible event stream. Users reach tenants through these.

CREATE TABLE organizations (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_keyset ON organizations (created_at, id);

-- Roles, from least to most: viewer < member < admin < owner. Deleting a
-- user removes their memberships; deleting an organisation removes all of
-- its rows below.
CREATE TABLE org_members (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text        NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
-- "My organisations", and keyset pagination of one organisation's members.
CREATE INDEX org_members_by_user ON org_members (user_id, org_id);
CREATE UNIQUE INDEX org_members_keyset ON org_members (org_id, created_at, user_id);

-- Invitations by email: the token is shown once and stored as SHA-256;
-- at most one pending invitation per (organisation, email): re-inviting
-- replaces it.
CREATE TABLE org_invitations (
    id          uuid        PRIMARY KEY,
    org_id      uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email       text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash  text        NOT NULL UNIQUE,
    invited_by  text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX org_invitations_pending ON org_invitations (org_id, email)
    WHERE accepted_at IS NULL;
CREATE UNIQUE INDEX org_invitations_keyset ON org_invitations (org_id, created_at, id);

-- Organisation-visible changes, written in the same transaction as the
-- change. Read newest first by keyset.
CREATE TABLE org_events (
    id         uuid        PRIMARY KEY,
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind       text        NOT NULL,
    actor      text        NOT NULL,
    subject    text        NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}',
    request_id text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX org_events_keyset ON org_events (org_id, created_at DESC, id DESC);
