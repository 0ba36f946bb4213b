//! A vault client's customer-managed key (CMEK), as a client of the API
//! holds it: the key itself, its header form, its fingerprint, and the
//! documented client ciphertext format (base64 of nonce || ciphertext ||
//! tag, AES-256-GCM).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// A client's 32-byte key.
pub struct ClientKey {
    bytes: [u8; 32],
}

impl ClientKey {
    /// A key derived from `seed` (the same seed, the same key).
    pub fn new(seed: u8) -> Self {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed.wrapping_mul(31).wrapping_add(i as u8);
        }
        Self { bytes }
    }

    /// A random key (leak scans look for its text).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self { bytes }
    }

    /// The key as the `x-cmek-*-key` headers carry it (base64).
    pub fn header(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// Its SHA-256 fingerprint, lowercase hex.
    pub fn fingerprint(&self) -> String {
        crate::sha256_hex(&self.bytes)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.bytes))
    }

    /// `plaintext` in the documented client format, under a nonce made
    /// from `nonce_seed`.
    pub fn encrypt(&self, plaintext: &str, nonce_seed: u32) -> String {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&nonce_seed.to_be_bytes());
        let mut blob = nonce.to_vec();
        blob.extend(
            self.cipher()
                .encrypt(&Nonce::from(nonce), plaintext.as_bytes())
                .unwrap_or_else(|e| panic!("encrypting with a client key: {e}")),
        );
        STANDARD.encode(blob)
    }

    /// The plaintext of a client-format `value`, if this key opens it.
    pub fn decrypt(&self, value: &str) -> Option<String> {
        let blob = STANDARD.decode(value).ok()?;
        if blob.len() < 12 {
            return None;
        }
        let (nonce, ct) = blob.split_at(12);
        let plain = self
            .cipher()
            .decrypt(&Nonce::try_from(nonce).ok()?, ct)
            .ok()?;
        String::from_utf8(plain).ok()
    }
}
