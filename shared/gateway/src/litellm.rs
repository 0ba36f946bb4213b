//! LiteLLM virtual keys: a tenant's key metadata (never the key) and its
//! revocation, through LiteLLM's admin API over outbound HTTP.
//!
//! A tenant's key is the LiteLLM key whose `key_alias` is
//! `tenant/<tenant name>` ([`key_alias`]): aliases are unique in LiteLLM,
//! the `tenant/` namespace keeps them apart from keys made by hand, and
//! the form passes LiteLLM's optional alias validation (`a-zA-Z0-9_-/.@`).
//! LiteLLM only ever shows the raw key to whoever generated it; list and
//! info answers carry its SHA-256 (the token) and a masked name
//! (`sk-...abcd`), so the raw key is never even known here.
//!
//! Revoking deletes the key (`POST /key/delete`) rather than blocking it
//! (`/key/block`): a revoked credential must never work again, and a block
//! is undone by anyone holding the master key (`/key/unblock`); deleting
//! also frees the alias for a replacement key. LiteLLM keeps the spend
//! logs of deleted keys.
//!
//! Configuration: `litellm_url` (LiteLLM's base URL), `litellm_master_key`
//! (a secret), `litellm_timeout_ms` (one call's bound, default 10 s), and
//! `litellm_allowed_host`, the `scheme://host[:port]` the component's
//! `allowed_outbound_hosts` admits (a separate variable because an allow-list
//! entry may not be empty, while `litellm_url` is empty until configured).

mod client;

use cp_http::error::ErrorBody;
use cp_http::params::IdempotencyKeyHeader;
use cp_http::time::{parse_rfc3339, rfc3339};
use cp_http::validate::dns_label;
use cp_http::{ApiError, ApiRequest, ApiResponse, Envelope, PathParams};
use cp_macros::operation;
use cp_platform::{Failure, Platform, RequestContext};
use cp_store::Database;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::usage::TenantNamePath;

use client::{KeyInfo, LitellmClient, LitellmConfig, LitellmError};

const RESOURCE_KIND: &str = "litellm_key";

/// The prefix of tenants' key aliases.
pub const ALIAS_PREFIX: &str = "tenant/";

/// The LiteLLM key alias of a tenant's virtual key.
pub fn key_alias(tenant: &str) -> String {
    format!("{ALIAS_PREFIX}{tenant}")
}

/// The tenant row, any state: a decommissioned tenant's key can still be
/// read and revoked (the tombstone holds the name).
const TENANT_EXISTS: &str = "SELECT name FROM tenants WHERE name = $1";

/// The `{tenantName}` path parameter (a 400 naming it when it cannot be a
/// tenant name).
fn tenant_name(params: &PathParams) -> Result<&str, Failure> {
    Ok(params.valid("tenantName", dns_label)?)
}

async fn require_tenant<P: Platform>(
    ctx: &RequestContext<'_, P>,
    tenant: &str,
) -> Result<(), Failure> {
    match ctx.db().query_opt(TENANT_EXISTS, &[tenant.into()]).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("TENANT", tenant).into()),
    }
}

/// A client configured from the component's variables, or a 503 naming
/// the missing one.
fn litellm<'p, P: Platform>(
    ctx: &RequestContext<'p, P>,
) -> Result<LitellmClient<'p, P::Http>, Failure> {
    let config =
        LitellmConfig::from_variables(|name| ctx.platform.variable(name)).map_err(unconfigured)?;
    Ok(LitellmClient::new(config, ctx.platform.http()))
}

/// A deployment without LiteLLM's settings: 503 (a dependency is missing,
/// not the client's fault; retrying after configuring it works).
fn unconfigured(e: client::ConfigError) -> Failure {
    Failure::with_cause(
        ApiError::Unavailable(format!("LiteLLM virtual keys are unavailable: {e}")),
        e.to_string(),
    )
}

/// An admin call that failed: a 502 saying what failed; the transport's
/// detail is only logged.
fn upstream(e: &LitellmError) -> Failure {
    Failure::with_cause(ApiError::Upstream(e.to_string()), e.cause())
}

fn key_not_found(tenant: &str) -> Failure {
    ApiError::not_found("LITELLM_KEY", key_alias(tenant)).into()
}

/// LiteLLM's money (a float) as an exact decimal string, the way this API
/// writes amounts: the float's shortest round-trip digits, never an
/// exponent.
fn usd(n: &serde_json::Number) -> Option<String> {
    let text = n.to_string();
    let value = if text.contains(['e', 'E']) {
        Decimal::from_scientific(&text).ok()?
    } else {
        text.parse::<Decimal>().ok()?
    };
    Some(value.to_string())
}

/// LiteLLM's timestamps (pydantic's `...Z`, Python's `+00:00`, naive UTC)
/// in this API's RFC 3339 form.
fn timestamp(text: &str) -> Option<String> {
    parse_rfc3339(text)
        .or_else(|| parse_rfc3339(&format!("{text}Z")))
        .map(rfc3339)
}

/// A tenant's LiteLLM virtual key, as LiteLLM describes it: never the key,
/// nor its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LitellmKey {
    /// The tenant.
    pub tenant: String,
    /// The key's alias in LiteLLM: `tenant/<tenant>`.
    #[schema(example = "tenant/acme")]
    pub key_alias: String,
    /// LiteLLM's masked display name of the key (`sk-...` and its last four
    /// characters); null when LiteLLM stores none (`DISABLE_KEY_NAME`).
    #[schema(example = "sk-...x7Qa")]
    pub key_name: Option<String>,
    /// US dollars spent through the key, as a decimal string (LiteLLM
    /// tracks it as a float; this is that float's exact digits).
    #[schema(example = "12.5")]
    pub spend: String,
    /// US dollars the key may spend per budget period, as a decimal string;
    /// null: no limit.
    #[schema(example = "100.0")]
    pub max_budget: Option<String>,
    /// The budget period (`30d`, `1mo`); null: the budget never resets.
    #[schema(example = "30d")]
    pub budget_duration: Option<String>,
    /// When LiteLLM stops accepting the key (RFC 3339); null: never.
    pub expires: Option<String>,
    /// Whether LiteLLM refuses the key's requests.
    pub blocked: bool,
    /// Models the key may call; empty: every model the proxy serves.
    pub models: Vec<String>,
    /// When the key was created (RFC 3339); null for keys made by LiteLLM
    /// versions that did not record it.
    pub created_at: Option<String>,
}

impl LitellmKey {
    fn from_info(tenant: &str, info: KeyInfo) -> Result<Self, String> {
        let money = |field: &str, n: &serde_json::Number| {
            usd(n).ok_or_else(|| format!("`{field}` is not an amount"))
        };
        let time = |field: &str, t: &str| {
            timestamp(t).ok_or_else(|| format!("`{field}` is not a timestamp"))
        };
        Ok(Self {
            tenant: tenant.to_owned(),
            key_alias: info.key_alias.unwrap_or_else(|| key_alias(tenant)),
            key_name: info.key_name,
            spend: match &info.spend {
                Some(n) => money("spend", n)?,
                None => "0".to_owned(),
            },
            max_budget: info
                .max_budget
                .as_ref()
                .map(|n| money("max_budget", n))
                .transpose()?,
            budget_duration: info.budget_duration,
            expires: info
                .expires
                .as_deref()
                .map(|t| time("expires", t))
                .transpose()?,
            blocked: info.blocked.unwrap_or(false),
            models: info.models.unwrap_or_default(),
            created_at: info
                .created_at
                .as_deref()
                .map(|t| time("created_at", t))
                .transpose()?,
        })
    }
}

/// What `POST .../litellm-key/revoke` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LitellmKeyRevocation {
    /// The tenant.
    pub tenant: String,
    /// The alias the keys had: `tenant/<tenant>`.
    pub key_alias: String,
    /// When they were deleted from LiteLLM (RFC 3339).
    pub revoked_at: String,
    /// The keys deleted, as they were just before: one, unless an older
    /// LiteLLM let several keys share the alias (all are revoked).
    pub keys: Vec<LitellmKey>,
}

/// The tenant's keys in LiteLLM: each one's token and view.
async fn find_keys<'c, T: cp_http::outbound::HttpTransport>(
    client: &LitellmClient<'c, T>,
    tenant: &str,
) -> Result<Vec<(String, LitellmKey)>, Failure> {
    let alias = key_alias(tenant);
    let found = client
        .tokens_with_alias(&alias)
        .await
        .map_err(|e| upstream(&e))?;
    if found.total > found.tokens.len() as u64 {
        return Err(ApiError::Conflict(format!(
            "LiteLLM has {} keys with the alias '{alias}', more than one page; delete them in LiteLLM",
            found.total
        ))
        .into());
    }
    let mut keys = Vec::with_capacity(found.tokens.len());
    for token in found.tokens {
        // A key deleted between the two calls is simply not there.
        let Some(info) = client.info(&token).await.map_err(|e| upstream(&e))? else {
            continue;
        };
        let key = LitellmKey::from_info(tenant, info).map_err(|detail| {
            Failure::with_cause(
                ApiError::Upstream(
                    "unexpected answer from LiteLLM to reading a key (GET /key/info)".into(),
                ),
                detail,
            )
        })?;
        keys.push((token, key));
    }
    Ok(keys)
}

#[operation(get, "/api/v1/ai-budget/{tenantName}/litellm-key", id = "getLitellmKey", callers = operator, kind = "litellm_key",
    tag = "ai-budget",
    summary = "A tenant's LiteLLM virtual key: metadata only, never the key",
    description = "Read from LiteLLM's admin API: the key aliased `tenant/<tenantName>` \
        (`GET /key/list?key_alias=`, then `GET /key/info`). The answer has LiteLLM's masked key \
        name, never the key nor its hash. 404 TENANT_NOT_FOUND for an unknown tenant (a \
        decommissioned one still counts), 404 LITELLM_KEY_NOT_FOUND when LiteLLM has no such key, \
        409 when an older LiteLLM holds several keys under the alias. LiteLLM unreachable, timing \
        out, failing or refusing the master key: 502 UPSTREAM_ERROR saying which (never its \
        answer). `litellm_url` or `litellm_master_key` unset: 503 UNAVAILABLE naming it.",
    params(TenantNamePath),
    responses((status = 200, body = Envelope<LitellmKey>), (status = 409, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
pub(crate) async fn get_litellm_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let tenant: &str = tenant_name(params)?;
    require_tenant(ctx, tenant).await?;
    let client = litellm(ctx)?;
    let mut keys = find_keys(&client, tenant).await?;
    match keys.len() {
        0 => Err(key_not_found(tenant)),
        1 => Ok(ctx.ok(&keys.swap_remove(0).1)),
        n => Err(ApiError::Conflict(format!(
            "LiteLLM has {n} keys with the alias '{}'; revoke them and issue one",
            key_alias(tenant)
        ))
        .into()),
    }
}

#[operation(post, "/api/v1/ai-budget/{tenantName}/litellm-key/revoke", id = "revokeLitellmKey", callers = operator, kind = "litellm_key",
    tag = "ai-budget",
    summary = "Revoke a tenant's LiteLLM virtual key (deleted in LiteLLM)",
    description = "Deletes the key aliased `tenant/<tenantName>` through LiteLLM's admin API \
        (`POST /key/delete` by token): revocation is final, unlike LiteLLM's reversible block, and \
        frees the alias for a new key. Answers what was revoked (metadata, as GET showed it) and \
        writes an audit entry without key material. Nothing to revoke: 404 LITELLM_KEY_NOT_FOUND \
        (so a retry after a lost answer says it is done). Errors as for GET; a 502 from the \
        deletion itself leaves the outcome unknown: GET tells.",
    params(TenantNamePath, IdempotencyKeyHeader),
    responses((status = 200, body = Envelope<LitellmKeyRevocation>),
              (status = 502, body = ErrorBody)))]
pub(crate) async fn revoke_litellm_key<P: Platform>(
    ctx: &RequestContext<'_, P>,
    _req: &ApiRequest,
    params: &PathParams,
) -> Result<ApiResponse, Failure> {
    let tenant: &str = tenant_name(params)?;
    require_tenant(ctx, tenant).await?;
    let client = litellm(ctx)?;
    let found = find_keys(&client, tenant).await?;
    if found.is_empty() {
        return Err(key_not_found(tenant));
    }
    let (tokens, keys): (Vec<String>, Vec<LitellmKey>) = found.into_iter().unzip();
    if !client.delete(&tokens).await.map_err(|e| upstream(&e))? {
        // Deleted by someone else since we looked.
        return Err(key_not_found(tenant));
    }
    let alias = key_alias(tenant);
    // LiteLLM's deletion cannot join a database transaction; the entry
    // follows it (names and counts only: no key, token or key name).
    ctx.audit(RESOURCE_KIND, &alias)
        .tenant(tenant)
        .detail(json!({ "keyAlias": alias, "keysRevoked": keys.len() }))
        .write(ctx.db())
        .await?;
    Ok(ctx.ok(&LitellmKeyRevocation {
        tenant: tenant.to_owned(),
        key_alias: alias,
        revoked_at: rfc3339(ctx.now),
        keys,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn number(text: &str) -> serde_json::Number {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn money_is_written_as_plain_decimal_strings() {
        assert_eq!(usd(&number("12.5")).unwrap(), "12.5");
        assert_eq!(usd(&number("0")).unwrap(), "0");
        assert_eq!(usd(&number("100.0")).unwrap(), "100.0");
        assert_eq!(usd(&number("1e-7")).unwrap(), "0.0000001");
        assert_eq!(usd(&number("2.5E3")).unwrap(), "2500.0");
        assert_eq!(
            usd(&number("0.30000000000000004")).unwrap(),
            "0.30000000000000004"
        );
        assert_eq!(usd(&number("1e40")), None);
    }

    #[test]
    fn litellm_timestamps_become_rfc3339_utc() {
        assert_eq!(
            timestamp("2026-02-01T10:00:00.123456Z").unwrap(),
            "2026-02-01T10:00:00.123456Z"
        );
        assert_eq!(
            timestamp("2026-02-01T10:00:00.5+00:00").unwrap(),
            "2026-02-01T10:00:00.500000Z"
        );
        assert_eq!(
            timestamp("2026-02-01T12:00:00+02:00").unwrap(),
            "2026-02-01T10:00:00.000000Z"
        );
        assert_eq!(
            timestamp("2026-02-01T10:00:00.25").unwrap(),
            "2026-02-01T10:00:00.250000Z",
            "naive: LiteLLM's times are UTC"
        );
        assert_eq!(timestamp("yesterday"), None);
    }

    #[test]
    fn a_key_view_has_no_key_material() {
        let info: KeyInfo = serde_json::from_value(json!({
            "key_name": "sk-...wxyz", "key_alias": "tenant/acme", "spend": 1.25,
            "max_budget": null, "budget_duration": null, "expires": null, "blocked": null,
            "models": ["gpt-4o"], "created_at": "2026-02-01T10:00:00Z",
            "token": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        }))
        .unwrap();
        let view = LitellmKey::from_info("acme", info).unwrap();
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({"tenant": "acme", "keyAlias": "tenant/acme", "keyName": "sk-...wxyz",
                   "spend": "1.25", "maxBudget": null, "budgetDuration": null, "expires": null,
                   "blocked": false, "models": ["gpt-4o"],
                   "createdAt": "2026-02-01T10:00:00.000000Z"})
        );
        let bad: KeyInfo = serde_json::from_value(json!({"expires": "soon"})).unwrap();
        assert_eq!(
            LitellmKey::from_info("acme", bad).unwrap_err(),
            "`expires` is not a timestamp"
        );
        assert_eq!(key_alias("acme"), "tenant/acme");
    }

    #[test]
    fn a_missing_configuration_is_a_503_naming_the_variable() {
        for (e, variable) in [
            (client::ConfigError::MissingUrl, "`litellm_url`"),
            (client::ConfigError::BadUrl, "`litellm_url`"),
            (
                client::ConfigError::MissingMasterKey,
                "`litellm_master_key`",
            ),
        ] {
            let failure = unconfigured(e);
            assert_eq!(failure.error.code(), "UNAVAILABLE");
            let message = failure.error.message();
            assert!(message.starts_with("LiteLLM virtual keys are unavailable: "));
            assert!(message.contains(variable), "{message}");
        }
    }
}
