//! The client against an in-memory fake KMS that keeps KMS's semantics
//! (blobs bound to their key and encryption context) and records every
//! request, so the wire format is checked byte for byte.

#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use chrono::TimeZone;

use super::*;
use crate::testing::block_on;

const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const VAULT: Uuid = Uuid::from_u128(0x7a017);

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 8, 30, 0).unwrap()
}

/// What the fake stored for a blob it handed out.
struct Stored {
    key_id: String,
    plaintext: Vec<u8>,
    context: EncryptionContext,
}

/// A fake KMS: answers Encrypt/Decrypt/DescribeKey/GenerateDataKey like
/// the real one for the key [`KEY_ID`], or a queued canned answer first.
#[derive(Default)]
struct FakeKms {
    requests: RefCell<Vec<OutboundRequest>>,
    canned: RefCell<VecDeque<Result<OutboundResponse, TransportError>>>,
    blobs: RefCell<HashMap<Vec<u8>, Stored>>,
}

fn answer(status: u16, body: Value) -> Result<OutboundResponse, TransportError> {
    Ok(OutboundResponse {
        status,
        headers: vec![("content-type".into(), CONTENT_TYPE.into())],
        body: serde_json::to_vec(&body).unwrap(),
    })
}

fn error(type_: &str) -> Result<OutboundResponse, TransportError> {
    answer(400, json!({"__type": type_, "message": "details"}))
}

impl FakeKms {
    fn queue(&self, response: Result<OutboundResponse, TransportError>) {
        self.canned.borrow_mut().push_back(response);
    }

    fn last(&self) -> OutboundRequest {
        self.requests.borrow().last().cloned().unwrap()
    }

    fn serve(&self, request: &OutboundRequest) -> Result<OutboundResponse, TransportError> {
        let target = request
            .headers
            .iter()
            .find(|(k, _)| k == "x-amz-target")
            .map(|(_, v)| v.clone())
            .unwrap();
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let context: EncryptionContext =
            serde_json::from_value(body["EncryptionContext"].clone()).unwrap_or_default();
        let key_ok = |body: &Value| body["KeyId"] == KEY_ID || body["KeyId"] == KEY_ARN;
        match target.as_str() {
            "TrentService.Encrypt" => {
                if !key_ok(&body) {
                    return error("NotFoundException");
                }
                let plaintext = STANDARD
                    .decode(body["Plaintext"].as_str().unwrap())
                    .unwrap();
                let blob = format!("blob-{}", self.blobs.borrow().len()).into_bytes();
                self.blobs.borrow_mut().insert(
                    blob.clone(),
                    Stored {
                        key_id: KEY_ID.into(),
                        plaintext,
                        context,
                    },
                );
                answer(
                    200,
                    json!({"CiphertextBlob": STANDARD.encode(blob), "KeyId": KEY_ARN,
                           "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
                )
            }
            "TrentService.Decrypt" => {
                let blob = STANDARD
                    .decode(body["CiphertextBlob"].as_str().unwrap())
                    .unwrap();
                let blobs = self.blobs.borrow();
                match blobs.get(&blob) {
                    Some(stored) if stored.context == context => {
                        if !key_ok(&body) || stored.key_id != KEY_ID {
                            return error("IncorrectKeyException");
                        }
                        answer(
                            200,
                            json!({"Plaintext": STANDARD.encode(&stored.plaintext), "KeyId": KEY_ARN}),
                        )
                    }
                    _ => error("InvalidCiphertextException"),
                }
            }
            "TrentService.DescribeKey" => {
                if !key_ok(&body) {
                    return error("NotFoundException");
                }
                answer(
                    200,
                    json!({"KeyMetadata": {"KeyId": KEY_ID, "Arn": KEY_ARN, "Enabled": true,
                           "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT"}}),
                )
            }
            "TrentService.GenerateDataKey" => answer(
                200,
                json!({"CiphertextBlob": STANDARD.encode(b"dk-blob"),
                       "Plaintext": STANDARD.encode([7u8; 32]), "KeyId": KEY_ARN}),
            ),
            other => panic!("unexpected operation {other}"),
        }
    }
}

impl HttpTransport for FakeKms {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        self.requests.borrow_mut().push(request.clone());
        if let Some(canned) = self.canned.borrow_mut().pop_front() {
            return canned;
        }
        self.serve(&request)
    }
}

fn config() -> KmsConfig {
    KmsConfig {
        endpoint: "http://127.0.0.1:55100/".into(),
        region: "eu-west-1".into(),
        credentials: AwsCredentials::new("AKIDEXAMPLE", SECRET),
        timeout: Duration::from_secs(3),
    }
}

fn client(fake: &FakeKms) -> KmsClient<'_, FakeKms> {
    KmsClient::new(config(), fake).with_clock(fixed_now)
}

fn header<'r>(request: &'r OutboundRequest, name: &str) -> &'r str {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn requests_follow_the_json_1_1_protocol() {
    let fake = FakeKms::default();
    let context = vault_key_context(VAULT);
    let blob = block_on(client(&fake).encrypt(KEY_ID, b"\x00\x01key", &context)).unwrap();
    assert_eq!(blob, b"blob-0");
    let request = fake.last();
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "http://127.0.0.1:55100/");
    assert_eq!(request.timeout, Duration::from_secs(3));
    assert_eq!(
        header(&request, "content-type"),
        "application/x-amz-json-1.1"
    );
    assert_eq!(header(&request, "x-amz-target"), "TrentService.Encrypt");
    assert_eq!(header(&request, "x-amz-date"), "20260301T083000Z");
    let authorization = header(&request, "authorization");
    assert!(
        authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260301/eu-west-1/kms/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
        ),
        "{authorization}"
    );
    // No host header: the transport sets Host from the URL.
    assert!(!request.headers.iter().any(|(k, _)| k == "host"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({
            "KeyId": KEY_ID,
            "Plaintext": "AAFrZXk=",
            "EncryptionContext": {
                "cp-vault:purpose": "vault-key",
                "cp-vault:vault-id": "00000000-0000-0000-0000-00000007a017"
            }
        })
    );
    // The signature is the one SigV4 gives for exactly this request.
    let mut headers = vec![
        ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
        ("x-amz-target".to_owned(), "TrentService.Encrypt".to_owned()),
    ];
    Signer::new(
        "kms",
        "eu-west-1",
        AwsCredentials::new("AKIDEXAMPLE", SECRET),
    )
    .sign(
        "POST",
        &request.url,
        &mut headers,
        &request.body,
        fixed_now(),
    )
    .unwrap();
    assert_eq!(headers, request.headers);
    // Debug output of the request and the client hides the credentials.
    let printed = format!("{request:?} {:?}", client(&fake));
    assert!(!printed.contains("EXAMPLEKEY"), "{printed}");
    assert!(!printed.contains("Signature="), "{printed}");
}

#[test]
fn session_tokens_are_sent_and_signed() {
    let fake = FakeKms::default();
    let mut config = config();
    config.credentials = config.credentials.with_session_token("FwoGZXIvYXdzEXAMPLE");
    block_on(
        KmsClient::new(config, &fake)
            .with_clock(fixed_now)
            .describe_key(KEY_ID),
    )
    .unwrap();
    let request = fake.last();
    assert_eq!(
        header(&request, "x-amz-security-token"),
        "FwoGZXIvYXdzEXAMPLE"
    );
    assert!(header(&request, "authorization")
        .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"));
}

#[test]
fn operations_decode_their_answers() {
    let fake = FakeKms::default();
    let kms = client(&fake);
    let context = EncryptionContext::from([("a".to_owned(), "b".to_owned())]);
    let blob = block_on(kms.encrypt(KEY_ID, b"plain", &context)).unwrap();
    let plain = block_on(kms.decrypt(KEY_ID, &blob, &context)).unwrap();
    assert_eq!(plain.as_slice(), b"plain");
    assert_eq!(header(&fake.last(), "x-amz-target"), "TrentService.Decrypt");
    let sent: Value = serde_json::from_slice(&fake.last().body).unwrap();
    assert_eq!(sent["CiphertextBlob"], STANDARD.encode(b"blob-0"));
    assert_eq!(sent["KeyId"], KEY_ID);

    let metadata = block_on(kms.describe_key(KEY_ID)).unwrap();
    assert_eq!(metadata.arn, KEY_ARN);
    assert!(metadata.is_usable());

    let data_key = block_on(kms.generate_data_key(KEY_ID, &context)).unwrap();
    assert_eq!(data_key.plaintext.as_slice(), [7u8; 32]);
    assert_eq!(data_key.ciphertext_blob, b"dk-blob");
    assert_eq!(data_key.key_id, KEY_ARN);
    let sent: Value = serde_json::from_slice(&fake.last().body).unwrap();
    assert_eq!(sent["KeySpec"], "AES_256");
    let printed = format!("{data_key:?}");
    assert!(
        printed.contains("<redacted>") && !printed.contains("7, 7"),
        "{printed}"
    );
}

#[test]
fn malformed_answers_are_decode_errors() {
    let fake = FakeKms::default();
    let kms = client(&fake);
    let context = EncryptionContext::new();
    fake.queue(Ok(OutboundResponse {
        status: 200,
        headers: vec![],
        body: b"<html>proxy</html>".to_vec(),
    }));
    assert_eq!(
        block_on(kms.describe_key(KEY_ID)).unwrap_err(),
        KmsError::Decode("malformed JSON body")
    );
    fake.queue(answer(200, json!({"CiphertextBlob": "***"})));
    assert_eq!(
        block_on(kms.encrypt(KEY_ID, b"x", &context)).unwrap_err(),
        KmsError::Decode("a binary field is not base64")
    );
    fake.queue(answer(
        200,
        json!({"CiphertextBlob": "AA==", "Plaintext": STANDARD.encode([1u8; 16]), "KeyId": KEY_ARN}),
    ));
    assert_eq!(
        block_on(kms.generate_data_key(KEY_ID, &context)).unwrap_err(),
        KmsError::Decode("data key of the wrong length")
    );
    let mut config = config();
    config.endpoint = "kms.local".into();
    assert_eq!(
        block_on(KmsClient::new(config, &fake).describe_key(KEY_ID)).unwrap_err(),
        KmsError::Endpoint
    );
}

#[test]
fn error_answers_map_to_typed_errors() {
    let cases: Vec<(Result<OutboundResponse, TransportError>, KmsError, bool)> = vec![
        (error("NotFoundException"), KmsError::NotFound, false),
        (
            error("com.amazonaws.kms#NotFoundException"),
            KmsError::NotFound,
            false,
        ),
        (error("DisabledException"), KmsError::Disabled, false),
        (
            error("KMSInvalidStateException"),
            KmsError::InvalidState,
            false,
        ),
        (
            error("InvalidCiphertextException"),
            KmsError::InvalidCiphertext,
            false,
        ),
        (
            error("IncorrectKeyException"),
            KmsError::IncorrectKey,
            false,
        ),
        (
            error("AccessDeniedException"),
            KmsError::AccessDenied,
            false,
        ),
        (
            error("UnrecognizedClientException"),
            KmsError::Credentials {
                code: "UnrecognizedClientException".into(),
            },
            false,
        ),
        (
            error("InvalidSignatureException"),
            KmsError::Credentials {
                code: "InvalidSignatureException".into(),
            },
            false,
        ),
        (error("ThrottlingException"), KmsError::Throttled, true),
        (error("LimitExceededException"), KmsError::Throttled, true),
        (
            answer(500, json!({"__type": "KMSInternalException"})),
            KmsError::Unavailable {
                status: 500,
                code: "KMSInternalException".into(),
            },
            true,
        ),
        (
            error("ValidationException"),
            KmsError::Rejected {
                status: 400,
                code: "ValidationException".into(),
            },
            false,
        ),
        (
            // A proxy's answer without a KMS body.
            Ok(OutboundResponse {
                status: 502,
                headers: vec![],
                body: b"Bad Gateway".to_vec(),
            }),
            KmsError::Unavailable {
                status: 502,
                code: String::new(),
            },
            true,
        ),
        (
            // The exception only in the header.
            Ok(OutboundResponse {
                status: 400,
                headers: vec![(
                    "x-amzn-errortype".into(),
                    "DisabledException:http://internal/".into(),
                )],
                body: vec![],
            }),
            KmsError::Disabled,
            false,
        ),
        (
            Err(TransportError::Timeout),
            KmsError::Transport(TransportError::Timeout),
            true,
        ),
        (
            Err(TransportError::Denied("kms.local".into())),
            KmsError::Transport(TransportError::Denied("kms.local".into())),
            false,
        ),
    ];
    for (response, want, retryable) in cases {
        let fake = FakeKms::default();
        fake.queue(response);
        let got = block_on(client(&fake).describe_key(KEY_ID)).unwrap_err();
        assert_eq!(got, want);
        assert_eq!(got.is_retryable(), retryable, "{got:?}");
    }
}

#[test]
fn errors_never_carry_kms_messages() {
    let fake = FakeKms::default();
    fake.queue(answer(
        400,
        json!({"__type": "ValidationException",
               "message": "Value 'c2VjcmV0LWtleQ==' at 'plaintext' failed to satisfy constraint"}),
    ));
    let error = block_on(client(&fake).encrypt(KEY_ID, b"secret-key", &EncryptionContext::new()))
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(
        !text.contains("c2VjcmV0") && !text.contains("secret-key"),
        "{text}"
    );
    assert_eq!(text, "KMS rejected the request (400 ValidationException) Rejected { status: 400, code: \"ValidationException\" }");
}

#[test]
fn the_kms_master_key_wraps_bound_to_the_vault() {
    let fake = FakeKms::default();
    let master = KmsMasterKey::new(client(&fake), KEY_ID);
    assert_eq!(master.kind(), "aws-kms");
    let key = VaultKey::generate().unwrap();
    let wrapped = block_on(master.wrap(VAULT, &key)).unwrap();
    let back = block_on(master.unwrap(VAULT, &wrapped)).unwrap();
    assert_eq!(back.expose(), key.expose());

    let other_vault = Uuid::from_u128(1);
    assert_eq!(
        block_on(master.unwrap(other_vault, &wrapped))
            .map(|_| ())
            .unwrap_err(),
        EnvelopeError::Kms(KmsError::InvalidCiphertext)
    );
    let other_key = KmsMasterKey::new(client(&fake), "alias/other");
    assert_eq!(
        block_on(other_key.unwrap(VAULT, &wrapped))
            .map(|_| ())
            .unwrap_err(),
        EnvelopeError::Kms(KmsError::IncorrectKey)
    );
    // KMS answering with something that is not a 32-byte key.
    fake.queue(answer(200, json!({"Plaintext": STANDARD.encode([1u8; 5])})));
    assert_eq!(
        block_on(master.unwrap(VAULT, &wrapped))
            .map(|_| ())
            .unwrap_err(),
        EnvelopeError::KeyLength
    );
}

#[test]
fn rotation_from_local_to_kms_keeps_secrets_readable() {
    use crate::envelope::{LocalMasterKey, VersionRef};
    use crate::keyring::Keyring;
    use crate::path::SecretPath;

    let local = LocalMasterKey::new(cp_crypto::MasterKey::from_bytes(&[4; 32]).unwrap());
    let key = VaultKey::generate().unwrap();
    let wrapped_local = block_on(local.wrap(VAULT, &key)).unwrap();
    let path = SecretPath::parse("svc/api-key").unwrap();
    let at = VersionRef {
        vault: VAULT,
        path: &path,
        version: 2,
    };
    let sealed = key.seal_version(&at, b"value before rotation").unwrap();

    // The deployment adds a KMS: the current master key is the KMS key.
    let fake = FakeKms::default();
    let variables = |name: &str| match name {
        "kms_url" => Some("https://kms.example".to_owned()),
        "kms_key_id" => Some(KEY_ID.to_owned()),
        "kms_access_key_id" => Some("AKID".to_owned()),
        "kms_secret_access_key" => Some("secret".to_owned()),
        _ => None,
    };
    let ring = Keyring::from_variables(variables, &fake, Some(local.clone())).unwrap();
    assert_eq!(ring.current_id().unwrap(), format!("aws-kms:{KEY_ID}"));
    let moved = block_on(ring.rewrap("local", Some(&local.id()), VAULT, &wrapped_local)).unwrap();
    assert_eq!(
        (moved.provider, moved.key_id.as_str()),
        ("aws-kms", ring.current_id().unwrap().as_str())
    );
    let key = block_on(ring.unwrap("aws-kms", Some(&moved.key_id), VAULT, &moved.bytes)).unwrap();
    assert_eq!(
        key.open_version(&at, &sealed).unwrap().expose(),
        b"value before rotation"
    );
}

#[test]
fn health_reports_the_key_state() {
    let fake = FakeKms::default();
    let master = KmsMasterKey::new(client(&fake), KEY_ID);
    assert_eq!(
        block_on(master.health()).unwrap(),
        KmsHealth {
            key_arn: KEY_ARN.into(),
            key_state: "Enabled".into(),
            usable: true
        }
    );
    fake.queue(answer(
        200,
        json!({"KeyMetadata": {"KeyId": KEY_ID, "Arn": KEY_ARN, "Enabled": false, "KeyState": "PendingDeletion"}}),
    ));
    let health = block_on(master.health()).unwrap();
    assert!(!health.usable);
    assert_eq!(health.key_state, "PendingDeletion");
    fake.queue(Err(TransportError::Connect("refused".into())));
    assert!(block_on(master.health()).unwrap_err().is_retryable());
}

#[test]
fn aws_endpoints_are_regional() {
    let config = KmsConfig::aws("eu-central-1", AwsCredentials::new("AKID", "s"));
    assert_eq!(config.endpoint, "https://kms.eu-central-1.amazonaws.com");
    assert_eq!(config.region, "eu-central-1");
}
