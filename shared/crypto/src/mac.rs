//! Keyed digests (HMAC-SHA256) of values the server must recognise again
//! but that must not be guessable offline from what is stored: request
//! fingerprints whose bodies may hold a password, for example. A plain
//! SHA-256 of `{"password": ...}` could be brute-forced by anyone who can
//! read the table; without the key, a keyed digest cannot.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// A 256-bit key for one purpose, derived from a server secret.
#[derive(Clone)]
pub struct MacKey([u8; 32]);

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length: this cannot fail.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; 32];
    };
    for part in parts {
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl MacKey {
    /// The key for `purpose` derived from `secret` (separate purposes get
    /// unrelated keys, so one digest never stands in for another).
    pub fn derive(secret: &[u8], purpose: &str) -> Self {
        Self(hmac(secret, &[b"cp/mac/v1", purpose.as_bytes()]))
    }

    /// A key for `purpose` derived from this one.
    pub fn derive_from(&self, purpose: &str) -> Self {
        Self::derive(&self.0, purpose)
    }

    /// The keyed digest of `parts`, lowercase hex.
    pub fn digest(&self, parts: &[&[u8]]) -> String {
        hex::encode(hmac(&self.0, parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_key_purpose_and_every_part() {
        let k = MacKey::derive(b"secret", "fingerprint");
        let d = k.digest(&[b"POST", b"/x", b"{}"]);
        assert_eq!(d.len(), 64);
        assert_eq!(d, k.digest(&[b"POST", b"/x", b"{}"]));
        assert_ne!(d, k.digest(&[b"POST", b"/x", b"{ }"]));
        assert_ne!(d, k.digest(&[b"POST", b"/x{}"]));
        assert_ne!(
            d,
            MacKey::derive(b"other", "fingerprint").digest(&[b"POST", b"/x", b"{}"])
        );
        assert_ne!(
            d,
            MacKey::derive(b"secret", "other").digest(&[b"POST", b"/x", b"{}"])
        );
        assert_eq!(format!("{k:?}"), "MacKey(<redacted>)");
    }

    #[test]
    fn matches_rfc_4231_when_used_directly() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let Ok(mut mac) = HmacSha256::new_from_slice(b"Jefe") else {
            panic!("hmac key");
        };
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
