//! User session tokens: HS256 JWTs (`jwt-simple`) signed with the key in
//! the Spin variable `jwt_secret` (base64, at least 32 bytes).
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
use jwt_simple::prelude::{
    Claims, Duration, HS256Key, MACLike, NoCustomClaims, VerificationOptions,
};

use cp_platform::{Failure, Platform};

/// The `iss` of every token.
pub const ISSUER: &str = "agent-control-plane";
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
        let id = cp_http::ids::new_id();
        let jti = id.to_string();
        let issued_ms = uuid_millis(&id).unwrap_or_default();
        let claims = Claims::create(Duration::from_secs(TOKEN_TTL_SECS))
            .with_issuer(ISSUER)
            .with_subject(user_id)
            .with_jwt_id(&jti);
        let token = self
            .0
            .authenticate(claims)
            .map_err(|e| Failure::with_cause(ApiError::Internal, format!("signing a JWT: {e}")))?;
        Ok(IssuedToken {
            token,
            jti,
            issued_ms,
            expires_in: TOKEN_TTL_SECS,
        })
    }

    /// Verifies signature, issuer, expiry and the presence of `sub`/`jti`.
    /// The error says nothing about which check failed beyond "expired".
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, ApiError> {
        let invalid = || ApiError::Unauthorized("invalid bearer token".into());
        let options = VerificationOptions {
            allowed_issuers: Some(HashSet::from([ISSUER.to_owned()])),
            time_tolerance: Some(Duration::from_secs(TOLERANCE_SECS)),
            max_token_length: Some(4096),
            ..VerificationOptions::default()
        };
        let claims = self
            .0
            .verify_token::<NoCustomClaims>(token, Some(options))
            .map_err(|e| {
                if e.to_string().contains("expired") {
                    ApiError::Unauthorized("the token has expired".into())
                } else {
                    invalid()
                }
            })?;
        let (Some(user_id), Some(jti), Some(exp)) =
            (claims.subject, claims.jwt_id, claims.expires_at)
        else {
            return Err(invalid());
        };
        let id = cp_http::ids::parse_id(&jti).map_err(|_| invalid())?;
        let issued_ms = uuid_millis(&id).ok_or_else(invalid)?;
        cp_http::ids::parse_id(&user_id).map_err(|_| invalid())?;
        Ok(VerifiedToken {
            user_id,
            jti,
            issued_ms,
            expires_at_secs: i64::try_from(exp.as_secs()).map_err(|_| invalid())?,
        })
    }
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
