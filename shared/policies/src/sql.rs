//! The policies' named queries (cp-store conventions: text/int8/jsonb
//! parameters, casts in SQL, times read as microseconds).

/// Columns of a projection row, as [`crate::model::PolicyRow::from_row`] reads them.
const COLUMNS: &str = "name, spec, kube_uid, kube_resource_version,
    (extract(epoch FROM created_at) * 1000000)::int8 AS created_micros,
    (extract(epoch FROM updated_at) * 1000000)::int8 AS updated_micros";

/// One policy by name.
pub(crate) fn get() -> String {
    format!("SELECT {COLUMNS} FROM access_policies WHERE name = $1")
}

/// One policy by name, locked until the transaction ends (writes to one
/// policy are serialised so the row always ends at the last CRD write).
pub(crate) fn get_for_update() -> String {
    format!("SELECT {COLUMNS} FROM access_policies WHERE name = $1 FOR UPDATE")
}

/// First page, keyset order (created_at, name) on `access_policies_keyset`.
pub(crate) fn list_first() -> String {
    format!("SELECT {COLUMNS} FROM access_policies ORDER BY created_at, name LIMIT $1")
}

/// Next page after ($2 micros, $3 name).
pub(crate) fn list_after() -> String {
    format!(
        "SELECT {COLUMNS} FROM access_policies
         WHERE (created_at, name) > (timestamptz 'epoch' + $2::int8 * interval '1 microsecond', $3)
         ORDER BY created_at, name LIMIT $1"
    )
}

/// Every row (drift detection compares all of them).
pub(crate) fn all() -> String {
    format!("SELECT {COLUMNS} FROM access_policies ORDER BY name")
}

/// The policies that apply to tenant `$1`: those naming it or one of the
/// groups in `$2` (a JSON array of names) as a subject, and the one named
/// `$3` (its `policyRef`). Served by the GIN indexes on the subject lists.
pub(crate) fn applicable() -> String {
    format!(
        "SELECT {COLUMNS} FROM access_policies
         WHERE spec -> 'subjects' -> 'tenants' ? $1
            OR spec -> 'subjects' -> 'groups' ?| ARRAY(SELECT jsonb_array_elements_text($2::jsonb))
            OR name = $3
         ORDER BY name"
    )
}

/// Writes the projection of a newly created CRD ($1 name, $2 spec, $3 uid,
/// $4 resourceVersion). Kubernetes just accepted the name, so a row already
/// holding it projects a CRD that no longer exists: the new one replaces it.
pub(crate) const UPSERT_CREATED: &str = "INSERT INTO access_policies
    (name, spec, kube_uid, kube_resource_version) VALUES ($1, $2, $3, $4)
    ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, kube_uid = EXCLUDED.kube_uid,
      kube_resource_version = EXCLUDED.kube_resource_version,
      created_at = CASE WHEN access_policies.kube_uid = EXCLUDED.kube_uid
                        THEN access_policies.created_at ELSE now() END,
      updated_at = now()";

/// Rewrites a projection row from its CRD (same parameters as [`UPSERT_CREATED`]).
pub(crate) const UPDATE: &str = "UPDATE access_policies SET spec = $2, kube_uid = $3,
    kube_resource_version = $4, updated_at = now() WHERE name = $1";

/// Deletes a projection row.
pub(crate) const DELETE: &str = "DELETE FROM access_policies WHERE name = $1";
