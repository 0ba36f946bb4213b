//! Passwords: the policy a new password must meet, and argon2id hashing.
//!
//! Policy ([`check_policy`]): 12 to 128 characters; not one character
//! repeated; not containing the local part of the user's email
//! (case-insensitive, when that part has 3 or more characters: a shorter one
//! would forbid common letters); not one of the most common passwords
//! ([`COMMON`], compared case-insensitively).
//!
//! Hashing: argon2id v19 with the `argon2` crate's defaults, m = 19456 KiB,
//! t = 2, p = 1, which are OWASP's recommended minimum for argon2id; stored
//! as a PHC string (parameters and salt included, so they can change later
//! without invalidating stored hashes).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest password, in characters.
pub const MIN_CHARS: usize = 12;
/// Longest password, in characters.
pub const MAX_CHARS: usize = 128;

/// The policy as the OpenAPI document and error messages state it.
pub const POLICY: &str = "12-128 characters; not a single repeated character; must not contain \
     the local part of the email (case-insensitive, when it has 3 or more characters); not one of \
     the most common passwords.";

/// Common passwords of policy length (lowercase). Shorter common passwords
/// are already refused by the length rule.
const COMMON: &[&str] = &[
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "p@ssw0rd1234",
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456123456",
    "123123123123",
    "qwerty123456",
    "qwertyuiop12",
    "qwertyuiop123",
    "qwertyqwerty",
    "qwertyuiopasdf",
    "asdfghjkl123",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "zaq12wsxcde3",
    "abc123456789",
    "abcdefghijkl",
    "abcd12345678",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "changeme1234",
    "administrator",
    "football1234",
    "baseball1234",
    "sunshine1234",
    "princess1234",
    "superman1234",
    "monkey123456",
    "dragon123456",
    "trustno1trustno1",
    "correcthorsebatterystaple",
];

/// A fixed argon2id hash (of a random, forgotten password) with the same
/// parameters as [`hash`]: a login for an unknown email is verified against
/// it, so it takes as long as a wrong password.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Y3AtZHVtbXktc2FsdC0xMjM$5wGQK5k8xqjEAv/tg+6Z2uZf0q7F3k9sQ8gl9ki6EE0";

/// Checks a new password against the policy; the message says which rule
/// failed (never the password).
pub fn check_policy(password: &str, email: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if !(MIN_CHARS..=MAX_CHARS).contains(&chars) {
        return Err(format!(
            "must be between {MIN_CHARS} and {MAX_CHARS} characters"
        ));
    }
    let mut it = password.chars();
    if let Some(first) = it.next() {
        if it.all(|c| c == first) {
            return Err("must not be a single repeated character".into());
        }
    }
    let lower = password.to_lowercase();
    let local = email
        .split('@')
        .next()
        .unwrap_or_default()
        .trim()
        .to_lowercase();
    if local.chars().count() >= 3 && lower.contains(&local) {
        return Err("must not contain the email address's name".into());
    }
    if COMMON.contains(&lower.as_str()) {
        return Err("is too common; choose a less guessable password".into());
    }
    Ok(())
}

/// Why a password could not be hashed or checked (never a client's fault).
#[derive(Debug, Clone, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes a password with a fresh random salt (argon2id PHC string).
pub fn hash(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| HashError(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the stored hash. The comparison inside
/// `argon2` is constant-time.
pub fn verify(password: &str, stored: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(stored).map_err(|e| HashError(e.to_string()))?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(HashError(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const EMAIL: &str = "Ada.Lovelace@example.com";

    #[test]
    fn accepts_a_reasonable_password() {
        assert_eq!(check_policy("violet-otter-river-42", EMAIL), Ok(()));
        // A local part under 3 characters is not checked.
        assert_eq!(
            check_policy("violet-otter-ab-river", "ab@example.com"),
            Ok(())
        );
    }

    #[test]
    fn enforces_each_rule() {
        let rule = |p: &str| check_policy(p, EMAIL).unwrap_err();
        assert!(rule("short-pw-1").contains("between 12 and 128"));
        assert!(rule(&"x1".repeat(65)).contains("between 12 and 128"));
        assert!(check_policy(&"x1".repeat(64), EMAIL).is_ok());
        assert!(rule("zzzzzzzzzzzzzz").contains("repeated"));
        assert!(rule("my-ADA.LOVELACE-secret").contains("email"));
        assert!(rule("Password1234").contains("common"));
        assert!(rule("QWERTYQWERTY").contains("common"));
    }

    #[test]
    fn counts_characters_not_bytes() {
        // 12 two-byte characters: long enough.
        assert!(check_policy("ééééééééééé1", EMAIL).is_ok());
        // 11 characters in 22 bytes: too short.
        assert!(check_policy("éééééééééé1", EMAIL).is_err());
    }

    #[test]
    fn hashes_and_verifies_with_the_documented_parameters() {
        let h = hash("violet-otter-river-42").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("violet-otter-river-42", &h).unwrap());
        assert!(!verify("violet-otter-river-43", &h).unwrap());
        assert_ne!(h, hash("violet-otter-river-42").unwrap(), "salted");
    }

    #[test]
    fn the_dummy_hash_has_the_same_parameters_and_matches_nothing_usual() {
        let real = hash("violet-otter-river-42").unwrap();
        let params = |h: &str| h.split('$').nth(3).unwrap().to_owned();
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(!verify("violet-otter-river-42", DUMMY_HASH).unwrap());
    }
}
