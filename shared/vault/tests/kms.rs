//! The KMS client against a real AWS KMS implementation (moto's server,
//! started by `scripts/kms.sh`), over the native hyper transport:
//!
//! ```text
//! export CP_KMS_URL=$(scripts/kms.sh start)
//! cargo test -p cp-vault --test kms
//! ```
//!
//! `make test` starts the KMS and sets `CP_KMS_URL`. Without it each test
//! says on stderr that it skipped, except in CI (`CI` set), where a missing
//! KMS fails the run. moto accepts any credentials and
//! does not check signatures (the signer is checked against AWS's vectors
//! in the unit tests); what this proves is the protocol: targets, bodies,
//! base64 fields, encryption contexts and error types as a real
//! implementation has them.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cp_platform::native::HyperTransport;
use cp_vault::envelope::{EnvelopeError, LocalMasterKey, MasterKeyProvider, VersionRef};
use cp_vault::kms::{
    vault_key_context, AwsCredentials, KmsClient, KmsConfig, KmsError, KmsMasterKey,
};
use cp_vault::{SecretPath, VaultKey};
use uuid::Uuid;

/// The KMS endpoint, or `None` (saying so on stderr) when the run has none.
fn kms_url(test: &str) -> Option<String> {
    match std::env::var("CP_KMS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test} needs a KMS in CI: scripts/test.sh starts one (scripts/kms.sh)"
            );
            eprintln!(
                "skipped: {test} needs a KMS: run `export CP_KMS_URL=$(scripts/kms.sh start)` first"
            );
            None
        }
    }
}

fn client<'t>(url: &str, transport: &'t HyperTransport) -> KmsClient<'t, HyperTransport> {
    KmsClient::new(
        KmsConfig {
            endpoint: url.to_owned(),
            region: "us-east-1".into(),
            credentials: AwsCredentials::new("AKIDCPVAULTTEST", "cp-vault-test-secret"),
            timeout: Duration::from_secs(10),
        },
        transport,
    )
}

#[tokio::test]
async fn vault_keys_wrap_and_unwrap_through_kms() {
    let Some(url) = kms_url("vault_keys_wrap_and_unwrap_through_kms") else {
        return;
    };
    let transport = HyperTransport::default();
    let created = client(&url, &transport)
        .create_key("cp-vault integration test")
        .await
        .unwrap();
    assert!(created.is_usable(), "{created:?}");
    let master = KmsMasterKey::new(client(&url, &transport), created.key_id.clone());

    let health = master.health().await.unwrap();
    assert!(health.usable);
    assert_eq!(health.key_arn, created.arn);

    let vault = Uuid::now_v7();
    let key = VaultKey::generate().unwrap();
    let path = SecretPath::parse("db/password").unwrap();
    let at = VersionRef {
        vault,
        path: &path,
        version: 1,
    };
    let sealed = key.seal_version(&at, b"correct horse").unwrap();

    let wrapped = master.wrap(vault, &key).await.unwrap();
    let unwrapped = master.unwrap(vault, &wrapped).await.unwrap();
    assert_eq!(
        unwrapped.open_version(&at, &sealed).unwrap().expose(),
        b"correct horse"
    );

    // Another vault's encryption context does not decrypt it.
    let error = master
        .unwrap(Uuid::now_v7(), &wrapped)
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(error, EnvelopeError::Kms(KmsError::InvalidCiphertext));

    // Nor does a flipped byte.
    let mut tampered = wrapped.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(master.unwrap(vault, &tampered).await.is_err());
}

#[tokio::test]
async fn kms_operations_and_errors() {
    let Some(url) = kms_url("kms_operations_and_errors") else {
        return;
    };
    let transport = HyperTransport::default();
    let kms = client(&url, &transport);
    let key_id = kms.create_key("cp-vault operations").await.unwrap().key_id;
    let context = vault_key_context(Uuid::now_v7());

    let data_key = kms.generate_data_key(&key_id, &context).await.unwrap();
    assert_eq!(data_key.plaintext.len(), 32);
    let again = kms
        .decrypt(&key_id, &data_key.ciphertext_blob, &context)
        .await
        .unwrap();
    assert_eq!(again.as_slice(), data_key.plaintext.as_slice());

    let blob = kms
        .encrypt(&key_id, b"small secret", &context)
        .await
        .unwrap();
    assert!(!blob.windows(6).any(|w| w == b"secret"));
    assert_eq!(
        kms.decrypt(&key_id, &blob, &context)
            .await
            .unwrap()
            .as_slice(),
        b"small secret"
    );
    let wrong_context = vault_key_context(Uuid::now_v7());
    assert_eq!(
        kms.decrypt(&key_id, &blob, &wrong_context)
            .await
            .unwrap_err(),
        KmsError::InvalidCiphertext
    );

    // KMS key ids are UUIDs; this one was never created.
    let missing = Uuid::now_v7().to_string();
    assert_eq!(
        kms.describe_key(&missing).await.unwrap_err(),
        KmsError::NotFound
    );
    assert_eq!(
        kms.encrypt(&missing, b"x", &context).await.unwrap_err(),
        KmsError::NotFound
    );
}

#[tokio::test]
async fn rotating_from_a_local_master_key_to_kms_and_back() {
    let Some(url) = kms_url("rotating_from_a_local_master_key_to_kms_and_back") else {
        return;
    };
    let transport = HyperTransport::default();
    let key_id = client(&url, &transport)
        .create_key("cp-vault rotation")
        .await
        .unwrap()
        .key_id;
    let kms = KmsMasterKey::new(client(&url, &transport), key_id);
    let local = LocalMasterKey::new(cp_crypto::MasterKey::from_bytes(&[9; 32]).unwrap());

    let vault = Uuid::now_v7();
    let key = VaultKey::generate().unwrap();
    let path = SecretPath::parse("svc/token").unwrap();
    let at = VersionRef {
        vault,
        path: &path,
        version: 4,
    };
    let sealed = key.seal_version(&at, b"before rotation").unwrap();
    let wrapped_local = local.wrap(vault, &key).await.unwrap();
    drop(key);

    // A rotation's two steps (what `Keyring::rewrap` does).
    let key = local.unwrap(vault, &wrapped_local).await.unwrap();
    let wrapped_kms = kms.wrap(vault, &key).await.unwrap();
    let via_kms = kms.unwrap(vault, &wrapped_kms).await.unwrap();
    assert_eq!(
        via_kms.open_version(&at, &sealed).unwrap().expose(),
        b"before rotation"
    );
    let key = kms.unwrap(vault, &wrapped_kms).await.unwrap();
    let back_local = local.wrap(vault, &key).await.unwrap();
    let via_local = local.unwrap(vault, &back_local).await.unwrap();
    assert_eq!(
        via_local.open_version(&at, &sealed).unwrap().expose(),
        b"before rotation"
    );
}
