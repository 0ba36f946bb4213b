//! Access tokens as the API shows them, and the request creating one.

use cp_http::validate::{integer_schema, pattern_string, Validator, TEXT_PATTERN};
use cp_http::{time, ApiError};
use cp_platform::scopes::{self, Scope, SCOPE_PATTERN};
use cp_store::{DbError, FromRow, Row};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, Object, SchemaType, Type};
use utoipa::ToSchema;

/// Characters of a token shown in lists (`cpat_` and the first random ones).
pub const SHOWN_PREFIX_LEN: usize = 12;
/// Most scopes on one token.
pub const MAX_SCOPES: usize = 20;
/// Longest lifetime, in days.
pub const MAX_DAYS: i64 = 3650;

/// An access token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    /// Token id (UUIDv7).
    pub id: String,
    /// What the token is for.
    pub name: String,
    /// The token's first characters, to recognise it.
    pub token_prefix: String,
    /// What the token may do.
    pub scopes: Vec<String>,
    /// Who created it (`operator`, `access-token:<id>`).
    pub created_by: String,
    /// When it stops working (RFC 3339), if ever.
    pub expires_at: Option<String>,
    /// When it was last used (to the minute), if ever.
    pub last_used_at: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// Creation time in microseconds (the list keyset).
    #[serde(skip)]
    pub created_micros: i64,
}

impl AccessToken {}

/// A token just created: the only time its plaintext is returned.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedAccessToken {
    /// The token.
    #[serde(flatten)]
    pub token: AccessToken,
    /// The secret: send it as `Authorization: Bearer <plainTextToken>`. It is
    /// stored only as a SHA-256 digest and never returned again.
    pub plain_text_token: String,
}

/// Decodes a row of the `sql` queries.
impl FromRow for AccessToken {
    fn from_row(row: &Row) -> Result<Self, DbError> {
        let created_micros = row.i64("created_micros")?;
        Ok(Self {
            id: row.text("id")?,
            name: row.text("name")?,
            token_prefix: row.text("token_prefix")?,
            scopes: serde_json::from_value(row.json("scopes")?)
                .map_err(|e| DbError::Decode(format!("scopes: {e}")))?,
            created_by: row.text("created_by")?,
            expires_at: row.opt_i64("expires_micros")?.map(time::micros_rfc3339),
            last_used_at: row.opt_i64("last_used_micros")?.map(time::micros_rfc3339),
            created_at: time::micros_rfc3339(created_micros),
            created_micros,
        })
    }
}

fn name_schema() -> Object {
    let mut s = pattern_string(
        false,
        TEXT_PATTERN,
        100,
        "What the token is for (1-100 characters, no control characters).",
    );
    s.min_length = Some(1);
    s
}

fn scopes_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(pattern_string(
            false,
            SCOPE_PATTERN,
            40,
            "`*`, `read`, or `<area>:read` / `<area>:write`.",
        ))
        .min_items(Some(1))
        .max_items(Some(MAX_SCOPES))
        .unique_items(true)
        .description(Some(
            "What the token may do (default `[\"*\"]`): `*` everything, `read` every read, \
             `<area>:read`/`<area>:write` one area (the first path segment under /api/v1/; write \
             includes read). A token can only be given scopes its creator holds.",
        ))
}

fn days_schema() -> Object {
    integer_schema(
        true,
        1,
        MAX_DAYS,
        "Lifetime in days (1-3650); omitted: no expiry, or, for a token created by another \
         access token, its creator's expiry (a token never outlives its creator).",
    )
}

/// Body of `POST /access-tokens`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessTokenCreate {
    /// What the token is for.
    #[schema(schema_with = name_schema, required = true)]
    pub name: Option<String>,
    /// Its scopes.
    #[schema(schema_with = scopes_schema)]
    pub scopes: Option<Vec<String>>,
    /// Its lifetime.
    #[schema(schema_with = days_schema)]
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    pub expires_in_days: Option<i64>,
}

/// A validated creation request.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTokenRequest {
    /// Name.
    pub name: String,
    /// Scopes as given (canonical strings).
    pub scopes: Vec<String>,
    /// Parsed scopes.
    pub parsed: Vec<Scope>,
    /// Lifetime in days.
    pub expires_in_days: Option<i64>,
}

impl AccessTokenCreate {
    /// Validates the request.
    pub fn validate(self) -> Result<ValidTokenRequest, ApiError> {
        let mut v = Validator::new();
        let name = self.name.unwrap_or_default();
        if name.is_empty() {
            v.error("name", "is required");
        } else {
            v.text("name", Some(&name), 100);
        }
        let scopes = self.scopes.unwrap_or_else(|| vec!["*".to_owned()]);
        v.check(!scopes.is_empty(), "scopes", "must not be empty");
        v.check(
            scopes.len() <= MAX_SCOPES,
            "scopes",
            format!("must have at most {MAX_SCOPES} entries"),
        );
        let mut parsed = Vec::new();
        for (i, s) in scopes.iter().enumerate() {
            match scopes::parse(s) {
                Err(msg) => v.error(format!("scopes[{i}]"), msg),
                Ok(_) if scopes[..i].contains(s) => {
                    v.error(format!("scopes[{i}]"), "is a duplicate");
                }
                Ok(p) => parsed.push(p),
            }
        }
        if let Some(d) = self.expires_in_days {
            v.check(
                (1..=MAX_DAYS).contains(&d),
                "expiresInDays",
                format!("must be between 1 and {MAX_DAYS}"),
            );
        }
        v.finish()?;
        Ok(ValidTokenRequest {
            name,
            scopes,
            parsed,
            expires_in_days: self.expires_in_days,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(json: serde_json::Value) -> Result<ValidTokenRequest, ApiError> {
        serde_json::from_value::<AccessTokenCreate>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn an_integral_float_is_a_whole_number_of_days() {
        let r = req(serde_json::json!({"name": "ci", "expiresInDays": 441.0})).unwrap();
        assert_eq!(r.expires_in_days, Some(441));
        assert!(serde_json::from_value::<AccessTokenCreate>(
            serde_json::json!({"name": "ci", "expiresInDays": 1.5})
        )
        .is_err());
    }

    #[test]
    fn defaults_to_every_scope_and_no_expiry() {
        let r = req(serde_json::json!({"name": "ci"})).unwrap();
        assert_eq!(r.scopes, vec!["*"]);
        assert_eq!(r.expires_in_days, None);
    }

    #[test]
    fn names_each_bad_field() {
        let err = req(serde_json::json!({
            "scopes": ["tenants:read", "tenants:read", "nope"],
            "expiresInDays": 0
        }))
        .unwrap_err();
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["name", "scopes[1]", "scopes[2]", "expiresInDays"]);
        let err = req(serde_json::json!({"name": "x", "scopes": []})).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "scopes");
    }
}
