//! Subjects that grants and entitlements name: a catalog group or a tenant.
//! MCP server grants (here) and skill entitlements (`cp-skills`) are checked
//! the same way before they are written.

use std::collections::HashSet;

use cp_http::{ApiError, FieldError};
use cp_platform::Failure;
use cp_store::{Database, Value};
use serde_json::json;

/// The groups among the names of `$1` (a jsonb array), key-share locked
/// until commit so a checked group cannot be deleted before the grant is.
const GROUPS_NAMED: &str = "SELECT name FROM groups
    WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb)) FOR KEY SHARE";

/// Checks that every `(kind, name)` of the array field `array` names an
/// existing group (`group`) or a live tenant (`tenant`; bound by id, see
/// `cp_platform::tenant_refs`). One 400 lists every miss, each naming
/// `<array>[i].name`, in request order. Other kinds are not checked here
/// (the model validates kinds).
pub async fn check<D: Database>(
    db: &D,
    array: &str,
    subjects: &[(&str, &str)],
) -> Result<(), Failure> {
    let field = |i: usize| format!("{array}[{i}].name");
    let groups: Vec<&str> = subjects
        .iter()
        .filter(|(kind, _)| *kind == "group")
        .map(|(_, name)| *name)
        .collect();
    let existing: HashSet<String> = if groups.is_empty() {
        HashSet::new()
    } else {
        db.query(GROUPS_NAMED, &[Value::Json(json!(groups))])
            .await?
            .iter()
            .map(|r| r.text("name"))
            .collect::<Result<_, _>>()?
    };
    let tenants: Vec<(String, &str)> = subjects
        .iter()
        .enumerate()
        .filter(|(_, (kind, _))| *kind == "tenant")
        .map(|(i, (_, name))| (field(i), *name))
        .collect();
    let mut tenant_errors = cp_platform::tenant_refs::check(db, &tenants).await?;
    let mut errors: Vec<FieldError> = Vec::new();
    for (i, (kind, name)) in subjects.iter().enumerate() {
        if *kind == "group" && !existing.contains(*name) {
            errors.push(FieldError::new(
                field(i),
                format!("names no existing group ('{name}')"),
            ));
        }
        if let Some(p) = tenant_errors.iter().position(|e| e.field == field(i)) {
            errors.push(tenant_errors.swap_remove(p));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors).into())
    }
}
