//! Resource ids: UUIDv7, so ids sort by creation time and a keyset on
//! `(created_at, id)` pages in insertion order. Every route group takes its
//! `{id}` path parameters through [`path_id`] (a 400 naming the parameter
//! for anything but a canonical UUID) and documents them with [`id_param`].

use utoipa::openapi::path::Parameter;
use utoipa::openapi::schema::Object;
use uuid::Uuid;

use crate::validate::pattern_string;
use crate::{ApiError, PathParams};

/// OpenAPI pattern of a canonical (hyphenated) UUID, either case.
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// A new resource id (UUIDv7: time-ordered).
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses a canonical hyphenated UUID (what [`UUID_PATTERN`] accepts; the
/// braced, URN and unhyphenated forms `Uuid::parse_str` also takes are
/// refused so the schema and the server agree).
pub fn parse_id(value: &str) -> Result<Uuid, String> {
    let canonical = value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    if !canonical {
        return Err("must be a UUID such as 0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f".into());
    }
    Uuid::parse_str(value).map_err(|e| e.to_string())
}

/// The `{name}` path parameter as a UUID, or a 400 naming it.
pub fn path_id(params: &PathParams, name: &str) -> Result<Uuid, ApiError> {
    parse_id(params.get(name)).map_err(|msg| ApiError::invalid(name, msg))
}

/// OpenAPI schema of an id.
pub fn id_schema(description: &str) -> Object {
    let mut schema = pattern_string(false, UUID_PATTERN, 36, description);
    schema.format = Some(utoipa::openapi::SchemaFormat::Custom("uuid".into()));
    schema
}

/// OpenAPI description of an `{id}`-style path parameter.
pub fn id_param(name: &str, description: &str) -> Parameter {
    crate::params::path_param(name, description, id_schema(description))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_canonical_uuids_parse() {
        let id = new_id();
        assert_eq!(parse_id(&id.to_string()).unwrap(), id);
        assert_eq!(
            parse_id(&id.to_string().to_uppercase()).unwrap(),
            id,
            "either case"
        );
        for bad in [
            "",
            "x",
            &id.simple().to_string(),
            &format!("{{{id}}}"),
            &format!("urn:uuid:{id}"),
            "0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5g",
        ] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let a = new_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(new_id() > a);
    }
}
