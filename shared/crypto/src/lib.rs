//! Secrets at rest: AES-256-GCM under a master key.
//!
//! Every sealed value gets a fresh random 96-bit nonce from the system RNG
//! (WASI `random` on wasm32-wasip2), and callers bind the value to where it
//! is stored through the associated data (for example a resource id and a
//! credential id), so a ciphertext copied to another row does not open.
//! Nothing here ever formats a key or a plaintext: [`MasterKey`]'s `Debug`
//! is redacted and errors carry no data.

#![deny(missing_docs)]

mod mac;
mod token;

pub use mac::MacKey;
pub use token::{is_token, new_token, token_hash, TOKEN_BYTES};

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Length of a master key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a nonce in bytes (96 bits, GCM's standard nonce).
pub const NONCE_LEN: usize = 12;

/// Why a key could not be loaded or a value not sealed or opened. The
/// variants say what went wrong, never with which data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key text is not base64.
    #[error("the master key is not valid base64")]
    KeyNotBase64,
    /// The key does not decode to 32 bytes.
    #[error("the master key must decode to {KEY_LEN} bytes")]
    KeyLength,
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Encryption failed (message too long for GCM).
    #[error("encryption failed")]
    Seal,
    /// Wrong key, wrong associated data, or a tampered nonce/ciphertext.
    #[error("decryption failed: wrong key, wrong associated data or tampered data")]
    Open,
}

/// The 256-bit key secrets are sealed under.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    /// Base of the [`MacKey`]s derived from this key ([`MasterKey::mac_key`]),
    /// so the AES key itself is never used as an HMAC key.
    mac_base: MacKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A sealed value: store both parts; neither is secret on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The random nonce (12 bytes).
    pub nonce: Vec<u8>,
    /// Ciphertext followed by the 16-byte authentication tag.
    pub ciphertext: Vec<u8>,
}

impl MasterKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::KeyLength);
        }
        let key = Key::<Aes256Gcm>::try_from(bytes).map_err(|_| CryptoError::KeyLength)?;
        Ok(Self {
            cipher: Aes256Gcm::new(&key),
            mac_base: MacKey::derive(bytes, "master"),
        })
    }

    /// A key from standard base64 (surrounding whitespace ignored), as
    /// configuration carries it.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError::KeyNotBase64)?;
        Self::from_bytes(&bytes)
    }

    /// A keyed-digest key for `purpose`, derived from this master key.
    pub fn mac_key(&self, purpose: &str) -> MacKey {
        self.mac_base.derive_from(purpose)
    }

    /// Encrypts `plaintext` bound to `aad` under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, CryptoError> {
        let nonce = Nonce::try_generate().map_err(|_| CryptoError::Random)?;
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts what [`MasterKey::seal`] produced with the same `aad`.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = Nonce::try_from(sealed.nonce.as_slice()).map_err(|_| CryptoError::Open)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Open)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; KEY_LEN]).unwrap()
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let k = key(7);
        let a = k.seal(b"hunter2-very-secret", b"server/cred").unwrap();
        let b = k.seal(b"hunter2-very-secret", b"server/cred").unwrap();
        assert_eq!(a.nonce.len(), NONCE_LEN);
        assert_ne!(a.nonce, b.nonce, "a nonce is never reused");
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(a.ciphertext.len(), b"hunter2-very-secret".len() + 16);
        assert!(!a.ciphertext.windows(7).any(|w| w == b"hunter2".as_slice()));
        assert_eq!(k.open(&a, b"server/cred").unwrap(), b"hunter2-very-secret");
        assert_eq!(k.open(&k.seal(b"", b"").unwrap(), b"").unwrap(), b"");
    }

    #[test]
    fn wrong_aad_wrong_key_and_tampering_fail() {
        let k = key(1);
        let sealed = k.seal(b"value", b"aad-1").unwrap();
        assert_eq!(k.open(&sealed, b"aad-2"), Err(CryptoError::Open));
        assert_eq!(key(2).open(&sealed, b"aad-1"), Err(CryptoError::Open));
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert_eq!(k.open(&flipped, b"aad-1"), Err(CryptoError::Open));
        let mut tag = sealed.clone();
        let last = tag.ciphertext.len() - 1;
        tag.ciphertext[last] ^= 0x80;
        assert_eq!(k.open(&tag, b"aad-1"), Err(CryptoError::Open));
        let mut nonce = sealed.clone();
        nonce.nonce[3] ^= 1;
        assert_eq!(k.open(&nonce, b"aad-1"), Err(CryptoError::Open));
        let mut short = sealed;
        short.nonce.pop();
        assert_eq!(k.open(&short, b"aad-1"), Err(CryptoError::Open));
    }

    #[test]
    fn keys_from_base64() {
        let text = STANDARD.encode([9u8; KEY_LEN]);
        let k = MasterKey::from_base64(&format!(" {text}\n")).unwrap();
        let sealed = k.seal(b"x", b"").unwrap();
        assert_eq!(key(9).open(&sealed, b"").unwrap(), b"x");
        assert_eq!(
            MasterKey::from_base64("not base64!").unwrap_err(),
            CryptoError::KeyNotBase64
        );
        assert_eq!(
            MasterKey::from_base64(&STANDARD.encode([1u8; 16])).unwrap_err(),
            CryptoError::KeyLength
        );
        assert_eq!(
            MasterKey::from_base64("").unwrap_err(),
            CryptoError::KeyLength
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let text = format!("{:?}", key(0x41));
        assert_eq!(text, "MasterKey(<redacted>)");
    }
}
