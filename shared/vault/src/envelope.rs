//! Envelope encryption of secret versions, in three layers:
//!
//! ```text
//! master key (local or KMS)  ──wraps──►  vault key (one per vault)
//! vault key                  ──wraps──►  data key (one per secret version)
//! data key                   ──seals──►  the version's value
//! ```
//!
//! Why three: a value is sealed under a key used exactly once, so a nonce
//! collision under one key is impossible in practice; a vault key can be
//! handed to a KMS-backed master key without the KMS ever seeing a value;
//! and rotating the master key re-wraps one small blob per vault
//! ([`crate::keyring::Keyring::rewrap`]) without reading or rewriting a
//! single secret.
//!
//! Every layer is AES-256-GCM with a fresh random 96-bit nonce, and every
//! layer binds where its output is stored through the associated data:
//! - a value: label `value`, the vault id, the path and the version;
//! - a data key: label `data-key`, the vault id, the path and the version,
//!   so a wrapped data key moved to another secret (or another version of
//!   the same one) does not unwrap;
//! - a vault key under a local master key: label `vault-key` and the vault
//!   id (under KMS: the encryption context, see [`crate::kms`]).
//!
//! The associated data is a label followed by each part length-prefixed
//! (big-endian u32), so no two (vault, path, version) triples, and no
//! two labels, encode to the same bytes.
//!
//! Byte formats (format version 1), each starting with its format byte so
//! a later format can be told apart and read alongside:
//! - a sealed value ([`EncryptedVersion::ciphertext`]) and a wrapped data key
//!   ([`EncryptedVersion::wrapped_data_key`]) and a locally wrapped vault key:
//!   `0x01 || nonce (12) || ciphertext || tag (16)`;
//! - [`EncryptedVersion::to_bytes`], both in one column:
//!   `0x01 || len(wrapped_data_key) as u32 BE || wrapped_data_key || ciphertext`.

use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use cp_crypto::{CryptoError, MasterKey, Sealed};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use crate::kms::KmsError;
use crate::path::SecretPath;

/// Length of vault and data keys, in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// Length of a GCM nonce, in bytes.
pub const NONCE_LEN: usize = 12;
/// Length of a GCM tag, in bytes.
pub const TAG_LEN: usize = 16;
/// The byte every format-1 blob starts with.
pub const FORMAT_V1: u8 = 1;

/// Why sealing, opening, wrapping or unwrapping failed. No variant carries
/// key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Encryption failed (a message too long for GCM).
    #[error("encryption failed")]
    Seal,
    /// Wrong key, wrong binding (vault, path, version) or tampered bytes.
    #[error("decryption failed: wrong key, wrong binding or tampered data")]
    Open,
    /// The bytes are not in a format this code reads (unknown format
    /// version, truncated).
    #[error("unrecognised encrypted data format")]
    Format,
    /// A key of the wrong length.
    #[error("a key must be {KEY_LEN} bytes")]
    KeyLength,
    /// The KMS refused or failed (see [`KmsError`]).
    #[error(transparent)]
    Kms(#[from] KmsError),
}

impl From<CryptoError> for EnvelopeError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::Random => Self::Random,
            CryptoError::Seal => Self::Seal,
            CryptoError::KeyLength | CryptoError::KeyNotBase64 => Self::KeyLength,
            CryptoError::Open => Self::Open,
        }
    }
}

/// Bytes that must not be printed or linger: a decrypted value. `Debug`
/// shows only the length; memory is zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes, for the one place that needs them (the response body).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// A vault's own 256-bit key, which wraps its secrets' data keys. Stored
/// only wrapped by a master key ([`MasterKeyProvider`]). Not printable;
/// zeroed on drop.
#[derive(Clone)]
pub struct VaultKey([u8; KEY_LEN]);

impl VaultKey {
    /// A new random key.
    pub fn generate() -> Result<Self, EnvelopeError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|_| EnvelopeError::Random)?;
        Ok(Self(bytes))
    }

    /// A key from its 32 raw bytes (an unwrapped key).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| EnvelopeError::KeyLength)?;
        Ok(Self(bytes))
    }

    /// The raw bytes, for wrapping.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Seals a new version of the secret at `at` under a fresh data key.
    pub fn seal_version(
        &self,
        at: &VersionRef<'_>,
        plaintext: &[u8],
    ) -> Result<EncryptedVersion, EnvelopeError> {
        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(data_key.as_mut_slice()).map_err(|_| EnvelopeError::Random)?;
        let ciphertext = seal_v1(&data_key, plaintext, &at.aad(Label::Value))?;
        let wrapped_data_key = seal_v1(&self.0, data_key.as_slice(), &at.aad(Label::DataKey))?;
        Ok(EncryptedVersion {
            ciphertext,
            wrapped_data_key,
        })
    }

    /// Opens what [`VaultKey::seal_version`] sealed for the same `at`.
    pub fn open_version(
        &self,
        at: &VersionRef<'_>,
        sealed: &EncryptedVersion,
    ) -> Result<SecretBytes, EnvelopeError> {
        let data_key = Zeroizing::new(open_v1(
            &self.0,
            &sealed.wrapped_data_key,
            &at.aad(Label::DataKey),
        )?);
        let data_key: &[u8; KEY_LEN] = data_key
            .as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::Format)?;
        Ok(SecretBytes::new(open_v1(
            data_key,
            &sealed.ciphertext,
            &at.aad(Label::Value),
        )?))
    }
}

impl Drop for VaultKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

/// Where a secret version lives: what its ciphertexts are bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRef<'a> {
    /// The vault.
    pub vault: Uuid,
    /// The secret's path in it.
    pub path: &'a SecretPath,
    /// The version number.
    pub version: u32,
}

/// The purpose an associated-data encoding is for, so that bytes sealed for
/// one purpose never open for another.
#[derive(Clone, Copy)]
enum Label {
    Value,
    DataKey,
    VaultKey,
}

impl Label {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Value => b"cp-vault/value",
            Self::DataKey => b"cp-vault/data-key",
            Self::VaultKey => b"cp-vault/vault-key",
        }
    }
}

/// `label` and each part, each preceded by its length (u32 big-endian).
fn encode_aad(label: Label, parts: &[&[u8]]) -> Vec<u8> {
    let mut aad = Vec::new();
    for part in std::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
        // Parts are ids, paths (≤ 512 bytes) and labels: far below u32.
        aad.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

impl VersionRef<'_> {
    fn aad(&self, label: Label) -> Vec<u8> {
        encode_aad(
            label,
            &[
                self.vault.as_bytes(),
                self.path.as_str().as_bytes(),
                &self.version.to_be_bytes(),
            ],
        )
    }
}

/// A sealed secret version: store both parts (neither is secret on its
/// own). Each part is a format-1 blob (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedVersion {
    /// The value under the version's data key.
    pub ciphertext: Vec<u8>,
    /// The data key under the vault key.
    pub wrapped_data_key: Vec<u8>,
}

impl EncryptedVersion {
    /// Both parts in one blob, for a single column.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.wrapped_data_key.len() + self.ciphertext.len());
        out.push(FORMAT_V1);
        let len = u32::try_from(self.wrapped_data_key.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.wrapped_data_key);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Reads what [`EncryptedVersion::to_bytes`] wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let (&format, rest) = bytes.split_first().ok_or(EnvelopeError::Format)?;
        if format != FORMAT_V1 || rest.len() < 4 {
            return Err(EnvelopeError::Format);
        }
        let (len, rest) = rest.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(EnvelopeError::Format);
        }
        let (wrapped_data_key, ciphertext) = rest.split_at(len);
        Ok(Self {
            ciphertext: ciphertext.to_vec(),
            wrapped_data_key: wrapped_data_key.to_vec(),
        })
    }
}

/// AES-256-GCM under `key` with a fresh nonce: `nonce || ciphertext || tag`.
pub(crate) fn seal_raw(
    key: &[u8; KEY_LEN],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let nonce = Nonce::try_generate().map_err(|_| EnvelopeError::Random)?;
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| EnvelopeError::Seal)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens `nonce || ciphertext || tag` sealed by [`seal_raw`].
pub(crate) fn open_raw(
    key: &[u8; KEY_LEN],
    blob: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(EnvelopeError::Format);
    }
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce).map_err(|_| EnvelopeError::Format)?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    cipher
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| EnvelopeError::Open)
}

fn seal_v1(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut out = vec![FORMAT_V1];
    out.extend_from_slice(&seal_raw(key, plaintext, aad)?);
    Ok(out)
}

fn open_v1(key: &[u8; KEY_LEN], blob: &[u8], aad: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    match blob.split_first() {
        Some((&FORMAT_V1, rest)) => open_raw(key, rest, aad),
        _ => Err(EnvelopeError::Format),
    }
}

/// The associated data binding a wrapped vault key to its vault, for
/// master keys that take bytes ([`LocalMasterKey`]).
fn vault_key_aad(vault: Uuid) -> Vec<u8> {
    encode_aad(Label::VaultKey, &[vault.as_bytes()])
}

/// What wraps vault keys: a master key held by the control plane
/// ([`LocalMasterKey`]) or one that never leaves a KMS
/// ([`crate::kms::KmsMasterKey`]). A wrapped vault key is bound to its
/// vault: it does not unwrap for another.
#[allow(async_fn_in_trait)]
pub trait MasterKeyProvider {
    /// A short name of the provider kind (`local`, `aws-kms`), stored with
    /// the wrapped key so the right provider is asked to unwrap it.
    fn kind(&self) -> &'static str;

    /// Wraps `key`, the key of `vault`.
    async fn wrap(&self, vault: Uuid, key: &VaultKey) -> Result<Vec<u8>, EnvelopeError>;

    /// Unwraps what [`MasterKeyProvider::wrap`] returned for the same vault.
    async fn unwrap(&self, vault: Uuid, wrapped: &[u8]) -> Result<VaultKey, EnvelopeError>;
}

/// The master key held by the control plane ([`cp_crypto::MasterKey`], from
/// its configuration). Wrapped vault keys are format-1 blobs:
/// `0x01 || nonce (12) || ciphertext || tag`, the nonce and ciphertext being
/// [`cp_crypto::Sealed`]'s.
#[derive(Debug, Clone)]
pub struct LocalMasterKey {
    key: MasterKey,
}

impl LocalMasterKey {
    /// A provider over `key`.
    pub fn new(key: MasterKey) -> Self {
        Self { key }
    }

    /// The key's public name, stored with what it wraps (`local:` and 16
    /// hex digits of a MAC under the key): which key wrapped a vault is
    /// known without trying keys, and says nothing about the key.
    pub fn id(&self) -> String {
        let digest = self.key.mac_key("cp/vault/master-key-id").digest(&[b"v1"]);
        format!("local:{}", &digest[..16])
    }

    fn wrap_now(&self, vault: Uuid, key: &VaultKey) -> Result<Vec<u8>, EnvelopeError> {
        let sealed = self.key.seal(key.expose(), &vault_key_aad(vault))?;
        let mut out = Vec::with_capacity(1 + sealed.nonce.len() + sealed.ciphertext.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&sealed.nonce);
        out.extend_from_slice(&sealed.ciphertext);
        Ok(out)
    }

    fn unwrap_now(&self, vault: Uuid, wrapped: &[u8]) -> Result<VaultKey, EnvelopeError> {
        let rest = match wrapped.split_first() {
            Some((&FORMAT_V1, rest)) if rest.len() >= NONCE_LEN + TAG_LEN => rest,
            _ => return Err(EnvelopeError::Format),
        };
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let sealed = Sealed {
            nonce: nonce.to_vec(),
            ciphertext: ciphertext.to_vec(),
        };
        let bytes = Zeroizing::new(self.key.open(&sealed, &vault_key_aad(vault))?);
        VaultKey::from_bytes(&bytes)
    }
}

impl MasterKeyProvider for LocalMasterKey {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn wrap(&self, vault: Uuid, key: &VaultKey) -> Result<Vec<u8>, EnvelopeError> {
        self.wrap_now(vault, key)
    }

    async fn unwrap(&self, vault: Uuid, wrapped: &[u8]) -> Result<VaultKey, EnvelopeError> {
        self.unwrap_now(vault, wrapped)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::block_on;

    const VAULT: Uuid = Uuid::from_u128(0x7a017);
    const OTHER_VAULT: Uuid = Uuid::from_u128(0x07e4);
    const VALUE: &[u8] = b"postgres://app:correct-horse-battery-staple@db/prod";

    fn path(text: &str) -> SecretPath {
        SecretPath::parse(text).unwrap()
    }

    fn master(byte: u8) -> LocalMasterKey {
        LocalMasterKey::new(MasterKey::from_bytes(&[byte; 32]).unwrap())
    }

    #[test]
    fn versions_round_trip() {
        let key = VaultKey::generate().unwrap();
        let p = path("db/url");
        let at = VersionRef {
            vault: VAULT,
            path: &p,
            version: 3,
        };
        let sealed = key.seal_version(&at, VALUE).unwrap();
        assert_eq!(key.open_version(&at, &sealed).unwrap().expose(), VALUE);
        assert_eq!(sealed.ciphertext[0], FORMAT_V1);
        assert_eq!(sealed.wrapped_data_key[0], FORMAT_V1);
        assert_eq!(
            sealed.ciphertext.len(),
            1 + NONCE_LEN + VALUE.len() + TAG_LEN
        );
        assert_eq!(
            sealed.wrapped_data_key.len(),
            1 + NONCE_LEN + KEY_LEN + TAG_LEN
        );
        // Through the single-column form too.
        let back = EncryptedVersion::from_bytes(&sealed.to_bytes()).unwrap();
        assert_eq!(back, sealed);
        assert_eq!(key.open_version(&at, &back).unwrap().expose(), VALUE);
        // The largest value and an empty one.
        let big = vec![0x5a; crate::model::MAX_VALUE_BYTES];
        let sealed = key.seal_version(&at, &big).unwrap();
        assert_eq!(key.open_version(&at, &sealed).unwrap().expose(), big);
        let sealed = key.seal_version(&at, b"").unwrap();
        assert_eq!(key.open_version(&at, &sealed).unwrap().expose(), b"");
    }

    #[test]
    fn two_seals_of_one_value_differ_and_hide_it() {
        let key = VaultKey::generate().unwrap();
        let p = path("db/url");
        let at = VersionRef {
            vault: VAULT,
            path: &p,
            version: 1,
        };
        let a = key.seal_version(&at, VALUE).unwrap();
        let b = key.seal_version(&at, VALUE).unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.wrapped_data_key, b.wrapped_data_key);
        for blob in [&a.ciphertext, &a.wrapped_data_key, &a.to_bytes()] {
            for window in VALUE.windows(6) {
                assert!(!blob.windows(6).any(|w| w == window), "plaintext leaked");
            }
        }
    }

    #[test]
    fn tampering_fails() {
        let key = VaultKey::generate().unwrap();
        let p = path("api/token");
        let at = VersionRef {
            vault: VAULT,
            path: &p,
            version: 1,
        };
        let sealed = key.seal_version(&at, VALUE).unwrap();
        let positions = |len: usize| [1, 5, 1 + NONCE_LEN, len / 2, len - TAG_LEN, len - 1];
        for i in positions(sealed.ciphertext.len()) {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 0x01;
            assert_eq!(
                key.open_version(&at, &bad).unwrap_err(),
                EnvelopeError::Open,
                "ciphertext byte {i}"
            );
        }
        for i in positions(sealed.wrapped_data_key.len()) {
            let mut bad = sealed.clone();
            bad.wrapped_data_key[i] ^= 0x80;
            assert_eq!(
                key.open_version(&at, &bad).unwrap_err(),
                EnvelopeError::Open,
                "wrapped key byte {i}"
            );
        }
        // The format byte, truncation and swapping the two parts.
        let mut bad = sealed.clone();
        bad.ciphertext[0] = 2;
        assert_eq!(
            key.open_version(&at, &bad).unwrap_err(),
            EnvelopeError::Format
        );
        let mut bad = sealed.clone();
        bad.ciphertext.truncate(1 + NONCE_LEN + TAG_LEN - 1);
        assert_eq!(
            key.open_version(&at, &bad).unwrap_err(),
            EnvelopeError::Format
        );
        let mut bad = sealed.clone();
        bad.ciphertext.pop();
        assert_eq!(
            key.open_version(&at, &bad).unwrap_err(),
            EnvelopeError::Open
        );
        let swapped = EncryptedVersion {
            ciphertext: sealed.wrapped_data_key.clone(),
            wrapped_data_key: sealed.ciphertext.clone(),
        };
        assert!(key.open_version(&at, &swapped).is_err());
        let empty = EncryptedVersion {
            ciphertext: vec![],
            wrapped_data_key: vec![],
        };
        assert_eq!(
            key.open_version(&at, &empty).unwrap_err(),
            EnvelopeError::Format
        );
    }

    #[test]
    fn ciphertexts_are_bound_to_vault_path_and_version() {
        let key = VaultKey::generate().unwrap();
        let (p, q) = (path("a/b"), path("a/c"));
        let at = VersionRef {
            vault: VAULT,
            path: &p,
            version: 7,
        };
        let sealed = key.seal_version(&at, VALUE).unwrap();
        for elsewhere in [
            VersionRef { path: &q, ..at },
            VersionRef { version: 8, ..at },
            VersionRef { version: 6, ..at },
            VersionRef {
                vault: OTHER_VAULT,
                ..at
            },
        ] {
            assert_eq!(
                key.open_version(&elsewhere, &sealed).unwrap_err(),
                EnvelopeError::Open,
                "{elsewhere:?}"
            );
        }
        // A wrapped data key grafted onto another secret's ciphertext.
        let other = key
            .seal_version(&VersionRef { path: &q, ..at }, VALUE)
            .unwrap();
        let grafted = EncryptedVersion {
            ciphertext: other.ciphertext.clone(),
            wrapped_data_key: sealed.wrapped_data_key.clone(),
        };
        assert_eq!(
            key.open_version(&at, &grafted).unwrap_err(),
            EnvelopeError::Open
        );
        // A wrong vault key.
        let wrong = VaultKey::generate().unwrap();
        assert_eq!(
            wrong.open_version(&at, &sealed).unwrap_err(),
            EnvelopeError::Open
        );
    }

    #[test]
    fn bindings_encode_unambiguously() {
        // Without length prefixes these would concatenate to the same bytes.
        let (ab, a) = (path("ab"), path("a"));
        let one = VersionRef {
            vault: VAULT,
            path: &ab,
            version: 1,
        };
        let two = VersionRef {
            vault: VAULT,
            path: &a,
            version: 1,
        };
        assert_ne!(one.aad(Label::Value), two.aad(Label::Value));
        assert_ne!(one.aad(Label::Value), one.aad(Label::DataKey));
        assert_ne!(
            encode_aad(Label::Value, &[b"ab", b"c"]),
            encode_aad(Label::Value, &[b"a", b"bc"])
        );
        assert_eq!(
            encode_aad(Label::Value, &[b"xy"])[..],
            [&[0, 0, 0, 14][..], b"cp-vault/value", &[0, 0, 0, 2], b"xy"].concat()[..]
        );
    }

    #[test]
    fn single_column_form_is_checked() {
        for bad in [
            &[][..],
            &[2, 0, 0, 0, 0],
            &[1, 0, 0],
            &[1, 0, 0, 0, 9, 1, 2],
        ] {
            assert_eq!(
                EncryptedVersion::from_bytes(bad).unwrap_err(),
                EnvelopeError::Format,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn local_master_key_wraps_bound_to_the_vault() {
        let master = master(1);
        let key = VaultKey::generate().unwrap();
        let wrapped = block_on(master.wrap(VAULT, &key)).unwrap();
        assert_eq!(wrapped[0], FORMAT_V1);
        assert_eq!(wrapped.len(), 1 + NONCE_LEN + KEY_LEN + TAG_LEN);
        assert!(!wrapped
            .windows(8)
            .any(|w| key.expose().windows(8).any(|k| k == w)));
        let back = block_on(master.unwrap(VAULT, &wrapped)).unwrap();
        assert_eq!(back.expose(), key.expose());
        assert_eq!(master.kind(), "local");

        let err = |r: Result<VaultKey, EnvelopeError>| r.map(|_| ()).unwrap_err();
        assert_eq!(
            err(block_on(master.unwrap(OTHER_VAULT, &wrapped))),
            EnvelopeError::Open
        );
        assert_eq!(
            err(block_on(self::master(2).unwrap(VAULT, &wrapped))),
            EnvelopeError::Open
        );
        let mut bad = wrapped.clone();
        bad[20] ^= 1;
        assert_eq!(
            err(block_on(master.unwrap(VAULT, &bad))),
            EnvelopeError::Open
        );
        assert_eq!(
            err(block_on(master.unwrap(VAULT, &wrapped[..20]))),
            EnvelopeError::Format
        );
        let mut bad = wrapped;
        bad[0] = 9;
        assert_eq!(
            err(block_on(master.unwrap(VAULT, &bad))),
            EnvelopeError::Format
        );
    }

    #[test]
    fn keys_and_values_never_print() {
        let key = VaultKey::from_bytes(&[0x41; KEY_LEN]).unwrap();
        assert_eq!(format!("{key:?}"), "VaultKey(<redacted>)");
        let value = SecretBytes::new(b"hunter2".to_vec());
        assert_eq!(format!("{value:?}"), "SecretBytes(<7 bytes redacted>)");
        assert_eq!(
            format!("{:?}", master(0x41)),
            "LocalMasterKey { key: MasterKey(<redacted>) }"
        );
        assert_eq!(
            VaultKey::from_bytes(&[1; 31]).map(|_| ()).unwrap_err(),
            EnvelopeError::KeyLength
        );
        assert_ne!(
            VaultKey::generate().unwrap().expose(),
            VaultKey::generate().unwrap().expose()
        );
    }
}
