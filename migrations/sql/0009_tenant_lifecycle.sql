-- Tenants join organisations and get one lifecycle shared by /tenants and
-- /organizations/{orgId}/tenants:
--   provisioning -> active <-> suspended, and any of them -> decommissioned.
-- `state` replaces the `suspended` flag (one source of truth: the API's
-- `suspended` is `state = 'suspended'`). A decommissioned row is a
-- tombstone: its CRD is gone, it holds the name for 30 days.

-- A stable UUIDv7 id per tenant (the org routes address tenants by id);
-- existing rows get one built from their creation time, so ids keep
-- sorting by creation like those minted by the code.
ALTER TABLE tenants ADD COLUMN id uuid;
UPDATE tenants SET id = encode(
    set_bit(set_bit(
        overlay(uuid_send(gen_random_uuid())
                PLACING substring(int8send((extract(epoch FROM created_at) * 1000)::int8) FROM 3)
                FROM 1 FOR 6),
        52, 1), 53, 1),
    'hex')::uuid;
ALTER TABLE tenants ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX tenants_id ON tenants (id);

-- NULL: a platform tenant outside every organisation (operators only).
-- An organisation with tenants cannot be deleted (no cascade to CRDs).
ALTER TABLE tenants ADD COLUMN org_id uuid REFERENCES organizations (id);

ALTER TABLE tenants ADD COLUMN state text NOT NULL DEFAULT 'provisioning'
    CHECK (state IN ('provisioning', 'active', 'suspended', 'decommissioned'));
UPDATE tenants SET state = CASE WHEN suspended THEN 'suspended'
                                WHEN phase = 'Running' THEN 'active'
                                ELSE 'provisioning' END;
ALTER TABLE tenants ALTER COLUMN state DROP DEFAULT;
ALTER TABLE tenants DROP COLUMN suspended;

ALTER TABLE tenants ADD COLUMN decommissioned_at timestamptz;
ALTER TABLE tenants ADD CONSTRAINT tenants_decommissioned_at
    CHECK ((state = 'decommissioned') = (decommissioned_at IS NOT NULL));

-- Keyset of one organisation's tenants (created_at, name), as the global
-- list pages on tenants_keyset.
CREATE UNIQUE INDEX tenants_org_keyset ON tenants (org_id, created_at, name);
