//! The chains registry, the pure part: the EVM chains agents may transact
//! on, what registering one takes and how it is shown. The routes are
//! [`crate::chain_ops`], the SQL [`crate::chain_store`].
//!
//! A chain's RPC URL often carries a provider's API key in its path, so it
//! is write-only: stored sealed under the master key, shown as its origin
//! (`rpcOrigin`, scheme, host and port) only. It must be reachable from the
//! agents component: its origin must match the component's outbound
//! allow-list entry, the `chain_rpc_allowed_host` variable
//! ([`cp_outbound::AllowedHosts`], the matcher the host enforces), or the
//! chain could be registered but never reached.

use cp_http::ids::parse_id;
use cp_http::validate::{integer_schema, pattern_string, Validator};
use cp_http::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;

/// The largest chain id: JSON numbers are exact up to 2^53 - 1.
pub const MAX_CHAIN_ID: i64 = (1 << 53) - 1;
/// A chain or currency name: 1-64 letters, digits, spaces, `.`, `_`, `-`,
/// not starting or ending with a space.
pub const CHAIN_NAME_PATTERN: &str = "^[A-Za-z0-9._-]([A-Za-z0-9._ -]{0,62}[A-Za-z0-9._-])?$";
/// A currency symbol: 1-16 letters and digits.
pub const SYMBOL_PATTERN: &str = "^[A-Za-z0-9]{1,16}$";
/// An http(s) URL without spaces, control characters or user information,
/// at most [`MAX_URL`] characters.
pub const URL_PATTERN: &str =
    r"^https?://[^\s\x00-\x1F\x7F-\x9F/?#@]+([/?#][^\s\x00-\x1F\x7F-\x9F]*)?$";
/// The longest URL.
pub const MAX_URL: usize = 2048;
/// The variable naming the RPC origin the agents component may reach (the
/// same value is in its `allowed_outbound_hosts`).
pub const RPC_ALLOWED_HOST_VARIABLE: &str = "chain_rpc_allowed_host";

/// A chain's native currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NativeCurrency {
    /// Its name (`Ether`).
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// Its symbol (`ETH`).
    #[schema(schema_with = symbol_schema)]
    pub symbol: String,
    /// Decimals of its smallest unit (18 for ether: wei).
    #[serde(deserialize_with = "cp_http::json::whole_number")]
    #[schema(schema_with = decimals_schema)]
    pub decimals: i64,
}

/// A registered chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Chain {
    /// Registry id.
    pub id: String,
    /// Name (`Ethereum Sepolia`), unique.
    pub name: String,
    /// The EVM chain id (EIP-155), unique.
    pub chain_id: i64,
    /// Scheme, host and port of its RPC endpoint (the URL itself is
    /// write-only: it may carry a provider key).
    pub rpc_origin: String,
    /// Its native currency.
    pub native_currency: NativeCurrency,
    /// Its block explorer.
    pub block_explorer_url: Option<String>,
    /// Whether agents may transact on it (disabled chains are hidden from
    /// the public list).
    pub enabled: bool,
    /// Whether it takes EIP-1559 (type 2) transactions; otherwise legacy
    /// ones are signed.
    pub supports_eip1559: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Body of `POST /admin/chains` and `PUT /admin/chains/{chainId}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainInput {
    /// Name, unique among chains.
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// The EVM chain id, unique among chains.
    #[serde(deserialize_with = "cp_http::json::whole_number")]
    #[schema(schema_with = chain_id_schema)]
    pub chain_id: i64,
    /// Its JSON-RPC endpoint (http or https); its origin must match the
    /// `chain_rpc_allowed_host` variable. Write-only.
    #[schema(schema_with = url_schema)]
    pub rpc_url: String,
    /// Its native currency.
    pub native_currency: NativeCurrency,
    /// Its block explorer (http or https).
    #[serde(default)]
    #[schema(schema_with = optional_url_schema)]
    pub block_explorer_url: Option<String>,
    /// Whether agents may transact on it (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Whether it takes EIP-1559 transactions (default true).
    #[serde(default)]
    pub supports_eip1559: Option<bool>,
}

/// A validated [`ChainInput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    /// Name.
    pub name: String,
    /// EVM chain id.
    pub chain_id: i64,
    /// The RPC URL.
    pub rpc_url: String,
    /// Its origin, as shown.
    pub rpc_origin: String,
    /// Native currency.
    pub native_currency: NativeCurrency,
    /// Block explorer.
    pub block_explorer_url: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// EIP-1559.
    pub supports_eip1559: bool,
}

impl ChainInput {
    /// Checks every field, naming each bad one; `allowed` is the
    /// component's allow-list entry for RPC endpoints (none configured:
    /// every URL is refused, saying so).
    pub fn validate(self, allowed: Option<&str>) -> Result<ChainSpec, ApiError> {
        let mut v = Validator::new();
        check_name(&mut v, "name", &self.name);
        v.check(
            (1..=MAX_CHAIN_ID).contains(&self.chain_id),
            "chainId",
            format!("must be between 1 and {MAX_CHAIN_ID}"),
        );
        let origin = origin(&self.rpc_url);
        match (&origin, allowed) {
            (None, _) => v.error("rpcUrl", "must be an http or https URL"),
            (Some(_), None) => v.error(
                "rpcUrl",
                format!(
                    "no RPC endpoint is reachable: set the {RPC_ALLOWED_HOST_VARIABLE} variable \
                     (it is also the agents component's outbound allow-list entry)"
                ),
            ),
            (Some(_), Some(pattern)) => {
                let reachable = cp_outbound::AllowedHosts::parse(&[pattern])
                    .is_ok_and(|hosts| hosts.allows_url(&self.rpc_url));
                if !reachable {
                    v.error(
                        "rpcUrl",
                        format!(
                            "the agents component may not reach it: its origin must match \
                             {RPC_ALLOWED_HOST_VARIABLE} ({pattern})"
                        ),
                    );
                }
            }
        }
        check_name(&mut v, "nativeCurrency.name", &self.native_currency.name);
        v.check(
            !self.native_currency.symbol.is_empty()
                && self.native_currency.symbol.len() <= 16
                && self
                    .native_currency
                    .symbol
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric()),
            "nativeCurrency.symbol",
            "must be 1-16 letters and digits",
        );
        v.check(
            (0..=36).contains(&self.native_currency.decimals),
            "nativeCurrency.decimals",
            "must be between 0 and 36",
        );
        if let Some(url) = &self.block_explorer_url {
            v.check(
                crate::chains::origin(url).is_some(),
                "blockExplorerUrl",
                "must be an http or https URL",
            );
        }
        v.finish()?;
        Ok(ChainSpec {
            name: self.name,
            chain_id: self.chain_id,
            rpc_origin: origin.unwrap_or_default(),
            rpc_url: self.rpc_url,
            native_currency: self.native_currency,
            block_explorer_url: self.block_explorer_url,
            enabled: self.enabled.unwrap_or(true),
            supports_eip1559: self.supports_eip1559.unwrap_or(true),
        })
    }
}

fn check_name(v: &mut Validator, field: &str, name: &str) {
    v.check(
        !name.is_empty()
            && name.len() <= 64
            && !name.starts_with(' ')
            && !name.ends_with(' ')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b' ')),
        field,
        "must be 1-64 letters, digits, spaces, '.', '_' and '-', not starting or ending with a space",
    );
}

/// The origin (`scheme://host[:port]`) of an http(s) URL of at most
/// [`MAX_URL`] characters without spaces, control characters or user
/// information; `None` for anything else.
pub fn origin(url: &str) -> Option<String> {
    if url.chars().count() > MAX_URL || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// How a chain is named in a path: its registry id, or its EVM chain id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainRef {
    /// The registry id (a UUID).
    Id(String),
    /// The EVM chain id (digits).
    ChainId(i64),
}

impl ChainRef {
    /// Reads a `{identifier}` path segment, or a 400 naming `field`.
    pub fn parse(field: &str, text: &str) -> Result<Self, ApiError> {
        if !text.is_empty() && text.len() <= 16 && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse::<i64>()
                .ok()
                .filter(|id| (1..=MAX_CHAIN_ID).contains(id))
                .map(Self::ChainId)
                .ok_or_else(|| {
                    ApiError::invalid(field, format!("a chain id is between 1 and {MAX_CHAIN_ID}"))
                });
        }
        parse_id(text)
            .map(|id| Self::Id(id.to_string()))
            .map_err(|_| {
                ApiError::invalid(field, "must be a chain's id (a UUID) or its EVM chain id")
            })
    }
}

fn name_schema() -> Object {
    let mut s = pattern_string(
        false,
        CHAIN_NAME_PATTERN,
        64,
        "1-64 letters, digits, spaces, '.', '_', '-'.",
    );
    s.min_length = Some(1);
    s
}

fn symbol_schema() -> Object {
    let mut s = pattern_string(false, SYMBOL_PATTERN, 16, "1-16 letters and digits.");
    s.min_length = Some(1);
    s
}

fn decimals_schema() -> Object {
    integer_schema(false, 0, 36, "Decimals of the smallest unit.")
}

fn chain_id_schema() -> Object {
    integer_schema(false, 1, MAX_CHAIN_ID, "The EVM chain id (EIP-155).")
}

fn url_schema() -> Object {
    pattern_string(false, URL_PATTERN, MAX_URL, "An http or https URL.")
}

fn optional_url_schema() -> Object {
    pattern_string(true, URL_PATTERN, MAX_URL, "An http or https URL.")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn input(body: serde_json::Value) -> ChainInput {
        serde_json::from_value(body).unwrap()
    }

    fn sepolia() -> serde_json::Value {
        json!({"name": "Ethereum Sepolia", "chainId": 11155111,
               "rpcUrl": "https://sepolia.infura.io/v3/0123456789abcdef",
               "nativeCurrency": {"name": "Sepolia Ether", "symbol": "ETH", "decimals": 18},
               "blockExplorerUrl": "https://sepolia.etherscan.io"})
    }

    #[test]
    fn a_chain_shows_its_rpc_origin_only() {
        let spec = input(sepolia())
            .validate(Some("https://*.infura.io"))
            .unwrap();
        assert_eq!(spec.rpc_origin, "https://sepolia.infura.io");
        assert!(spec.enabled && spec.supports_eip1559);
    }

    #[test]
    fn the_rpc_url_must_be_reachable_from_the_component() {
        let fields = |allowed: Option<&str>, url: &str| -> Vec<String> {
            let mut body = sepolia();
            body["rpcUrl"] = json!(url);
            input(body)
                .validate(allowed)
                .err()
                .map(|e| e.field_errors().iter().map(|f| f.field.clone()).collect())
                .unwrap_or_default()
        };
        assert!(fields(Some("http://127.0.0.1:*"), "http://127.0.0.1:8545").is_empty());
        assert_eq!(
            fields(Some("http://127.0.0.1:*"), "http://10.0.0.1:8545"),
            ["rpcUrl"]
        );
        assert_eq!(fields(None, "http://127.0.0.1:8545"), ["rpcUrl"]);
        assert_eq!(fields(Some("*://*:*"), "ftp://x"), ["rpcUrl"]);
        assert_eq!(fields(Some("*://*:*"), "https://user:pw@host"), ["rpcUrl"]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let err = input(json!({"name": " x", "chainId": 0, "rpcUrl": "nope",
                               "nativeCurrency": {"name": "", "symbol": "E-TH", "decimals": 37},
                               "blockExplorerUrl": "javascript:alert(1)"}))
        .validate(Some("*://*:*"))
        .unwrap_err();
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "name",
                "chainId",
                "rpcUrl",
                "nativeCurrency.name",
                "nativeCurrency.symbol",
                "nativeCurrency.decimals",
                "blockExplorerUrl"
            ]
        );
    }

    #[test]
    fn a_chain_is_named_by_id_or_by_evm_chain_id() {
        assert_eq!(
            ChainRef::parse("identifier", "1").unwrap(),
            ChainRef::ChainId(1)
        );
        assert_eq!(
            ChainRef::parse("identifier", "11155111").unwrap(),
            ChainRef::ChainId(11_155_111)
        );
        let id = "0190a000-0000-7000-8000-000000000001";
        assert_eq!(
            ChainRef::parse("identifier", id).unwrap(),
            ChainRef::Id(id.into())
        );
        for bad in ["0", "9007199254740992", "sepolia", "", "-1"] {
            assert!(ChainRef::parse("identifier", bad).is_err(), "{bad}");
        }
    }
}
