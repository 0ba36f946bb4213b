//! User session tokens and agent tokens: HS256 JWTs (`jwt-simple`) signed
//! with the key in the Spin variable `jwt_secret` (base64, at least 32
//! bytes).
//!
//! Agent tokens ([`JwtKey::issue_agent`]) have their own issuer
//! ([`AGENT_ISSUER`]), so neither kind is ever taken for the other, and
//! carry the agent's organisation, scopes, vault ids and intents flag
//! ([`AgentClaims`]); their lifetime is the agent's own token TTL.
//!
//! Claims: `sub` the user id, `jti` a UUIDv7, `iat`, `exp` ([`TOKEN_TTL_SECS`]
//! after `iat`), `iss` [`ISSUER`]. The JWT itself only proves who signed it
//! and when; whether it is still good (user exists, `jti` not revoked, not
//! issued before the user's `tokens_valid_after`) is checked against the
//! database by [`crate::authenticate`]. The issue instant used for that check is
//! the millisecond in the `jti` (UUIDv7), because `iat` has whole seconds
//! only and a password change must be able to cut off a token issued in the
//! same second as the fresh one it hands out.

use std::collections::HashSet;

use base64::Engine as _;
use cp_http::ApiError;
use jwt_simple::prelude::{Claims, Duration, HS256Key, MACLike, VerificationOptions};
use serde::{Deserialize, Serialize};

use cp_platform::{Failure, Platform};

/// The `iss` of user tokens.
pub const ISSUER: &str = "agent-control-plane";
/// The `iss` of agent tokens.
pub const AGENT_ISSUER: &str = "agent-control-plane/agents";
/// Lifetime of a token: 15 minutes, short because a JWT is only revocable
/// through the database checks every request makes.
pub const TOKEN_TTL_SECS: u64 = 15 * 60;
/// The Spin variable holding the signing key.
pub const SECRET_VARIABLE: &str = "jwt_secret";
/// Shortest accepted key.
const MIN_KEY_BYTES: usize = 32;
/// Clock skew tolerated between components on `iat`/`exp`.
const TOLERANCE_SECS: u64 = 5;

/// The signing key.
pub struct JwtKey(HS256Key);

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKey(..)")
    }
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// Its `jti`.
    pub jti: String,
    /// Its issue instant in Unix milliseconds (from the `jti`).
    pub issued_ms: i64,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// The claims of a token whose signature, issuer and times are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The user id (`sub`).
    pub user_id: String,
    /// The token id (`jti`).
    pub jti: String,
    /// Issue instant in Unix milliseconds (from the `jti`).
    pub issued_ms: i64,
    /// Expiry in Unix seconds.
    pub expires_at_secs: i64,
}

/// What an agent token says about its agent, next to `sub` (the agent id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentClaims {
    /// The agent's organisation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub org: String,
    /// Its scopes, as strings (`vaults:read`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The vaults it may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vault_ids: Vec<String>,
    /// Whether it uses the intents API.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intents_api: bool,
}

/// The claims of an agent token whose signature, issuer and times are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAgentToken {
    /// The agent id (`sub`).
    pub agent_id: String,
    /// The token id (`jti`).
    pub jti: String,
    /// Issue instant in Unix milliseconds (from the `jti`).
    pub issued_ms: i64,
    /// What the token says about the agent.
    pub agent: AgentClaims,
}

/// A verified bearer JWT: a user's or an agent's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// A user session token.
    User(VerifiedToken),
    /// An agent token.
    Agent(VerifiedAgentToken),
}

/// Why a key cannot be used (a deployment mistake, never a client's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The variable is unset or empty.
    #[error("the jwt_secret variable is not set")]
    Missing,
    /// Not base64, or too short.
    #[error("the jwt_secret variable must be base64 of at least 32 bytes")]
    Invalid,
}

impl JwtKey {
    /// The key from its base64 text.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| KeyError::Invalid)?;
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::Invalid);
        }
        Ok(Self(HS256Key::from_bytes(&bytes)))
    }

    /// The component's key.
    pub fn from_variable<P: Platform>(platform: &P) -> Result<Self, KeyError> {
        let text = platform
            .variable(SECRET_VARIABLE)
            .ok_or(KeyError::Missing)?;
        Self::from_base64(&text)
    }

    /// The component's key, or a 503 naming the variable: user sign-in is
    /// not configured.
    pub fn for_sign_in<P: Platform>(platform: &P) -> Result<Self, Failure> {
        Self::from_variable(platform).map_err(|e| {
            Failure::from(ApiError::Unavailable(format!(
                "user sign-in is not configured: {e}"
            )))
        })
    }

    /// Issues a token for `user_id`.
    pub fn issue(&self, user_id: &str) -> Result<IssuedToken, Failure> {
        self.sign(ISSUER, user_id, AgentClaims::default(), TOKEN_TTL_SECS)
    }

    /// Issues an agent token for `agent_id`, valid `ttl_secs`.
    pub fn issue_agent(
        &self,
        agent_id: &str,
        agent: AgentClaims,
        ttl_secs: u64,
    ) -> Result<IssuedToken, Failure> {
        self.sign(AGENT_ISSUER, agent_id, agent, ttl_secs)
    }

    fn sign(
        &self,
        issuer: &str,
        subject: &str,
        custom: AgentClaims,
        ttl_secs: u64,
    ) -> Result<IssuedToken, Failure> {
        let id = cp_http::ids::new_id();
        let jti = id.to_string();
        let issued_ms = uuid_millis(&id).unwrap_or_default();
        let claims = Claims::with_custom_claims(custom, Duration::from_secs(ttl_secs))
            .with_issuer(issuer)
            .with_subject(subject)
            .with_jwt_id(&jti);
        let token = self
            .0
            .authenticate(claims)
            .map_err(|e| Failure::with_cause(ApiError::Internal, format!("signing a JWT: {e}")))?;
        Ok(IssuedToken {
            token,
            jti,
            issued_ms,
            expires_in: ttl_secs,
        })
    }

    /// Verifies a user token: signature, issuer, expiry and the presence of
    /// `sub`/`jti` (an agent token is refused).
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, ApiError> {
        match self.verify_any(token)? {
            Verified::User(user) => Ok(user),
            Verified::Agent(_) => Err(invalid()),
        }
    }

    /// Verifies a user or agent token: signature, issuer (which also says
    /// which of the two it is), expiry and the presence of `sub`/`jti`. The
    /// error says nothing about which check failed beyond "expired".
    pub fn verify_any(&self, token: &str) -> Result<Verified, ApiError> {
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([ISSUER.to_owned(), AGENT_ISSUER.to_owned()])),
            time_tolerance: Some(Duration::from_secs(TOLERANCE_SECS)),
            max_token_length: Some(4096),
            ..VerificationOptions::default()
        };
        let claims = self
            .0
            .verify_token::<AgentClaims>(token, Some(options))
            .map_err(|e| {
                if e.to_string().contains("expired") {
                    ApiError::Unauthorized("the token has expired".into())
                } else {
                    invalid()
                }
            })?;
        let (Some(subject), Some(jti), Some(exp), Some(issuer)) = (
            claims.subject,
            claims.jwt_id,
            claims.expires_at,
            claims.issuer,
        ) else {
            return Err(invalid());
        };
        let id = cp_http::ids::parse_id(&jti).map_err(|_| invalid())?;
        let issued_ms = uuid_millis(&id).ok_or_else(invalid)?;
        cp_http::ids::parse_id(&subject).map_err(|_| invalid())?;
        if issuer == AGENT_ISSUER {
            cp_http::ids::parse_id(&claims.custom.org).map_err(|_| invalid())?;
            return Ok(Verified::Agent(VerifiedAgentToken {
                agent_id: subject,
                jti,
                issued_ms,
                agent: claims.custom,
            }));
        }
        Ok(Verified::User(VerifiedToken {
            user_id: subject,
            jti,
            issued_ms,
            expires_at_secs: i64::try_from(exp.as_secs()).map_err(|_| invalid())?,
        }))
    }
}

fn invalid() -> ApiError {
    ApiError::Unauthorized("invalid bearer token".into())
}

/// The Unix milliseconds of a UUIDv7.
fn uuid_millis(id: &uuid::Uuid) -> Option<i64> {
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    i64::try_from(secs)
        .ok()?
        .checked_mul(1000)?
        .checked_add(i64::from(nanos / 1_000_000))
}

/// Whether a bearer token has the shape of a JWT: three non-empty
/// dot-separated base64url parts.
pub fn is_jwt_shaped(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KEY: &str = "dGVzdC1qd3Qta2V5LTMyLWJ5dGVzLWxvbmctLS0tISE=";

    fn decode_part(token: &str, i: usize) -> serde_json::Value {
        let part = token.split('.').nth(i).unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    #[test]
    fn issues_the_documented_claims_and_verifies_them() {
        let key = JwtKey::from_base64(KEY).unwrap();
        let user = cp_http::ids::new_id().to_string();
        let issued = key.issue(&user).unwrap();
        assert_eq!(decode_part(&issued.token, 0)["alg"], "HS256");
        let claims = decode_part(&issued.token, 1);
        assert_eq!(claims["sub"], user.as_str());
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["jti"], issued.jti.as_str());
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, TOKEN_TTL_SECS);
        assert!(is_jwt_shaped(&issued.token));
        let verified = key.verify(&issued.token).unwrap();
        assert_eq!(verified.user_id, user);
        assert_eq!(verified.jti, issued.jti);
        assert_eq!(verified.issued_ms, issued.issued_ms);
        assert!((verified.issued_ms / 1000).abs_diff(i64::try_from(iat).unwrap()) <= 1);
    }

    #[test]
    fn refuses_other_keys_and_tampering() {
        let key = JwtKey::from_base64(KEY).unwrap();
        let other = JwtKey::from_base64("b3RoZXIta2V5LW9mLXRoaXJ0eS10d28tYnl0ZXMtISE=").unwrap();
        let user = cp_http::ids::new_id().to_string();
        let token = key.issue(&user).unwrap().token;
        assert!(other.verify(&token).is_err());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = decode_part(&token, 1);
        claims["sub"] = serde_json::json!(cp_http::ids::new_id().to_string());
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).unwrap());
        assert!(key.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn agent_tokens_carry_the_agent_and_are_never_user_tokens() {
        let key = JwtKey::from_base64(KEY).unwrap();
        let agent = cp_http::ids::new_id().to_string();
        let org = cp_http::ids::new_id().to_string();
        let claims = AgentClaims {
            org: org.clone(),
            scopes: vec!["vaults:read".into()],
            vault_ids: vec![cp_http::ids::new_id().to_string()],
            intents_api: true,
        };
        let issued = key.issue_agent(&agent, claims.clone(), 120).unwrap();
        let body = decode_part(&issued.token, 1);
        assert_eq!(body["iss"], AGENT_ISSUER);
        assert_eq!(body["org"], org.as_str());
        assert_eq!(body["vaultIds"][0], claims.vault_ids[0].as_str());
        assert_eq!(body["intentsApi"], true);
        assert_eq!(
            body["exp"].as_u64().unwrap() - body["iat"].as_u64().unwrap(),
            120
        );
        assert_eq!(issued.expires_in, 120);
        match key.verify_any(&issued.token).unwrap() {
            Verified::Agent(v) => {
                assert_eq!(v.agent_id, agent);
                assert_eq!(v.jti, issued.jti);
                assert_eq!(v.agent, claims);
            }
            Verified::User(_) => panic!("an agent token verified as a user's"),
        }
        // Never a user token, and a user token is never an agent's.
        assert!(key.verify(&issued.token).is_err());
        let user = key.issue(&agent).unwrap();
        assert!(matches!(
            key.verify_any(&user.token).unwrap(),
            Verified::User(_)
        ));
        assert!(!decode_part(&user.token, 1)
            .as_object()
            .unwrap()
            .contains_key("org"));
    }

    #[test]
    fn refuses_short_or_missing_keys() {
        assert_eq!(
            JwtKey::from_base64("c2hvcnQ=").unwrap_err(),
            KeyError::Invalid
        );
        assert_eq!(
            JwtKey::from_base64("not base64!").unwrap_err(),
            KeyError::Invalid
        );
    }

    #[test]
    fn tells_jwts_from_other_tokens() {
        assert!(is_jwt_shaped("a.b.c"));
        for not in [
            "a.b",
            "a..c",
            "a.b.c.d",
            "cpk_abc",
            "a.b.c=",
            "operator-token",
        ] {
            assert!(!is_jwt_shaped(not), "{not}");
        }
    }
}
