-- Tenants: the PostgreSQL projection of Tenant CRDs (the CRD is the source
-- of truth), plus dataset memberships, which live only here.

CREATE TABLE tenants (
    name                  text        PRIMARY KEY,
    display_name          text,
    email                 text        NOT NULL,
    team                  text,
    cluster_tenant_ref    text,
    -- Exact money: cents, never floats.
    monthly_budget_cents  bigint      CHECK (monthly_budget_cents >= 0),
    resources             jsonb       NOT NULL DEFAULT '{}',
    skill_allowlist       jsonb       NOT NULL DEFAULT '[]',
    policy_ref            text,
    suspended             boolean     NOT NULL DEFAULT false,
    phase                 text        NOT NULL,
    ingress_host          text,
    -- The CRD this row projects: uid and resourceVersion at the last write.
    kube_uid              text        NOT NULL,
    kube_resource_version text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tenants_keyset ON tenants (created_at, name);
CREATE INDEX tenants_phase ON tenants (phase);

CREATE TABLE tenant_datasets (
    tenant_name text        NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
    dataset     text        NOT NULL,
    access      text        NOT NULL CHECK (access IN ('read', 'write')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_name, dataset)
);
