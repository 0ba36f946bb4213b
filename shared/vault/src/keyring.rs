//! The master keys of a deployment: the local one (the `secrets_key`
//! variable) and, when `kms_url` is set, a key held by an AWS KMS. New
//! vaults are wrapped by the KMS key when there is one, else locally; a
//! vault is always unwrapped by the provider its row names, so a deployment
//! can move to a KMS without touching existing vaults (and
//! [`crate::envelope::rewrap`] moves them one by one).

use std::time::Duration;

use cp_http::outbound::HttpTransport;
use cp_http::ApiError;
use cp_platform::{Failure, Platform, RequestContext};
use uuid::Uuid;

use crate::envelope::{EnvelopeError, LocalMasterKey, MasterKeyProvider, VaultKey};
use crate::kms::{AwsCredentials, KmsClient, KmsConfig, KmsError, KmsHealth, KmsMasterKey};

/// The KMS endpoint (empty: no KMS; vaults are wrapped locally).
pub const KMS_URL_VARIABLE: &str = "kms_url";

/// The master keys this request may use.
pub struct Keyring<'p, T> {
    local: Option<LocalMasterKey>,
    kms: Option<KmsMasterKey<'p, T>>,
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
        Ok(Self { local, kms })
    }

    /// Wraps a new vault's key: with the KMS key when there is one.
    /// Returns the wrapped key and the provider's name for the row.
    pub async fn wrap_new(
        &self,
        vault: Uuid,
        key: &VaultKey,
    ) -> Result<(Vec<u8>, &'static str), Failure> {
        match (&self.kms, &self.local) {
            (Some(kms), _) => Ok((provider_call(kms.wrap(vault, key).await)?, kms.kind())),
            (None, Some(local)) => Ok((provider_call(local.wrap(vault, key).await)?, local.kind())),
            (None, None) => Err(no_local_key()),
        }
    }

    /// Unwraps a vault's key with the provider its row names.
    pub async fn unwrap(
        &self,
        provider: &str,
        vault: Uuid,
        wrapped: &[u8],
    ) -> Result<VaultKey, Failure> {
        match provider {
            "aws-kms" => match &self.kms {
                Some(kms) => provider_call(kms.unwrap(vault, wrapped).await),
                None => Err(kms_unconfigured(
                    "this vault's key is held by a KMS, and kms_url is not set",
                )),
            },
            _ => match &self.local {
                Some(local) => provider_call(local.unwrap(vault, wrapped).await),
                None => Err(no_local_key()),
            },
        }
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
