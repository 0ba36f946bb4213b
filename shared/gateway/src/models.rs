//! The model registry: what gateways may route to, at which exact prices,
//! with which response-cache settings. Request bodies with their validation
//! (every problem at once, each naming its field) and the views returned.

use cp_http::validate::{integer_schema, pattern_string, Validator};
use cp_http::ApiError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

use crate::money::{parse_price, ModelPrice, MAX_PRICE, PRICE_SCALE};
use crate::providers::{provider_schema, PROVIDERS};

/// OpenAPI pattern of a model name: 1-128 of `[A-Za-z0-9._:/-]`, starting
/// with a letter or digit (`gpt-4o`, `claude-3.5-sonnet`, `llama3:70b`).
pub const MODEL_NAME_PATTERN: &str = "^[A-Za-z0-9][-A-Za-z0-9._:/]{0,127}$";
/// Longest model name.
pub const MODEL_NAME_MAX: usize = 128;
/// OpenAPI pattern of an upstream model id: no spaces or control characters.
pub const UPSTREAM_PATTERN: &str = "^[^\\x00-\\x20\\x7F-\\x9F]+$";
/// Longest upstream model id.
pub const UPSTREAM_MAX: usize = 256;
/// Largest context window, in tokens.
pub const MAX_CONTEXT_WINDOW: i64 = 100_000_000;
/// OpenAPI pattern of a price per million tokens (what
/// [`crate::money::parse_price`] accepts: at most 6 fractional digits, at
/// most 1000000).
pub const PRICE_PATTERN: &str = "^0*([0-9]{1,6}(\\.[0-9]{1,6})?|1000000(\\.0{1,6})?)$";
/// Longest decimal string accepted (leading zeros included).
pub const AMOUNT_MAX_CHARS: usize = 32;
/// Longest response-cache TTL, in seconds (30 days).
pub const MAX_CACHE_TTL: i64 = 2_592_000;
/// Most response-cache entries.
pub const MAX_CACHE_ENTRIES: i64 = 10_000_000;
/// Cache settings of a new model.
pub const DEFAULT_CACHE: CacheSettings = CacheSettings {
    enabled: false,
    ttl_seconds: 300,
    max_entries: 1000,
};

/// A decimal amount given as a JSON string, parsed by `parse` (which says
/// what is wrong); `None` when absent or `null` (the caller decides whether
/// that is allowed). A JSON number is refused: it would not be exact.
pub(crate) fn decimal_field(
    v: &mut Validator,
    field: &str,
    value: Option<&serde_json::Value>,
    parse: impl Fn(&str) -> Result<Decimal, String>,
) -> Option<Decimal> {
    match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.chars().count() > AMOUNT_MAX_CHARS => {
            v.error(
                field,
                format!("must be at most {AMOUNT_MAX_CHARS} characters"),
            );
            None
        }
        Some(serde_json::Value::String(s)) => match parse(s) {
            Ok(d) => Some(d),
            Err(msg) => {
                v.error(field, msg);
                None
            }
        },
        Some(serde_json::Value::Number(_)) => {
            v.error(
                field,
                "must be a decimal string such as \"3.00\", not a JSON number (numbers are not exact)",
            );
            None
        }
        Some(_) => {
            v.error(field, "must be a decimal string such as \"3.00\"");
            None
        }
    }
}

fn in_range(v: &mut Validator, field: &str, value: Option<i64>, max: i64) -> i64 {
    match value {
        None => v.error(field, "is required"),
        Some(n) => v.check(
            (1..=max).contains(&n),
            field,
            format!("must be between 1 and {max}"),
        ),
    }
    value.unwrap_or_default()
}

fn name_schema() -> Object {
    let mut s = pattern_string(
        false,
        MODEL_NAME_PATTERN,
        MODEL_NAME_MAX,
        "Unique name clients ask the gateway for: 1-128 of A-Z, a-z, 0-9, '-', '.', '_', ':', '/', \
         starting with a letter or digit.",
    );
    s.min_length = Some(1);
    s
}

fn upstream_schema() -> Object {
    let mut s = pattern_string(
        false,
        UPSTREAM_PATTERN,
        UPSTREAM_MAX,
        "The provider's model id (1-256 characters, no spaces or control characters).",
    );
    s.min_length = Some(1);
    s
}

fn context_schema() -> Object {
    integer_schema(
        false,
        1,
        MAX_CONTEXT_WINDOW,
        "Context window in tokens (1-100000000).",
    )
}

fn price_schema(nullable: bool, description: &str) -> Object {
    let mut s = pattern_string(nullable, PRICE_PATTERN, AMOUNT_MAX_CHARS, description);
    s.min_length = Some(1);
    s
}

fn input_price_schema() -> Object {
    price_schema(
        false,
        "US dollars per million input tokens, as a decimal string (\"2.50\"; at most 6 fractional \
         digits, at most 1000000). Exact: never a JSON number.",
    )
}

fn output_price_schema() -> Object {
    price_schema(
        false,
        "US dollars per million output tokens, as a decimal string (\"10.00\").",
    )
}

fn cached_price_schema() -> Object {
    price_schema(
        true,
        "US dollars per million cached input tokens, as a decimal string; null or absent: \
         priced as input.",
    )
}

fn price_view_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some("US dollars per million tokens, exactly as stored."))
        .build()
}

fn cached_price_view_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "US dollars per million cached input tokens; null: priced as input.",
        ))
        .build()
}

/// Body of `POST /models` and `PUT /models/{id}` (a full replacement of
/// these fields; the cache settings have their own route).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelInput {
    /// Unique name.
    #[schema(schema_with = name_schema, required = true)]
    name: Option<String>,
    /// The provider serving it.
    #[schema(schema_with = provider_schema, required = true)]
    provider: Option<String>,
    /// The provider's model id.
    #[schema(schema_with = upstream_schema, required = true)]
    upstream_model: Option<String>,
    /// Context window in tokens.
    #[schema(schema_with = context_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    context_window: Option<i64>,
    /// Input price per million tokens.
    #[schema(schema_with = input_price_schema, required = true)]
    #[serde(default)]
    input_price_per_million: Option<serde_json::Value>,
    /// Output price per million tokens.
    #[schema(schema_with = output_price_schema, required = true)]
    #[serde(default)]
    output_price_per_million: Option<serde_json::Value>,
    /// Cached input price per million tokens.
    #[schema(schema_with = cached_price_schema)]
    #[serde(default)]
    cached_input_price_per_million: Option<serde_json::Value>,
}

/// A validated model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidModel {
    /// Name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// Upstream model id.
    pub upstream_model: String,
    /// Context window.
    pub context_window: i64,
    /// Prices.
    pub price: ModelPrice,
}

pub(crate) fn is_model_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=MODEL_NAME_MAX).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b':' | b'/'))
}

fn is_upstream(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= UPSTREAM_MAX
        && !s.chars().any(|c| c.is_control() || c == ' ')
}

impl ModelInput {
    /// Validates every field.
    pub fn validate(self) -> Result<ValidModel, ApiError> {
        let mut v = Validator::new();
        match self.name.as_deref() {
            None => v.error("name", "is required"),
            Some(n) => v.check(
                is_model_name(n),
                "name",
                "must be 1-128 of A-Z, a-z, 0-9, '-', '.', '_', ':', '/', starting with a letter or digit",
            ),
        }
        match self.provider.as_deref() {
            None => v.error("provider", "is required"),
            Some(p) => v.check(
                PROVIDERS.contains(&p),
                "provider",
                format!("must be one of: {}", PROVIDERS.join(", ")),
            ),
        }
        match self.upstream_model.as_deref() {
            None => v.error("upstreamModel", "is required"),
            Some(u) => v.check(
                is_upstream(u),
                "upstreamModel",
                "must be 1-256 characters without spaces or control characters",
            ),
        }
        let context_window = in_range(
            &mut v,
            "contextWindow",
            self.context_window,
            MAX_CONTEXT_WINDOW,
        );
        fn required_price(
            v: &mut Validator,
            field: &str,
            value: Option<&serde_json::Value>,
        ) -> Option<Decimal> {
            if matches!(value, None | Some(serde_json::Value::Null)) {
                v.error(field, "is required");
            }
            decimal_field(v, field, value, parse_price)
        }
        let input = required_price(
            &mut v,
            "inputPricePerMillion",
            self.input_price_per_million.as_ref(),
        );
        let output = required_price(
            &mut v,
            "outputPricePerMillion",
            self.output_price_per_million.as_ref(),
        );
        let cached_input = decimal_field(
            &mut v,
            "cachedInputPricePerMillion",
            self.cached_input_price_per_million.as_ref(),
            parse_price,
        );
        v.finish()?;
        Ok(ValidModel {
            name: self.name.unwrap_or_default(),
            provider: self.provider.unwrap_or_default(),
            upstream_model: self.upstream_model.unwrap_or_default(),
            context_window,
            price: ModelPrice {
                input: input.unwrap_or_default(),
                output: output.unwrap_or_default(),
                cached_input,
            },
        })
    }
}

fn ttl_schema() -> Object {
    integer_schema(
        false,
        1,
        MAX_CACHE_TTL,
        "How long a cached response is served, in seconds (1-2592000).",
    )
}

fn entries_schema() -> Object {
    integer_schema(
        false,
        1,
        MAX_CACHE_ENTRIES,
        "Most responses cached for the model (1-10000000).",
    )
}

/// Body of `PUT /models/{id}/cache` (every field required).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheInput {
    /// Whether gateways cache this model's responses.
    #[schema(required = true, value_type = bool)]
    enabled: Option<bool>,
    /// Time to live of an entry.
    #[schema(schema_with = ttl_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    ttl_seconds: Option<i64>,
    /// Most entries.
    #[schema(schema_with = entries_schema, required = true)]
    #[serde(default, deserialize_with = "cp_http::json::opt_whole_number")]
    max_entries: Option<i64>,
}

impl CacheInput {
    /// Validates every field.
    pub fn validate(self) -> Result<CacheSettings, ApiError> {
        let mut v = Validator::new();
        if self.enabled.is_none() {
            v.error("enabled", "is required");
        }
        let ttl_seconds = in_range(&mut v, "ttlSeconds", self.ttl_seconds, MAX_CACHE_TTL);
        let max_entries = in_range(&mut v, "maxEntries", self.max_entries, MAX_CACHE_ENTRIES);
        v.finish()?;
        Ok(CacheSettings {
            enabled: self.enabled.unwrap_or_default(),
            ttl_seconds,
            max_entries,
        })
    }
}

/// A model's response-cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ModelCache)]
pub struct CacheSettings {
    /// Whether gateways cache this model's responses.
    pub enabled: bool,
    /// Time to live of an entry, in seconds.
    pub ttl_seconds: i64,
    /// Most entries.
    pub max_entries: i64,
}

/// A registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    /// Id (UUIDv7).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The provider serving it.
    #[schema(schema_with = provider_schema)]
    pub provider: String,
    /// The provider's model id.
    pub upstream_model: String,
    /// Context window in tokens.
    pub context_window: i64,
    /// Input price per million tokens (decimal string, exactly as written).
    #[schema(schema_with = price_view_schema)]
    pub input_price_per_million: String,
    /// Output price per million tokens.
    #[schema(schema_with = price_view_schema)]
    pub output_price_per_million: String,
    /// Cached input price per million tokens; null: priced as input.
    #[schema(schema_with = cached_price_view_schema)]
    pub cached_input_price_per_million: Option<String>,
    /// Response-cache settings.
    pub cache: CacheSettings,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl Model {
    /// The model's prices, for cost computations.
    pub fn price(&self) -> Result<ModelPrice, String> {
        let parse = |s: &str| s.parse::<Decimal>().map_err(|e| format!("{s:?}: {e}"));
        Ok(ModelPrice {
            input: parse(&self.input_price_per_million)?,
            output: parse(&self.output_price_per_million)?,
            cached_input: self
                .cached_input_price_per_million
                .as_deref()
                .map(parse)
                .transpose()?,
        })
    }
}

// The pattern must stay in step with parse_price's limits.
const _: () = assert!(PRICE_SCALE == 6);
const _: () = assert!(MAX_PRICE.mantissa() == 1_000_000 && MAX_PRICE.scale() == 0);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fields(err: ApiError) -> Vec<String> {
        err.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    fn model(json: &str) -> Result<ValidModel, ApiError> {
        serde_json::from_str::<ModelInput>(json).unwrap().validate()
    }

    const OK: &str = r#"{"name":"gpt-4o","provider":"openai","upstreamModel":"gpt-4o-2024-08-06",
        "contextWindow":128000,"inputPricePerMillion":"2.50","outputPricePerMillion":"10.00"}"#;

    #[test]
    fn a_valid_model_keeps_its_exact_prices() {
        let m = model(OK).unwrap();
        assert_eq!(m.price.input.to_string(), "2.50");
        assert_eq!(m.price.output.to_string(), "10.00");
        assert_eq!(m.price.cached_input, None);
        let m = model(
            r#"{"name":"a","provider":"groq","upstreamModel":"x","contextWindow":8192.0,
            "inputPricePerMillion":"0.1","outputPricePerMillion":"0.2","cachedInputPricePerMillion":"0.05"}"#,
        )
        .unwrap();
        assert_eq!(m.context_window, 8192);
        assert_eq!(m.price.input.to_string(), "0.1");
        assert_eq!(m.price.cached_input.unwrap().to_string(), "0.05");
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            fields(model("{}").unwrap_err()),
            [
                "name",
                "provider",
                "upstreamModel",
                "contextWindow",
                "inputPricePerMillion",
                "outputPricePerMillion"
            ]
        );
        let err = model(
            r#"{"name":"-bad","provider":"acme","upstreamModel":"a b","contextWindow":0,
            "inputPricePerMillion":"-1","outputPricePerMillion":0.5,"cachedInputPricePerMillion":"0.0000001"}"#,
        )
        .unwrap_err();
        assert_eq!(
            fields(err.clone()),
            [
                "name",
                "provider",
                "upstreamModel",
                "contextWindow",
                "inputPricePerMillion",
                "outputPricePerMillion",
                "cachedInputPricePerMillion"
            ]
        );
        let messages: Vec<String> = err
            .field_errors()
            .iter()
            .map(|f| f.message.clone())
            .collect();
        assert!(messages[5].contains("not a JSON number"), "{messages:?}");
        assert!(messages[6].contains("fractional"), "{messages:?}");
        let long = format!(
            r#"{{"name":"a","provider":"groq","upstreamModel":"x","contextWindow":1,
            "inputPricePerMillion":"{}1","outputPricePerMillion":"1"}}"#,
            "0".repeat(AMOUNT_MAX_CHARS)
        );
        assert_eq!(fields(model(&long).unwrap_err()), ["inputPricePerMillion"]);
        // Unknown fields and wrongly typed integers are caught while parsing.
        let body = OK.replace("128000", "1.5");
        assert!(serde_json::from_str::<ModelInput>(&body).is_err());
    }

    #[test]
    fn the_price_pattern_matches_what_parse_price_accepts() {
        // Leading zeros up to the length limit parse.
        let padded = format!("{}1.123456", "0".repeat(AMOUNT_MAX_CHARS - 8));
        assert_eq!(padded.len(), AMOUNT_MAX_CHARS);
        assert_eq!(parse_price(&padded).unwrap().to_string(), "1.123456");
        let max = format!("{}1000000.000000", "0".repeat(AMOUNT_MAX_CHARS - 14));
        let zeros = "0".repeat(AMOUNT_MAX_CHARS);
        for ok in [
            "0",
            "1000000",
            "1000000.000000",
            "999999.999999",
            "00.5",
            &max,
            &zeros,
        ] {
            assert!(parse_price(ok).is_ok(), "{ok}");
        }
        for bad in ["1000000.000001", "1000001", "1.1234567"] {
            assert!(parse_price(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cache_settings_are_bounded() {
        let c = |json: &str| serde_json::from_str::<CacheInput>(json).unwrap().validate();
        assert_eq!(
            c(r#"{"enabled":true,"ttlSeconds":60,"maxEntries":500}"#).unwrap(),
            CacheSettings {
                enabled: true,
                ttl_seconds: 60,
                max_entries: 500
            }
        );
        assert_eq!(
            fields(c(r#"{"ttlSeconds":0,"maxEntries":10000001}"#).unwrap_err()),
            ["enabled", "ttlSeconds", "maxEntries"]
        );
        assert_eq!(
            fields(c(r#"{"enabled":false}"#).unwrap_err()),
            ["ttlSeconds", "maxEntries"]
        );
    }

    #[test]
    fn names_and_upstream_ids() {
        for ok in ["gpt-4o", "claude-3.5-sonnet", "llama3:70b", "meta/llama_3"] {
            assert!(is_model_name(ok), "{ok}");
        }
        for bad in ["", "-x", "a b", "ä", &"a".repeat(129)] {
            assert!(!is_model_name(bad), "{bad}");
        }
        assert!(is_upstream("anthropic.claude-3-5-sonnet-20240620-v1:0"));
        assert!(!is_upstream("a b") && !is_upstream("") && !is_upstream("a\u{85}"));
    }
}
