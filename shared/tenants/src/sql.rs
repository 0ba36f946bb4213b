//! The tenants' named queries. Parameters follow the `cp-store` conventions
//! (text, int8, bool, jsonb; casts in SQL); times are read as microseconds.

/// Columns of a projection row, as [`TenantRow`](crate::model::TenantRow) (its `FromRow`) reads them.
pub(crate) const SELECT_COLUMNS: &str = concat!(
    "name, id::text AS id, org_id::text AS org_id, state,
    display_name, email, owner_user_id::text AS owner_id, team, cluster_tenant_ref,
    monthly_budget_cents, resources, skill_allowlist, policy_ref, phase, ingress_host,
    kube_uid, kube_resource_version, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros, ",
    cp_store::epoch_micros!("updated_at"),
    " AS updated_micros, ",
    cp_store::epoch_micros!("decommissioned_at"),
    " AS decommissioned_micros"
);

/// One tenant by name.
pub(crate) fn get() -> String {
    format!("SELECT {SELECT_COLUMNS} FROM tenants WHERE name = $1")
}

/// One tenant by id ($1) within organisation $2.
pub(crate) fn get_in_org() -> String {
    format!(
        "SELECT {SELECT_COLUMNS} FROM tenants
         WHERE id = $1::text::uuid AND org_id = $2::text::uuid"
    )
}

/// Which tenants a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListFilter {
    /// Every tenant (operators and access tokens).
    All,
    /// The tenants of the organisations user `.0` belongs to.
    MemberOf(String),
    /// The tenants of organisation `.0`.
    Org(String),
}

impl ListFilter {
    /// The SQL condition (on parameter `$3`) and its parameter.
    fn clause(&self) -> Option<(&'static str, &str)> {
        match self {
            Self::All => None,
            // A semi-join: (org_id, user_id) is org_members' key, so each
            // tenant appears once; the keyset order stays tenants_keyset's.
            Self::MemberOf(user) => Some((
                "org_id IN (SELECT m.org_id FROM org_members m WHERE m.user_id = $3::text::uuid)",
                user,
            )),
            // Served by tenants_org_keyset (org_id, created_at, name).
            Self::Org(org) => Some(("org_id = $3::text::uuid", org)),
        }
    }
}

/// A list page in keyset order (created_at, name): `$1` limit, `$2` whether
/// decommissioned tenants are included, then the filter's parameter and,
/// with `after`, the cursor's (micros, name). Returns the SQL and the
/// filter's parameter, if it has one.
pub(crate) fn list(filter: &ListFilter, after: bool) -> (String, Option<String>) {
    let mut conditions = vec!["($2::bool OR state <> 'decommissioned')".to_owned()];
    let mut param = None;
    let mut next = 3;
    if let Some((clause, value)) = filter.clause() {
        conditions.push(clause.to_owned());
        param = Some(value.to_owned());
        next = 4;
    }
    if after {
        conditions.push(format!(
            concat!(
                "(created_at, name) > (",
                cp_store::micros_timestamptz!("${}"),
                ", ${})"
            ),
            next,
            next + 1
        ));
    }
    let sql = format!(
        "SELECT {SELECT_COLUMNS} FROM tenants WHERE {} ORDER BY created_at, name LIMIT $1",
        conditions.join(" AND ")
    );
    (sql, param)
}

/// The statements removing everything bound to the tenants of the CTE
/// `gone (id, name)` (see `migrations/sql/0017_tenant_bindings.sql`): group
/// memberships, MCP server grants and skill entitlements (their group,
/// server or bundle gets a new version: its representation changed),
/// access-policy bindings, dataset memberships, gateway keys and fair-share
/// settings. As CTEs, to follow `WITH gone AS (...)`.
macro_rules! purge_bindings {
    () => {
        "purged_members AS (
           DELETE FROM group_members WHERE tenant_id IN (SELECT id FROM gone) RETURNING group_id),
         touched_groups AS (
           UPDATE groups SET version = version + 1, updated_at = now()
           WHERE id IN (SELECT group_id FROM purged_members) RETURNING 1),
         purged_mcp AS (
           DELETE FROM mcp_server_grants WHERE tenant_id IN (SELECT id FROM gone) RETURNING server_id),
         touched_servers AS (
           UPDATE mcp_servers SET version = version + 1, updated_at = now()
           WHERE id IN (SELECT server_id FROM purged_mcp) RETURNING 1),
         purged_skills AS (
           DELETE FROM skill_entitlements WHERE tenant_id IN (SELECT id FROM gone) RETURNING bundle_id),
         touched_bundles AS (
           UPDATE skill_bundles SET revision = revision + 1, updated_at = now()
           WHERE id IN (SELECT bundle_id FROM purged_skills) RETURNING 1),
         purged_policies AS (
           DELETE FROM access_policy_tenants WHERE tenant_id IN (SELECT id FROM gone) RETURNING 1),
         purged_datasets AS (
           DELETE FROM tenant_datasets WHERE tenant_id IN (SELECT id FROM gone) RETURNING 1),
         purged_keys AS (
           DELETE FROM gateway_keys WHERE tenant_name IN (SELECT name FROM gone) RETURNING 1),
         purged_fairshare AS (
           DELETE FROM tenant_fairshare WHERE tenant_name IN (SELECT name FROM gone) RETURNING 1)"
    };
}

/// Writes the projection of a newly created CRD ($1..$17; `$15` the id from
/// the CRD's label, `$16` its organisation's, `$17` its owner's; a label
/// naming no existing organisation or user projects as NULL). The lifecycle
/// state comes
/// from `$10` (`spec.suspended`) and `$11` (the projected phase), as
/// `crate::lifecycle::observed` says. Kubernetes just accepted the name, so
/// any row already holding it projects a CRD that no longer exists (or this
/// same one, imported by a concurrent repair), or is a tombstone whose hold
/// has passed (creation checks that first): the new CRD replaces it in this
/// one statement, so purging the tombstone and writing the new tenant
/// commit together. A row of another CRD (another UID) is another tenant:
/// the new one gets a new id and inherits nothing, so that row's bindings
/// are purged in the same statement (decommissioning purged a tombstone's
/// already; the foreign keys on the id would refuse the change otherwise).
pub(crate) const UPSERT_CREATED: &str = concat!(
    "WITH gone AS (SELECT id, name FROM tenants WHERE name = $1 AND kube_uid <> $13), ",
    purge_bindings!(),
    " INSERT INTO tenants (name, display_name, email, team,
    cluster_tenant_ref, monthly_budget_cents, resources, skill_allowlist, policy_ref, state,
    phase, ingress_host, kube_uid, kube_resource_version, id, org_id, owner_user_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
      CASE WHEN $10::bool THEN 'suspended' WHEN $11::text = 'Running' THEN 'active'
           ELSE 'provisioning' END,
      $11, $12, $13, $14, $15::text::uuid,
      (SELECT o.id FROM organizations o WHERE o.id = $16::text::uuid),
      (SELECT u.id FROM users u WHERE u.id = $17::text::uuid))
    ON CONFLICT (name) DO UPDATE SET display_name = EXCLUDED.display_name,
      email = EXCLUDED.email, team = EXCLUDED.team,
      cluster_tenant_ref = EXCLUDED.cluster_tenant_ref,
      monthly_budget_cents = EXCLUDED.monthly_budget_cents, resources = EXCLUDED.resources,
      skill_allowlist = EXCLUDED.skill_allowlist, policy_ref = EXCLUDED.policy_ref,
      state = EXCLUDED.state, decommissioned_at = NULL, phase = EXCLUDED.phase,
      ingress_host = EXCLUDED.ingress_host, kube_uid = EXCLUDED.kube_uid,
      kube_resource_version = EXCLUDED.kube_resource_version,
      id = CASE WHEN tenants.kube_uid = EXCLUDED.kube_uid THEN tenants.id ELSE EXCLUDED.id END,
      org_id = EXCLUDED.org_id, owner_user_id = EXCLUDED.owner_user_id,
      created_at = CASE WHEN tenants.kube_uid = EXCLUDED.kube_uid THEN tenants.created_at ELSE now() END,
      updated_at = now()"
);

/// Rewrites a projection row from its CRD (same parameters as
/// [`UPSERT_CREATED`]). A tombstone is never rewritten (its CRD is meant to
/// be gone); the id never changes and the organisation, fixed at creation,
/// is only filled in when missing.
pub(crate) const UPDATE: &str = "UPDATE tenants SET display_name = $2, email = $3, team = $4,
    cluster_tenant_ref = $5, monthly_budget_cents = $6, resources = $7, skill_allowlist = $8,
    policy_ref = $9,
    state = CASE WHEN $10::bool THEN 'suspended'
                 WHEN $11::text = 'Running' OR state IN ('active', 'suspended') THEN 'active'
                 ELSE 'provisioning' END,
    phase = $11, ingress_host = $12, kube_uid = $13,
    kube_resource_version = $14,
    id = COALESCE(id, $15::text::uuid),
    org_id = COALESCE(org_id, (SELECT o.id FROM organizations o WHERE o.id = $16::text::uuid)),
    owner_user_id = (SELECT u.id FROM users u WHERE u.id = $17::text::uuid),
    updated_at = now()
    WHERE name = $1 AND state <> 'decommissioned'";

/// A provisioning tenant whose CRD ($4: its UID) reports running: the
/// status fields only, so a read never rewrites the spec.
pub(crate) const MARK_ACTIVE: &str = "UPDATE tenants SET state = 'active', phase = $2,
    ingress_host = $3, updated_at = now()
    WHERE name = $1 AND kube_uid = $4 AND state = 'provisioning'";

/// Turns a row into a tombstone (its CRD was just deleted).
pub(crate) const DECOMMISSION: &str = "UPDATE tenants SET state = 'decommissioned',
    decommissioned_at = now(), phase = 'Decommissioned', updated_at = now()
    WHERE name = $1";

/// Removes every binding of tenant `$1` (a name; see `purge_bindings!`):
/// when it is decommissioned or deleted, so nothing granted to it reaches a
/// later tenant of the same name. Returns how many of each went.
pub(crate) const PURGE_BINDINGS: &str = concat!(
    "WITH gone AS (SELECT id, name FROM tenants WHERE name = $1), ",
    purge_bindings!(),
    " SELECT (SELECT count(*) FROM purged_members)::int8 AS group_memberships,
       (SELECT count(*) FROM purged_mcp)::int8 AS mcp_grants,
       (SELECT count(*) FROM purged_skills)::int8 AS skill_entitlements,
       (SELECT count(*) FROM purged_policies)::int8 AS policy_subjects,
       (SELECT count(*) FROM purged_datasets)::int8 AS dataset_memberships,
       (SELECT count(*) FROM purged_keys)::int8 AS gateway_keys,
       (SELECT count(*) FROM purged_fairshare)::int8 AS fairshare_settings,
       (SELECT count(*) FROM touched_groups)::int8 + (SELECT count(*) FROM touched_servers)
         + (SELECT count(*) FROM touched_bundles) AS touched"
);

/// The tombstone holding name `$1`, if any, and whether its hold of `$2`
/// days still runs.
pub(crate) const TOMBSTONE: &str = concat!(
    "SELECT ",
    cp_store::epoch_micros!("decommissioned_at + $2::int8 * interval '1 day'"),
    " AS frees_micros,
    decommissioned_at + $2::int8 * interval '1 day' > now() AS held
    FROM tenants WHERE name = $1 AND state = 'decommissioned'"
);

/// The caller's role in organisation `$1` (`$2`: the user's id).
pub(crate) const MEMBER_ROLE: &str = "SELECT role FROM org_members
    WHERE org_id = $1::text::uuid AND user_id = $2::text::uuid";

/// Whether user $1 exists and is a member of organisation $2 (always true
/// without an organisation).
pub(crate) const OWNER_CANDIDATE: &str = "SELECT
    EXISTS (SELECT 1 FROM users WHERE id = $1::text::uuid) AS is_user,
    ($2::text IS NULL OR EXISTS (SELECT 1 FROM org_members
        WHERE org_id = $2::text::uuid AND user_id = $1::text::uuid)) AS is_member";

/// Deletes a projection row (its bindings cascade; the tenants service
/// purges them first, see [`PURGE_BINDINGS`]).
pub(crate) const DELETE: &str = "DELETE FROM tenants WHERE name = $1";

/// The dataset memberships of the tenant now named `$1`: joined by id, so
/// only those granted to this very tenant (on `tenant_datasets_tenant`).
pub(crate) const DATASETS: &str = concat!(
    "SELECT d.dataset, d.access, ",
    cp_store::epoch_micros!("d.created_at"),
    " AS created_micros
    FROM tenants t JOIN tenant_datasets d ON d.tenant_id = t.id
    WHERE t.name = $1 ORDER BY d.dataset"
);

/// Removes all memberships of tenant `$1` (an id) before the replacement
/// set is inserted.
pub(crate) const DATASETS_CLEAR: &str =
    "DELETE FROM tenant_datasets WHERE tenant_id = $1::text::uuid";

/// Adds one membership of tenant `$5` (an id; `$1` its name), keeping the
/// original time when it already existed.
pub(crate) const DATASET_INSERT: &str = concat!(
    "INSERT INTO tenant_datasets
    (tenant_name, dataset, access, created_at, tenant_id)
    VALUES ($1, $2, $3, COALESCE(",
    cp_store::micros_timestamptz!("$4"),
    ", now()),
      $5::text::uuid)"
);

// --- effective contract sources: read-only views of the tables the catalog
// (groups, MCP servers) and skills groups own; the contract is compiled here.

/// The groups of tenant `$1` (an id: memberships are bound to the tenant,
/// not its name) and their awareness grants (one row per grant, or one row
/// with NULL scope for a group without grants).
pub(crate) const GROUPS_OF_TENANT: &str = "SELECT g.name AS group_name, a.scope, a.access
    FROM group_members m
    JOIN groups g ON g.id = m.group_id
    LEFT JOIN group_awareness_grants a ON a.group_id = g.id
    WHERE m.tenant_id = $1::text::uuid
    ORDER BY g.name, a.scope";

/// MCP server grants to tenant `$1` (an id) or one of the groups in `$2`
/// (a JSON array of names).
pub(crate) const MCP_GRANTS_FOR: &str = "SELECT s.name AS item, gr.subject_kind, gr.subject_name,
    NULL::text AS detail
    FROM mcp_server_grants gr
    JOIN mcp_servers s ON s.id = gr.server_id
    WHERE gr.tenant_id = $1::text::uuid
       OR (gr.subject_kind = 'group'
           AND gr.subject_name IN (SELECT jsonb_array_elements_text($2::jsonb)))
    ORDER BY s.name";

/// Entitlements of published skill bundles to tenant `$1` (an id) or one
/// of the groups in `$2` (a JSON array of names).
pub(crate) const SKILL_ENTITLEMENTS_FOR: &str =
    "SELECT b.name AS item, e.subject_kind, e.subject_name,
    b.name || '@' || b.version AS detail
    FROM skill_entitlements e
    JOIN skill_bundles b ON b.id = e.bundle_id
    WHERE b.stage = 'published'
      AND (e.tenant_id = $1::text::uuid
        OR (e.subject_kind = 'group'
            AND e.subject_name IN (SELECT jsonb_array_elements_text($2::jsonb))))
    ORDER BY b.name, b.version";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_are_numbered_after_the_filter() {
        let (all, param) = list(&ListFilter::All, true);
        assert_eq!(param, None);
        assert!(all.contains("$3::int8") && all.contains(", $4)"), "{all}");
        let (org, param) = list(&ListFilter::Org("o".into()), true);
        assert_eq!(param.as_deref(), Some("o"));
        assert!(
            org.contains("org_id = $3::text::uuid") && org.contains("$4::int8"),
            "{org}"
        );
        let (mine, _) = list(&ListFilter::MemberOf("u".into()), false);
        assert!(
            mine.contains("m.user_id = $3") && !mine.contains("$4"),
            "{mine}"
        );
        assert!(mine.contains("($2::bool OR state <> 'decommissioned')"));
    }
}
