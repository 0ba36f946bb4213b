//! The catalog routes end to end (MCP servers with grants and brokered
//! credentials, groups, third-party sources): the real component in the
//! host, real PostgreSQL.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, count, create_tenant, db, field_errors, unique, Resp, SECRETS_KEY};
use serde_json::{json, Value};

async fn create(path: &str, body: &Value) -> (Value, String) {
    let resp = call("POST", path).json(body).send().await;
    let v = resp.expect(201);
    (v["data"].clone(), resp.header("etag").unwrap().to_owned())
}

async fn create_group(name: &str) -> Value {
    create("/api/v1/groups", &json!({ "name": name })).await.0
}

fn server_body(name: &str) -> Value {
    json!({ "name": name, "transport": "streamable-http", "endpoint": "https://mcp.example.com/mcp" })
}

/// Walks a list with `limit` until the end; returns every item, checking
/// that each page but the last is full and says there is more.
async fn walk(path: &str, limit: u32) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            None => format!("{path}?limit={limit}"),
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
        };
        let v = call("GET", &url).send().await.expect(200);
        pages += 1;
        let page = v["data"].as_array().unwrap().clone();
        let more = v["pagination"]["hasMore"].as_bool().unwrap();
        if more {
            assert_eq!(page.len(), limit as usize);
        }
        items.extend(page);
        match v["pagination"]["nextCursor"].as_str() {
            Some(c) if more => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    (items, pages)
}

#[tokio::test]
async fn mcp_server_round_trip_with_grants_and_credentials() {
    let group = unique("ops");
    create_group(&group).await;
    let (first, second) = (unique("ten"), unique("ten"));
    create_tenant(&first).await;
    create_tenant(&second).await;
    let name = unique("search");
    let mut body = server_body(&name);
    body["description"] = json!("Web search");
    body["grants"] = json!([{"kind": "tenant", "name": first}, {"kind": "group", "name": group}]);
    body["credentials"] = json!([
        {"displayName": "API key", "brokeringMode": "static", "secretRef": {"name": "search-creds", "key": "api-key"}},
        {"displayName": "User token", "brokeringMode": "obo"}
    ]);
    let (s, etag) = create("/api/v1/mcp-servers", &body).await;
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(s["name"], name.as_str());
    assert_eq!(s["transport"], "streamable-http");
    assert_eq!(s["endpoint"], "https://mcp.example.com/mcp");
    assert_eq!(s["description"], "Web search");
    assert_eq!(s["grants"], body["grants"]);
    let creds = s["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 2);
    assert_eq!(
        creds[0]["secretRef"],
        json!({"name": "search-creds", "key": "api-key"})
    );
    assert_eq!(creds[0]["hasValue"], false);
    assert_eq!(creds[1]["brokeringMode"], "obo");
    assert!(creds[1].get("secretRef").is_none());

    let got = call("GET", &format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await;
    assert_eq!(got.expect(200)["data"], s);
    assert_eq!(got.header("etag"), Some(etag.as_str()));

    // PUT replaces fields, grants and credentials (not merged).
    let put = call("PUT", &format!("/api/v1/mcp-servers/{id}"))
        .header("if-match", &etag)
        .json(&json!({
            "name": name, "transport": "stdio", "endpoint": "npx -y @acme/search-mcp",
            "grants": [{"kind": "tenant", "name": second}],
            "credentials": [{"displayName": "Replacement", "brokeringMode": "obo"}]
        }))
        .send()
        .await;
    let replaced = put.expect(200)["data"].clone();
    let new_etag = put.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(replaced["transport"], "stdio");
    assert_eq!(replaced["description"], Value::Null);
    assert_eq!(
        replaced["grants"],
        json!([{"kind": "tenant", "name": second}])
    );
    let creds = replaced["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["displayName"], "Replacement");
    assert_eq!(
        count(
            "SELECT count(*) FROM mcp_server_grants WHERE server_id = $1::text::uuid",
            &id
        )
        .await,
        1
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM mcp_server_credentials WHERE server_id = $1::text::uuid",
            &id
        )
        .await,
        1
    );

    // The old ETag is stale now.
    call("PUT", &format!("/api/v1/mcp-servers/{id}"))
        .header("if-match", &etag)
        .json(&server_body(&name))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // The list shows grants and credential metadata too.
    let (all, _) = walk("/api/v1/mcp-servers", 1000).await;
    let listed = all.iter().find(|s| s["id"] == id.as_str()).unwrap();
    assert_eq!(listed, &replaced);

    let del = call("DELETE", &format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await;
    assert_eq!(del.status, 204);
    assert!(del.body.is_empty());
    for table in [
        "mcp_servers WHERE id",
        "mcp_server_grants WHERE server_id",
        "mcp_server_credentials WHERE server_id",
    ] {
        assert_eq!(
            count(
                &format!("SELECT count(*) FROM {table} = $1::text::uuid"),
                &id
            )
            .await,
            0,
            "{table}"
        );
    }
    call("GET", &format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await
        .expect_error(404, "MCP_SERVER_NOT_FOUND");
    call("DELETE", &format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await
        .expect_error(404, "MCP_SERVER_NOT_FOUND");
    call("PUT", &format!("/api/v1/mcp-servers/{id}"))
        .json(&server_body(&name))
        .send()
        .await
        .expect_error(404, "MCP_SERVER_NOT_FOUND");
}

#[tokio::test]
async fn mcp_server_validation_names_each_field() {
    let v = call("POST", "/api/v1/mcp-servers")
        .json(&json!({
            "name": "Bad_Name", "transport": "sse", "endpoint": "npx not-a-url",
            "grants": [{"kind": "tenant", "name": "ok"}, {"kind": "robot", "name": "x"}],
            "credentials": [
                {"displayName": "both", "brokeringMode": "static", "value": "v", "secretRef": {"name": "s", "key": "k"}},
                {"displayName": "neither", "brokeringMode": "static"},
                {"displayName": "obo", "brokeringMode": "obo", "value": "nope"},
                {"displayName": "bad ref", "brokeringMode": "static", "secretRef": {"name": "Bad_Secret", "key": "k"}}
            ]
        }))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        field_errors(&v),
        [
            "name",
            "endpoint",
            "grants[1].kind",
            "credentials[0].value",
            "credentials[1].secretRef",
            "credentials[2].value",
            "credentials[3].secretRef.name"
        ]
    );

    let v = call("POST", "/api/v1/mcp-servers")
        .json(&json!({"name": "x", "transport": "websocket", "endpoint": "https://x"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["transport"]);

    let v = call("POST", "/api/v1/mcp-servers")
        .json(&json!({"name": "x", "transport": "sse", "endpoint": "https://x", "extra": 1}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["extra"]);

    // A grant must name an existing group or a live tenant (a grant never
    // waits for a name someone else could claim).
    let mut body = server_body(&unique("grants"));
    body["grants"] = json!([{"kind": "tenant", "name": unique("future")}, {"kind": "group", "name": unique("nogroup")}]);
    let v = call("POST", "/api/v1/mcp-servers")
        .json(&body)
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["grants[0].name", "grants[1].name"]);
    assert!(
        v["fieldErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no existing tenant"),
        "{v}"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM mcp_servers WHERE name = $1",
            body["name"].as_str().unwrap()
        )
        .await,
        0,
        "nothing half written"
    );

    let v = call("GET", "/api/v1/mcp-servers/not-a-uuid")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["id"]);
    let v = call(
        "GET",
        "/api/v1/mcp-servers?cursor=v1.eyJzIjoiZ3JvdXBzIiwiayI6WzAsIiJdfQ",
    )
    .send()
    .await
    .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["cursor"], "a cursor of another list");
}

#[tokio::test]
async fn duplicate_names_are_conflicts() {
    let name = unique("dup");
    create("/api/v1/mcp-servers", &server_body(&name)).await;
    let request_id = format!("req-{name}");
    call("POST", "/api/v1/mcp-servers")
        .header("x-request-id", &request_id)
        .json(&server_body(&name))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    // The refusal is audited, under the resource kind.
    let row = db()
        .await
        .query_one(
            "SELECT action, resource_kind, outcome FROM audit_log WHERE request_id = $1",
            &[&request_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "createMcpServer");
    assert_eq!(row.get::<_, String>(1), "mcp_server");
    assert_eq!(row.get::<_, String>(2), "failure");
    // Renaming onto a taken name too.
    let (other, _) = create("/api/v1/mcp-servers", &server_body(&unique("dup"))).await;
    call(
        "PUT",
        &format!("/api/v1/mcp-servers/{}", other["id"].as_str().unwrap()),
    )
    .json(&server_body(&name))
    .send()
    .await
    .expect_error(409, "CONFLICT");

    create_group(&name).await;
    call("POST", "/api/v1/groups")
        .json(&json!({"name": name}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    let src = json!({"name": name, "type": "web", "url": "https://example.com"});
    create("/api/v1/third-party-sources", &src).await;
    call("POST", "/api/v1/third-party-sources")
        .json(&src)
        .send()
        .await
        .expect_error(409, "CONFLICT");
}

#[tokio::test]
async fn a_failed_put_changes_nothing() {
    let group = unique("keep");
    create_group(&group).await;
    let name = unique("atomic");
    let mut body = server_body(&name);
    body["grants"] = json!([{"kind": "group", "name": group}]);
    body["credentials"] = json!([{"displayName": "kept", "brokeringMode": "static", "secretRef": {"name": "s", "key": "k"}}]);
    let (before, etag) = create("/api/v1/mcp-servers", &body).await;
    let id = before["id"].as_str().unwrap();

    // Valid on its own, but one group does not exist: refused after the
    // old grants and credentials were already deleted in the transaction.
    let put = call("PUT", &format!("/api/v1/mcp-servers/{id}"))
        .json(&json!({
            "name": unique("renamed"), "transport": "sse", "endpoint": "https://other.example.com",
            "grants": [{"kind": "tenant", "name": unique("nobody")}, {"kind": "group", "name": unique("missing")}],
            "credentials": [{"displayName": "new", "brokeringMode": "obo"}]
        }))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&put), ["grants[0].name", "grants[1].name"]);

    let after = call("GET", &format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await;
    assert_eq!(after.expect(200)["data"], before);
    assert_eq!(after.header("etag"), Some(etag.as_str()));
    assert_eq!(
        count(
            "SELECT count(*) FROM mcp_server_credentials WHERE server_id = $1::text::uuid",
            id
        )
        .await,
        1
    );

    // Only the create succeeded on this server.
    let actions: Vec<String> = db()
        .await
        .query(
            "SELECT action FROM audit_log WHERE resource_name = $1 AND outcome = 'success'",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(actions, ["createMcpServer"]);
}

#[tokio::test]
async fn credentials_sub_resource() {
    let (server, etag) = create("/api/v1/mcp-servers", &server_body(&unique("creds"))).await;
    let id = server["id"].as_str().unwrap();
    let path = format!("/api/v1/mcp-servers/{id}/credentials");
    let mut ids = Vec::new();
    for i in 0..3 {
        let c = call("POST", &path)
            .json(&json!({"displayName": format!("cred {i}"), "brokeringMode": "obo"}))
            .send()
            .await
            .expect(201)["data"]
            .clone();
        assert_eq!(c["displayName"], format!("cred {i}"));
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    // Two pages of two, in creation order.
    let (all, pages) = walk(&path, 2).await;
    assert_eq!(pages, 2);
    let listed: Vec<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids);

    // Credentials are part of the server's representation: its ETag moved.
    let got = call("GET", &format!("/api/v1/mcp-servers/{id}"))
        .send()
        .await;
    assert_ne!(got.header("etag"), Some(etag.as_str()));
    assert_eq!(
        got.json()["data"]["credentials"].as_array().unwrap().len(),
        3
    );

    let del = call("DELETE", &format!("{path}/{}", ids[1])).send().await;
    assert_eq!(del.status, 204);
    call("DELETE", &format!("{path}/{}", ids[1]))
        .send()
        .await
        .expect_error(404, "CREDENTIAL_NOT_FOUND");
    assert_eq!(
        count(
            "SELECT count(*) FROM mcp_server_credentials WHERE id = $1::text::uuid",
            &ids[1]
        )
        .await,
        0
    );
    let (all, _) = walk(&path, 100).await;
    assert_eq!(all.len(), 2);

    // Validation and unknown servers.
    let v = call("POST", &path)
        .json(&json!({"displayName": "", "brokeringMode": "static"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["displayName", "secretRef"]);
    let missing = uuid::Uuid::now_v7();
    call(
        "POST",
        &format!("/api/v1/mcp-servers/{missing}/credentials"),
    )
    .json(&json!({"displayName": "x", "brokeringMode": "obo"}))
    .send()
    .await
    .expect_error(404, "MCP_SERVER_NOT_FOUND");
    call("GET", &format!("/api/v1/mcp-servers/{missing}/credentials"))
        .send()
        .await
        .expect_error(404, "MCP_SERVER_NOT_FOUND");
    // A credential of another server is not found under this one.
    let (other, _) = create("/api/v1/mcp-servers", &server_body(&unique("creds"))).await;
    call(
        "DELETE",
        &format!(
            "/api/v1/mcp-servers/{}/credentials/{}",
            other["id"].as_str().unwrap(),
            ids[0]
        ),
    )
    .send()
    .await
    .expect_error(404, "CREDENTIAL_NOT_FOUND");
    let v = call("DELETE", &format!("{path}/nope"))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["credentialId"]);
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn inline_credential_values_are_never_disclosed() {
    let secret = format!("sk-live-{}-Zq9", uuid::Uuid::now_v7().simple());
    let mut texts: Vec<String> = Vec::new();
    let mut keep = |r: &Resp| {
        texts.push(format!(
            "{:?}\n{}",
            r.headers,
            String::from_utf8_lossy(&r.body)
        ));
        r.json()
    };
    let name = unique("leak");
    let mut body = server_body(&name);
    body["credentials"] =
        json!([{"displayName": "Inline", "brokeringMode": "static", "value": secret}]);
    let created = keep(&call("POST", "/api/v1/mcp-servers").json(&body).send().await);
    let server = created["data"].clone();
    let id = server["id"].as_str().unwrap().to_owned();
    let cred = &server["credentials"][0];
    assert_eq!(cred["hasValue"], true);
    assert_eq!(cred["valueHint"], secret[secret.len() - 4..]);
    let cred_id = cred["id"].as_str().unwrap().to_owned();

    let path = format!("/api/v1/mcp-servers/{id}/credentials");
    keep(
        &call("GET", &format!("/api/v1/mcp-servers/{id}"))
            .send()
            .await,
    );
    keep(&call("GET", "/api/v1/mcp-servers?limit=1000").send().await);
    keep(&call("GET", &path).send().await);
    let short = keep(
        &call("POST", &path)
            .json(
                &json!({"displayName": "short", "brokeringMode": "static", "value": "tiny-value"}),
            )
            .send()
            .await,
    );
    // Control characters are encrypted like any others but never hinted.
    let nul = keep(
        &call("POST", &path)
            .json(&json!({"displayName": "nul", "brokeringMode": "static", "value": "abcdefghijk\u{0}"}))
            .send()
            .await,
    );
    assert_eq!(nul["data"]["hasValue"], true, "{nul}");
    assert!(nul["data"].get("valueHint").is_none());
    assert!(
        short["data"].get("valueHint").is_none(),
        "no hint under 12 characters"
    );
    // Error paths carrying the value: a refused body, a wrongly typed value, a conflict.
    keep(
        &call("POST", &path)
            .json(&json!({"displayName": "x", "brokeringMode": "obo", "value": secret}))
            .send()
            .await,
    );
    keep(
        &call("POST", "/api/v1/mcp-servers")
            .json(&json!({"name": name, "transport": "sse", "endpoint": "https://x",
                          "credentials": [{"displayName": "x", "brokeringMode": "static", "value": [secret]}]}))
            .send()
            .await,
    );
    keep(&call("POST", "/api/v1/mcp-servers").json(&body).send().await);
    keep(
        &call("POST", "/api/v1/mcp-servers")
            .raw(format!("{{\"name\": \"{secret}\""), "application/json")
            .send()
            .await,
    );

    // At rest: AES-256-GCM under the master key, bound to server and credential.
    let row = db()
        .await
        .query_one(
            "SELECT value_ciphertext, value_nonce, value_hint FROM mcp_server_credentials WHERE id = $1::text::uuid",
            &[&cred_id],
        )
        .await
        .unwrap();
    let ciphertext: Vec<u8> = row.get(0);
    let nonce: Vec<u8> = row.get(1);
    assert_eq!(nonce.len(), 12);
    assert_ne!(ciphertext, secret.as_bytes());
    assert!(!ciphertext
        .windows(8)
        .any(|w| secret.as_bytes().windows(8).any(|s| s == w)));
    let key = cp_crypto::MasterKey::from_base64(SECRETS_KEY).unwrap();
    let sealed = cp_crypto::Sealed { nonce, ciphertext };
    let aad = format!("cp/mcp-server-credential/v1/{id}/{cred_id}");
    assert_eq!(
        key.open(&sealed, aad.as_bytes()).unwrap(),
        secret.as_bytes()
    );
    assert!(key
        .open(&sealed, b"cp/mcp-server-credential/v1/other")
        .is_err());

    let audit: Vec<String> = db()
        .await
        .query("SELECT t::text FROM audit_log t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        audit.iter().any(|a| a.contains(&id)),
        "the create is audited"
    );
    let log = cp_tests::server_log("the credential scan of the host log").unwrap_or_default();
    let encoded = base64(secret.as_bytes());
    for needle in [secret.as_str(), encoded.as_str(), &secret[8..30]] {
        for t in &texts {
            assert!(!t.contains(needle), "value in a response: {t}");
        }
        assert!(
            !audit.iter().any(|a| a.contains(needle)),
            "value in the audit log"
        );
        assert!(!log.contains(needle), "value in the host log");
    }
    // The stored plaintext appears nowhere in the database either.
    let everything: String = db()
        .await
        .query("SELECT t::text FROM mcp_server_credentials t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(!everything.contains(&secret));
}

#[tokio::test]
async fn groups_round_trip() {
    let name = unique("eng");
    let (acme, globex) = (unique("acme"), unique("globex"));
    create_tenant(&acme).await;
    create_tenant(&globex).await;
    let (g, etag) = create(
        "/api/v1/groups",
        &json!({
            "name": name, "description": "Engineering",
            "members": [{"kind": "tenant", "name": acme}, {"kind": "user", "name": "ada@example.com"}],
            "awarenessGrants": [{"scope": "datasets:sales-*", "access": "read"}, {"scope": "channel:support", "access": "write"}]
        }),
    )
    .await;
    let id = g["id"].as_str().unwrap().to_owned();
    assert_eq!(g["memberCount"], 2);
    assert_eq!(
        g["members"][1],
        json!({"kind": "user", "name": "ada@example.com"})
    );
    assert_eq!(
        g["awarenessGrants"][0],
        json!({"scope": "datasets:sales-*", "access": "read"})
    );
    let got = call("GET", &format!("/api/v1/groups/{id}")).send().await;
    assert_eq!(got.expect(200)["data"], g);
    assert_eq!(got.header("etag"), Some(etag.as_str()));

    // Lists show the count and grants, not the members.
    let (all, _) = walk("/api/v1/groups", 1000).await;
    let listed = all.iter().find(|x| x["id"] == id.as_str()).unwrap();
    assert_eq!(listed["memberCount"], 2);
    assert!(listed.get("members").is_none());
    assert_eq!(listed["awarenessGrants"], g["awarenessGrants"]);

    // The name is immutable.
    let v = call("PUT", &format!("/api/v1/groups/{id}"))
        .json(&json!({"name": unique("other")}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["name"]);

    // PUT replaces members and grants.
    let put = call("PUT", &format!("/api/v1/groups/{id}"))
        .header("if-match", &etag)
        .json(
            &json!({"name": name, "members": [{"kind": "tenant", "name": globex}],
                      "awarenessGrants": [{"scope": "channel:ops", "access": "read"}]}),
        )
        .send()
        .await;
    let replaced = put.expect(200)["data"].clone();
    assert_eq!(
        replaced["members"],
        json!([{"kind": "tenant", "name": globex}])
    );
    assert_eq!(
        replaced["awarenessGrants"],
        json!([{"scope": "channel:ops", "access": "read"}])
    );
    assert_eq!(replaced["description"], Value::Null);
    assert_eq!(
        count(
            "SELECT count(*) FROM group_members WHERE group_id = $1::text::uuid",
            &id
        )
        .await,
        1
    );
    call("PUT", &format!("/api/v1/groups/{id}"))
        .header("if-match", &etag)
        .json(&json!({}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // Validation names the element.
    let v = call("PUT", &format!("/api/v1/groups/{id}"))
        .json(&json!({"members": [{"kind": "user", "name": "not-an-email"}],
                      "awarenessGrants": [{"scope": "a", "access": "read"}, {"scope": "a", "access": "write"}, {"scope": "BAD", "access": "read"}]}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        field_errors(&v),
        [
            "members[0].name",
            "awarenessGrants[1].scope",
            "awarenessGrants[2].scope"
        ]
    );
    // ...and changed nothing.
    assert_eq!(
        call("GET", &format!("/api/v1/groups/{id}"))
            .send()
            .await
            .expect(200)["data"],
        replaced
    );

    let del = call("DELETE", &format!("/api/v1/groups/{id}")).send().await;
    assert_eq!(del.status, 204);
    for table in [
        "groups WHERE id",
        "group_members WHERE group_id",
        "group_awareness_grants WHERE group_id",
    ] {
        assert_eq!(
            count(
                &format!("SELECT count(*) FROM {table} = $1::text::uuid"),
                &id
            )
            .await,
            0,
            "{table}"
        );
    }
    call("GET", &format!("/api/v1/groups/{id}"))
        .send()
        .await
        .expect_error(404, "GROUP_NOT_FOUND");
    call("DELETE", &format!("/api/v1/groups/{id}"))
        .send()
        .await
        .expect_error(404, "GROUP_NOT_FOUND");
}

#[tokio::test]
async fn group_list_pages_without_gaps_or_repeats() {
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(
            create_group(&unique("page")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (all, pages) = walk("/api/v1/groups", 2).await;
    assert!(pages >= 2);
    let ids: Vec<&str> = all.iter().map(|g| g["id"].as_str().unwrap()).collect();
    let mut unique_ids = ids.clone();
    unique_ids.sort_unstable();
    unique_ids.dedup();
    assert_eq!(unique_ids.len(), ids.len(), "no repeats");
    let positions: Vec<usize> = mine
        .iter()
        .map(|m| ids.iter().position(|i| i == m).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "creation order");
}

#[tokio::test]
async fn third_party_sources_round_trip() {
    let name = unique("wiki");
    let (s, etag) = create(
        "/api/v1/third-party-sources",
        &json!({
            "name": name, "type": "confluence", "url": "https://acme.atlassian.net/wiki",
            "items": [{"externalId": "SPACE-1", "title": "Runbooks", "url": "https://acme.atlassian.net/wiki/spaces/RB"},
                      {"externalId": "SPACE-2", "title": "Onboarding"}]
        }),
    )
    .await;
    let id = s["id"].as_str().unwrap().to_owned();
    assert_eq!(s["type"], "confluence");
    assert_eq!(s["itemCount"], 2);
    assert_eq!(
        s["items"][1],
        json!({"externalId": "SPACE-2", "title": "Onboarding"})
    );
    let got = call("GET", &format!("/api/v1/third-party-sources/{id}"))
        .send()
        .await;
    assert_eq!(got.expect(200)["data"], s);
    assert_eq!(got.header("etag"), Some(etag.as_str()));

    let (all, _) = walk("/api/v1/third-party-sources", 1000).await;
    let listed = all.iter().find(|x| x["id"] == id.as_str()).unwrap();
    assert_eq!(listed["itemCount"], 2);
    assert!(listed.get("items").is_none());

    let put = call("PUT", &format!("/api/v1/third-party-sources/{id}"))
        .header("if-match", &etag)
        .json(
            &json!({"name": name, "type": "notion", "url": "https://notion.so/acme",
                      "items": [{"externalId": "p-9", "title": "Roadmap"}]}),
        )
        .send()
        .await;
    let replaced = put.expect(200)["data"].clone();
    assert_eq!(
        replaced["items"],
        json!([{"externalId": "p-9", "title": "Roadmap"}])
    );
    assert_eq!(replaced["type"], "notion");
    call("PUT", &format!("/api/v1/third-party-sources/{id}"))
        .header("if-match", &etag)
        .json(&json!({"name": name, "type": "web", "url": "https://x"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    let v = call("PUT", &format!("/api/v1/third-party-sources/{id}"))
        .json(&json!({"name": name, "type": "ftp", "url": "ftp://x",
                      "items": [{"externalId": "a", "title": "A"}, {"externalId": "a", "title": "B", "url": "nope"}]}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        field_errors(&v),
        ["type", "url", "items[1].externalId", "items[1].url"]
    );

    assert_eq!(
        count(
            "SELECT count(*) FROM third_party_items WHERE source_id = $1::text::uuid",
            &id
        )
        .await,
        1
    );
    let del = call("DELETE", &format!("/api/v1/third-party-sources/{id}"))
        .send()
        .await;
    assert_eq!(del.status, 204);
    assert_eq!(
        count(
            "SELECT count(*) FROM third_party_items WHERE source_id = $1::text::uuid",
            &id
        )
        .await,
        0,
        "items cascade"
    );
    call("GET", &format!("/api/v1/third-party-sources/{id}"))
        .send()
        .await
        .expect_error(404, "THIRD_PARTY_SOURCE_NOT_FOUND");
}

#[tokio::test]
async fn mutations_are_audited() {
    let request_id = format!("req-{}", unique("audit"));
    let (g, _) = {
        let resp = call("POST", "/api/v1/groups")
            .header("x-request-id", &request_id)
            .json(&json!({"name": unique("audited")}))
            .send()
            .await;
        (resp.expect(201)["data"].clone(), ())
    };
    let row = db()
        .await
        .query_one(
            "SELECT action, resource_kind, resource_name, outcome FROM audit_log WHERE request_id = $1",
            &[&request_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "createGroup");
    assert_eq!(row.get::<_, String>(1), "group");
    assert_eq!(row.get::<_, String>(2), g["id"].as_str().unwrap());
    assert_eq!(row.get::<_, String>(3), "success");
}

#[tokio::test]
async fn deleting_a_group_revokes_the_catalog_grants_naming_it() {
    let name = unique("doomed");
    let group = create_group(&name).await;
    let acme = unique("acme");
    create_tenant(&acme).await;
    let mut body = server_body(&unique("srv"));
    body["grants"] = json!([{"kind": "group", "name": name}, {"kind": "tenant", "name": acme}]);
    let (server, _) = create("/api/v1/mcp-servers", &body).await;
    let (bundle, _) = create(
        "/api/v1/skills/catalog",
        &json!({
            "name": unique("sk"), "version": "1.0.0", "scope": "tenant",
            "digest": format!("sha256:{}", "a".repeat(64)),
            "entitlements": [{"kind": "group", "name": name}]
        }),
    )
    .await;

    let del = call(
        "DELETE",
        &format!("/api/v1/groups/{}", group["id"].as_str().unwrap()),
    )
    .send()
    .await;
    assert_eq!(del.status, 204);

    let s = call(
        "GET",
        &format!("/api/v1/mcp-servers/{}", server["id"].as_str().unwrap()),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(
        s["data"]["grants"],
        json!([{"kind": "tenant", "name": acme}])
    );
    let b = call(
        "GET",
        &format!("/api/v1/skills/catalog/{}", bundle["id"].as_str().unwrap()),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(b["data"]["entitlements"], json!([]));

    // A new group under the old name starts with nothing.
    create_group(&name).await;
    let s = call(
        "GET",
        &format!("/api/v1/mcp-servers/{}", server["id"].as_str().unwrap()),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(s["data"]["grants"].as_array().unwrap().len(), 1);
}
