//! Authentication and authorisation: `Authorization: Bearer <token>` to a
//! [`Principal`], and whether that principal may do what a route does.
//!
//! Token kinds are told apart by their prefix, in one place ([`authenticate`]),
//! so every component authenticates the same way:
//! - the operator's static token (Spin variable `api_token`), compared in
//!   constant time: sees and manages everything;
//! - access tokens (`cpat_…`): looked up by SHA-256 digest (the plaintext is
//!   never stored), refused once revoked (deleted) or expired, limited by
//!   their scopes ([`crate::scopes`]).
//!
//! Later kinds (user JWTs, personal API keys, gateway keys) are further
//! prefixes here.

use cp_http::{ApiError, ApiRequest};
use cp_store::Database;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::scopes::{self, Access, Scope};
use crate::{Failure, Platform};

/// Prefix of access tokens.
pub const ACCESS_TOKEN_PREFIX: &str = "cpat_";

/// An authenticated access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPrincipal {
    /// The token's id.
    pub id: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The platform operator (static token): sees and manages everything.
    Operator,
    /// An access token, limited by its scopes.
    AccessToken(TokenPrincipal),
    /// No credentials (public routes only).
    Anonymous,
}

impl Principal {
    /// The actor name written to audit entries and idempotency scopes.
    pub fn actor(&self) -> String {
        match self {
            Self::Operator => "operator".into(),
            Self::AccessToken(t) => format!("access-token:{}", t.id),
            Self::Anonymous => "anonymous".into(),
        }
    }

    /// Whether the principal may perform `access` on `area` (a 403 naming
    /// the missing scope otherwise).
    pub fn authorize(&self, access: Access, area: &str) -> Result<(), ApiError> {
        match self {
            Self::Operator | Self::Anonymous => Ok(()),
            Self::AccessToken(t) if t.scopes.iter().any(|s| s.allows(access, area)) => Ok(()),
            Self::AccessToken(_) => {
                let needed = match access {
                    Access::Read => "read",
                    Access::Write => "write",
                };
                Err(ApiError::Forbidden(format!(
                    "this access token lacks the scope {area}:{needed}"
                )))
            }
        }
    }

    /// The scopes the principal holds (everything for the operator).
    pub fn scopes(&self) -> Vec<Scope> {
        match self {
            Self::Operator => vec![Scope::All],
            Self::AccessToken(t) => t.scopes.clone(),
            Self::Anonymous => Vec::new(),
        }
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

/// Authenticates a request that requires credentials.
pub async fn authenticate<P: Platform>(
    req: &ApiRequest,
    platform: &P,
) -> Result<Principal, Failure> {
    let token = bearer_token(req)?;
    if token.starts_with(ACCESS_TOKEN_PREFIX) {
        return access_token(platform.db(), token).await;
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
    fn compares_tokens() {
        assert!(tokens_equal("s3cret", "s3cret"));
        assert!(!tokens_equal("s3cret", "s3cret2"));
        assert!(!tokens_equal("", "x"));
    }
}
