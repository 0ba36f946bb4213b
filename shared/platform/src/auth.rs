//! Authentication: `Authorization: Bearer <token>` to a [`Principal`].
//!
//! Today one kind of token exists, the operator's static token (Spin variable
//! `api_token`). Later kinds (access tokens, user JWTs, API keys, gateway
//! keys) are recognised by their prefix and added as further branches of
//! [`authenticate`], so every component keeps calling the one function.

use cp_http::{ApiError, ApiRequest};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Failure, Platform};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The platform operator (static token): sees and manages everything.
    Operator,
    /// No credentials (public routes only).
    Anonymous,
}

impl Principal {
    /// The actor name written to audit entries and idempotency scopes.
    pub fn actor(&self) -> String {
        match self {
            Self::Operator => "operator".into(),
            Self::Anonymous => "anonymous".into(),
        }
    }
}

/// Authenticates a request that requires credentials.
pub fn authenticate<P: Platform>(req: &ApiRequest, platform: &P) -> Result<Principal, Failure> {
    let token = bearer_token(req)?;
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
