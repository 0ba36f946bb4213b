//! Rotating the vault's master key, as a deployment does it: a vault made
//! under the old `secrets_key`; the same deployment restarted with a new
//! key and the old one as `secrets_key_previous` (the vault keeps opening);
//! the rewrap moving the vault to the new key (no value touched, audited);
//! the old configuration unable to open it any more (503 naming the key),
//! and the new key alone enough. Three cp-host processes on one database.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, db, env, field_errors, send_to, sign_up, SECRETS_KEY};
use serde_json::json;

/// The new master key (32 bytes, base64).
const NEW_KEY: &str = "bmV3LW1hc3Rlci1rZXktMzItYnl0ZXMtbG9uZy0hISE=";

#[tokio::test]
async fn a_new_master_key_takes_over_every_vault_without_touching_a_value() {
    let env = env();
    let owner = sign_up("master-key").await;
    let org = owner.create_org("master-key").await;
    let vault = owner.create_vault(&org, "rotated").await;
    let secret = format!("/api/v1/vaults/{vault}/secrets/db/password");
    for (value, status) in [("first-5e1d", 201), ("second-77c2", 200)] {
        call("PUT", &secret)
            .json(&json!({"type": "password", "value": value}))
            .send()
            .await
            .expect(status);
    }
    let before = call("GET", "/api/v1/vault-master-key")
        .send()
        .await
        .expect(200)["data"]
        .clone();
    let old_id = before["keyId"].as_str().unwrap().to_owned();
    assert!(old_id.starts_with("local:"), "{before}");
    assert_eq!(before["stale"], 0);
    owner
        .call("GET", "/api/v1/vault-master-key")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // The deployment gets a new key and keeps the old one as the previous.
    let Some(rotating) = env.other_host(&[
        ("secrets_key", NEW_KEY),
        ("secrets_key_previous", SECRETS_KEY),
    ]) else {
        eprintln!("skipped: the rotation restarts cp-host with other variables");
        return;
    };
    let read = on(&rotating.url, "GET", &secret).await.expect(200);
    assert_eq!(read["data"]["value"], "second-77c2");
    let status = on(&rotating.url, "GET", "/api/v1/vault-master-key")
        .await
        .expect(200)["data"]
        .clone();
    let new_id = status["keyId"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id);
    assert_eq!(status["stale"], 1, "{status}");
    assert_eq!(
        status["keys"],
        json!([{"keyId": old_id, "provider": "local", "vaults": 1, "current": false}])
    );

    let bad = send_to(
        &rotating.url,
        call("POST", "/api/v1/vault-master-key/rewrap?limit=0"),
    )
    .await
    .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&bad), ["limit"]);
    let sealed_before: Vec<Vec<u8>> = sealed_versions(&vault).await;
    let rewrap = on(&rotating.url, "POST", "/api/v1/vault-master-key/rewrap")
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(
        rewrap,
        json!({"keyId": new_id, "rewrapped": 1, "failed": [], "remaining": 0})
    );
    // Not one value was re-encrypted: only the vault's key moved.
    assert_eq!(sealed_versions(&vault).await, sealed_before);
    let audited = db()
        .await
        .query_one(
            "SELECT detail::text FROM audit_log WHERE action = 'rewrapVaultKeys' \
             AND resource_name = $1",
            &[&vault],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    assert!(
        audited.contains(&old_id) && audited.contains(&new_id),
        "{audited}"
    );
    // Nothing left to move.
    let again = on(&rotating.url, "POST", "/api/v1/vault-master-key/rewrap")
        .await
        .expect(200);
    assert_eq!(again["data"]["rewrapped"], 0);

    // The old configuration lacks the new key: a clear 503, never a 500.
    let refused = call("GET", &secret)
        .send()
        .await
        .expect_error(503, "UNAVAILABLE");
    assert!(
        refused["error"].as_str().unwrap().contains(&new_id),
        "{refused}"
    );
    drop(rotating);

    // The new key alone opens every version.
    let after = env.other_host(&[("secrets_key", NEW_KEY)]).unwrap();
    let v1 = on(&after.url, "GET", &format!("{secret}?version=1"))
        .await
        .expect(200);
    assert_eq!(v1["data"]["value"], "first-5e1d");
    let v2 = on(&after.url, "GET", &secret).await.expect(200);
    assert_eq!(v2["data"]["value"], "second-77c2");
}

/// An operator request to another host.
async fn on(host: &str, method: &'static str, path: &str) -> cp_tests::Resp {
    send_to(host, call(method, path)).await
}

/// The vault's stored, sealed versions, in order.
async fn sealed_versions(vault: &str) -> Vec<Vec<u8>> {
    db().await
        .query(
            "SELECT v.sealed FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id \
             WHERE s.vault_id = $1::text::uuid ORDER BY v.secret_id, v.version",
            &[&vault],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}
