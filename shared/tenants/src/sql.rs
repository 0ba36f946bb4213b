//! The tenants' named queries. Parameters follow the `cp-store` conventions
//! (text, int8, bool, jsonb; casts in SQL); times are read as microseconds.

/// Columns of a projection row, as [`crate::model::TenantRow::from_row`] reads them.
pub(crate) const SELECT_COLUMNS: &str = "name, display_name, email, team, cluster_tenant_ref,
    monthly_budget_cents, resources, skill_allowlist, policy_ref, suspended, phase, ingress_host,
    kube_uid, kube_resource_version,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_micros,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_micros";

/// One tenant by name.
pub(crate) fn get() -> String {
    format!("SELECT {SELECT_COLUMNS} FROM tenants WHERE name = $1")
}

/// One tenant by name, locked until the transaction ends: writes to one
/// tenant are serialised so the row always ends at the last CRD write.
pub(crate) fn get_for_update() -> String {
    format!("SELECT {SELECT_COLUMNS} FROM tenants WHERE name = $1 FOR UPDATE")
}

/// First page, keyset order (created_at, name) on `tenants_keyset`.
pub(crate) fn list_first() -> String {
    format!("SELECT {SELECT_COLUMNS} FROM tenants ORDER BY created_at, name LIMIT $1")
}

/// Next page after ($2 micros, $3 name).
pub(crate) fn list_after() -> String {
    format!(
        "SELECT {SELECT_COLUMNS} FROM tenants
         WHERE (created_at, name) > (timestamptz 'epoch' + $2::int8 * interval '1 microsecond', $3)
         ORDER BY created_at, name LIMIT $1"
    )
}

/// Every row (drift detection compares all of them).
pub(crate) fn all() -> String {
    format!("SELECT {SELECT_COLUMNS} FROM tenants ORDER BY name")
}

/// Writes the projection of a newly created CRD ($1..$14). Kubernetes just
/// accepted the name, so any row already holding it projects a CRD that no
/// longer exists (or this same one, imported by a concurrent repair): the
/// new CRD replaces it.
pub(crate) const UPSERT_CREATED: &str = "INSERT INTO tenants (name, display_name, email, team,
    cluster_tenant_ref, monthly_budget_cents, resources, skill_allowlist, policy_ref, suspended,
    phase, ingress_host, kube_uid, kube_resource_version)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (name) DO UPDATE SET display_name = EXCLUDED.display_name,
      email = EXCLUDED.email, team = EXCLUDED.team,
      cluster_tenant_ref = EXCLUDED.cluster_tenant_ref,
      monthly_budget_cents = EXCLUDED.monthly_budget_cents, resources = EXCLUDED.resources,
      skill_allowlist = EXCLUDED.skill_allowlist, policy_ref = EXCLUDED.policy_ref,
      suspended = EXCLUDED.suspended, phase = EXCLUDED.phase,
      ingress_host = EXCLUDED.ingress_host, kube_uid = EXCLUDED.kube_uid,
      kube_resource_version = EXCLUDED.kube_resource_version,
      created_at = CASE WHEN tenants.kube_uid = EXCLUDED.kube_uid THEN tenants.created_at ELSE now() END,
      updated_at = now()";

/// Rewrites a projection row from its CRD (same parameters as [`UPSERT_CREATED`]).
pub(crate) const UPDATE: &str = "UPDATE tenants SET display_name = $2, email = $3, team = $4,
    cluster_tenant_ref = $5, monthly_budget_cents = $6, resources = $7, skill_allowlist = $8,
    policy_ref = $9, suspended = $10, phase = $11, ingress_host = $12, kube_uid = $13,
    kube_resource_version = $14, updated_at = now()
    WHERE name = $1";

/// Deletes a projection row (datasets cascade).
pub(crate) const DELETE: &str = "DELETE FROM tenants WHERE name = $1";

/// A tenant's dataset memberships.
pub(crate) const DATASETS: &str = "SELECT dataset, access,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_micros
    FROM tenant_datasets WHERE tenant_name = $1 ORDER BY dataset";

/// Removes all memberships (before the replacement set is inserted).
pub(crate) const DATASETS_CLEAR: &str = "DELETE FROM tenant_datasets WHERE tenant_name = $1";

/// Adds one membership, keeping the original time when it already existed.
pub(crate) const DATASET_INSERT: &str = "INSERT INTO tenant_datasets (tenant_name, dataset, access, created_at)
    VALUES ($1, $2, $3, COALESCE(timestamptz 'epoch' + $4::int8 * interval '1 microsecond', now()))";

// --- effective contract sources: read-only views of the tables the catalog
// (groups, MCP servers) and skills groups own; the contract is compiled here.

/// The tenant's groups and their awareness grants (one row per grant, or one
/// row with NULL scope for a group without grants).
pub(crate) const GROUPS_OF_TENANT: &str = "SELECT g.name AS group_name, a.scope, a.access
    FROM group_members m
    JOIN groups g ON g.id = m.group_id
    LEFT JOIN group_awareness_grants a ON a.group_id = g.id
    WHERE m.member_kind = 'tenant' AND m.member_name = $1
    ORDER BY g.name, a.scope";

/// MCP server grants naming tenant `$1` or one of the groups in `$2` (a JSON array).
pub(crate) const MCP_GRANTS_FOR: &str = "SELECT s.name AS item, gr.subject_kind, gr.subject_name,
    NULL::text AS detail
    FROM mcp_server_grants gr
    JOIN mcp_servers s ON s.id = gr.server_id
    WHERE (gr.subject_kind = 'tenant' AND gr.subject_name = $1)
       OR (gr.subject_kind = 'group'
           AND gr.subject_name IN (SELECT jsonb_array_elements_text($2::jsonb)))
    ORDER BY s.name";

/// Entitlements of published skill bundles naming tenant `$1` or one of the
/// groups in `$2` (a JSON array).
pub(crate) const SKILL_ENTITLEMENTS_FOR: &str =
    "SELECT b.name AS item, e.subject_kind, e.subject_name,
    b.name || '@' || b.version AS detail
    FROM skill_entitlements e
    JOIN skill_bundles b ON b.id = e.bundle_id
    WHERE b.stage = 'published'
      AND ((e.subject_kind = 'tenant' AND e.subject_name = $1)
        OR (e.subject_kind = 'group'
            AND e.subject_name IN (SELECT jsonb_array_elements_text($2::jsonb))))
    ORDER BY b.name, b.version";
