//! The vault with its master key in an AWS KMS: a real implementation of
//! the KMS API (moto's server, `scripts/kms.sh`, which `make test` starts
//! and names in `CP_KMS_URL`), reached by the component over Spin's
//! outbound HTTP with SigV4-signed requests. New vaults' keys are wrapped
//! by the KMS key; `GET /health/kms` reports a disabled key; a vault key
//! the KMS will not unwrap makes the vault answer 503, never 500, with
//! nothing half-written.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, env_with_variables, send_to, sign_up, unique};
use serde_json::{json, Value};

/// The KMS endpoint, or `None` outside CI without one (a missing KMS fails
/// CI: scripts/test.sh starts one).
fn kms_url() -> Option<String> {
    match std::env::var("CP_KMS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "the vault's KMS test needs CP_KMS_URL in CI (scripts/kms.sh)"
            );
            eprintln!("skipped: run `export CP_KMS_URL=$(scripts/kms.sh start)` first");
            None
        }
    }
}

/// One KMS API call as an administrator makes it. moto routes a request by
/// its credential scope's service and does not check the signature, so
/// this administrative call carries a scope and no real signature (the
/// component's own calls are signed; the signer is checked against AWS's
/// test vectors in `cp-vault`).
async fn kms(url: &str, target: &str, body: Value) -> Value {
    let resp = send_to(
        url,
        call("POST", "/")
            .anonymous()
            .header("x-amz-target", &format!("TrentService.{target}"))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDADMIN/20260101/us-east-1/kms/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .raw(body.to_string(), "application/x-amz-json-1.1"),
    )
    .await;
    assert_eq!(resp.status, 200, "{target}: {}", resp.text());
    resp.json()
}

#[tokio::test]
async fn vault_keys_are_wrapped_by_the_kms_key_and_a_disabled_key_is_a_503() {
    let Some(url) = kms_url() else { return };
    let key = kms(
        &url,
        "CreateKey",
        json!({"Description": unique("cp-vault")}),
    )
    .await;
    let key_id = key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    env_with_variables(&[
        ("kms_url", &url),
        ("kms_allowed_host", &url),
        ("kms_key_id", &key_id),
        ("kms_access_key_id", "AKIDCPVAULTTEST"),
        ("kms_secret_access_key", "cp-vault-test-secret"),
        ("kms_timeout_ms", "5000"),
    ]);

    let health = call("GET", "/api/v1/health/kms").send().await.expect(200);
    assert_eq!(health["data"]["provider"], "aws-kms");
    assert_eq!(health["data"]["status"], "ok");
    assert_eq!(health["data"]["keyState"], "Enabled");

    let owner = sign_up("kms-owner").await;
    let org = owner.create_org("kms").await;
    let vault = owner
        .call("POST", "/api/v1/vaults")
        .json(&json!({"orgId": org, "name": "kms"}))
        .send()
        .await
        .expect(201);
    assert_eq!(vault["data"]["keyProvider"], "aws-kms");
    let vault = vault["data"]["id"].as_str().unwrap().to_owned();
    let secret = format!("/api/v1/vaults/{vault}/secrets/db/password");
    call("PUT", &secret)
        .json(&json!({"type": "password", "value": "kms-wrapped-secret"}))
        .send()
        .await
        .expect(201);
    let read = call("GET", &secret).send().await.expect(200);
    assert_eq!(read["data"]["value"], "kms-wrapped-secret");

    // A disabled key: the health check says so.
    kms(&url, "DisableKey", json!({"KeyId": key_id})).await;
    call("GET", "/api/v1/health/kms")
        .send()
        .await
        .expect_error(503, "UNAVAILABLE");
    kms(&url, "EnableKey", json!({"KeyId": key_id})).await;
    call("GET", "/api/v1/health/kms").send().await.expect(200);

    // A vault key the KMS refuses to unwrap (here: its wrapped form
    // damaged): reads and writes are 503s, never 500s, and a refused write
    // leaves nothing behind.
    let db = cp_tests::db().await;
    let wrapped: Vec<u8> = db
        .query_one(
            "SELECT wrapped_key FROM vaults WHERE id = $1::text::uuid",
            &[&vault],
        )
        .await
        .unwrap()
        .get(0);
    let mut damaged = wrapped.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x55;
    let set = "UPDATE vaults SET wrapped_key = $2 WHERE id = $1::text::uuid";
    db.execute(set, &[&vault, &damaged]).await.unwrap();
    call("GET", &secret)
        .send()
        .await
        .expect_error(503, "UNAVAILABLE");
    call("PUT", &secret)
        .json(&json!({"type": "password", "value": "not-written"}))
        .send()
        .await
        .expect_error(503, "UNAVAILABLE");
    db.execute(set, &[&vault, &wrapped]).await.unwrap();
    let read = call("GET", &secret).send().await.expect(200);
    assert_eq!(
        read["data"]["version"], 1,
        "the refused write wrote nothing"
    );
    assert_eq!(read["data"]["value"], "kms-wrapped-secret");
}
