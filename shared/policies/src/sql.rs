//! The policies' named queries (cp-store conventions: text/int8/jsonb
//! parameters, casts in SQL, times read as microseconds).

/// Columns of a projection row, as [`PolicyRow`](crate::model::PolicyRow) (its `FromRow`) reads them.
pub(crate) const COLUMNS: &str = concat!(
    "name, spec, kube_uid, kube_resource_version, ",
    cp_store::epoch_micros!("created_at"),
    " AS created_micros, ",
    cp_store::epoch_micros!("updated_at"),
    " AS updated_micros"
);

/// One policy by name.
pub(crate) fn get() -> String {
    format!("SELECT {COLUMNS} FROM access_policies WHERE name = $1")
}

/// First page, keyset order (created_at, name) on `access_policies_keyset`.
pub(crate) fn list_first() -> String {
    format!("SELECT {COLUMNS} FROM access_policies ORDER BY created_at, name LIMIT $1")
}

/// Next page after ($2 micros, $3 name).
pub(crate) fn list_after() -> String {
    format!(
        "SELECT {COLUMNS} FROM access_policies
         WHERE (created_at, name) > ({p2_time}, $3)
         ORDER BY created_at, name LIMIT $1",
        p2_time = cp_store::micros_timestamptz!("$2")
    )
}

/// The policies that apply to tenant `$1` (an id): those bound to it as a
/// subject (`access_policy_tenants`, not the name in the spec: see the
/// crate docs), those naming one of the groups in `$2` (a JSON array of
/// names), and the one named `$3` (its `policyRef`); `bound` says whether
/// the tenant is a bound subject. Served by `access_policy_tenants_tenant`
/// and the GIN index on the group subjects.
pub(crate) fn applicable() -> String {
    format!(
        "SELECT {COLUMNS}, name IN (SELECT policy_name FROM access_policy_tenants
                                    WHERE tenant_id = $1::text::uuid) AS bound
         FROM access_policies
         WHERE name IN (SELECT policy_name FROM access_policy_tenants WHERE tenant_id = $1::text::uuid)
            OR spec -> 'subjects' -> 'groups' ?| ARRAY(SELECT jsonb_array_elements_text($2::jsonb))
            OR name = $3
         ORDER BY name"
    )
}

/// Each name of `$2` (a JSON array, `subjects.tenants` of a write to policy
/// `$1`), in order: whether the policy's current row names it already
/// (`kept`), whether it is bound to a tenant of that name (`bound`), and
/// whether a live tenant holds the name now (`live`).
pub(crate) const SUBJECT_TENANTS: &str = "SELECT n.name,
    COALESCE((SELECT p.spec -> 'subjects' -> 'tenants' ? n.name
              FROM access_policies p WHERE p.name = $1), false) AS kept,
    EXISTS (SELECT 1 FROM access_policy_tenants b JOIN tenants t ON t.id = b.tenant_id
            WHERE b.policy_name = $1 AND t.name = n.name) AS bound,
    EXISTS (SELECT 1 FROM tenants t WHERE t.name = n.name AND t.state <> 'decommissioned') AS live
    FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS n(name, i)
    ORDER BY n.i";

/// Keeps the tenant bindings of policy `$1` in step with the spec `$2` a
/// projection statement writes (as CTEs, to precede it): bindings whose
/// tenant's name left `subjects.tenants` go; a name that is new to the spec
/// (the row being replaced did not name it) is bound to the live tenant
/// holding it now, if any; a name the row named already keeps its binding,
/// or stays unbound when its tenant went away (a later tenant of the name
/// is never bound by a write that merely keeps the name).
macro_rules! bind_tenants {
    () => {
        "WITH prev AS (SELECT spec -> 'subjects' -> 'tenants' AS names
                       FROM access_policies WHERE name = $1),
         unbound AS (
           DELETE FROM access_policy_tenants b USING tenants t
           WHERE b.policy_name = $1 AND t.id = b.tenant_id
             AND NOT COALESCE($2::jsonb -> 'subjects' -> 'tenants' ? t.name, false)),
         bound AS (
           INSERT INTO access_policy_tenants (policy_name, tenant_id)
           SELECT $1, t.id FROM tenants t
           WHERE t.name IN (SELECT jsonb_array_elements_text($2::jsonb -> 'subjects' -> 'tenants'))
             AND t.state <> 'decommissioned'
             AND NOT COALESCE((SELECT names FROM prev) ? t.name, false)
           ON CONFLICT DO NOTHING) "
    };
}

/// Writes the projection of a newly created CRD ($1 name, $2 spec, $3 uid,
/// $4 resourceVersion) and binds its tenant subjects (`bind_tenants`).
/// Kubernetes just accepted the name, so a row already holding it projects
/// a CRD that no longer exists: the new one replaces it.
pub(crate) const UPSERT_CREATED: &str = concat!(
    bind_tenants!(),
    "INSERT INTO access_policies
    (name, spec, kube_uid, kube_resource_version) VALUES ($1, $2, $3, $4)
    ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, kube_uid = EXCLUDED.kube_uid,
      kube_resource_version = EXCLUDED.kube_resource_version,
      created_at = CASE WHEN access_policies.kube_uid = EXCLUDED.kube_uid
                        THEN access_policies.created_at ELSE now() END,
      updated_at = now()"
);

/// Rewrites a projection row from its CRD (same parameters as
/// [`UPSERT_CREATED`]), keeping its tenant bindings in step.
pub(crate) const UPDATE: &str = concat!(
    bind_tenants!(),
    "UPDATE access_policies SET spec = $2, kube_uid = $3,
    kube_resource_version = $4, updated_at = now() WHERE name = $1"
);

/// Deletes a projection row.
pub(crate) const DELETE: &str = "DELETE FROM access_policies WHERE name = $1";
