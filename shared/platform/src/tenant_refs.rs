//! Other resources' references to tenants: group memberships, MCP server
//! grants and skill entitlements name a tenant in the API, but are bound to
//! the tenant's immutable id when written (`tenant_id` columns, see
//! `migrations/sql/0017_tenant_bindings.sql`). A tenant name can be claimed
//! again once its tenant is gone, so a grant must never wait for a name:
//! one naming no live tenant is refused (a 400 naming the field), and the
//! binding goes with its tenant (deleted or decommissioned).

use cp_http::FieldError;
use cp_store::{Database, DbError, Value};
use serde_json::json;

/// The tenants among the names of `$1` (a jsonb array), with their state.
/// The rows stay key-share locked until commit, so a checked tenant can be
/// neither deleted nor decommissioned (both lock it for update) before the
/// granting transaction commits.
const TENANTS_NAMED: &str = "SELECT name, state FROM tenants
    WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb)) FOR KEY SHARE";

/// The SQL expression resolving the name `e->>'name'` (a grant element of
/// a `jsonb_array_elements` row `e` with a `kind`) to the id of the live
/// tenant holding it, NULL for other kinds. Insert statements binding a
/// tenant use it after [`check`] succeeded in the same transaction.
#[macro_export]
macro_rules! tenant_id_of_element {
    () => {
        "CASE WHEN e->>'kind' = 'tenant' THEN (SELECT t.id FROM tenants t
           WHERE t.name = e->>'name' AND t.state <> 'decommissioned') END"
    };
}

/// Checks that each `(field, name)` names a live tenant, locking those
/// tenants until the transaction ends; returns an error per field that
/// does not (a missing tenant, or a decommissioned one).
pub async fn check<D: Database>(
    db: &D,
    refs: &[(String, &str)],
) -> Result<Vec<FieldError>, DbError> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = refs.iter().map(|(_, n)| *n).collect();
    let mut states = std::collections::HashMap::new();
    for r in db
        .query(TENANTS_NAMED, &[Value::Json(json!(names))])
        .await?
    {
        states.insert(r.text("name")?, r.text("state")?);
    }
    Ok(refs
        .iter()
        .filter_map(
            |(field, name)| match states.get(*name).map(String::as_str) {
                None => Some(FieldError::new(
                    field.clone(),
                    format!(
                        "names no existing tenant ('{name}'); grant to a tenant once it exists"
                    ),
                )),
                Some("decommissioned") => Some(FieldError::new(
                    field.clone(),
                    format!("tenant '{name}' is decommissioned"),
                )),
                Some(_) => None,
            },
        )
        .collect())
}
