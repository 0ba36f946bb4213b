//! Credentials: every bearer token, key and session cookie the API accepts
//! is verified here, and this crate owns the tables they are looked up in.
//! [`Credentials`] is the pipeline's `Authenticator` (each component names
//! it); identity and the gateway issue credentials with the formats and
//! queries defined here.
//!
//! Token kinds are told apart by their prefix, in one place ([`authenticate`]),
//! so every component authenticates the same way:
//! - the operator's static token (Spin variable `api_token`), compared in
//!   constant time: sees and manages everything;
//! - access tokens (`cpat_…`): looked up by SHA-256 digest (the plaintext is
//!   never stored), refused once revoked (deleted) or expired, limited by
//!   their scopes (`cp_platform::scopes`);
//! - personal API keys (`cpk_…`): looked up by SHA-256 digest like access
//!   tokens; the principal is the key's user;
//! - user JWTs (three dot-separated base64url parts, [`jwt`]): the
//!   signature, issuer and expiry are checked, then one query checks that
//!   the user exists, the `jti` is not revoked and the token was not issued
//!   before the user's `tokens_valid_after` (set by a password change).
//!
//! - agent JWTs (from `POST /auth/agent-token`, told apart from user JWTs
//!   by their issuer): the signature and expiry are checked, then one query
//!   checks that the agent is active and the token was not issued before
//!   its `tokens_valid_after` (set by a key rotation). The principal holds
//!   what both the token and the agent's current record grant. An agent's
//!   API key itself (`cpag_…`) is not a bearer token: it is refused with a
//!   pointer to the exchange.
//!
//! - tenant gateway keys (`sk_…`): looked up by SHA-256 digest, refused when
//!   disabled; they reach only usage ingestion (`POST /api/v1/token-usage`),
//!   for their own tenant.
//!
//! Anything else is compared with the operator token.
//!
//! Without an `Authorization` header, a browser session cookie
//! ([`SESSION_COOKIE`], `__Host-cp_session`, set by the OIDC callback; a
//! request carrying it twice is refused) authenticates the request as its
//! user: looked up by SHA-256 digest, refused once expired, logged
//! out, or older than the user's `tokens_valid_after`. CSRF: the cookie is
//! `SameSite=Lax`, and a cookie-authenticated POST/PUT/PATCH/DELETE must
//! also carry an `X-Requested-With` header (any value). A page of another
//! origin (a tenant pod on a sibling subdomain is the same *site*) cannot
//! add that header without a CORS preflight, which this API never grants;
//! a missing header is a 403. Bearer tokens are not affected.

#![deny(missing_docs)]

pub mod jwt;

use cp_http::{ApiError, ApiRequest};
use cp_platform::auth::{
    AgentPrincipal, Authenticator, GatewayKeyPrincipal, Principal, TokenPrincipal, UserPrincipal,
    UserVia,
};
use cp_platform::scopes;
use cp_platform::{Failure, Platform};
use cp_store::Database;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "cpat_";
/// Prefix of personal API keys.
pub const API_KEY_PREFIX: &str = "cpk_";
/// Prefix of tenant gateway keys.
pub const GATEWAY_KEY_PREFIX: &str = "sk_";
/// Prefix of agent API keys (exchanged at `POST /auth/agent-token`).
pub const AGENT_KEY_PREFIX: &str = "cpag_";

/// The [`Authenticator`] of every component: operator token, access tokens,
/// personal API keys, gateway keys, user JWTs and session cookies.
#[derive(Debug, Clone, Copy)]
pub struct Credentials;

impl Authenticator for Credentials {
    async fn authenticate<P: Platform>(
        req: &ApiRequest,
        platform: &P,
    ) -> Result<Principal, Failure> {
        authenticate(req, platform).await
    }
}

/// Looks up an access token by digest; touches `last_used_at` at most once a
/// minute (in the same round trip) so a busy token does not write per request.
const ACCESS_TOKEN_LOOKUP: &str = "WITH hit AS (
        SELECT id, scopes, COALESCE(expires_at <= now(), false) AS expired
        FROM access_tokens WHERE token_hash = $1),
      touched AS (
        UPDATE access_tokens t SET last_used_at = now() FROM hit
        WHERE t.id = hit.id AND NOT hit.expired
          AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute'))
    SELECT id::text AS id, scopes, expired FROM hit";

/// Looks up a gateway key by digest with its tenant; touches `last_used_at`
/// at most once a minute like access tokens.
const GATEWAY_KEY_LOOKUP: &str = "WITH hit AS (
        SELECT id, tenant_name, disabled FROM gateway_keys WHERE key_hash = $1),
      touched AS (
        UPDATE gateway_keys k SET last_used_at = now() FROM hit
        WHERE k.id = hit.id AND NOT hit.disabled
          AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute'))
    SELECT id::text AS id, tenant_name, disabled FROM hit";

/// Looks up a personal API key by digest with its user; touches
/// `last_used_at` at most once a minute like access tokens.
const API_KEY_LOOKUP: &str = "WITH hit AS (
        SELECT k.id, u.id AS user_id, u.email
        FROM user_api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1),
      touched AS (
        UPDATE user_api_keys k SET last_used_at = now() FROM hit
        WHERE k.id = hit.id
          AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute'))
    SELECT id::text AS id, user_id::text AS user_id, email FROM hit";

/// Whether a verified JWT is still good, in one query ($1 user id, $2 jti,
/// $3 issue instant in Unix milliseconds): no row when the user is gone.
const JWT_CHECK: &str = "SELECT u.email,
        EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.jti = $2::text::uuid) AS revoked,
        $3::int8 >= (extract(epoch FROM u.tokens_valid_after) * 1000)::int8 AS current
    FROM users u WHERE u.id = $1::text::uuid";

/// Whether a verified agent JWT is still good, in one query ($1 agent id,
/// $2 issue instant in Unix milliseconds): no row when the agent is gone.
const AGENT_JWT_CHECK: &str = "SELECT a.org_id::text AS org_id, a.scopes, a.vault_ids,
        a.intents_api_enabled, a.status = 'active' AS active,
        $2::int8 >= (extract(epoch FROM a.tokens_valid_after) * 1000)::int8 AS current
    FROM agents a WHERE a.id = $1::text::uuid";

/// The browser session cookie set by the OIDC callback. The `__Host-`
/// prefix makes browsers accept it only when set with `Secure`, `Path=/`
/// and no `Domain` by this very host, so no sibling subdomain (a tenant pod)
/// can set or shadow it. Browsers take `Secure` cookies only over https,
/// except from `localhost`/`127.0.0.1` (secure contexts), as in `make up`.
pub const SESSION_COOKIE: &str = "__Host-cp_session";

/// Code of a request carrying the session cookie more than once.
pub const DUPLICATE_SESSION_COOKIE: &str = "DUPLICATE_SESSION_COOKIE";

/// Prefix of session cookie values.
pub const SESSION_PREFIX: &str = "cps_";

/// The header a cookie-authenticated write must carry (CSRF defence).
pub const CSRF_HEADER: &str = "x-requested-with";

/// A live session by cookie digest with its user; no row once expired or
/// issued before the user's `tokens_valid_after` (a password change).
const SESSION_LOOKUP: &str = "SELECT s.id::text AS id, u.id::text AS user_id, u.email
    FROM user_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.token_hash = $1 AND s.expires_at > now() AND s.created_at >= u.tokens_valid_after";

/// Every value of cookie `name` in the request's `Cookie` headers, in order
/// (surrounding double quotes removed; malformed pairs skipped).
pub fn cookies<'a>(req: &'a ApiRequest, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| cookie::Cookie::split_parse(v.as_str()))
        .filter_map(move |c| {
            let c = c.ok()?;
            (c.name_raw()? == name).then_some(c.value_raw()?.trim_matches('"'))
        })
}

/// A `Set-Cookie` value: HttpOnly (no script reads it), Secure (never over
/// plain HTTP, loopback aside in browsers), SameSite=Lax (not sent on
/// cross-site subrequests or POSTs), never a `Domain` (host-only, as the
/// `__Host-` prefix of the session cookie requires). `max_age_secs` 0
/// deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age_secs: i64) -> String {
    cookie::Cookie::build((name, value))
        .http_only(true)
        .secure(true)
        .same_site(cookie::SameSite::Lax)
        .path(path)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build()
        .to_string()
}

/// The value of cookie `name` (the first, when sent several times).
pub fn cookie<'a>(req: &'a ApiRequest, name: &'a str) -> Option<&'a str> {
    cookies(req, name).next()
}

/// The session cookie's value: `None` without one, a 400
/// `DUPLICATE_SESSION_COOKIE` when the request carries it more than once
/// (a planted second cookie must not decide whose session this is).
pub fn session_cookie(req: &ApiRequest) -> Result<Option<&str>, ApiError> {
    let mut values = cookies(req, SESSION_COOKIE);
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::Refused {
            status: 400,
            code: DUPLICATE_SESSION_COOKIE,
            message: format!(
                "the request carries more than one {SESSION_COOKIE} cookie; sign out \
                 (POST /api/v1/auth/logout clears it) and sign in again"
            ),
        });
    }
    Ok(first)
}

/// Whether the request carries credentials: an `Authorization` header or a
/// session cookie.
pub fn has_credentials(req: &ApiRequest) -> bool {
    req.header("authorization").is_some() || cookie(req, SESSION_COOKIE).is_some()
}

/// The user of the request's session cookie: `None` without the cookie, a
/// 401 when it names no live session, a 400 when it is sent twice.
pub async fn session_user<P: Platform>(
    platform: &P,
    req: &ApiRequest,
) -> Result<Option<UserPrincipal>, Failure> {
    let Some(value) = session_cookie(req)? else {
        return Ok(None);
    };
    let digest = cp_crypto::token_hash(value);
    let Some(row) = platform
        .db()
        .query_opt(SESSION_LOOKUP, &[digest.into()])
        .await?
    else {
        return Err(unauthorized(
            "the session has expired or was ended; sign in again at /api/v1/auth/login",
        )
        .into());
    };
    Ok(Some(UserPrincipal {
        id: row.text("user_id")?,
        email: row.text("email")?,
        via: UserVia::Session {
            session_id: row.text("id")?,
        },
    }))
}

/// Authenticates a request that requires credentials.
pub async fn authenticate<P: Platform>(
    req: &ApiRequest,
    platform: &P,
) -> Result<Principal, Failure> {
    if req.header("authorization").is_none() {
        if let Some(user) = session_user(platform, req).await? {
            if req.method.is_mutation()
                && req.header(CSRF_HEADER).is_none_or(|v| v.trim().is_empty())
            {
                return Err(ApiError::Forbidden(format!(
                    "a {} authenticated by the session cookie must carry an X-Requested-With \
                     header (CSRF protection)",
                    req.method
                ))
                .into());
            }
            return Ok(Principal::User(user));
        }
    }
    let token = bearer_token(req)?;
    if token.starts_with(ACCESS_TOKEN_PREFIX) {
        return access_token(platform.db(), token).await;
    }
    if token.starts_with(API_KEY_PREFIX) {
        return api_key(platform.db(), token).await;
    }
    if token.starts_with(GATEWAY_KEY_PREFIX) {
        return gateway_key(platform.db(), token).await;
    }
    if token.starts_with(AGENT_KEY_PREFIX) {
        return Err(unauthorized(
            "an agent API key is not a bearer token: exchange it for an agent token at \
             POST /api/v1/auth/agent-token",
        )
        .into());
    }
    if crate::jwt::is_jwt_shaped(token) {
        return jwt(platform, token).await;
    }
    let Some(expected) = platform.variable("api_token") else {
        // A deployment without an operator token accepts no operator.
        return Err(Failure::with_cause(
            unauthorized("invalid bearer token"),
            "the api_token variable is not set; operator authentication is disabled",
        ));
    };
    if tokens_equal(token, &expected) {
        return Ok(Principal::Operator);
    }
    Err(unauthorized("invalid bearer token").into())
}

async fn access_token<D: Database>(db: &D, token: &str) -> Result<Principal, Failure> {
    let digest = cp_crypto::token_hash(token);
    let Some(row) = db.query_opt(ACCESS_TOKEN_LOOKUP, &[digest.into()]).await? else {
        return Err(unauthorized("invalid or revoked access token").into());
    };
    if row.bool("expired")? {
        return Err(unauthorized("the access token has expired").into());
    }
    let stored: Vec<String> = serde_json::from_value(row.json("scopes")?).unwrap_or_default();
    // A scope this version no longer knows grants nothing (fail closed).
    let scopes = stored
        .iter()
        .filter_map(|s| scopes::parse(s).ok())
        .collect();
    Ok(Principal::AccessToken(TokenPrincipal {
        id: row.text("id")?,
        scopes,
    }))
}

async fn api_key<D: Database>(db: &D, token: &str) -> Result<Principal, Failure> {
    let digest = cp_crypto::token_hash(token);
    let Some(row) = db.query_opt(API_KEY_LOOKUP, &[digest.into()]).await? else {
        return Err(unauthorized("invalid or revoked API key").into());
    };
    Ok(Principal::User(UserPrincipal {
        id: row.text("user_id")?,
        email: row.text("email")?,
        via: UserVia::ApiKey {
            key_id: row.text("id")?,
        },
    }))
}

async fn gateway_key<D: Database>(db: &D, token: &str) -> Result<Principal, Failure> {
    let digest = cp_crypto::token_hash(token);
    let Some(row) = db.query_opt(GATEWAY_KEY_LOOKUP, &[digest.into()]).await? else {
        return Err(unauthorized("invalid or deleted gateway key").into());
    };
    if row.bool("disabled")? {
        return Err(unauthorized("the gateway key is disabled").into());
    }
    Ok(Principal::GatewayKey(GatewayKeyPrincipal {
        id: row.text("id")?,
        tenant: row.text("tenant_name")?,
    }))
}

async fn jwt<P: Platform>(platform: &P, token: &str) -> Result<Principal, Failure> {
    let key = crate::jwt::JwtKey::from_variable(platform).map_err(|e| {
        // No key: no JWT can be ours. The deployment mistake is logged.
        Failure::with_cause(unauthorized("invalid bearer token"), e.to_string())
    })?;
    let claims = match key.verify_any(token)? {
        crate::jwt::Verified::User(claims) => claims,
        crate::jwt::Verified::Agent(claims) => return agent_jwt(platform.db(), claims).await,
    };
    let Some(row) = platform
        .db()
        .query_opt(
            JWT_CHECK,
            &[
                claims.user_id.as_str().into(),
                claims.jti.as_str().into(),
                claims.issued_ms.into(),
            ],
        )
        .await?
    else {
        return Err(unauthorized("the token's user no longer exists").into());
    };
    if row.bool("revoked")? || !row.bool("current")? {
        return Err(unauthorized("the token has been revoked").into());
    }
    Ok(Principal::User(UserPrincipal {
        id: claims.user_id,
        email: row.text("email")?,
        via: UserVia::Jwt {
            jti: claims.jti,
            expires_at_secs: claims.expires_at_secs,
        },
    }))
}

async fn agent_jwt<D: Database>(
    db: &D,
    claims: crate::jwt::VerifiedAgentToken,
) -> Result<Principal, Failure> {
    let Some(row) = db
        .query_opt(
            AGENT_JWT_CHECK,
            &[claims.agent_id.as_str().into(), claims.issued_ms.into()],
        )
        .await?
    else {
        return Err(unauthorized("the token's agent no longer exists").into());
    };
    if !row.bool("active")? {
        return Err(unauthorized("the agent has been deactivated").into());
    }
    if !row.bool("current")? || row.text("org_id")? != claims.agent.org {
        return Err(
            unauthorized("the token has been revoked (the agent's key was rotated)").into(),
        );
    }
    let held: Vec<String> = serde_json::from_value(row.json("scopes")?).unwrap_or_default();
    let vaults: Vec<String> = serde_json::from_value(row.json("vault_ids")?).unwrap_or_default();
    Ok(Principal::Agent(narrowed_agent(
        claims,
        &held,
        &vaults,
        row.bool("intents_api_enabled")?,
    )))
}

/// The agent principal of a verified token: what both the token and the
/// agent's current record (`held` scopes, `vaults`, `intents_api`) grant.
/// A scope this version no longer knows grants nothing (fail closed).
fn narrowed_agent(
    claims: crate::jwt::VerifiedAgentToken,
    held: &[String],
    vaults: &[String],
    intents_api: bool,
) -> AgentPrincipal {
    let scopes = claims
        .agent
        .scopes
        .iter()
        .filter(|s| held.contains(s))
        .filter_map(|s| scopes::parse(s).ok())
        .collect();
    let vault_ids = claims
        .agent
        .vault_ids
        .into_iter()
        .filter(|v| vaults.contains(v))
        .collect();
    AgentPrincipal {
        id: claims.agent_id,
        org_id: claims.agent.org,
        vault_ids,
        scopes,
        intents_api: claims.agent.intents_api || intents_api,
        jti: claims.jti,
    }
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::Unauthorized(msg.to_owned())
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(req: &ApiRequest) -> Result<&str, ApiError> {
    let header = req
        .header("authorization")
        .ok_or_else(|| unauthorized("missing Authorization: Bearer token"))?;
    let (scheme, token) = header
        .split_once(' ')
        .ok_or_else(|| unauthorized("malformed Authorization header; expected 'Bearer <token>'"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized(
            "unsupported authorization scheme; expected 'Bearer <token>'",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(unauthorized("empty bearer token"));
    }
    Ok(token)
}

/// Compares two secrets in constant time. Hashing first makes the time
/// independent of both contents and lengths.
pub fn tokens_equal(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cp_http::Method;

    #[test]
    fn parses_bearer_headers() {
        let req = |v: &str| ApiRequest::new(Method::Get, "/").with_header("authorization", v);
        assert_eq!(bearer_token(&req("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer_token(&req("bearer  abc ")).ok(), Some("abc"));
        for bad in ["Basic abc", "Bearer", "Bearer ", "abc"] {
            assert!(bearer_token(&req(bad)).is_err(), "{bad}");
        }
        assert!(bearer_token(&ApiRequest::new(Method::Get, "/")).is_err());
    }

    #[test]
    fn reads_cookies() {
        let req = |v: &str| ApiRequest::new(Method::Get, "/").with_header("cookie", v);
        assert_eq!(
            cookie(&req("a=1; __Host-cp_session=cps_x; b=2"), SESSION_COOKIE),
            Some("cps_x")
        );
        assert_eq!(
            cookie(&req("__Host-cp_session=\"v\""), SESSION_COOKIE),
            Some("v")
        );
        assert_eq!(cookie(&req("x__Host-cp_session=1"), SESSION_COOKIE), None);
        // The unprefixed (pre-`__Host-`) name and other spellings are not it.
        assert_eq!(cookie(&req("cp_session=cps_x"), SESSION_COOKIE), None);
        assert_eq!(
            cookie(&req("__host-cp_session=cps_x"), SESSION_COOKIE),
            None
        );
        assert!(!has_credentials(&ApiRequest::new(Method::Get, "/")));
        assert!(has_credentials(&req("__Host-cp_session=cps_x")));
    }

    #[test]
    fn set_cookie_is_host_only_secure_and_lax() {
        let c = set_cookie(SESSION_COOKIE, "cps_x", "/", 3600);
        let attrs: Vec<&str> = c.split("; ").collect();
        assert_eq!(attrs[0], "__Host-cp_session=cps_x");
        for a in [
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(attrs.contains(&a), "{a} missing from {c}");
        }
        assert!(!c.to_ascii_lowercase().contains("domain"), "{c}");
        assert!(set_cookie(SESSION_COOKIE, "", "/", 0).contains("Max-Age=0"));
    }

    #[test]
    fn a_second_session_cookie_is_refused() {
        let one = ApiRequest::new(Method::Get, "/").with_header("cookie", "__Host-cp_session=a");
        assert_eq!(session_cookie(&one).unwrap(), Some("a"));
        let two = ApiRequest::new(Method::Get, "/")
            .with_header("cookie", "__Host-cp_session=a; __Host-cp_session=b");
        let err = session_cookie(&two).unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (400, DUPLICATE_SESSION_COOKIE.into())
        );
        // Split over two Cookie headers (as HTTP/2 sends them) counts too.
        let split = one.with_header("cookie", "__Host-cp_session=b");
        assert!(session_cookie(&split).is_err());
        let none = ApiRequest::new(Method::Get, "/").with_header("cookie", "cp_session=a");
        assert_eq!(session_cookie(&none).unwrap(), None);
    }

    #[test]
    fn an_agent_holds_what_both_its_token_and_its_record_grant() {
        let token = |scopes: &[&str], vaults: &[&str], intents| crate::jwt::VerifiedAgentToken {
            agent_id: "a".into(),
            jti: "j".into(),
            issued_ms: 0,
            agent: crate::jwt::AgentClaims {
                org: "o".into(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                vault_ids: vaults.iter().map(|s| (*s).to_owned()).collect(),
                intents_api: intents,
            },
        };
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // A vault and a scope taken away since the token was issued are gone.
        let agent = narrowed_agent(
            token(&["vaults:read", "vaults:write"], &["v1", "v2"], false),
            &own(&["vaults:read"]),
            &own(&["v2", "v3"]),
            false,
        );
        assert_eq!(agent.scopes, vec![scopes::parse("vaults:read").unwrap()]);
        assert_eq!(agent.vault_ids, own(&["v2"]));
        // Nothing granted since is gained either, but the intents flag
        // (a restriction) holds as soon as either side sets it.
        let agent = narrowed_agent(
            token(&["vaults:read"], &["v1"], false),
            &own(&["vaults:read", "vaults:write"]),
            &own(&["v1", "v2"]),
            true,
        );
        assert_eq!(agent.scopes.len(), 1);
        assert_eq!(agent.vault_ids, own(&["v1"]));
        assert!(agent.intents_api);
        // An unknown scope string grants nothing.
        let agent = narrowed_agent(
            token(&["vaults:admin"], &[], false),
            &own(&["vaults:admin"]),
            &[],
            false,
        );
        assert!(agent.scopes.is_empty());
    }

    #[test]
    fn compares_tokens() {
        assert!(tokens_equal("s3cret", "s3cret"));
        assert!(!tokens_equal("s3cret", "s3cret2"));
        assert!(!tokens_equal("", "x"));
    }
}
