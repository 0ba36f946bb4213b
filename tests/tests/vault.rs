//! The secrets vault end to end: vaults of an organisation, path-addressed
//! secrets with versions, soft delete and restore, expiry, vault policies
//! deciding who may read and write, and what reaches the database and the
//! audit log. The real component in the host, real PostgreSQL.

#![allow(clippy::unwrap_used)]

use cp_tests::{audit_log_text, call, db, field_errors, join_org, sign_up, unique, Call, TestUser};
use serde_json::{json, Value};

/// An organisation owned by a new user, with a vault in it.
struct Org {
    owner: TestUser,
    org_id: String,
    vault: String,
}

async fn org_with_vault(prefix: &str) -> Org {
    let owner = sign_up(prefix).await;
    let org_id = owner.create_org(prefix).await;
    let vault = owner
        .call("POST", "/api/v1/vaults")
        .json(&json!({"orgId": org_id, "name": "main", "description": "team secrets"}))
        .created_id()
        .await;
    Org {
        owner,
        org_id,
        vault,
    }
}

fn secret_url(vault: &str, path: &str) -> String {
    format!("/api/v1/vaults/{vault}/secrets/{path}")
}

fn put(who: Call, value: &str) -> Call {
    who.json(&json!({"type": "api_key", "value": value}))
}

#[tokio::test]
async fn secrets_are_versioned_listed_without_values_deleted_softly_and_restored() {
    let o = org_with_vault("vault-life").await;
    let url = secret_url(&o.vault, "api-keys/openai");

    // Operators may do everything; the owner needs a policy (see below).
    let first = put(call("PUT", &url), "sk-first-9f2c").send().await;
    let v1 = first.expect(201);
    assert_eq!(v1["data"]["version"], 1);
    assert_eq!(v1["data"]["path"], "api-keys/openai");
    assert!(v1["data"].get("value").is_none(), "{v1}");
    let etag = first.header("etag").unwrap().to_owned();
    let second = put(call("PUT", &url), "sk-second-77aa")
        .header("if-match", &etag)
        .send()
        .await;
    assert_eq!(second.expect(200)["data"]["version"], 2);
    // The first ETag is stale now.
    put(call("PUT", &url), "sk-third")
        .header("if-match", &etag)
        .send()
        .await
        .expect_error(409, "CONFLICT");

    let latest = call("GET", &url).send().await.expect(200);
    assert_eq!(latest["data"]["value"], "sk-second-77aa");
    assert_eq!(latest["data"]["version"], 2);
    let old = call("GET", &format!("{url}?version=1"))
        .send()
        .await
        .expect(200);
    assert_eq!(old["data"]["value"], "sk-first-9f2c");
    call("GET", &format!("{url}?version=9"))
        .send()
        .await
        .expect_error(404, "SECRET_VERSION_NOT_FOUND");

    // An encoded slash is the same path.
    let encoded = call("GET", &secret_url(&o.vault, "api-keys%2Fopenai"))
        .send()
        .await
        .expect(200);
    assert_eq!(encoded["data"]["value"], "sk-second-77aa");

    // Lists: metadata only, by path, under a prefix of whole segments.
    put(
        call("PUT", &secret_url(&o.vault, "api-keys/anthropic")),
        "sk-ant",
    )
    .send()
    .await
    .expect(201);
    put(call("PUT", &secret_url(&o.vault, "api-keys-old/x")), "old")
        .send()
        .await
        .expect(201);
    let list = call(
        "GET",
        &format!("/api/v1/vaults/{}/secrets?prefix=api-keys", o.vault),
    )
    .send()
    .await;
    let body = list.text();
    assert!(!body.contains("sk-"), "a value in a list: {body}");
    let paths: Vec<String> = list.expect(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["api-keys/anthropic", "api-keys/openai"]);
    let mut seen = Vec::new();
    let mut page = format!("/api/v1/vaults/{}/secrets?limit=1", o.vault);
    loop {
        let p = call("GET", &page).send().await.expect(200);
        seen.extend(
            p["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["path"].clone()),
        );
        match p["pagination"]["nextCursor"].as_str() {
            Some(c) => page = format!("/api/v1/vaults/{}/secrets?limit=1&cursor={c}", o.vault),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["api-keys-old/x", "api-keys/anthropic", "api-keys/openai"]
    );

    // Versions, and a disabled one cannot be read.
    let versions_url = format!("/api/v1/vaults/{}/versions/api-keys/openai", o.vault);
    let versions = call("GET", &versions_url).send().await.expect(200);
    assert_eq!(versions["data"][0]["version"], 2);
    assert_eq!(versions["data"][0]["current"], true);
    assert_eq!(versions["data"][1]["version"], 1);
    call("PATCH", &versions_url)
        .json(&json!({"version": 1, "disabled": true}))
        .send()
        .await
        .expect(200);
    call("GET", &format!("{url}?version=1"))
        .send()
        .await
        .expect_error(409, "SECRET_VERSION_DISABLED");
    assert_eq!(
        call("GET", &url).send().await.expect(200)["data"]["version"],
        2
    );

    // Soft delete: gone from reads and lists, restorable.
    call("DELETE", &url).send().await.expect(204);
    call("GET", &url)
        .send()
        .await
        .expect_error(404, "SECRET_NOT_FOUND");
    let vault = call("GET", &format!("/api/v1/vaults/{}", o.vault))
        .send()
        .await
        .expect(200);
    assert_eq!(vault["data"]["secretCount"], 2);
    let restored = call(
        "POST",
        &format!("/api/v1/vaults/{}/restore/api-keys/openai", o.vault),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(restored["data"]["version"], 2);
    let vault = call("GET", &format!("/api/v1/vaults/{}", o.vault))
        .send()
        .await
        .expect(200);
    assert_eq!(vault["data"]["secretCount"], 3);
    assert_eq!(
        call("GET", &url).send().await.expect(200)["data"]["value"],
        "sk-second-77aa"
    );
    // Nothing deleted there any more.
    call(
        "POST",
        &format!("/api/v1/vaults/{}/restore/api-keys/openai", o.vault),
    )
    .send()
    .await
    .expect_error(404, "SECRET_NOT_FOUND");

    // A vault holding secrets is deleted only with force.
    let vault_url = format!("/api/v1/vaults/{}", o.vault);
    o.owner
        .call("DELETE", &vault_url)
        .send()
        .await
        .expect_error(409, "CONFLICT");
    o.owner
        .call("DELETE", &format!("{vault_url}?force=true"))
        .send()
        .await
        .expect(204);
    call("GET", &url)
        .send()
        .await
        .expect_error(404, "VAULT_NOT_FOUND");
    let _ = o.org_id;
}

#[tokio::test]
async fn policies_decide_who_reads_and_writes_what() {
    let o = org_with_vault("vault-pol").await;
    let member = join_org(&o.owner, &o.org_id, "member", "vault-member").await;
    let viewer = join_org(&o.owner, &o.org_id, "viewer", "vault-viewer").await;
    let config = secret_url(&o.vault, "config/prod/db");
    let other = secret_url(&o.vault, "other/x");
    put(call("PUT", &config), "postgres://secret")
        .send()
        .await
        .expect(201);
    put(call("PUT", &other), "other-secret")
        .send()
        .await
        .expect(201);

    // Nothing is allowed by default, whatever the role.
    for user in [&o.owner, &member] {
        user.call("GET", &config)
            .send()
            .await
            .expect_error(403, "FORBIDDEN");
    }
    let policies = format!("/api/v1/vaults/{}/policies", o.vault);
    // Members cannot manage policies; admins and owners can.
    member
        .call("POST", &policies)
        .json(
            &json!({"principal": {"kind": "user", "id": member.id}, "actions": ["read"],
                      "pathGlob": "**", "effect": "allow"}),
        )
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let allow = o
        .owner
        .call("POST", &policies)
        .json(&json!({"principal": {"kind": "user", "id": member.id},
                      "actions": ["read", "write"], "pathGlob": "config/**", "effect": "allow"}))
        .send()
        .await
        .expect(201);
    assert_eq!(allow["data"]["pathGlob"], "config/**");
    let read = member.call("GET", &config).send().await.expect(200);
    assert_eq!(read["data"]["value"], "postgres://secret");
    put(member.call("PUT", &config), "postgres://rotated")
        .send()
        .await
        .expect(200);
    member
        .call("GET", &other)
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    member
        .call("DELETE", &config)
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // A deny of higher priority wins; at equal priority too.
    let deny = o
        .owner
        .call("POST", &policies)
        .json(
            &json!({"principal": {"kind": "user", "id": member.id}, "actions": ["read"],
                      "pathGlob": "config/prod/*", "effect": "deny", "priority": 0}),
        )
        .send()
        .await;
    let deny_etag = deny.header("etag").unwrap().to_owned();
    let deny_id = deny.expect(201)["data"]["id"].as_str().unwrap().to_owned();
    let refused = member
        .call("GET", &config)
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(
        refused["error"].as_str().unwrap().contains(&deny_id),
        "{refused}"
    );
    // Lowered below the allow, the deny no longer decides.
    o.owner
        .call("PUT", &format!("{policies}/{deny_id}"))
        .header("if-match", &deny_etag)
        .json(
            &json!({"principal": {"kind": "user", "id": member.id}, "actions": ["read"],
                      "pathGlob": "config/prod/*", "effect": "deny", "priority": -1}),
        )
        .send()
        .await
        .expect(200);
    member.call("GET", &config).send().await.expect(200);

    // Source-address conditions: the host reports 127.0.0.1.
    o.owner
        .call("DELETE", &format!("{policies}/{deny_id}"))
        .send()
        .await
        .expect(204);
    let elsewhere = o
        .owner
        .call("POST", &policies)
        .json(
            &json!({"principal": {"kind": "user", "id": o.owner.id}, "actions": ["read"],
                      "pathGlob": "**", "effect": "allow",
                      "conditions": {"sourceCidrs": ["10.0.0.0/8"]}}),
        )
        .send()
        .await
        .expect(201);
    o.owner
        .call("GET", &other)
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let id = elsewhere["data"]["id"].as_str().unwrap();
    o.owner
        .call("PUT", &format!("{policies}/{id}"))
        .json(
            &json!({"principal": {"kind": "user", "id": o.owner.id}, "actions": ["read"],
                      "pathGlob": "**", "effect": "allow",
                      "conditions": {"sourceCidrs": ["127.0.0.0/8", "::1/128"]}}),
        )
        .send()
        .await
        .expect(200);
    o.owner.call("GET", &other).send().await.expect(200);

    // Viewers see metadata, never a value, even with a policy.
    o.owner
        .call("POST", &policies)
        .json(
            &json!({"principal": {"kind": "user", "id": viewer.id}, "actions": ["read"],
                      "pathGlob": "**", "effect": "allow"}),
        )
        .send()
        .await
        .expect(201);
    viewer
        .call("GET", &config)
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    viewer
        .call("GET", &format!("/api/v1/vaults/{}/secrets", o.vault))
        .send()
        .await
        .expect(200);
    let listed = viewer.call("GET", &policies).send().await.expect(200);
    assert_eq!(listed["data"].as_array().unwrap().len(), 3);

    // Another organisation's user does not learn the vault exists.
    let stranger = sign_up("vault-stranger").await;
    stranger
        .call("GET", &format!("/api/v1/vaults/{}", o.vault))
        .send()
        .await
        .expect_error(404, "VAULT_NOT_FOUND");
    let mine = stranger
        .call("GET", "/api/v1/vaults")
        .send()
        .await
        .expect(200);
    assert!(mine["data"].as_array().unwrap().is_empty(), "{mine}");
}

#[tokio::test]
async fn bad_paths_types_and_values_are_400s_naming_the_field() {
    let o = org_with_vault("vault-bad").await;
    // Dot segments go as one encoded segment: clients normalise a literal `..`.
    for path in ["a//b", "a%2F.%2Fb", "x%2F..", "a/b%20c", "a/%C3%A9"] {
        let r = put(call("PUT", &secret_url(&o.vault, path)), "v")
            .send()
            .await;
        let v = r.expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), ["path"], "{path}: {v}");
    }
    let long = vec!["a"; 257].join("/");
    let v = put(call("PUT", &secret_url(&o.vault, &long)), "v")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["path"]);
    let url = secret_url(&o.vault, "k");
    for (body, field) in [
        (json!({"type": "token", "value": "v"}), "type"),
        (json!({"type": "json", "value": "{not json"}), "value"),
        (
            json!({"type": "note", "value": "x".repeat(65_537)}),
            "value",
        ),
        (
            json!({"type": "note", "value": "v", "tags": ["a b"]}),
            "tags[0]",
        ),
        (
            json!({"type": "note", "value": "v", "expiresAt": "tomorrow"}),
            "expiresAt",
        ),
    ] {
        let v = call("PUT", &url)
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), [field], "{body}");
    }
    call("GET", &url)
        .send()
        .await
        .expect_error(404, "SECRET_NOT_FOUND");
    let v = call("POST", "/api/v1/vaults")
        .json(&json!({"orgId": o.org_id, "name": "no spaces"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["name"]);
    call("POST", "/api/v1/vaults")
        .json(&json!({"orgId": o.org_id, "name": "main"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    let policies = format!("/api/v1/vaults/{}/policies", o.vault);
    for (body, field) in [
        (
            json!({"principal": {"kind": "user", "id": o.owner.id}, "actions": [],
                "pathGlob": "**", "effect": "allow"}),
            "actions",
        ),
        (
            json!({"principal": {"kind": "user", "id": o.owner.id}, "actions": ["read"],
                "pathGlob": "a**", "effect": "allow"}),
            "pathGlob",
        ),
        (
            json!({"principal": {"kind": "user", "id": o.owner.id}, "actions": ["read"],
                "pathGlob": "**", "effect": "allow",
                "conditions": {"sourceCidrs": ["10.0.0.300/8"]}}),
            "conditions.sourceCidrs[0]",
        ),
    ] {
        let v = call("POST", &policies)
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), [field], "{body}");
    }
}

#[tokio::test]
async fn an_expired_secret_reads_as_410() {
    let o = org_with_vault("vault-exp").await;
    let url = secret_url(&o.vault, "short-lived");
    call("PUT", &url)
        .json(&json!({"type": "password", "value": "hunter2-long", "expiresAt": "2020-01-01T00:00:00Z"}))
        .send()
        .await
        .expect(201);
    call("GET", &url)
        .send()
        .await
        .expect_error(410, "SECRET_EXPIRED");
    // A new version without expiresAt keeps it; null clears it.
    call("PUT", &url)
        .json(&json!({"type": "password", "value": "hunter3-long", "expiresAt": null}))
        .send()
        .await
        .expect(200);
    assert_eq!(
        call("GET", &url).send().await.expect(200)["data"]["value"],
        "hunter3-long"
    );
}

#[tokio::test]
async fn values_are_sealed_at_rest_and_reads_are_audited_without_them() {
    let o = org_with_vault("vault-rest").await;
    let marker = format!("MARKER-{}", unique("value"));
    let url = secret_url(&o.vault, "leak/check");
    put(call("PUT", &url), &marker).send().await.expect(201);
    call("GET", &url).send().await.expect(200);

    let db = db().await;
    let stored: Vec<String> = db
        .query(
            "SELECT t::text FROM vault_secret_versions t
             UNION ALL SELECT t::text FROM vault_secrets t
             UNION ALL SELECT t::text FROM vaults t
             UNION ALL SELECT t::text FROM idempotency_keys t",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let hex_marker: String = marker.bytes().map(|b| format!("{b:02x}")).collect();
    for row in &stored {
        assert!(!row.contains(&marker), "plaintext at rest: {row}");
        assert!(!row.contains(&hex_marker), "plaintext bytes at rest: {row}");
    }
    let audit = audit_log_text().await;
    assert!(!audit.contains(&marker), "value in the audit log");
    let reads: i64 = db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'getSecret'
             AND resource_name = 'leak/check' AND detail->>'version' = '1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(reads, 1, "the read is audited with its version");
    let log = cp_tests::server_log("the vault's host log").unwrap_or_default();
    assert!(!log.contains(&marker), "value in the host log");
    let _: Value = json!(o.org_id);
}
