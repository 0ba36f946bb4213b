//! Access tokens through the Wasm host: created once with their secret,
//! stored as digests, limited by scopes, expiring, revocable — and accepted
//! by every route group through the one shared authentication step.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, count, db, tenant_body, unique, Call};
use serde_json::{json, Value};

async fn create_token(body: &Value) -> Value {
    call("POST", "/api/v1/access-tokens")
        .json(body)
        .send()
        .await
        .expect(201)["data"]
        .clone()
}

fn as_token(token: &Value, method: &'static str, path: &str) -> Call {
    let secret = token["plainTextToken"].as_str().unwrap();
    call(method, path).header("authorization", &format!("Bearer {secret}"))
}

#[tokio::test]
async fn the_secret_is_shown_once_and_stored_as_a_digest() {
    let name = unique("ci");
    let t =
        create_token(&json!({"name": name, "scopes": ["tenants:read"], "expiresInDays": 30})).await;
    let secret = t["plainTextToken"].as_str().unwrap();
    assert!(
        secret.starts_with("cpat_") && secret.len() == 48,
        "{secret}"
    );
    assert_eq!(t["tokenPrefix"], &secret[..12]);
    assert_eq!(t["scopes"], json!(["tenants:read"]));
    assert_eq!(t["createdBy"], "operator");
    assert!(t["expiresAt"].as_str().unwrap() > t["createdAt"].as_str().unwrap());

    let list = call("GET", "/api/v1/access-tokens?limit=1000")
        .send()
        .await
        .expect(200);
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == t["id"])
        .unwrap()
        .clone();
    assert!(listed.get("plainTextToken").is_none());
    assert!(!list.to_string().contains(secret));
    assert_eq!(listed["name"], name.as_str());

    let stored = db()
        .await
        .query_one(
            "SELECT token_hash, t::text FROM access_tokens t WHERE id = $1::text::uuid",
            &[&t["id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    let (hash, row): (String, String) = (stored.get(0), stored.get(1));
    assert_eq!(hash, sha256_hex(secret));
    assert!(!row.contains(&secret[5..]), "no plaintext at rest");
}

/// SHA-256 hex, computed independently of the server's code.
fn sha256_hex(secret: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(secret.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

#[tokio::test]
async fn scopes_limit_what_a_token_may_do_on_every_route_group() {
    let reader = create_token(&json!({"name": "reader", "scopes": ["tenants:read"]})).await;
    as_token(&reader, "GET", "/api/v1/tenants")
        .send()
        .await
        .expect(200);
    let v = as_token(&reader, "POST", "/api/v1/tenants")
        .json(&tenant_body(&unique("nope")))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(v["error"].as_str().unwrap().contains("tenants:write"));
    as_token(&reader, "GET", "/api/v1/policies")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    as_token(&reader, "GET", "/api/v1/access-tokens")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // A full token writes, and the audit trail names it.
    let admin = create_token(&json!({"name": "admin"})).await;
    let name = unique("bytoken");
    as_token(&admin, "POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect(201);
    let actor = format!("access-token:{}", admin["id"].as_str().unwrap());
    let audited = count(
        "SELECT count(*) FROM audit_log WHERE resource_name = $1 AND action = 'createTenant'",
        &name,
    )
    .await;
    assert_eq!(audited, 1);
    let by_token = db()
        .await
        .query_one(
            "SELECT actor FROM audit_log WHERE resource_name = $1 AND action = 'createTenant'",
            &[&name],
        )
        .await
        .unwrap();
    assert_eq!(by_token.get::<_, String>(0), actor);
    // Used tokens show when.
    let list = call("GET", "/api/v1/access-tokens?limit=1000")
        .send()
        .await
        .expect(200);
    let used = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == admin["id"])
        .unwrap();
    assert!(used["lastUsedAt"].is_string());
}

#[tokio::test]
async fn a_token_cannot_create_a_token_with_more_than_it_holds() {
    let limited = create_token(&json!({
        "name": "limited", "scopes": ["tenants:write", "access-tokens:write"]
    }))
    .await;
    let v = as_token(&limited, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": "escalate", "scopes": ["tenants:read", "*"]}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(v["error"].as_str().unwrap().contains("scopes[1]"));
    let child = as_token(&limited, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": "narrower", "scopes": ["tenants:read"]}))
        .send()
        .await
        .expect(201);
    assert_eq!(
        child["data"]["createdBy"],
        format!("access-token:{}", limited["id"].as_str().unwrap())
    );
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused() {
    let t = create_token(&json!({"name": "short", "expiresInDays": 1})).await;
    as_token(&t, "GET", "/api/v1/tenants")
        .send()
        .await
        .expect(200);
    db().await
        .execute(
            "UPDATE access_tokens SET expires_at = now() - interval '1 second' WHERE id = $1::text::uuid",
            &[&t["id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    let v = as_token(&t, "GET", "/api/v1/tenants")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert!(v["error"].as_str().unwrap().contains("expired"));

    let r = create_token(&json!({"name": "revoked"})).await;
    let path = format!("/api/v1/access-tokens/{}", r["id"].as_str().unwrap());
    // A token may revoke itself.
    assert_eq!(as_token(&r, "DELETE", &path).send().await.status, 204);
    as_token(&r, "GET", "/api/v1/tenants")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    call("DELETE", &path)
        .send()
        .await
        .expect_error(404, "ACCESS_TOKEN_NOT_FOUND");
    call("DELETE", "/api/v1/access-tokens/not-a-uuid")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    call("GET", "/api/v1/tenants")
        .header("authorization", "Bearer cpat_made-up")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        count(
            "SELECT count(*) FROM audit_log WHERE action = 'deleteAccessToken' AND resource_name = $1",
            r["id"].as_str().unwrap(),
        )
        .await,
        1
    );
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let v = call("POST", "/api/v1/access-tokens")
        .json(&json!({"scopes": ["tenants:admin"], "expiresInDays": 99999}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    let fields: Vec<&str> = v["fieldErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "scopes[0]", "expiresInDays"]);
    for key in [
        json!([0, "not-a-uuid"]),
        json!([-5, "0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f"]),
    ] {
        let c = cp_tests::forged_cursor("access-tokens", key);
        call("GET", &format!("/api/v1/access-tokens?cursor={c}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
    }
    call("POST", "/api/v1/access-tokens")
        .json(&json!({"name": "x", "plainTextToken": "mine"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
}

/// Issue 12 item 9: a short-lived token holding `access-tokens:write` used
/// to mint a never-expiring token. A minted token now gets at most its
/// creator's scopes and lifetime, and goes when its creator is revoked.
#[tokio::test]
async fn a_minted_token_never_outlives_or_exceeds_the_token_that_minted_it() {
    let parent = create_token(&json!({
        "name": unique("minter"),
        "scopes": ["access-tokens:write", "tenants:read"],
        "expiresInDays": 2
    }))
    .await;
    let parent_expiry = parent["expiresAt"].as_str().unwrap().to_owned();

    // Without a lifetime: it expires with its creator, not never.
    let child = as_token(&parent, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("child"), "scopes": ["tenants:read"]}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    assert_eq!(child["expiresAt"], parent_expiry.as_str());
    assert_eq!(
        child["createdBy"],
        format!("access-token:{}", parent["id"].as_str().unwrap())
    );
    // A shorter lifetime is its own...
    let short = as_token(&parent, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("short"), "scopes": ["tenants:read"], "expiresInDays": 1}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    assert!(short["expiresAt"].as_str().unwrap() <= parent_expiry.as_str());
    // ...a longer one is refused, naming the field.
    let err = as_token(&parent, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("long"), "scopes": ["tenants:read"], "expiresInDays": 3}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(
        err["error"].as_str().unwrap().starts_with("expiresInDays"),
        "{err}"
    );
    // More scopes than it holds are refused too.
    let err = as_token(&parent, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("wide"), "scopes": ["*"]}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(
        err["error"].as_str().unwrap().starts_with("scopes[0]"),
        "{err}"
    );
    let err = as_token(&parent, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("write"), "scopes": ["tenants:write"]}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(
        err["error"].as_str().unwrap().starts_with("scopes[0]"),
        "{err}"
    );
    // A grandchild cannot outlive the chain either.
    let middle = as_token(&parent, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("middle"), "scopes": ["access-tokens:write"]}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let grandchild = as_token(&middle, "POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("grandchild"), "scopes": ["access-tokens:read"]}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    assert_eq!(grandchild["expiresAt"], parent_expiry.as_str());
    as_token(&child, "GET", "/api/v1/tenants")
        .send()
        .await
        .expect(200);
    as_token(&grandchild, "GET", "/api/v1/access-tokens")
        .send()
        .await
        .expect(200);

    // Revoking the creator revokes what it minted, transitively.
    call(
        "DELETE",
        &format!("/api/v1/access-tokens/{}", parent["id"].as_str().unwrap()),
    )
    .send()
    .await
    .expect(204);
    for t in [&child, &short, &middle, &grandchild] {
        as_token(t, "GET", "/api/v1/tenants")
            .send()
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    // The operator's own tokens still never expire unless asked.
    let forever =
        create_token(&json!({"name": unique("forever"), "scopes": ["tenants:read"]})).await;
    assert_eq!(forever["expiresAt"], Value::Null);
}
