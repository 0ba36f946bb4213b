//! A bearer token that cannot leak through `Debug`.

use std::fmt;

/// A bearer token: the control plane's service account token, or one minted
/// through the TokenRequest API.
///
/// `Debug` prints `SecretToken(<redacted>)` and there is deliberately no
/// `Display`, so a token cannot end up in a log line or an error message by
/// formatting a struct that holds it. Read the plaintext with
/// [`SecretToken::expose`] at the one place that needs it (a header).
#[derive(Clone)]
pub struct SecretToken(String);

impl SecretToken {
    /// Wraps a token. Surrounding whitespace is trimmed: a token read from a
    /// mounted file usually ends with a newline, which is not valid in a
    /// header value.
    pub fn new(token: impl Into<String>) -> Self {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.len() == token.len() {
            Self(token)
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// The plaintext. Call it only to put the token on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty (an unset variable, an empty file).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

impl From<String> for SecretToken {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

impl From<&str> for SecretToken {
    fn from(token: &str) -> Self {
        Self::new(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let token = SecretToken::new("eyJhbGciOiJSUzI1NiJ9.secret");
        assert_eq!(format!("{token:?}"), "SecretToken(<redacted>)");
        assert_eq!(format!("{token:#?}"), "SecretToken(<redacted>)");
    }

    #[test]
    fn trims_a_trailing_newline() {
        assert_eq!(SecretToken::new("abc\n").expose(), "abc");
        assert_eq!(SecretToken::from(" abc ").expose(), "abc");
        assert!(SecretToken::new("\n").is_empty());
    }
}
