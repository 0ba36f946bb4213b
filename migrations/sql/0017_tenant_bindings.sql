-- Tenant bindings by immutable id. Group memberships, MCP server grants,
-- skill entitlements, dataset memberships and access-policy subjects used to
-- name tenants by name, and a name can be claimed again by anyone (after an
-- operator's delete, or once a tombstone's 30-day hold has passed): the new
-- tenant inherited everything granted to the old one. Each of these rows now
-- carries the id of the tenant it was granted to, resolved from the name
-- when the grant is written (a name that resolves to no live tenant is
-- refused by the API) and matched by id when read; the name stays for
-- display (a tenant's name never changes). A tenant's bindings go with it:
-- the foreign keys cascade on delete, decommissioning purges them
-- (cp_tenants::sql::PURGE_BINDINGS, with the gateway keys and fair-share
-- settings, which stay keyed by name), and a create that replaces a row
-- under the name purges the old row's in the same statement
-- (cp_tenants::sql::UPSERT_CREATED; the id foreign keys refuse an id change
-- while anything still references the old id).
--
-- On an existing database: the id columns are backfilled from the live
-- tenant holding each name; rows naming no tenant, or a decommissioned one
-- (a tombstone), are deleted, as are the tombstones' gateway keys and
-- fair-share settings. Resources that lost a row get a new version (ETag).

-- Group members -------------------------------------------------------------
ALTER TABLE group_members ADD COLUMN tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE;
UPDATE group_members m SET tenant_id = t.id FROM tenants t
    WHERE m.member_kind = 'tenant' AND t.name = m.member_name AND t.state <> 'decommissioned';
WITH gone AS (
    DELETE FROM group_members WHERE member_kind = 'tenant' AND tenant_id IS NULL RETURNING group_id)
UPDATE groups SET version = version + 1, updated_at = now() WHERE id IN (SELECT group_id FROM gone);
ALTER TABLE group_members ADD CONSTRAINT group_members_tenant_id
    CHECK ((member_kind = 'tenant') = (tenant_id IS NOT NULL));
-- "Which groups is tenant X in" (the effective contract) and the purge.
CREATE INDEX group_members_tenant ON group_members (tenant_id) WHERE tenant_id IS NOT NULL;

-- MCP server grants ---------------------------------------------------------
ALTER TABLE mcp_server_grants ADD COLUMN tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE;
UPDATE mcp_server_grants g SET tenant_id = t.id FROM tenants t
    WHERE g.subject_kind = 'tenant' AND t.name = g.subject_name AND t.state <> 'decommissioned';
WITH gone AS (
    DELETE FROM mcp_server_grants WHERE subject_kind = 'tenant' AND tenant_id IS NULL RETURNING server_id)
UPDATE mcp_servers SET version = version + 1, updated_at = now() WHERE id IN (SELECT server_id FROM gone);
ALTER TABLE mcp_server_grants ADD CONSTRAINT mcp_server_grants_tenant_id
    CHECK ((subject_kind = 'tenant') = (tenant_id IS NOT NULL));
CREATE INDEX mcp_server_grants_tenant ON mcp_server_grants (tenant_id) WHERE tenant_id IS NOT NULL;

-- Skill entitlements --------------------------------------------------------
ALTER TABLE skill_entitlements ADD COLUMN tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE;
UPDATE skill_entitlements e SET tenant_id = t.id FROM tenants t
    WHERE e.subject_kind = 'tenant' AND t.name = e.subject_name AND t.state <> 'decommissioned';
WITH gone AS (
    DELETE FROM skill_entitlements WHERE subject_kind = 'tenant' AND tenant_id IS NULL RETURNING bundle_id)
UPDATE skill_bundles SET revision = revision + 1, updated_at = now() WHERE id IN (SELECT bundle_id FROM gone);
ALTER TABLE skill_entitlements ADD CONSTRAINT skill_entitlements_tenant_id
    CHECK ((subject_kind = 'tenant') = (tenant_id IS NOT NULL));
CREATE INDEX skill_entitlements_tenant ON skill_entitlements (tenant_id) WHERE tenant_id IS NOT NULL;

-- Dataset memberships (tenant_name keeps its cascading foreign key) ---------
ALTER TABLE tenant_datasets ADD COLUMN tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE;
UPDATE tenant_datasets d SET tenant_id = t.id FROM tenants t
    WHERE t.name = d.tenant_name AND t.state <> 'decommissioned';
DELETE FROM tenant_datasets WHERE tenant_id IS NULL;
ALTER TABLE tenant_datasets ALTER COLUMN tenant_id SET NOT NULL;
-- A tenant's memberships by dataset (GET /tenants/{name}/datasets, the contract).
CREATE UNIQUE INDEX tenant_datasets_tenant ON tenant_datasets (tenant_id, dataset);

-- Access-policy subjects ----------------------------------------------------
-- `subjects.tenants` stays a list of names in the AccessPolicy CRD; this
-- table binds each name to the tenant that held it when the name was added
-- to the policy (maintained by the projection's own statements,
-- cp_policies::sql::UPSERT_CREATED and UPDATE). Only bound tenants are
-- subjects.
CREATE TABLE access_policy_tenants (
    policy_name text NOT NULL REFERENCES access_policies (name) ON DELETE CASCADE,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (policy_name, tenant_id)
);
-- "Which policies name tenant X" (dataset checks, the effective contract).
CREATE INDEX access_policy_tenants_tenant ON access_policy_tenants (tenant_id);
INSERT INTO access_policy_tenants (policy_name, tenant_id)
    SELECT p.name, t.id FROM access_policies p
    JOIN tenants t ON p.spec -> 'subjects' -> 'tenants' ? t.name
    WHERE t.state <> 'decommissioned';

-- Gateway settings of tombstones --------------------------------------------
DELETE FROM gateway_keys k USING tenants t
    WHERE t.name = k.tenant_name AND t.state = 'decommissioned';
DELETE FROM tenant_fairshare f USING tenants t
    WHERE t.name = f.tenant_name AND t.state = 'decommissioned';
