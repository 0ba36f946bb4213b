//! The master keys of a deployment: the local one (the `secrets_key`
//! variable), the local one it replaced (`secrets_key_previous`, while a
//! rotation runs) and, when `kms_url` is set, a key held by an AWS KMS.
//!
//! New vaults are wrapped by the **current** master key: the KMS key when
//! there is one, else the local one. Each vault row names the key that
//! wrapped it ([`Keyring::current_id`]'s form: `local:<16 hex>` or
//! `aws-kms:<key id>`), and is always unwrapped by that key, so a
//! deployment can change its master key without touching existing vaults;
//! [`Keyring::rewrap`] then moves them, one by one, to the current key.

use std::time::Duration;

use cp_http::outbound::HttpTransport;
use cp_http::ApiError;
use cp_platform::{Failure, Platform, RequestContext};
use uuid::Uuid;

use crate::envelope::{EnvelopeError, LocalMasterKey, MasterKeyProvider, VaultKey};
use crate::kms::{AwsCredentials, KmsClient, KmsConfig, KmsError, KmsHealth, KmsMasterKey};

/// The KMS endpoint (empty: no KMS; vaults are wrapped locally).
pub const KMS_URL_VARIABLE: &str = "kms_url";
/// The local master key a rotation moves away from (unwraps only).
pub const PREVIOUS_KEY_VARIABLE: &str = "secrets_key_previous";

/// The master keys this request may use.
pub struct Keyring<'p, T> {
    local: Option<LocalMasterKey>,
    previous: Option<LocalMasterKey>,
    kms: Option<KmsMasterKey<'p, T>>,
}

/// A vault key wrapped by a master key, as a vault row stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// The wrapped bytes.
    pub bytes: Vec<u8>,
    /// The provider kind (`local`, `aws-kms`).
    pub provider: &'static str,
    /// The master key's name ([`Keyring::current_id`]).
    pub key_id: String,
}

/// Why the KMS settings cannot be used (names the variable, never a value).
fn kms_unconfigured(what: &str) -> Failure {
    Failure::with_cause(
        ApiError::Unavailable(format!(
            "the vault's KMS is misconfigured: {what}; see the kms_* variables"
        )),
        what.to_owned(),
    )
}

impl<'p, T: HttpTransport> Keyring<'p, T> {
    /// The keys the component's variables configure.
    pub fn from_variables(
        variable: impl Fn(&str) -> Option<String>,
        transport: &'p T,
        local: Option<LocalMasterKey>,
    ) -> Result<Self, Failure> {
        let set = |name: &str| variable(name).filter(|v| !v.is_empty());
        let previous = match set(PREVIOUS_KEY_VARIABLE) {
            None => None,
            Some(text) => Some(LocalMasterKey::new(
                cp_crypto::MasterKey::from_base64(&text).map_err(|_| {
                    Failure::with_cause(
                        ApiError::Unavailable(
                            "secrets_key_previous is not a base64-encoded 32-byte key".into(),
                        ),
                        "bad secrets_key_previous",
                    )
                })?,
            )),
        };
        let kms = match set(KMS_URL_VARIABLE) {
            None => None,
            Some(endpoint) => {
                let key_id =
                    set("kms_key_id").ok_or_else(|| kms_unconfigured("kms_key_id is not set"))?;
                let access = set("kms_access_key_id")
                    .ok_or_else(|| kms_unconfigured("kms_access_key_id is not set"))?;
                let secret = set("kms_secret_access_key")
                    .ok_or_else(|| kms_unconfigured("kms_secret_access_key is not set"))?;
                let timeout_ms = match set("kms_timeout_ms") {
                    None => 10_000,
                    Some(ms) => ms
                        .parse::<u64>()
                        .ok()
                        .filter(|ms| (1..=120_000).contains(ms))
                        .ok_or_else(|| kms_unconfigured("kms_timeout_ms is not 1-120000"))?,
                };
                let config = KmsConfig {
                    endpoint,
                    region: set("kms_region").unwrap_or_else(|| "us-east-1".into()),
                    credentials: AwsCredentials::new(access, secret),
                    timeout: Duration::from_millis(timeout_ms),
                };
                Some(KmsMasterKey::new(KmsClient::new(config, transport), key_id))
            }
        };
        Ok(Self {
            local,
            previous,
            kms,
        })
    }

    /// The name of the master key new vaults are wrapped with.
    pub fn current_id(&self) -> Result<String, Failure> {
        match (&self.kms, &self.local) {
            (Some(kms), _) => Ok(kms.id()),
            (None, Some(local)) => Ok(local.id()),
            (None, None) => Err(no_local_key()),
        }
    }

    /// Wraps a vault's key with the current master key: the KMS key when
    /// there is one.
    pub async fn wrap_new(&self, vault: Uuid, key: &VaultKey) -> Result<WrappedKey, Failure> {
        let (bytes, provider) = match (&self.kms, &self.local) {
            (Some(kms), _) => (provider_call(kms.wrap(vault, key).await)?, kms.kind()),
            (None, Some(local)) => (provider_call(local.wrap(vault, key).await)?, local.kind()),
            (None, None) => return Err(no_local_key()),
        };
        Ok(WrappedKey {
            bytes,
            provider,
            key_id: self.current_id()?,
        })
    }

    /// Unwraps a vault's key with the master key its row names (`key_id`;
    /// rows older than key names try the local keys in turn).
    pub async fn unwrap(
        &self,
        provider: &str,
        key_id: Option<&str>,
        vault: Uuid,
        wrapped: &[u8],
    ) -> Result<VaultKey, Failure> {
        if provider == "aws-kms" {
            // A KMS ciphertext names its own key: Decrypt finds it, also
            // after `kms_key_id` moved to another key.
            return match &self.kms {
                Some(kms) => provider_call(kms.unwrap(vault, wrapped).await),
                None => Err(kms_unconfigured(
                    "this vault's key is held by a KMS, and kms_url is not set",
                )),
            };
        }
        let locals = [&self.local, &self.previous];
        let mut candidates = locals.iter().filter_map(|k| k.as_ref());
        match key_id {
            Some(id) => match candidates.find(|k| k.id() == id) {
                Some(local) => provider_call(local.unwrap(vault, wrapped).await),
                None if self.local.is_none() => Err(no_local_key()),
                None => Err(Failure::with_cause(
                    ApiError::Unavailable(format!(
                        "this vault's key is wrapped by the master key {id}, which this \
                         deployment does not have: set secrets_key_previous to it, then \
                         rewrap (POST /api/v1/vault-master-key/rewrap)"
                    )),
                    format!("unknown master key {id}"),
                )),
            },
            None => {
                let mut last = None;
                for local in candidates {
                    match local.unwrap(vault, wrapped).await {
                        Ok(key) => return Ok(key),
                        Err(e) => last = Some(e),
                    }
                }
                match last {
                    Some(e) => provider_call(Err(e)),
                    None => Err(no_local_key()),
                }
            }
        }
    }

    /// Master-key rotation for one vault: its key unwrapped by the master
    /// key that wrapped it and wrapped by the current one. The vault key
    /// itself is unchanged, so no data key and no value is touched.
    pub async fn rewrap(
        &self,
        provider: &str,
        key_id: Option<&str>,
        vault: Uuid,
        wrapped: &[u8],
    ) -> Result<WrappedKey, Failure> {
        let key = self.unwrap(provider, key_id, vault, wrapped).await?;
        self.wrap_new(vault, &key).await
    }

    /// The KMS key's health, when there is a KMS.
    pub async fn kms_health(&self) -> Option<Result<KmsHealth, KmsError>> {
        match &self.kms {
            Some(kms) => Some(kms.health().await),
            None => None,
        }
    }

    /// Whether a local master key is configured.
    pub fn has_local(&self) -> bool {
        self.local.is_some()
    }
}

fn no_local_key() -> Failure {
    Failure::with_cause(
        ApiError::Unavailable(
            "the vault cannot seal or open secrets: the `secrets_key` variable is not set or \
             not a base64-encoded 32-byte key; configure it (32 random bytes, base64)"
                .into(),
        ),
        "no secrets_key",
    )
}

/// A provider's failure: a KMS that cannot be reached or refuses is a 503
/// (retry later; the cause is logged), anything else a bug.
fn provider_call<V>(result: Result<V, EnvelopeError>) -> Result<V, Failure> {
    result.map_err(|e| match &e {
        EnvelopeError::Kms(kms) => Failure::with_cause(
            ApiError::Unavailable("the vault's KMS cannot be used right now; retry later".into()),
            format!("KMS: {kms}"),
        ),
        _ => Failure::with_cause(ApiError::Internal, format!("master key: {e}")),
    })
}

/// The keyring of a request: the `secrets_key` variable and the `kms_*`
/// variables.
pub(crate) fn keyring<'p, P: Platform>(
    ctx: &RequestContext<'p, P>,
) -> Result<Keyring<'p, P::Http>, Failure> {
    let local = cp_platform::config::secrets_key(ctx.platform)
        .ok()
        .map(LocalMasterKey::new);
    Keyring::from_variables(
        |name| ctx.platform.variable(name),
        ctx.platform.http(),
        local,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::envelope::VersionRef;
    use crate::path::SecretPath;
    use crate::testing::block_on;
    use base64::Engine as _;
    use cp_http::outbound::{OutboundRequest, OutboundResponse, TransportError};

    /// No KMS in these tests: any outbound call is a failure.
    struct NoNetwork;

    impl HttpTransport for NoNetwork {
        async fn send(&self, _: OutboundRequest) -> Result<OutboundResponse, TransportError> {
            Err(TransportError::Connect("no network in unit tests".into()))
        }
    }

    const VAULT: Uuid = Uuid::from_u128(0x7a017);
    const OTHER_VAULT: Uuid = Uuid::from_u128(0x07e4);

    fn key_text(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    }

    fn local(byte: u8) -> LocalMasterKey {
        LocalMasterKey::new(cp_crypto::MasterKey::from_bytes(&[byte; 32]).unwrap())
    }

    /// A keyring with local key `current` and, optionally, `previous`.
    fn ring(current: u8, previous: Option<u8>) -> Keyring<'static, NoNetwork> {
        let vars: Vec<(String, String)> = previous
            .map(|p| (PREVIOUS_KEY_VARIABLE.to_owned(), key_text(p)))
            .into_iter()
            .collect();
        Keyring::from_variables(
            |name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
            &NoNetwork,
            Some(local(current)),
        )
        .unwrap()
    }

    fn status(result: Result<impl Sized, Failure>) -> u16 {
        match result {
            Ok(_) => 200,
            Err(f) => f.error.status(),
        }
    }

    #[test]
    fn key_names_tell_keys_apart_without_revealing_them() {
        assert_eq!(local(1).id(), local(1).id());
        assert_ne!(local(1).id(), local(2).id());
        let id = local(1).id();
        assert!(id.starts_with("local:") && id.len() == 22, "{id}");
        assert!(!id.contains(&key_text(1)));
        assert_eq!(ring(1, Some(2)).current_id().unwrap(), id);
    }

    #[test]
    fn a_rotation_rewraps_the_vault_key_and_leaves_every_value_as_it_was() {
        let old = ring(1, None);
        let key = VaultKey::generate().unwrap();
        let wrapped = block_on(old.wrap_new(VAULT, &key)).unwrap();
        assert_eq!(wrapped.key_id, local(1).id());
        let path = SecretPath::parse("svc/key").unwrap();
        let at = VersionRef {
            vault: VAULT,
            path: &path,
            version: 1,
        };
        let sealed = key.seal_version(&at, b"hunter2").unwrap();
        drop(key);

        // The deployment moves to key 2, keeping key 1 as the previous one:
        // the old vault still opens, by the name of its key.
        let rotating = ring(2, Some(1));
        let id = Some(wrapped.key_id.as_str());
        assert_eq!(
            status(block_on(rotating.unwrap(
                "local",
                id,
                VAULT,
                &wrapped.bytes
            ))),
            200
        );
        let moved = block_on(rotating.rewrap("local", id, VAULT, &wrapped.bytes)).unwrap();
        assert_eq!(moved.key_id, local(2).id());
        assert_ne!(moved.bytes, wrapped.bytes);

        // Once moved, key 2 alone opens it, and the value sealed before the
        // rotation opens unchanged.
        let after = ring(2, None);
        let key =
            block_on(after.unwrap("local", Some(&moved.key_id), VAULT, &moved.bytes)).unwrap();
        assert_eq!(key.open_version(&at, &sealed).unwrap().expose(), b"hunter2");
        // Bound to its vault.
        assert_eq!(
            status(block_on(after.unwrap(
                "local",
                Some(&moved.key_id),
                OTHER_VAULT,
                &moved.bytes
            ))),
            500
        );
    }

    #[test]
    fn a_vault_under_a_key_the_deployment_lacks_is_unavailable_and_says_which() {
        let key = VaultKey::generate().unwrap();
        let wrapped = block_on(ring(1, None).wrap_new(VAULT, &key)).unwrap();
        let err =
            block_on(ring(2, None).unwrap("local", Some(&wrapped.key_id), VAULT, &wrapped.bytes))
                .err()
                .unwrap();
        assert_eq!(err.error.status(), 503);
        assert!(
            err.error.to_string().contains(&wrapped.key_id),
            "{}",
            err.error
        );
        // Rows from before key names try the local keys in turn.
        assert_eq!(
            status(block_on(ring(2, Some(1)).unwrap(
                "local",
                None,
                VAULT,
                &wrapped.bytes
            ))),
            200
        );
        // A previous key that is not a key is a configuration error.
        let bad = Keyring::from_variables(
            |name| (name == PREVIOUS_KEY_VARIABLE).then(|| "short".to_owned()),
            &NoNetwork,
            Some(local(1)),
        );
        assert_eq!(status(bad), 503);
    }
}
