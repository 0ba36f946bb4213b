//! The request parameters every route group shares, described once for the
//! OpenAPI document with the exact constraints the server enforces (so a
//! schema-valid value is accepted and a schema-invalid one is a 400):
//! `Idempotency-Key` (see the platform's idempotency module), `If-Match`
//! ([`crate::etag`]) and the list parameters `limit`/`cursor`
//! ([`crate::pagination`]).
//!
//! These types only document; the values are read from the request where
//! they are used. Use them in `#[utoipa::path(params(...))]`.

use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::Object;
use utoipa::openapi::Required;
use utoipa::IntoParams;

/// A required path parameter with its schema, for a hand-written
/// [`IntoParams`] (where the schema is one the validator shares).
pub fn path_param(name: &str, description: &str, schema: Object) -> Parameter {
    parameter(name, ParameterIn::Path, Required::True, description, schema)
}

/// An optional query parameter with its schema (see [`path_param`]).
pub fn query_param(name: &str, description: &str, schema: Object) -> Parameter {
    parameter(
        name,
        ParameterIn::Query,
        Required::False,
        description,
        schema,
    )
}

fn parameter(
    name: &str,
    place: ParameterIn,
    required: Required,
    description: &str,
    schema: Object,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(place)
        .required(required)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// Pattern of an `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,255}$";

/// Pattern of an `If-Match` header: `*` or a comma-separated list of quoted
/// entity tags (what [`crate::etag::check_if_match`] accepts).
pub const IF_MATCH_PATTERN: &str = r#"^[ \t]*(\*|"[^,]*"([ \t]*,[ \t]*"[^,]*")*)[ \t]*$"#;

/// The `Idempotency-Key` header of a mutation.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// Replay protection: the same key with the same request replays the
    /// stored response (`Idempotency-Replayed: true`); with a different
    /// request it is a 422 `IDEMPOTENCY_KEY_REUSED`. Keys live 24 hours.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]{1,255}$"
    )]
    pub idempotency_key: Option<String>,
}

/// The `If-Match` header of a conditional write.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// `*` or the `ETag` of a previous read (a stale one is a 409 `CONFLICT`).
    #[param(
        rename = "If-Match",
        nullable = false,
        max_length = 1024,
        example = "\"42\"",
        pattern = r#"^[ \t]*(\*|"[^,]*"([ \t]*,[ \t]*"[^,]*")*)[ \t]*$"#
    )]
    pub if_match: Option<String>,
}

/// `limit` and `cursor` of a keyset-paginated list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1..1000 (default 100).
    #[param(nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Opaque cursor: `pagination.nextCursor` of the previous page of this
    /// same list (anything else is a 400).
    #[param(nullable = false, max_length = 2048, pattern = "^v1\\.[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn schema_of<P: IntoParams>(name: &str) -> serde_json::Value {
        let params = P::into_params(|| None);
        let p = params.iter().find(|p| p.name == name).unwrap();
        serde_json::to_value(p).unwrap()
    }

    #[test]
    fn documented_patterns_are_the_constants() {
        let v = schema_of::<IdempotencyKeyHeader>("Idempotency-Key");
        assert_eq!(v["schema"]["pattern"], IDEMPOTENCY_KEY_PATTERN);
        assert_eq!(v["schema"]["type"], "string");
        let v = schema_of::<IfMatchHeader>("If-Match");
        assert_eq!(v["schema"]["pattern"], IF_MATCH_PATTERN);
        let v = schema_of::<PageQuery>("limit");
        assert_eq!(v["schema"]["minimum"], 1);
        assert_eq!(v["schema"]["maximum"], 1000);
    }
}
