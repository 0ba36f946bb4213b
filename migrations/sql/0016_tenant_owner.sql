-- Tenant ownership by user id, set by the server (the creating user, or an
-- operator's explicit assignment), never by the editable `email` field.
-- Pod tokens and per-account budget ceilings join users to tenants through
-- it. The CRD carries it too (label `opencrane.io/owner-id`), so a repair
-- re-imports it.
ALTER TABLE tenants
    ADD COLUMN owner_user_id uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX tenants_owner ON tenants (owner_user_id) WHERE owner_user_id IS NOT NULL;

-- Existing organisation tenants: the member of the tenant's organisation
-- whose account email is the tenant's email owned it under the old rule.
-- A platform tenant (no organisation) gets no owner: the email alone never
-- proved anything, so an operator assigns one (PUT /tenants/{name} ownerId).
UPDATE tenants t SET owner_user_id = u.id
    FROM users u
    JOIN org_members m ON m.user_id = u.id
    WHERE t.org_id IS NOT NULL AND m.org_id = t.org_id AND u.email = lower(t.email);
