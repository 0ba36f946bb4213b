//! Client-side CMEK end to end: values encrypted by the client with its own
//! key (AES-256-GCM here, independently of the server's code), only the
//! key's fingerprint on the server, and a rotation to a new key that is
//! interrupted part-way by a database failure and resumed with the same
//! keys, never leaving a value that neither key opens.

#![allow(clippy::unwrap_used)]

use cp_tests::cmek::ClientKey;
use cp_tests::{call, db, field_errors, sign_up, unique};
use serde_json::json;

#[tokio::test]
async fn a_rotation_interrupted_by_the_database_resumes_and_leaves_every_value_readable() {
    let owner = sign_up("cmek-owner").await;
    let org = owner.create_org("cmek").await;
    let vault = owner.create_vault(&org, "cmek").await;
    let old = ClientKey::new(1);
    let new = ClientKey::new(2);
    let cmek = format!("/api/v1/vaults/{vault}/cmek");
    let enabled = owner
        .call("POST", &cmek)
        .json(&json!({"fingerprint": old.fingerprint()}))
        .send()
        .await
        .expect(200);
    assert_eq!(enabled["data"]["cmekFingerprint"], old.fingerprint());
    owner
        .call("POST", &cmek)
        .json(&json!({"fingerprint": new.fingerprint()}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // Values arrive encrypted by the client; anything else is refused.
    let secret = |i: usize| format!("/api/v1/vaults/{vault}/secrets/batch/s{i:03}");
    let bad = call("PUT", &secret(0))
        .json(&json!({"type": "api_key", "value": "plain text"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&bad), ["value"]);
    const COUNT: usize = 250;
    for i in 0..COUNT {
        call("PUT", &secret(i))
            .json(
                &json!({"type": "api_key", "value": old.encrypt(&format!("value-{i}"), i as u32)}),
            )
            .send()
            .await
            .expect(201);
    }
    let read = call("GET", &secret(7)).send().await.expect(200);
    assert_eq!(read["data"]["cmekFingerprint"], old.fingerprint());
    assert_eq!(
        old.decrypt(read["data"]["value"].as_str().unwrap())
            .unwrap(),
        "value-7"
    );

    // Keys that do not match their fingerprints are 400s naming the header.
    let rotate = format!("/api/v1/vaults/{vault}/cmek-rotate");
    let v = owner
        .call("POST", &rotate)
        .header("x-cmek-old-key", &new.header())
        .header("x-cmek-new-key", &new.header())
        .json(&json!({"fingerprint": new.fingerprint()}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["x-cmek-old-key"]);
    let v = owner
        .call("POST", &rotate)
        .header("x-cmek-old-key", &old.header())
        .header("x-cmek-new-key", &old.header())
        .json(&json!({"fingerprint": new.fingerprint()}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["x-cmek-new-key"]);

    // A fault in the database: the second batch's 30th update fails.
    let db = db().await;
    let fault = unique("cmek_fault").replace('-', "_");
    db.batch_execute(&format!(
        "CREATE SEQUENCE {fault}_n;
         CREATE FUNCTION {fault}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF nextval('{fault}_n') = 130 THEN
             RAISE EXCEPTION 'injected fault mid-rotation';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER {fault} BEFORE UPDATE OF sealed ON vault_secret_versions
           FOR EACH ROW EXECUTE FUNCTION {fault}();"
    ))
    .await
    .unwrap();
    let rotation = || {
        owner
            .call("POST", &rotate)
            .header("x-cmek-old-key", &old.header())
            .header("x-cmek-new-key", &new.header())
            .json(&json!({"fingerprint": new.fingerprint()}))
    };
    let failed = rotation().send().await;
    assert_eq!(failed.status, 500, "{}", failed.text());
    db.batch_execute(&format!(
        "DROP TRIGGER {fault} ON vault_secret_versions; DROP FUNCTION {fault}(); DROP SEQUENCE {fault}_n;"
    ))
    .await
    .unwrap();

    // Part-way: the first batch is under the new key, the rest under the
    // old, and every value opens with the key its read names.
    let counts: Vec<(String, i64)> = db
        .query(
            "SELECT v.cmek_fingerprint, count(*) FROM vault_secret_versions v
             JOIN vault_secrets s ON s.id = v.secret_id
             WHERE s.vault_id = $1::text::uuid GROUP BY 1 ORDER BY 2",
            &[&vault],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        counts,
        [
            (new.fingerprint(), 100),
            (old.fingerprint(), COUNT as i64 - 100)
        ],
        "one batch committed, the failed one rolled back"
    );
    for i in [0, 99, 100, 249] {
        let read = call("GET", &secret(i)).send().await.expect(200);
        let fp = read["data"]["cmekFingerprint"].as_str().unwrap();
        let key = if fp == new.fingerprint() { &new } else { &old };
        assert_eq!(
            key.decrypt(read["data"]["value"].as_str().unwrap())
                .unwrap(),
            format!("value-{i}")
        );
    }
    // Another rotation cannot start over this one.
    let other = ClientKey::new(3);
    owner
        .call("POST", &rotate)
        .header("x-cmek-old-key", &old.header())
        .header("x-cmek-new-key", &other.header())
        .json(&json!({"fingerprint": other.fingerprint()}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // The same keys again: it resumes and completes.
    let done = rotation().send().await.expect(200);
    assert_eq!(done["data"]["status"], "completed");
    assert_eq!(done["data"]["total"], COUNT);
    assert_eq!(done["data"]["processed"], COUNT);
    let job = done["data"]["id"].as_str().unwrap();
    let status = owner
        .call("GET", &format!("{rotate}/{job}"))
        .send()
        .await
        .expect(200);
    assert_eq!(status["data"]["status"], "completed");
    for i in 0..COUNT {
        let read = call("GET", &secret(i)).send().await.expect(200);
        assert_eq!(read["data"]["cmekFingerprint"], new.fingerprint());
        assert_eq!(
            new.decrypt(read["data"]["value"].as_str().unwrap())
                .unwrap(),
            format!("value-{i}"),
            "secret {i}"
        );
    }
    let vault_now = call("GET", &format!("/api/v1/vaults/{vault}"))
        .send()
        .await
        .expect(200);
    assert_eq!(vault_now["data"]["cmekFingerprint"], new.fingerprint());

    // Off: new secrets use server-side encryption alone; old ones stay
    // client-encrypted.
    owner.call("DELETE", &cmek).send().await.expect(204);
    call("PUT", &format!("/api/v1/vaults/{vault}/secrets/plain"))
        .json(&json!({"type": "note", "value": "server side only"}))
        .send()
        .await
        .expect(201);
    let plain = call("GET", &format!("/api/v1/vaults/{vault}/secrets/plain"))
        .send()
        .await
        .expect(200);
    assert_eq!(plain["data"]["value"], "server side only");
    assert!(plain["data"]["cmekFingerprint"].is_null());
    let kept = call("GET", &secret(3)).send().await.expect(200);
    assert_eq!(kept["data"]["cmekFingerprint"], new.fingerprint());

    // Keys never reach the database or the audit log.
    let audit = cp_tests::audit_log_text().await;
    for key in [&old, &new] {
        assert!(!audit.contains(&key.header()), "a key in the audit log");
    }
}

#[tokio::test]
async fn operators_rotate_an_empty_vault() {
    let owner = sign_up("cmek-empty").await;
    let org = owner.create_org("cmek-empty").await;
    let vault = call("POST", "/api/v1/vaults")
        .json(&json!({"orgId": org, "name": "empty"}))
        .created_id()
        .await;
    let (old, new) = (ClientKey::new(7), ClientKey::new(8));
    call("POST", &format!("/api/v1/vaults/{vault}/cmek"))
        .json(&json!({"fingerprint": old.fingerprint()}))
        .send()
        .await
        .expect(200);
    let done = call("POST", &format!("/api/v1/vaults/{vault}/cmek-rotate"))
        .header("idempotency-key", &unique("rotate"))
        .header("x-cmek-old-key", &old.header())
        .header("x-cmek-new-key", &new.header())
        .json(&json!({"fingerprint": new.fingerprint()}))
        .send()
        .await
        .expect(200);
    assert_eq!(done["data"]["status"], "completed");
    assert_eq!(done["data"]["total"], 0);
}
