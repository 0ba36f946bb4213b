//! Sharing secrets end to end: a share to anyone with the link opened by
//! its key exactly as often as it allows (however many readers race), a
//! share to a user accepted, read, declined and revoked, a share to an
//! external address announced through the outbox without its key, and the
//! refusals around them. The real component in the host, real PostgreSQL.

#![allow(clippy::unwrap_used)]

use cp_tests::{audit_log_text, call, db, field_errors, join_org, sign_up, Call, TestUser};
use serde_json::{json, Value};

/// An organisation owned by a new user, with a vault holding one secret
/// the owner may read and share.
struct Shared {
    owner: TestUser,
    org_id: String,
    vault: String,
    secret_id: String,
    path: String,
}

async fn shared_secret(prefix: &str, value: &str) -> Shared {
    let owner = sign_up(prefix).await;
    let org_id = owner.create_org(prefix).await;
    let vault = owner.create_vault(&org_id, "main").await;
    owner
        .call("POST", &format!("/api/v1/vaults/{vault}/policies"))
        .json(&json!({"principal": {"kind": "user", "id": owner.id},
                      "actions": ["read", "write", "delete", "share"], "pathGlob": "**", "effect": "allow"}))
        .send()
        .await
        .expect(201);
    let path = "api-keys/shared".to_owned();
    let secret_id = owner
        .call("PUT", &format!("/api/v1/vaults/{vault}/secrets/{path}"))
        .json(&json!({"type": "api_key", "value": value}))
        .created_id()
        .await;
    Shared {
        owner,
        org_id,
        vault,
        secret_id,
        path,
    }
}

fn share(who: Call, body: Value) -> Call {
    who.json(&body)
}

fn share_url(s: &Shared) -> String {
    format!("/api/v1/secrets/{}/share", s.secret_id)
}

fn open(share_id: &str) -> Call {
    call("GET", &format!("/api/v1/share/{share_id}")).anonymous()
}

#[tokio::test]
async fn a_link_share_opens_with_its_key_exactly_as_often_as_it_allows() {
    let s = shared_secret("share-link", "sk-link-7c1e5f").await;
    let created = share(
        s.owner.call("POST", &share_url(&s)),
        json!({"recipientType": "anyone_with_link", "maxAccessCount": 5}),
    )
    .send()
    .await;
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let created = created.expect(201)["data"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["shareKey"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cpshr_"), "{created}");
    assert_eq!(created["url"], format!("/api/v1/share/{id}"));
    assert_eq!(created["status"], "active");
    assert_eq!(created["path"], s.path);

    // Without its key, or with a wrong one, a share is the same 404 as a
    // share that does not exist.
    open(&id).send().await.expect_error(404, "SHARE_NOT_FOUND");
    open(&id)
        .header(
            "x-share-key",
            "cpshr_wrongwrongwrongwrongwrongwrongwrongwrongwro",
        )
        .send()
        .await
        .expect_error(404, "SHARE_NOT_FOUND");

    // Fifty readers race for five accesses: exactly five win.
    let readers = (0..50).map(|_| {
        let id = id.clone();
        let key = key.clone();
        tokio::spawn(async move { open(&id).header("x-share-key", &key).send().await })
    });
    let mut opened = 0;
    let mut exhausted = 0;
    for reader in readers {
        let resp = reader.await.unwrap();
        match resp.status {
            200 => {
                let body = resp.json();
                assert_eq!(body["data"]["value"], "sk-link-7c1e5f");
                assert_eq!(body["data"]["maxAccessCount"], 5);
                assert_eq!(resp.header("cache-control"), Some("no-store"));
                opened += 1;
            }
            410 => {
                resp.expect_error(410, "SHARE_EXHAUSTED");
                exhausted += 1;
            }
            _ => panic!("{}", resp.describe()),
        }
    }
    assert_eq!((opened, exhausted), (5, 45));

    let outbound = s.owner.call("GET", "/api/v1/shares/outbound").send().await;
    let text = outbound.text();
    assert!(!text.contains(&key), "a share key in a list: {text}");
    assert!(!text.contains("sk-link"), "a value in a list: {text}");
    let listed = outbound.expect(200)["data"][0].clone();
    assert_eq!(listed["id"], id);
    assert_eq!(listed["accessCount"], 5);
    assert_eq!(listed["status"], "exhausted");

    // Each opening is audited, the refused ones too, and never with the key.
    let audit = audit_log_text().await;
    assert!(!audit.contains(&key), "a share key in the audit log");
    let entries = db()
        .await
        .query(
            "SELECT outcome, actor FROM audit_log WHERE action = 'openShare' AND resource_name = $1",
            &[&id],
        )
        .await
        .unwrap();
    let succeeded = entries
        .iter()
        .filter(|r| r.get::<_, String>(0) == "success")
        .count();
    assert_eq!((succeeded, entries.len()), (5, 50));
    assert!(entries
        .iter()
        .all(|r| r.get::<_, String>(1) == format!("share-key:{id}")));

    // The creator revokes it; revoking twice is a conflict.
    s.owner
        .call("DELETE", &format!("/api/v1/share/{id}"))
        .send()
        .await
        .expect(204);
    s.owner
        .call("DELETE", &format!("/api/v1/share/{id}"))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    open(&id)
        .header("x-share-key", &key)
        .send()
        .await
        .expect_error(410, "SHARE_REVOKED");
}

#[tokio::test]
async fn a_user_share_waits_for_its_recipient_who_reads_it_signed_in() {
    let s = shared_secret("share-user", "sk-user-4b8d2a").await;
    let friend = sign_up("share-friend").await;
    let stranger = sign_up("share-stranger").await;
    let created = share(
        s.owner.call("POST", &share_url(&s)),
        json!({"recipientType": "user", "userId": friend.id}),
    )
    .send()
    .await
    .expect(201)["data"]
        .clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created.get("shareKey").is_none(), "{created}");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["recipientId"], friend.id);

    let inbound = friend
        .call("GET", "/api/v1/shares/inbound")
        .send()
        .await
        .expect(200);
    assert_eq!(inbound["data"][0]["id"], id);
    assert_eq!(inbound["data"][0]["status"], "pending");
    assert_eq!(
        stranger
            .call("GET", "/api/v1/shares/inbound")
            .send()
            .await
            .expect(200)["data"],
        json!([])
    );

    let read = |who: &TestUser| who.call("GET", &format!("/api/v1/share/{id}"));
    read(&friend)
        .send()
        .await
        .expect_error(409, "SHARE_NOT_ACCEPTED");
    read(&stranger)
        .send()
        .await
        .expect_error(404, "SHARE_NOT_FOUND");
    // A user share never opens by key, and its creator is not its recipient.
    read(&s.owner)
        .send()
        .await
        .expect_error(404, "SHARE_NOT_FOUND");
    let accept = format!("/api/v1/shares/{id}/accept");
    s.owner
        .call("POST", &accept)
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    stranger
        .call("POST", &accept)
        .send()
        .await
        .expect_error(404, "SHARE_NOT_FOUND");
    let accepted = friend.call("POST", &accept).send().await;
    assert!(accepted.header("etag").is_some());
    assert_eq!(accepted.expect(200)["data"]["status"], "accepted");
    friend
        .call("POST", &accept)
        .send()
        .await
        .expect_error(409, "CONFLICT");

    let value = read(&friend).send().await.expect(200);
    assert_eq!(value["data"]["value"], "sk-user-4b8d2a");
    assert_eq!(value["data"]["version"], 1);
    assert_eq!(value["data"]["accessCount"], 1);

    // A new version is what the share reads (no version was pinned).
    s.owner
        .call(
            "PUT",
            &format!("/api/v1/vaults/{}/secrets/{}", s.vault, s.path),
        )
        .json(&json!({"type": "api_key", "value": "sk-user-rotated"}))
        .send()
        .await
        .expect(200);
    let value = read(&friend).send().await.expect(200);
    assert_eq!(value["data"]["value"], "sk-user-rotated");
    assert_eq!(value["data"]["version"], 2);

    // The recipient cannot revoke (they decline); the creator can.
    friend
        .call("DELETE", &format!("/api/v1/share/{id}"))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    friend
        .call("POST", &format!("/api/v1/shares/{id}/decline"))
        .send()
        .await
        .expect(200);
    read(&friend)
        .send()
        .await
        .expect_error(410, "SHARE_DECLINED");

    // A deleted secret can no longer be opened through a share.
    let second = share(
        s.owner.call("POST", &share_url(&s)),
        json!({"recipientType": "user", "userId": stranger.id, "version": 1}),
    )
    .created_id()
    .await;
    stranger
        .call("POST", &format!("/api/v1/shares/{second}/accept"))
        .send()
        .await
        .expect(200);
    let pinned = stranger
        .call("GET", &format!("/api/v1/share/{second}"))
        .send()
        .await
        .expect(200);
    assert_eq!(pinned["data"]["value"], "sk-user-4b8d2a");
    s.owner
        .call(
            "DELETE",
            &format!("/api/v1/vaults/{}/secrets/{}", s.vault, s.path),
        )
        .send()
        .await
        .expect(204);
    stranger
        .call("GET", &format!("/api/v1/share/{second}"))
        .send()
        .await
        .expect_error(410, "SHARED_SECRET_DELETED");
}

#[tokio::test]
async fn an_external_address_is_told_through_the_outbox_and_never_sent_the_key() {
    let s = shared_secret("share-mail", "sk-mail-0d3f91").await;
    let created = share(
        s.owner.call("POST", &share_url(&s)),
        json!({"recipientType": "external_email", "email": "Auditor@Example.COM",
               "maxAccessCount": 1}),
    )
    .send()
    .await
    .expect(201)["data"]
        .clone();
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["shareKey"].as_str().unwrap().to_owned();
    assert_eq!(created["email"], "auditor@example.com");

    let rows = db()
        .await
        .query(
            "SELECT recipient, kind, payload::text FROM notification_outbox \
             WHERE payload->>'shareId' = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one notice per share");
    assert_eq!(rows[0].get::<_, String>(0), "auditor@example.com");
    assert_eq!(rows[0].get::<_, String>(1), "vault.share");
    let payload: String = rows[0].get(2);
    assert!(
        payload.contains(&format!("/api/v1/share/{id}")),
        "{payload}"
    );
    assert!(payload.contains(&s.owner.email), "{payload}");
    assert!(!payload.contains(&key), "the share key in the outbox");
    assert!(!payload.contains("sk-mail"), "the value in the outbox");

    // Only its digest is stored.
    let stored: String = db()
        .await
        .query_one(
            "SELECT row_to_json(v)::text FROM vault_shares v WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains(&key));
    assert!(stored.contains(&cp_tests::sha256_hex(key.as_bytes())));

    let first = open(&id)
        .header("x-share-key", &key)
        .send()
        .await
        .expect(200);
    assert_eq!(first["data"]["value"], "sk-mail-0d3f91");
    open(&id)
        .header("x-share-key", &key)
        .send()
        .await
        .expect_error(410, "SHARE_EXHAUSTED");

    // Past its expiry a share is gone, whatever is left of its accesses.
    let later = share(
        s.owner.call("POST", &share_url(&s)),
        json!({"recipientType": "anyone_with_link"}),
    )
    .send()
    .await
    .expect(201)["data"]
        .clone();
    db().await
        .execute(
            "UPDATE vault_shares SET expires_at = now() - interval '1 second' \
             WHERE id = $1::text::uuid",
            &[&later["id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    open(later["id"].as_str().unwrap())
        .header("x-share-key", later["shareKey"].as_str().unwrap())
        .send()
        .await
        .expect_error(410, "SHARE_EXPIRED");
}

#[tokio::test]
async fn sharing_needs_read_and_share_on_the_path_and_a_real_recipient() {
    let s = shared_secret("share-refused", "sk-refused-55e0").await;
    let member = join_org(&s.owner, &s.org_id, "member", "share-member").await;
    let viewer = join_org(&s.owner, &s.org_id, "viewer", "share-viewer").await;
    let outsider = sign_up("share-outsider").await;
    let link = json!({"recipientType": "anyone_with_link"});

    // No policy grants the member anything yet.
    share(member.call("POST", &share_url(&s)), link.clone())
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    // Reading is not sharing.
    s.owner
        .call("POST", &format!("/api/v1/vaults/{}/policies", s.vault))
        .json(
            &json!({"principal": {"kind": "user", "id": member.id}, "actions": ["read"],
                      "pathGlob": "api-keys/*", "effect": "allow"}),
        )
        .send()
        .await
        .expect(201);
    let refused = share(member.call("POST", &share_url(&s)), link.clone())
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(
        refused["error"].as_str().unwrap().contains("share"),
        "{refused}"
    );
    share(viewer.call("POST", &share_url(&s)), link.clone())
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    // Another organisation's secret does not exist for the caller.
    share(outsider.call("POST", &share_url(&s)), link.clone())
        .send()
        .await
        .expect_error(404, "SECRET_NOT_FOUND");

    let bad = share(
        s.owner.call("POST", &share_url(&s)),
        json!({"recipientType": "user", "userId": outsider.id, "email": "x@example.com",
               "maxAccessCount": 0, "expiresAt": "2020-01-01T00:00:00Z"}),
    )
    .send()
    .await
    .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&bad), ["email", "expiresAt", "maxAccessCount"]);
    for (body, field) in [
        (
            json!({"recipientType": "user", "userId": s.owner.id}),
            "userId",
        ),
        (
            json!({"recipientType": "user", "userId": "0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f"}),
            "userId",
        ),
        (
            json!({"recipientType": "agent", "agentId": "0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f"}),
            "agentId",
        ),
        (
            json!({"recipientType": "anyone_with_link", "version": 7}),
            "version",
        ),
    ] {
        let err = share(s.owner.call("POST", &share_url(&s)), body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&err), [field]);
    }

    // Lists are the caller's own: nothing leaks between users.
    let mine = member
        .call("GET", "/api/v1/shares/outbound")
        .send()
        .await
        .expect(200);
    assert_eq!(mine["data"], json!([]));
}
