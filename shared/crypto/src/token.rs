//! Bearer secrets (access tokens, API keys, gateway keys): random, prefixed
//! by kind so a leaked one is recognisable (and secret scanners can match
//! it), shown once, and stored only as a SHA-256 digest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::CryptoError;

/// Random bytes in every token (256 bits).
pub const TOKEN_BYTES: usize = 32;

/// A new token: `prefix` followed by [`TOKEN_BYTES`] random bytes in
/// unpadded base64url (43 characters).
pub fn new_token(prefix: &str) -> Result<String, CryptoError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Whether `text` has the form of a [`new_token`] of `prefix`: the prefix
/// and 43 base64url characters (a cheap check before any lookup).
pub fn is_token(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// The stored form of a token: its SHA-256 digest, lowercase hex. Lookups
/// go by digest, so the plaintext is never stored nor compared.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = new_token("cpat_").unwrap();
        let b = new_token("cpat_").unwrap();
        assert!(a.starts_with("cpat_"));
        assert_eq!(a.len(), 5 + 43);
        assert!(is_token(&a, "cpat_"));
        assert!(!is_token(&a, "cpk_"));
        assert!(!is_token(&a[..a.len() - 1], "cpat_"));
        assert!(!is_token(&format!("cpat_{}", "=".repeat(43)), "cpat_"));
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(token_hash(&a), token_hash(&a.clone()));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(!token_hash(&a).contains(&a[5..]));
    }
}
