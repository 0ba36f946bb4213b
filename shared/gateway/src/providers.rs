//! Provider API keys: the fixed set of LLM providers the gateways can call,
//! the write-only key of each, and what the API shows instead of the key.

use cp_http::validate::Validator;
use cp_http::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};

/// The providers a key can be configured for, in the order lists show them.
pub const PROVIDERS: &[&str] = &[
    "openai",
    "anthropic",
    "google",
    "azure-openai",
    "bedrock",
    "mistral",
    "groq",
    "cohere",
    "deepseek",
    "xai",
];

/// Longest accepted key, in characters.
pub const KEY_MAX: usize = 8192;

/// OpenAPI pattern of a key: at least one character, no control characters.
pub const KEY_PATTERN: &str = "^[^\\x00-\\x1F\\x7F-\\x9F]+$";

/// The `{provider}` path parameter, or a 400 naming it.
pub fn parse_provider(value: &str) -> Result<&'static str, ApiError> {
    PROVIDERS
        .iter()
        .find(|p| **p == value)
        .copied()
        .ok_or_else(|| {
            ApiError::invalid(
                "provider",
                format!("must be one of: {}", PROVIDERS.join(", ")),
            )
        })
}

/// The schema of a provider name.
pub fn provider_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(PROVIDERS.iter().copied()))
        .description(Some("An LLM provider."))
        .build()
}

/// `{provider}`, for the OpenAPI document.
pub struct ProviderPath;

impl IntoParams for ProviderPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![cp_http::params::path_param(
            "provider",
            "The provider (a fixed set; anything else is a 400).",
            provider_schema(),
        )]
    }
}

/// The key's hint: its last four characters when it has at least 12 (a
/// shorter key would give too much of itself away), unless one of them is
/// a control character.
pub fn key_hint(key: &str) -> Option<String> {
    let n = key.chars().count();
    let hint: String = key.chars().skip(n.saturating_sub(4)).collect();
    (n >= 12 && !hint.chars().any(char::is_control)).then_some(hint)
}

/// What binds a sealed key to its provider: a ciphertext copied to another
/// provider's row does not open.
pub fn key_aad(provider: &str) -> Vec<u8> {
    format!("cp/provider-key/v1/{provider}").into_bytes()
}

/// A provider and whether its key is configured (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderKey {
    /// The provider.
    #[schema(schema_with = provider_schema)]
    pub provider: String,
    /// Whether a key is stored (encrypted).
    pub configured: bool,
    /// The last four characters of a key of at least 12 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_four: Option<String>,
    /// When the key was last set (RFC 3339); absent when not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

fn key_schema() -> Object {
    let mut s = cp_http::validate::pattern_string(
        false,
        KEY_PATTERN,
        KEY_MAX,
        "The provider's API key (1-8192 characters, no control characters). Write-only: \
         encrypted at rest and never returned.",
    );
    s.min_length = Some(1);
    s
}

/// Body of `PUT /providers/keys/{provider}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProviderKeyInput)]
pub struct ProviderKeyInput {
    /// The key. Taken as any JSON value so a wrongly typed key is never
    /// echoed in a deserialisation error.
    #[schema(schema_with = key_schema, required = true)]
    #[serde(default)]
    key: Option<serde_json::Value>,
}

impl std::fmt::Debug for ProviderKeyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKeyInput")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A validated key, still in plaintext (sealed by the service; no Debug
/// that could print it).
pub struct ValidKey(pub String);

impl std::fmt::Debug for ValidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValidKey(<redacted>)")
    }
}

impl ProviderKeyInput {
    /// Validates the key (errors name `key`, never show it).
    pub fn validate(self) -> Result<ValidKey, ApiError> {
        let mut v = Validator::new();
        let key = match self.key {
            None | Some(serde_json::Value::Null) => {
                v.error("key", "is required");
                String::new()
            }
            Some(serde_json::Value::String(s)) => {
                if s.is_empty() {
                    v.error("key", "must not be empty");
                } else if s.chars().any(char::is_control) {
                    v.error("key", "must not contain control characters");
                } else if s.chars().count() > KEY_MAX {
                    v.error("key", format!("must be at most {KEY_MAX} characters"));
                }
                s
            }
            Some(_) => {
                v.error("key", "must be a string");
                String::new()
            }
        };
        v.finish()?;
        Ok(ValidKey(key))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn input(json: &str) -> Result<ValidKey, ApiError> {
        serde_json::from_str::<ProviderKeyInput>(json)
            .unwrap()
            .validate()
    }

    #[test]
    fn providers_are_a_fixed_set() {
        assert_eq!(parse_provider("openai").unwrap(), "openai");
        assert_eq!(parse_provider("azure-openai").unwrap(), "azure-openai");
        for bad in ["", "OpenAI", "openai ", "foo"] {
            let err = parse_provider(bad).unwrap_err();
            assert_eq!(err.field_errors()[0].field, "provider");
        }
    }

    #[test]
    fn keys_are_validated_without_being_echoed() {
        assert_eq!(input(r#"{"key":"sk-abc"}"#).unwrap().0, "sk-abc");
        for (json, why) in [
            (r#"{}"#, "required"),
            (r#"{"key":null}"#, "required"),
            (r#"{"key":""}"#, "empty"),
            (r#"{"key":"a\u0000b"}"#, "control"),
            (r#"{"key":987654321}"#, "string"),
        ] {
            let err = input(json).unwrap_err();
            let f = &err.field_errors()[0];
            assert_eq!(f.field, "key");
            assert!(f.message.contains(why), "{json}: {}", f.message);
            assert!(!format!("{err:?}").contains("987654321"));
        }
        let long = format!(r#"{{"key":"{}"}}"#, "k".repeat(KEY_MAX + 1));
        assert!(input(&long).is_err());
        let v = input(r#"{"key":"sk-very-secret-1234"}"#).unwrap();
        assert!(!format!("{v:?}").contains("secret"));
    }

    #[test]
    fn hints_only_for_long_keys_and_bound_ciphertexts() {
        assert_eq!(key_hint("sk-abcdefghij").as_deref(), Some("ghij"));
        assert_eq!(key_hint("sk-abcdefgh"), None);
        let key = cp_crypto::MasterKey::from_bytes(&[7; 32]).unwrap();
        let sealed = key.seal(b"sk-x", &key_aad("openai")).unwrap();
        assert!(key.open(&sealed, &key_aad("openai")).is_ok());
        assert!(key.open(&sealed, &key_aad("anthropic")).is_err());
    }
}
