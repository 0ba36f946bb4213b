//! Client-side customer-managed keys (CMEK).
//!
//! A vault in CMEK mode stores values its clients encrypted themselves with
//! a 256-bit key the control plane never keeps: it keeps only the key's
//! **fingerprint**, the lowercase hex SHA-256 of the 32 raw key bytes, to
//! check that a key presented later is the right one. The server decrypts
//! client ciphertext only while rotating the customer key, when the client
//! sends the old and the new key in headers (`x-cmek-old-key`,
//! `x-cmek-new-key`, standard padded base64 of the 32 bytes) and every value
//! is re-encrypted ([`CmekCipher::reencrypt`]); the keys are dropped (and
//! zeroed) when the request ends.
//!
//! # The client ciphertext format
//!
//! This is the format clients must produce and will get back:
//!
//! ```text
//! base64( nonce (12 bytes) || ciphertext || tag (16 bytes) )
//! ```
//!
//! - AES-256-GCM under the customer key, with a 96-bit nonce that must be
//!   random (or otherwise never repeated under that key);
//! - **no associated data** (an empty AAD), so any AES-GCM library produces
//!   it without configuration; binding to the vault, path and version is
//!   added by the vault's own envelope around it;
//! - base64 is the standard alphabet with padding (RFC 4648 section 4).
//!
//! So a value of n bytes is n + 28 bytes before base64.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cp_http::{ApiError, FieldError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::envelope::{open_raw, seal_raw, EnvelopeError, KEY_LEN, NONCE_LEN, TAG_LEN};

/// The header carrying the current customer key during rotation.
pub const OLD_KEY_HEADER: &str = "x-cmek-old-key";
/// The header carrying the new customer key during rotation.
pub const NEW_KEY_HEADER: &str = "x-cmek-new-key";
/// The body field carrying a key fingerprint.
pub const FINGERPRINT_FIELD: &str = "fingerprint";

/// Why a customer key, fingerprint or client ciphertext was refused. No
/// variant carries key bytes or plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CmekError {
    /// The header is not standard padded base64.
    #[error("{header}: must be the key in standard base64 with padding")]
    KeyNotBase64 {
        /// The header at fault.
        header: &'static str,
    },
    /// The header decodes to something other than 32 bytes.
    #[error("{header}: must decode to exactly {KEY_LEN} bytes")]
    KeyLength {
        /// The header at fault.
        header: &'static str,
    },
    /// The fingerprint is not 64 lowercase hex characters.
    #[error("fingerprint: must be 64 lowercase hexadecimal characters (SHA-256 of the key)")]
    FingerprintFormat,
    /// The key in `field` (a header or `fingerprint`) does not match the
    /// fingerprint it was checked against.
    #[error("{field}: does not match the key fingerprint")]
    Mismatch {
        /// The header or body field at fault.
        field: &'static str,
    },
    /// Client ciphertext that is not base64 or shorter than a nonce and a
    /// tag.
    #[error("value: must be base64 of nonce (12 bytes) || ciphertext || tag (16 bytes)")]
    Format,
    /// Client ciphertext that does not decrypt under the given key (wrong
    /// key or tampered data).
    #[error("{header}: does not decrypt the value")]
    Decrypt {
        /// The header whose key was used.
        header: &'static str,
    },
    /// The system random number generator or the cipher failed.
    #[error("encryption failed")]
    Encrypt,
}

impl CmekError {
    /// The header or body field at fault, if any.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Self::KeyNotBase64 { header }
            | Self::KeyLength { header }
            | Self::Decrypt { header } => Some(header),
            Self::FingerprintFormat => Some(FINGERPRINT_FIELD),
            Self::Mismatch { field } => Some(field),
            Self::Format => Some("value"),
            Self::Encrypt => None,
        }
    }
}

impl From<CmekError> for ApiError {
    /// A `400 VALIDATION_ERROR` naming the header or field; a failure of
    /// our own (the RNG) is a bare `500`.
    fn from(error: CmekError) -> Self {
        match error.field() {
            Some(field) => {
                let text = error.to_string();
                // The field is already named by FieldError; drop the prefix.
                let message = text
                    .strip_prefix(field)
                    .and_then(|rest| rest.strip_prefix(": "))
                    .unwrap_or(&text);
                ApiError::validation(vec![FieldError::new(field, message)])
            }
            None => ApiError::Internal,
        }
    }
}

/// A customer's 256-bit key, held only for the request that brought it.
/// Not printable; zeroed on drop.
pub struct CmekKey([u8; KEY_LEN]);

impl CmekKey {
    /// Parses the value of `header` (one of [`OLD_KEY_HEADER`],
    /// [`NEW_KEY_HEADER`]): standard padded base64 of exactly 32 bytes,
    /// surrounding whitespace ignored.
    pub fn from_header(header: &'static str, value: &str) -> Result<Self, CmekError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(value.trim())
                .map_err(|_| CmekError::KeyNotBase64 { header })?,
        );
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CmekError::KeyLength { header })?;
        Ok(Self(key))
    }

    /// A key from its raw bytes (tests, clients built on this crate).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint(Sha256::digest(self.0).into())
    }

    /// Whether this key has `fingerprint`, compared in constant time.
    pub fn matches(&self, fingerprint: &Fingerprint) -> bool {
        self.fingerprint().0.ct_eq(&fingerprint.0).into()
    }

    /// Checks this key against `fingerprint`; a mismatch names `field`.
    pub fn check(&self, fingerprint: &Fingerprint, field: &'static str) -> Result<(), CmekError> {
        if self.matches(fingerprint) {
            Ok(())
        } else {
            Err(CmekError::Mismatch { field })
        }
    }
}

impl Drop for CmekKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for CmekKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CmekKey(<redacted>)")
    }
}

/// The SHA-256 of a customer key: safe to store and show (it identifies the
/// key, it does not reveal it). Displayed as 64 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Parses the body field `fingerprint`: 64 lowercase hex characters.
    pub fn parse(text: &str) -> Result<Self, CmekError> {
        let lowercase_hex = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !lowercase_hex {
            return Err(CmekError::FingerprintFormat);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| CmekError::FingerprintFormat)?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// AES-256-GCM with a customer key in the client format described in the
/// module documentation: `nonce (12) || ciphertext || tag (16)`, no
/// associated data, base64 on the wire.
#[derive(Debug, Clone, Copy)]
pub struct CmekCipher;

impl CmekCipher {
    /// Bytes a value grows by when encrypted (nonce and tag).
    pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

    /// Encrypts `plaintext` under `key` with a fresh random nonce.
    pub fn encrypt_with(key: &CmekKey, plaintext: &[u8]) -> Result<Vec<u8>, CmekError> {
        seal_raw(&key.0, plaintext, &[]).map_err(|_| CmekError::Encrypt)
    }

    /// Decrypts a client blob under `key`, the key of `header` (named when
    /// it does not decrypt).
    pub fn decrypt_with(
        key: &CmekKey,
        header: &'static str,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CmekError> {
        match open_raw(&key.0, blob, &[]) {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            Err(EnvelopeError::Format) => Err(CmekError::Format),
            Err(_) => Err(CmekError::Decrypt { header }),
        }
    }

    /// Rotation: decrypts `blob` with `old` (the [`OLD_KEY_HEADER`] key)
    /// and encrypts the plaintext with `new` under a fresh nonce. The
    /// plaintext is zeroed before this returns.
    pub fn reencrypt(old: &CmekKey, new: &CmekKey, blob: &[u8]) -> Result<Vec<u8>, CmekError> {
        let plaintext = Self::decrypt_with(old, OLD_KEY_HEADER, blob)?;
        Self::encrypt_with(new, &plaintext)
    }

    /// A blob as it travels (standard padded base64).
    pub fn encode(blob: &[u8]) -> String {
        STANDARD.encode(blob)
    }

    /// A blob from the wire, checked to be long enough for a nonce and a
    /// tag.
    pub fn decode(text: &str) -> Result<Vec<u8>, CmekError> {
        let blob = STANDARD.decode(text).map_err(|_| CmekError::Format)?;
        if blob.len() < Self::OVERHEAD {
            return Err(CmekError::Format);
        }
        Ok(blob)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aes_gcm::aead::{Aead, KeyInit};
    use aes_gcm::{Aes256Gcm, Key, Nonce};

    fn key(byte: u8) -> CmekKey {
        CmekKey::from_bytes([byte; KEY_LEN])
    }

    #[test]
    fn keys_parse_from_headers() {
        let text = STANDARD.encode([7u8; 32]);
        let parsed = CmekKey::from_header(OLD_KEY_HEADER, &format!(" {text} ")).unwrap();
        assert!(parsed.matches(&key(7).fingerprint()));
        let cases: &[(&str, CmekError)] = &[
            (
                "",
                CmekError::KeyLength {
                    header: NEW_KEY_HEADER,
                },
            ),
            (
                "not base64!",
                CmekError::KeyNotBase64 {
                    header: NEW_KEY_HEADER,
                },
            ),
            // Unpadded and URL-safe base64 are refused.
            (
                text.trim_end_matches('='),
                CmekError::KeyNotBase64 {
                    header: NEW_KEY_HEADER,
                },
            ),
            (
                &STANDARD
                    .encode([0xfb; 32])
                    .replace('+', "-")
                    .replace('/', "_"),
                CmekError::KeyNotBase64 {
                    header: NEW_KEY_HEADER,
                },
            ),
            (
                &STANDARD.encode([1u8; 31]),
                CmekError::KeyLength {
                    header: NEW_KEY_HEADER,
                },
            ),
            (
                &STANDARD.encode([1u8; 33]),
                CmekError::KeyLength {
                    header: NEW_KEY_HEADER,
                },
            ),
        ];
        for (value, want) in cases {
            assert_eq!(
                CmekKey::from_header(NEW_KEY_HEADER, value)
                    .map(|_| ())
                    .unwrap_err(),
                *want,
                "{value:?}"
            );
        }
    }

    #[test]
    fn fingerprints_are_sha256_hex() {
        // SHA-256 of 32 zero bytes.
        let zero = key(0).fingerprint();
        assert_eq!(
            zero.to_string(),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert_eq!(Fingerprint::parse(&zero.to_string()).unwrap(), zero);
        assert!(key(0).matches(&zero));
        assert!(!key(1).matches(&zero));
        assert_eq!(key(0).check(&zero, OLD_KEY_HEADER), Ok(()));
        assert_eq!(
            key(1).check(&zero, OLD_KEY_HEADER),
            Err(CmekError::Mismatch {
                field: OLD_KEY_HEADER
            })
        );
        let upper = zero.to_string().to_uppercase();
        for bad in [
            "",
            "abc",
            &upper,
            &"g".repeat(64),
            &"a".repeat(63),
            &"a".repeat(65),
        ] {
            assert_eq!(
                Fingerprint::parse(bad),
                Err(CmekError::FingerprintFormat),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_name_the_header_or_field() {
        let cases: &[(CmekError, &str, &str)] = &[
            (
                CmekError::KeyNotBase64 {
                    header: OLD_KEY_HEADER,
                },
                "x-cmek-old-key",
                "must be the key in standard base64 with padding",
            ),
            (
                CmekError::KeyLength {
                    header: NEW_KEY_HEADER,
                },
                "x-cmek-new-key",
                "must decode to exactly 32 bytes",
            ),
            (
                CmekError::FingerprintFormat,
                "fingerprint",
                "must be 64 lowercase hexadecimal characters (SHA-256 of the key)",
            ),
            (
                CmekError::Mismatch {
                    field: FINGERPRINT_FIELD,
                },
                "fingerprint",
                "does not match the key fingerprint",
            ),
            (
                CmekError::Decrypt {
                    header: OLD_KEY_HEADER,
                },
                "x-cmek-old-key",
                "does not decrypt the value",
            ),
            (
                CmekError::Format,
                "value",
                "must be base64 of nonce (12 bytes) || ciphertext || tag (16 bytes)",
            ),
        ];
        for (error, field, message) in cases {
            let ApiError::Validation { fields, .. } = ApiError::from(*error) else {
                panic!("{error:?}");
            };
            assert_eq!(fields, vec![FieldError::new(*field, *message)]);
        }
        assert_eq!(ApiError::from(CmekError::Encrypt), ApiError::Internal);
    }

    #[test]
    fn round_trip_in_the_documented_format() {
        let k = key(3);
        let blob = CmekCipher::encrypt_with(&k, b"s3cr3t-value").unwrap();
        assert_eq!(blob.len(), 12 + b"s3cr3t-value".len() + 16);
        assert_ne!(blob, CmekCipher::encrypt_with(&k, b"s3cr3t-value").unwrap());
        assert!(!blob.windows(6).any(|w| w == b"s3cr3t"));
        let wire = CmekCipher::encode(&blob);
        let back = CmekCipher::decode(&wire).unwrap();
        assert_eq!(
            CmekCipher::decrypt_with(&k, OLD_KEY_HEADER, &back)
                .unwrap()
                .as_slice(),
            b"s3cr3t-value"
        );

        // What a client does with a plain AES-GCM library: nonce || ct+tag.
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from([3u8; 32]));
        let nonce = [9u8; 12];
        let mut client = nonce.to_vec();
        client.extend(
            cipher
                .encrypt(&Nonce::from(nonce), &b"from a client"[..])
                .unwrap(),
        );
        assert_eq!(
            CmekCipher::decrypt_with(&k, OLD_KEY_HEADER, &client)
                .unwrap()
                .as_slice(),
            b"from a client"
        );
        // And the client opens ours the same way.
        let (n, ct) = blob.split_at(12);
        let opened = cipher.decrypt(&Nonce::try_from(n).unwrap(), ct).unwrap();
        assert_eq!(opened, b"s3cr3t-value");
    }

    #[test]
    fn wrong_keys_and_bad_blobs_fail() {
        let blob = CmekCipher::encrypt_with(&key(1), b"value").unwrap();
        assert_eq!(
            CmekCipher::decrypt_with(&key(2), NEW_KEY_HEADER, &blob)
                .map(|_| ())
                .unwrap_err(),
            CmekError::Decrypt {
                header: NEW_KEY_HEADER
            }
        );
        let mut tampered = blob.clone();
        tampered[14] ^= 1;
        assert!(CmekCipher::decrypt_with(&key(1), OLD_KEY_HEADER, &tampered).is_err());
        assert_eq!(
            CmekCipher::decrypt_with(&key(1), OLD_KEY_HEADER, &blob[..27])
                .map(|_| ())
                .unwrap_err(),
            CmekError::Format
        );
        assert_eq!(CmekCipher::decode("***"), Err(CmekError::Format));
        assert_eq!(
            CmekCipher::decode(&STANDARD.encode([0u8; 27])),
            Err(CmekError::Format)
        );
        assert_eq!(
            CmekCipher::decode(&STANDARD.encode([0u8; 28]))
                .unwrap()
                .len(),
            28
        );
    }

    #[test]
    fn reencryption_moves_a_value_to_the_new_key() {
        let (old, new) = (key(1), key(2));
        let blob = CmekCipher::encrypt_with(&old, b"rotate me").unwrap();
        let moved = CmekCipher::reencrypt(&old, &new, &blob).unwrap();
        assert_eq!(
            CmekCipher::decrypt_with(&new, NEW_KEY_HEADER, &moved)
                .unwrap()
                .as_slice(),
            b"rotate me"
        );
        assert!(CmekCipher::decrypt_with(&old, OLD_KEY_HEADER, &moved).is_err());
        // The wrong old key is reported on the old key's header.
        assert_eq!(
            CmekCipher::reencrypt(&new, &old, &blob).unwrap_err(),
            CmekError::Decrypt {
                header: OLD_KEY_HEADER
            }
        );
    }

    #[test]
    fn keys_never_print() {
        assert_eq!(format!("{:?}", key(0x41)), "CmekKey(<redacted>)");
        let error = CmekKey::from_header(OLD_KEY_HEADER, "QUFBQUFB")
            .map(|_| ())
            .unwrap_err();
        assert!(!format!("{error:?} {error}").contains("QUFB"));
    }
}
