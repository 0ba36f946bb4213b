-- Agent self-enrolment: an agent asks to join an organisation (a public
-- route), naming the human who should approve it. An owner or admin
-- approves (creating the agent, without a key yet) or rejects it; the
-- enrolling agent then collects its API key once with the claim token it
-- was given (stored here only as its SHA-256 digest).
--
-- Bounded: enrolments are rate-limited per source address and per
-- organisation (auth_throttle), an organisation holds at most a set number
-- of pending ones, and every enrolment expires (7 days), after which it is
-- pruned.
CREATE TABLE agent_enrollments (
    id               uuid        PRIMARY KEY,
    org_id           uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             text        NOT NULL,
    description      text,
    approver_email   text        NOT NULL,
    -- Scope strings the agent asks for; the approver decides.
    requested_scopes jsonb       NOT NULL,
    claim_hash       text        NOT NULL UNIQUE,
    status           text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'rejected', 'claimed')),
    -- The address it came from, as counted by the throttle.
    source_address   text        NOT NULL,
    agent_id         uuid        REFERENCES agents (id) ON DELETE SET NULL,
    decided_by       text,
    decided_at       timestamptz,
    reason           text,
    expires_at       timestamptz NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX agent_enrollments_keyset ON agent_enrollments (created_at, id);
CREATE UNIQUE INDEX agent_enrollments_org_keyset ON agent_enrollments (org_id, created_at, id);
CREATE INDEX agent_enrollments_pending ON agent_enrollments (org_id) WHERE status = 'pending';
CREATE INDEX agent_enrollments_expiry ON agent_enrollments (expires_at);
