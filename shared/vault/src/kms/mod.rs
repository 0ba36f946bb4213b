//! An AWS KMS client over the outbound-HTTP port, and the master-key
//! provider built on it ([`KmsMasterKey`]).
//!
//! KMS speaks the AWS JSON 1.1 protocol: every call is `POST /` with the
//! operation in `X-Amz-Target: TrentService.<Operation>`, a JSON body in
//! `application/x-amz-json-1.1`, binary fields in base64, and errors as a
//! JSON body whose `__type` names the exception. Requests are signed with
//! SigV4 ([`sigv4`]). The client builds requests and decodes answers; the
//! transport (Spin's outbound HTTP in a component, hyper natively) sends
//! them, so all of it is tested without a network.
//!
//! Nothing here puts key material in an error, a log line or `Debug`
//! output: plaintexts returned are [`Zeroizing`] buffers, error variants
//! carry only the exception name and the HTTP status (KMS validation
//! messages can quote request fields, so they are dropped). The body of an
//! `Encrypt` request holds the plaintext in base64; once handed to the
//! transport it is the transport's and is freed, not wiped.

pub mod sigv4;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use cp_http::outbound::{HttpTransport, OutboundRequest, OutboundResponse, TransportError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::envelope::{EnvelopeError, MasterKeyProvider, VaultKey, KEY_LEN};
pub use sigv4::{AwsCredentials, SignError, Signer};

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// How a KMS call failed. Carries exception names and HTTP statuses only:
/// never key material, plaintext, credentials or KMS's free-text messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// `NotFoundException`: no such key (or alias).
    #[error("KMS key not found")]
    NotFound,
    /// `DisabledException`: the key is disabled.
    #[error("KMS key is disabled")]
    Disabled,
    /// `KMSInvalidStateException`: the key is pending deletion, pending
    /// import, …
    #[error("KMS key is not in a usable state")]
    InvalidState,
    /// `InvalidCiphertextException`: the blob was tampered with, or the
    /// encryption context differs from the one it was encrypted with.
    #[error("KMS refused the ciphertext: tampered or wrong encryption context")]
    InvalidCiphertext,
    /// `IncorrectKeyException`: the blob was encrypted under another key
    /// than the one named.
    #[error("KMS ciphertext belongs to another key")]
    IncorrectKey,
    /// `AccessDeniedException`: the credentials may not use the key.
    #[error("KMS access denied")]
    AccessDenied,
    /// The credentials were refused (`UnrecognizedClientException`,
    /// `InvalidSignatureException`, `ExpiredTokenException`, …).
    #[error("KMS refused the credentials ({code})")]
    Credentials {
        /// The exception name.
        code: String,
    },
    /// `ThrottlingException` / `LimitExceededException`.
    #[error("KMS throttled the request")]
    Throttled,
    /// KMS or a dependency failed (`KMSInternalException`,
    /// `DependencyTimeoutException`, `KeyUnavailableException`, a 5xx).
    #[error("KMS unavailable ({status} {code})")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The exception name, or empty.
        code: String,
    },
    /// Any other refusal (`ValidationException`, `InvalidKeyUsageException`,
    /// …).
    #[error("KMS rejected the request ({status} {code})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The exception name, or empty.
        code: String,
    },
    /// No answer: timeout, connection failure, destination not allowed.
    #[error("KMS unreachable: {0}")]
    Transport(#[from] TransportError),
    /// A success answer that is not what KMS promises.
    #[error("unexpected KMS response: {0}")]
    Decode(&'static str),
    /// The configured endpoint is not an absolute http(s) URL.
    #[error("the KMS endpoint is not an absolute http(s) URL")]
    Endpoint,
}

impl KmsError {
    /// Whether the same call may succeed later: throttling, KMS failures,
    /// timeouts and connection failures (not a denied destination).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled | Self::Unavailable { .. } => true,
            Self::Transport(error) => !matches!(error, TransportError::Denied(_)),
            _ => false,
        }
    }

    /// Maps an error answer. The exception comes from the body's `__type`
    /// (`NotFoundException` or `com.amazonaws.kms#NotFoundException`), else
    /// from the `x-amzn-errortype` header.
    fn from_response(response: &OutboundResponse) -> Self {
        #[derive(Deserialize)]
        struct ErrorBody {
            #[serde(rename = "__type")]
            kind: Option<String>,
        }
        let from_body = serde_json::from_slice::<ErrorBody>(&response.body)
            .ok()
            .and_then(|body| body.kind);
        let from_header = response
            .header("x-amzn-errortype")
            .map(|value| value.split(':').next().unwrap_or(value).to_owned());
        let full = from_body.or(from_header).unwrap_or_default();
        let code = full.rsplit('#').next().unwrap_or("").to_owned();
        let status = response.status;
        match code.as_str() {
            "NotFoundException" => Self::NotFound,
            "DisabledException" => Self::Disabled,
            "KMSInvalidStateException" => Self::InvalidState,
            "InvalidCiphertextException" => Self::InvalidCiphertext,
            "IncorrectKeyException" => Self::IncorrectKey,
            "AccessDeniedException" => Self::AccessDenied,
            "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "IncompleteSignatureException"
            | "MissingAuthenticationToken"
            | "ExpiredTokenException"
            | "InvalidClientTokenId" => Self::Credentials { code },
            "ThrottlingException" | "LimitExceededException" => Self::Throttled,
            "KMSInternalException" | "DependencyTimeoutException" | "KeyUnavailableException" => {
                Self::Unavailable { status, code }
            }
            _ if status >= 500 => Self::Unavailable { status, code },
            _ => Self::Rejected { status, code },
        }
    }
}

/// Where KMS is and who calls it.
#[derive(Debug, Clone)]
pub struct KmsConfig {
    /// Base URL: `https://kms.<region>.amazonaws.com`, or a local
    /// implementation (`http://127.0.0.1:55100`).
    pub endpoint: String,
    /// The region requests are signed for.
    pub region: String,
    /// The credentials.
    pub credentials: AwsCredentials,
    /// Upper bound of one call.
    pub timeout: Duration,
}

impl KmsConfig {
    /// AWS's own endpoint for `region`, with a 10-second timeout.
    pub fn aws(region: &str, credentials: AwsCredentials) -> Self {
        Self {
            endpoint: format!("https://kms.{region}.amazonaws.com"),
            region: region.to_owned(),
            credentials,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Key/value pairs bound to a ciphertext: decryption must present the same
/// ones. Logged by CloudTrail, so never secret.
pub type EncryptionContext = BTreeMap<String, String>;

/// A data key from `GenerateDataKey`: the plaintext (zeroed on drop, not
/// printed) and the same key encrypted under the KMS key.
pub struct DataKey {
    /// The 32 key bytes.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key encrypted under the KMS key.
    pub ciphertext_blob: Vec<u8>,
    /// The ARN of the KMS key used.
    pub key_id: String,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"<redacted>")
            .field("ciphertext_blob_len", &self.ciphertext_blob.len())
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// What `DescribeKey` (or `CreateKey`) says about a key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    /// The key id (a UUID).
    pub key_id: String,
    /// Its ARN.
    #[serde(default)]
    pub arn: String,
    /// Whether it is enabled.
    #[serde(default)]
    pub enabled: bool,
    /// `Enabled`, `Disabled`, `PendingDeletion`, …
    #[serde(default)]
    pub key_state: String,
}

impl KeyMetadata {
    /// Whether the key can encrypt and decrypt now.
    pub fn is_usable(&self) -> bool {
        self.enabled && self.key_state == "Enabled"
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadataAnswer {
    key_metadata: KeyMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CiphertextAnswer {
    ciphertext_blob: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PlaintextAnswer {
    plaintext: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyAnswer {
    ciphertext_blob: String,
    plaintext: String,
    #[serde(default)]
    key_id: String,
}

/// A KMS client over an [`HttpTransport`]. Cheap to create: build one per
/// request around the transport at hand.
pub struct KmsClient<'a, T> {
    config: KmsConfig,
    signer: Signer,
    transport: &'a T,
    clock: fn() -> DateTime<Utc>,
}

impl<T> fmt::Debug for KmsClient<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<'a, T: HttpTransport> KmsClient<'a, T> {
    /// A client for `config`, sending through `transport`, signing with the
    /// system clock.
    pub fn new(config: KmsConfig, transport: &'a T) -> Self {
        let signer = Signer::new("kms", config.region.clone(), config.credentials.clone());
        Self {
            config,
            signer,
            transport,
            clock: Utc::now,
        }
    }

    /// The same client signing with `clock` (tests).
    pub fn with_clock(mut self, clock: fn() -> DateTime<Utc>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &KmsConfig {
        &self.config
    }

    /// The signed request for `operation` with `body`.
    fn request(&self, operation: &str, body: &Value) -> Result<OutboundRequest, KmsError> {
        let url = format!("{}/", self.config.endpoint.trim_end_matches('/'));
        let body = serde_json::to_vec(body).map_err(|_| KmsError::Decode("request encoding"))?;
        let mut headers = vec![
            ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
            (
                "x-amz-target".to_owned(),
                format!("TrentService.{operation}"),
            ),
        ];
        self.signer
            .sign("POST", &url, &mut headers, &body, (self.clock)())
            .map_err(|_| KmsError::Endpoint)?;
        Ok(OutboundRequest {
            method: "POST",
            url,
            headers,
            body,
            timeout: self.config.timeout,
        })
    }

    async fn call<R: DeserializeOwned>(&self, operation: &str, body: Value) -> Result<R, KmsError> {
        let request = self.request(operation, &body)?;
        let response = self.transport.send(request).await?;
        if !(200..300).contains(&response.status) {
            return Err(KmsError::from_response(&response));
        }
        serde_json::from_slice(&response.body).map_err(|_| KmsError::Decode("malformed JSON body"))
    }

    /// `Encrypt`: `plaintext` (at most 4 KiB) under `key_id`, bound to
    /// `context`. Returns the ciphertext blob.
    pub async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        let body = json!({
            "KeyId": key_id,
            "Plaintext": STANDARD.encode(plaintext),
            "EncryptionContext": context,
        });
        let answer: CiphertextAnswer = self.call("Encrypt", body).await?;
        decode_base64(&answer.ciphertext_blob)
    }

    /// `Decrypt`: a blob from [`KmsClient::encrypt`] with the same
    /// `context`. `key_id` pins the key that must have encrypted it.
    pub async fn decrypt(
        &self,
        key_id: &str,
        ciphertext_blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let body = json!({
            "KeyId": key_id,
            "CiphertextBlob": STANDARD.encode(ciphertext_blob),
            "EncryptionContext": context,
        });
        let answer: PlaintextAnswer = self.call("Decrypt", body).await?;
        let answer = Zeroizing::new(answer.plaintext);
        decode_base64(&answer).map(Zeroizing::new)
    }

    /// `GenerateDataKey` (`AES_256`) under `key_id`, bound to `context`.
    pub async fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<DataKey, KmsError> {
        let body = json!({
            "KeyId": key_id,
            "KeySpec": "AES_256",
            "EncryptionContext": context,
        });
        let answer: DataKeyAnswer = self.call("GenerateDataKey", body).await?;
        let encoded = Zeroizing::new(answer.plaintext);
        let plaintext = Zeroizing::new(decode_base64(&encoded)?);
        if plaintext.len() != KEY_LEN {
            return Err(KmsError::Decode("data key of the wrong length"));
        }
        Ok(DataKey {
            plaintext,
            ciphertext_blob: decode_base64(&answer.ciphertext_blob)?,
            key_id: answer.key_id,
        })
    }

    /// `DescribeKey`.
    pub async fn describe_key(&self, key_id: &str) -> Result<KeyMetadata, KmsError> {
        let answer: KeyMetadataAnswer =
            self.call("DescribeKey", json!({ "KeyId": key_id })).await?;
        Ok(answer.key_metadata)
    }

    /// `CreateKey`: a symmetric encryption key (setup tools and tests; the
    /// control plane itself only uses keys it is given).
    pub async fn create_key(&self, description: &str) -> Result<KeyMetadata, KmsError> {
        let body = json!({
            "Description": description,
            "KeyUsage": "ENCRYPT_DECRYPT",
            "KeySpec": "SYMMETRIC_DEFAULT",
        });
        let answer: KeyMetadataAnswer = self.call("CreateKey", body).await?;
        Ok(answer.key_metadata)
    }
}

fn decode_base64(text: &str) -> Result<Vec<u8>, KmsError> {
    STANDARD
        .decode(text)
        .map_err(|_| KmsError::Decode("a binary field is not base64"))
}

/// The encryption context of a vault key: the vault's id and what the blob
/// is, so a wrapped vault key does not decrypt for another vault (nor as
/// anything else encrypted under the same KMS key).
pub fn vault_key_context(vault: Uuid) -> EncryptionContext {
    BTreeMap::from([
        ("cp-vault:purpose".to_owned(), "vault-key".to_owned()),
        ("cp-vault:vault-id".to_owned(), vault.to_string()),
    ])
}

/// Whether a KMS master key is fit for use, from `DescribeKey`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KmsHealth {
    /// The key's ARN.
    pub key_arn: String,
    /// Its state (`Enabled`, `Disabled`, `PendingDeletion`, …).
    pub key_state: String,
    /// Whether it can wrap and unwrap now.
    pub usable: bool,
}

/// A master key that never leaves AWS KMS: vault keys are wrapped with
/// `Encrypt` and unwrapped with `Decrypt`, under [`vault_key_context`].
/// The wrapped form is KMS's ciphertext blob as it is (KMS versions its own
/// format).
#[derive(Debug)]
pub struct KmsMasterKey<'a, T> {
    client: KmsClient<'a, T>,
    key_id: String,
}

impl<'a, T: HttpTransport> KmsMasterKey<'a, T> {
    /// The provider for the KMS key `key_id` (id, ARN or alias).
    pub fn new(client: KmsClient<'a, T>, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }

    /// The client.
    pub fn client(&self) -> &KmsClient<'a, T> {
        &self.client
    }

    /// The key's name as stored with what it wraps (`aws-kms:` and the
    /// configured id, ARN or alias).
    pub fn id(&self) -> String {
        format!("aws-kms:{}", self.key_id)
    }

    /// The key's health (`DescribeKey`): an error when KMS cannot be
    /// reached or refuses, else whether the key is usable.
    pub async fn health(&self) -> Result<KmsHealth, KmsError> {
        let metadata = self.client.describe_key(&self.key_id).await?;
        Ok(KmsHealth {
            usable: metadata.is_usable(),
            key_arn: metadata.arn,
            key_state: metadata.key_state,
        })
    }
}

impl<T: HttpTransport> MasterKeyProvider for KmsMasterKey<'_, T> {
    fn kind(&self) -> &'static str {
        "aws-kms"
    }

    async fn wrap(&self, vault: Uuid, key: &VaultKey) -> Result<Vec<u8>, EnvelopeError> {
        Ok(self
            .client
            .encrypt(&self.key_id, key.expose(), &vault_key_context(vault))
            .await?)
    }

    async fn unwrap(&self, vault: Uuid, wrapped: &[u8]) -> Result<VaultKey, EnvelopeError> {
        let plaintext = self
            .client
            .decrypt(&self.key_id, wrapped, &vault_key_context(vault))
            .await?;
        VaultKey::from_bytes(&plaintext)
    }
}

#[cfg(test)]
mod tests;
