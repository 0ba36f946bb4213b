-- Access policies: the PostgreSQL projection of AccessPolicy CRDs (the CRD
-- is the source of truth). The spec is kept whole as jsonb, in the CRD's
-- own shape; the subject lists are indexed because every dataset check and
-- effective contract asks "which policies name this tenant or its groups".

CREATE TABLE access_policies (
    name                  text        PRIMARY KEY,
    spec                  jsonb       NOT NULL,
    kube_uid              text        NOT NULL,
    kube_resource_version text        NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX access_policies_keyset ON access_policies (created_at, name);
CREATE INDEX access_policies_subject_tenants ON access_policies USING gin ((spec -> 'subjects' -> 'tenants'));
CREATE INDEX access_policies_subject_groups ON access_policies USING gin ((spec -> 'subjects' -> 'groups'));
