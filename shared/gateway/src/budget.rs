//! AI budget ceilings: the global monthly ceiling and per-account ceilings,
//! in exact US dollars. (Spend against them comes with usage ingestion.)

use cp_http::validate::{pattern_string, Validator};
use cp_http::ApiError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

use crate::models::{decimal_field, AMOUNT_MAX_CHARS};

/// Fractional digits a ceiling may have (as prices: a millionth of a dollar).
pub const CEILING_SCALE: u32 = 6;
/// The largest ceiling, in US dollars per month.
pub const MAX_CEILING: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
/// OpenAPI pattern of a ceiling (what [`parse_ceiling`] accepts).
pub const CEILING_PATTERN: &str = "^0*([0-9]{1,9}(\\.[0-9]{1,6})?|1000000000(\\.0{1,6})?)$";

/// Parses a monthly ceiling ([`crate::money::parse_amount`] with
/// [`CEILING_SCALE`] and [`MAX_CEILING`]).
pub fn parse_ceiling(text: &str) -> Result<Decimal, String> {
    crate::money::parse_amount(text, CEILING_SCALE, MAX_CEILING, "250.00")
}

fn ceiling_schema(nullable: bool, description: &str) -> Object {
    let mut s = pattern_string(nullable, CEILING_PATTERN, AMOUNT_MAX_CHARS, description);
    s.min_length = Some(1);
    s
}

fn global_input_schema() -> Object {
    ceiling_schema(
        true,
        "US dollars per calendar month for all AI spend, as a decimal string (\"5000.00\"; at \
         most 6 fractional digits, at most 1000000000). Exact: never a JSON number. null removes \
         the ceiling.",
    )
}

fn account_input_schema() -> Object {
    ceiling_schema(
        false,
        "US dollars per calendar month for this account, as a decimal string (\"250.00\").",
    )
}

fn ceiling_view(nullable: bool) -> Object {
    let t = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(t)
        .description(Some("US dollars per calendar month, exactly as written."))
        .build()
}

fn nullable_ceiling_view() -> Object {
    ceiling_view(true)
}

fn ceiling_view_schema() -> Object {
    ceiling_view(false)
}

/// Body of `PUT /ai-budget/global`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = GlobalBudgetInput)]
pub struct GlobalBudgetInput {
    /// The ceiling; `null` removes it.
    #[schema(schema_with = global_input_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::present")]
    monthly_ceiling: Option<serde_json::Value>,
}

impl GlobalBudgetInput {
    /// The new ceiling (`None`: no ceiling).
    pub fn validate(self) -> Result<Option<Decimal>, ApiError> {
        let mut v = Validator::new();
        if self.monthly_ceiling.is_none() {
            v.error("monthlyCeiling", "is required (null removes the ceiling)");
        }
        let ceiling = decimal_field(
            &mut v,
            "monthlyCeiling",
            self.monthly_ceiling.as_ref(),
            parse_ceiling,
        );
        v.finish()?;
        Ok(ceiling)
    }
}

/// Body of `PUT /ai-budget/accounts/{userId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = AccountBudgetInput)]
pub struct AccountBudgetInput {
    /// The account's ceiling.
    #[schema(schema_with = account_input_schema, required = true)]
    #[serde(default)]
    monthly_ceiling: Option<serde_json::Value>,
}

impl AccountBudgetInput {
    /// The account's ceiling.
    pub fn validate(self) -> Result<Decimal, ApiError> {
        let mut v = Validator::new();
        if matches!(self.monthly_ceiling, None | Some(serde_json::Value::Null)) {
            v.error("monthlyCeiling", "is required");
        }
        let ceiling = decimal_field(
            &mut v,
            "monthlyCeiling",
            self.monthly_ceiling.as_ref(),
            parse_ceiling,
        );
        v.finish()?;
        Ok(ceiling.unwrap_or_default())
    }
}

/// The global monthly ceiling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GlobalBudget {
    /// US dollars per calendar month; null: no global ceiling.
    #[schema(schema_with = nullable_ceiling_view)]
    pub monthly_ceiling: Option<String>,
    /// When it was last set (RFC 3339); null if never.
    pub updated_at: Option<String>,
}

/// One account's monthly ceiling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountBudget {
    /// The account (user id).
    pub user_id: String,
    /// The account's email.
    pub email: String,
    /// US dollars per calendar month.
    #[schema(schema_with = ceiling_view_schema)]
    pub monthly_ceiling: String,
    /// When the ceiling was first set (RFC 3339).
    pub created_at: String,
    /// When it last changed (RFC 3339).
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn global(json: &str) -> Result<Option<Decimal>, ApiError> {
        serde_json::from_str::<GlobalBudgetInput>(json)
            .unwrap()
            .validate()
    }

    fn account(json: &str) -> Result<Decimal, ApiError> {
        serde_json::from_str::<AccountBudgetInput>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn ceilings_are_exact_decimal_strings() {
        assert_eq!(
            global(r#"{"monthlyCeiling":"5000.10"}"#)
                .unwrap()
                .unwrap()
                .to_string(),
            "5000.10"
        );
        assert_eq!(global(r#"{"monthlyCeiling":null}"#).unwrap(), None);
        assert_eq!(account(r#"{"monthlyCeiling":"0"}"#).unwrap(), Decimal::ZERO);
        let max = format!("{}1000000000.000000", "0".repeat(AMOUNT_MAX_CHARS - 17));
        assert_eq!(parse_ceiling(&max).unwrap(), MAX_CEILING);
        for bad in [
            r#"{}"#,
            r#"{"monthlyCeiling":250}"#,
            r#"{"monthlyCeiling":"-1"}"#,
            r#"{"monthlyCeiling":"1.0000001"}"#,
            r#"{"monthlyCeiling":"1000000000.01"}"#,
            r#"{"monthlyCeiling":"1e3"}"#,
            r#"{"monthlyCeiling":true}"#,
        ] {
            let err = global(bad).unwrap_err();
            assert_eq!(err.field_errors()[0].field, "monthlyCeiling", "{bad}");
            assert_eq!(err.field_errors().len(), 1, "{bad}");
        }
        let err = account(r#"{"monthlyCeiling":null}"#).unwrap_err();
        assert_eq!(err.field_errors()[0].field, "monthlyCeiling");
    }
}
