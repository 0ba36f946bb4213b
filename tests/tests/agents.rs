//! Agents end to end: registration (the key shown once, only its digest
//! stored), the exchange of the key for a token, what that token reaches
//! (its vaults as their policies allow, its own profile, nothing else), and
//! how rotating the key, narrowing the agent and deactivating it end its
//! tokens at once. The real components in the host, real PostgreSQL.

#![allow(clippy::unwrap_used)]

use cp_tests::{
    agent_token, audit_log_text, bearer, call, db, field_errors, forge_jwt, join_org, jwt_claims,
    jwt_key, sha256_hex, sign_up, unique, TestAgent, TestUser,
};
use serde_json::{json, Value};

/// An organisation owned by a new user, with a vault.
struct Org {
    owner: TestUser,
    id: String,
    vault: String,
}

async fn org(prefix: &str) -> Org {
    let owner = sign_up(prefix).await;
    let id = owner.create_org(prefix).await;
    let vault = owner.create_vault(&id, "main").await;
    Org { owner, id, vault }
}

impl Org {
    async fn agent(&self, extra: Value) -> TestAgent {
        let mut body = json!({"orgId": self.id, "name": unique("bot"), "vaultIds": [self.vault],
                              "scopes": ["vaults:read", "vaults:write"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        self.owner.register_agent(&body).await
    }

    /// Lets agent `agent` do `actions` on `glob` in the vault.
    async fn allow(&self, agent: &TestAgent, actions: &[&str], glob: &str) {
        self.owner
            .call("POST", &format!("/api/v1/vaults/{}/policies", self.vault))
            .json(&json!({"principal": {"kind": "agent", "id": agent.id},
                          "actions": actions, "pathGlob": glob, "effect": "allow"}))
            .send()
            .await
            .expect(201);
    }

    /// Writes a secret as the owner (who may do everything).
    async fn put(&self, path: &str, kind: &str, value: &str) {
        self.owner
            .call("POST", &format!("/api/v1/vaults/{}/policies", self.vault))
            .json(&json!({"principal": {"kind": "user", "id": self.owner.id},
                          "actions": ["write"], "pathGlob": path, "effect": "allow"}))
            .send()
            .await
            .expect(201);
        self.owner
            .call(
                "PUT",
                &format!("/api/v1/vaults/{}/secrets/{path}", self.vault),
            )
            .json(&json!({"type": kind, "value": value}))
            .send()
            .await
            .expect(201);
    }

    fn secret(&self, path: &str) -> String {
        format!("/api/v1/vaults/{}/secrets/{path}", self.vault)
    }
}

#[tokio::test]
async fn registering_an_agent_shows_its_key_once_and_stores_only_its_digest() {
    let o = org("agent-reg").await;
    let resp = o
        .owner
        .call("POST", "/api/v1/agents")
        .json(
            &json!({"orgId": o.id, "name": "deploy-bot", "description": "ships releases",
                      "vaultIds": [o.vault], "tokenTtlSeconds": 120}),
        )
        .send()
        .await;
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let created = resp.expect(201)["data"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    let key = created["apiKey"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cpag_") && key.len() > 40, "{key}");
    assert!(key.starts_with(created["keyPrefix"].as_str().unwrap()));
    assert_eq!(created["scopes"], json!(["vaults:read"]));
    assert_eq!(created["status"], "active");
    assert_eq!(created["createdBy"], format!("user:{}", o.owner.id));
    assert_eq!(created["intentsApiEnabled"], false);

    // Never again: not in a read, not in a list, not in the audit trail.
    let read = o
        .owner
        .call("GET", &format!("/api/v1/agents/{id}"))
        .send()
        .await;
    let listed = o
        .owner
        .call("GET", &format!("/api/v1/agents?orgId={}", o.id))
        .send()
        .await;
    for text in [read.text(), listed.text(), audit_log_text().await] {
        assert!(!text.contains(&key), "the agent key leaked: {text}");
    }
    assert!(read.json()["data"].get("apiKey").is_none());
    assert_eq!(listed.expect(200)["data"][0]["id"], id.as_str());

    // Stored as its SHA-256 digest, and nowhere as itself.
    let row = db()
        .await
        .query_one(
            "SELECT key_hash, row_to_json(a)::text AS whole FROM agents a WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), sha256_hex(key.as_bytes()));
    assert!(!row.get::<_, String>(1).contains(&key));

    // The key is exchanged for a token, never used as one.
    bearer(&key, "GET", "/api/v1/agents/me")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn an_agent_token_reaches_its_vault_as_the_policies_allow_and_nothing_else() {
    let o = org("agent-reach").await;
    let agent = o.agent(json!({"tokenTtlSeconds": 300})).await;
    let claims = jwt_claims(&agent.token);
    assert_eq!(claims["sub"], agent.id.as_str());
    assert_eq!(claims["iss"], "agent-control-plane/agents");
    assert_eq!(claims["org"], o.id.as_str());
    assert_eq!(claims["vaultIds"], json!([o.vault]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );

    let me = agent
        .call("GET", "/api/v1/agents/me")
        .send()
        .await
        .expect(200);
    assert_eq!(me["data"]["id"], agent.id.as_str());
    assert_eq!(me["data"]["createdBy"], format!("user:{}", o.owner.id));
    // Users have no agent profile.
    o.owner
        .call("GET", "/api/v1/agents/me")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // Its vault, and no other of its organisation.
    let other_vault = o.owner.create_vault(&o.id, "other").await;
    let vaults = agent.call("GET", "/api/v1/vaults").send().await.expect(200);
    let ids: Vec<&str> = vaults["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [o.vault.as_str()]);
    agent
        .call("GET", &format!("/api/v1/vaults/{other_vault}"))
        .send()
        .await
        .expect_error(404, "VAULT_NOT_FOUND");

    // Its vault's secrets: only what a policy grants its id.
    o.put("app/db-password", "password", "pw-agent-91f3").await;
    o.put("ops/root", "password", "pw-root-77aa").await;
    agent
        .call("GET", &o.secret("app/db-password"))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    o.allow(&agent, &["read", "list"], "app/**").await;
    let read = agent.call("GET", &o.secret("app/db-password")).send().await;
    assert_eq!(read.expect(200)["data"]["value"], "pw-agent-91f3");
    agent
        .call("GET", &o.secret("ops/root"))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    // A listing shows the paths a policy lets it list.
    let listed = agent
        .call("GET", &format!("/api/v1/vaults/{}/secrets", o.vault))
        .send()
        .await
        .expect(200);
    let paths: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["app/db-password"]);
    // Writes need a policy too, and what it writes names it.
    agent
        .call("PUT", &o.secret("app/new"))
        .json(&json!({"type": "note", "value": "n"}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    o.allow(&agent, &["write"], "app/**").await;
    let written = agent
        .call("PUT", &o.secret("app/new"))
        .json(&json!({"type": "note", "value": "n"}))
        .send()
        .await
        .expect(201);
    assert_eq!(written["data"]["createdBy"], format!("agent:{}", agent.id));

    // Managing the vault, and every other area, is not an agent's.
    for (method, path) in [
        ("GET", format!("/api/v1/vaults/{}/policies", o.vault)),
        ("DELETE", format!("/api/v1/vaults/{}", o.vault)),
        ("POST", "/api/v1/vaults".to_owned()),
        ("GET", "/api/v1/tenants".to_owned()),
        ("GET", "/api/v1/organizations".to_owned()),
        ("GET", format!("/api/v1/organizations/{}/members", o.id)),
        ("GET", "/api/v1/agents".to_owned()),
        ("GET", format!("/api/v1/agents/{}", agent.id)),
        ("POST", format!("/api/v1/agents/{}/rotate-key", agent.id)),
        ("GET", "/api/v1/auth/me".to_owned()),
        ("GET", "/api/v1/access-tokens".to_owned()),
        ("GET", "/api/v1/models".to_owned()),
        ("GET", "/api/v1/shares/outbound".to_owned()),
    ] {
        let mut c = agent.call(method, &path);
        if method != "GET" && method != "DELETE" {
            c = c.json(&json!({"orgId": o.id, "name": "x"}));
        }
        let resp = c.send().await;
        assert!(
            resp.status == 403,
            "{method} {path} as an agent: {}",
            resp.describe()
        );
    }
}

#[tokio::test]
async fn rotating_the_key_ends_the_old_key_and_its_tokens_at_once() {
    let o = org("agent-rotate").await;
    let agent = o.agent(json!({})).await;
    agent
        .call("GET", "/api/v1/agents/me")
        .send()
        .await
        .expect(200);

    let rotated = o
        .owner
        .call("POST", &format!("/api/v1/agents/{}/rotate-key", agent.id))
        .send()
        .await;
    assert_eq!(rotated.header("cache-control"), Some("no-store"));
    let rotated = rotated.expect(200)["data"].clone();
    let new_key = rotated["apiKey"].as_str().unwrap();
    assert_ne!(new_key, agent.key);
    assert!(rotated["keyRotatedAt"].is_string());

    agent_token(&agent.id, &agent.key)
        .await
        .expect_error(401, "UNAUTHORIZED");
    agent
        .call("GET", "/api/v1/agents/me")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    let fresh = agent_token(&agent.id, new_key).await.expect(200)["data"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    bearer(&fresh, "GET", "/api/v1/agents/me")
        .send()
        .await
        .expect(200);
    assert!(!audit_log_text().await.contains(new_key));
}

#[tokio::test]
async fn deactivating_an_agent_ends_its_key_and_tokens_at_once() {
    let o = org("agent-off").await;
    let agent = o.agent(json!({})).await;
    let url = format!("/api/v1/agents/{}", agent.id);
    o.owner.call("DELETE", &url).send().await.expect(204);

    let refused = agent.call("GET", "/api/v1/agents/me").send().await;
    assert!(refused.expect_error(401, "UNAUTHORIZED")["error"]
        .as_str()
        .unwrap()
        .contains("deactivated"));
    agent_token(&agent.id, &agent.key)
        .await
        .expect_error(401, "UNAUTHORIZED");
    let shown = o.owner.call("GET", &url).send().await.expect(200);
    assert_eq!(shown["data"]["status"], "deactivated");
    assert!(shown["data"]["deactivatedAt"].is_string());

    // Again: nothing changes. It can no longer change or get a key.
    o.owner.call("DELETE", &url).send().await.expect(204);
    o.owner
        .call("PATCH", &url)
        .json(&json!({"description": "back"}))
        .send()
        .await
        .expect_error(409, "AGENT_DEACTIVATED");
    o.owner
        .call("POST", &format!("{url}/rotate-key"))
        .send()
        .await
        .expect_error(409, "AGENT_DEACTIVATED");
}

#[tokio::test]
async fn narrowing_an_agent_applies_to_its_live_tokens() {
    let o = org("agent-narrow").await;
    let agent = o.agent(json!({})).await;
    o.allow(&agent, &["read", "write"], "**").await;
    o.put("app/token", "api_key", "tok-narrow-1").await;
    let url = format!("/api/v1/agents/{}", agent.id);

    // Read-only now: the live token can no longer write.
    let patched = o
        .owner
        .call("PATCH", &url)
        .json(&json!({"scopes": ["vaults:read"]}))
        .send()
        .await
        .expect(200);
    assert_eq!(patched["data"]["scopes"], json!(["vaults:read"]));
    let refused = agent
        .call("PUT", &o.secret("app/other"))
        .json(&json!({"type": "note", "value": "n"}))
        .send()
        .await;
    assert!(refused.expect_error(403, "FORBIDDEN")["error"]
        .as_str()
        .unwrap()
        .contains("vaults:write"));
    agent
        .call("GET", &o.secret("app/token"))
        .send()
        .await
        .expect(200);

    // No vault now: the vault is gone for the live token.
    o.owner
        .call("PATCH", &url)
        .json(&json!({"vaultIds": []}))
        .send()
        .await
        .expect(200);
    agent
        .call("GET", &o.secret("app/token"))
        .send()
        .await
        .expect_error(404, "VAULT_NOT_FOUND");
    let listed = agent.call("GET", "/api/v1/vaults").send().await.expect(200);
    assert_eq!(listed["data"], json!([]));

    // Given back: the live token carried it, so it reaches it again; a
    // token issued while the agent had no vault does not gain it.
    let without = agent_token(&agent.id, &agent.key).await.expect(200)["data"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    o.owner
        .call("PATCH", &url)
        .json(&json!({"vaultIds": [o.vault]}))
        .send()
        .await
        .expect(200);
    agent
        .call("GET", &o.secret("app/token"))
        .send()
        .await
        .expect(200);
    bearer(&without, "GET", &o.secret("app/token"))
        .send()
        .await
        .expect_error(404, "VAULT_NOT_FOUND");
}

#[tokio::test]
async fn an_intents_agent_never_reads_key_material_directly() {
    let o = org("agent-intents").await;
    let agent = o.agent(json!({"intentsApiEnabled": true})).await;
    assert_eq!(jwt_claims(&agent.token)["intentsApi"], true);
    o.allow(&agent, &["read"], "**").await;
    o.put(
        "keys/signer",
        "private_key",
        "0x4c0883a69102937d6231471b5dbb6204fe512961708279f3c0e1a0e9b6e2f0a1",
    )
    .await;
    o.put("notes/hello", "note", "hello").await;
    agent
        .call("GET", &o.secret("keys/signer"))
        .send()
        .await
        .expect_error(403, "DIRECT_READ_FORBIDDEN");
    agent
        .call("GET", &o.secret("notes/hello"))
        .send()
        .await
        .expect(200);
}

#[tokio::test]
async fn wrong_credentials_and_bad_input_get_clear_answers() {
    let o = org("agent-bad").await;
    let agent = o.agent(json!({})).await;

    // A wrong key and an unknown agent are the same 401.
    let wrong = agent_token(&agent.id, "cpag_wrongwrongwrongwrongwrongwrongwrongwrongw").await;
    let unknown = agent_token("0190a000-0000-7000-8000-000000000999", &agent.key).await;
    assert_eq!(
        wrong.expect_error(401, "UNAUTHORIZED")["error"],
        unknown.expect_error(401, "UNAUTHORIZED")["error"]
    );
    let bad = agent_token("not-an-id", &agent.key).await;
    assert_eq!(
        field_errors(&bad.expect_error(400, "VALIDATION_ERROR")),
        ["agentId"]
    );

    // A token claiming another organisation is refused, however signed.
    let mut claims = jwt_claims(&agent.token);
    claims["org"] = json!(o.owner.create_org("agent-bad-2").await);
    bearer(&forge_jwt(&claims, &jwt_key()), "GET", "/api/v1/agents/me")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");

    // Every bad field is named.
    let other = org("agent-bad-other").await;
    let refused = o
        .owner
        .call("POST", "/api/v1/agents")
        .json(
            &json!({"orgId": o.id, "name": "has space", "tokenTtlSeconds": 59,
                      "scopes": ["*"]}),
        )
        .send()
        .await;
    assert_eq!(
        field_errors(&refused.expect_error(400, "VALIDATION_ERROR")),
        ["name", "scopes[0]", "tokenTtlSeconds"]
    );
    let foreign = o
        .owner
        .call("POST", "/api/v1/agents")
        .json(&json!({"orgId": o.id, "name": "x", "vaultIds": [o.vault, other.vault]}))
        .send()
        .await;
    assert_eq!(
        field_errors(&foreign.expect_error(400, "VALIDATION_ERROR")),
        ["vaultIds[1]"]
    );
    let taken = o
        .owner
        .call("POST", "/api/v1/agents")
        .json(&json!({"orgId": o.id, "name": "twin"}))
        .send()
        .await;
    taken.expect(201);
    o.owner
        .call("POST", "/api/v1/agents")
        .json(&json!({"orgId": o.id, "name": "twin"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // Roles: members read agents, only owners and admins change them;
    // another organisation's user does not learn the agent exists.
    let member = join_org(&o.owner, &o.id, "member", "agent-bad-member").await;
    let url = format!("/api/v1/agents/{}", agent.id);
    member.call("GET", &url).send().await.expect(200);
    member
        .call("PATCH", &url)
        .json(&json!({"description": "mine"}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    member
        .call("POST", "/api/v1/agents")
        .json(&json!({"orgId": o.id, "name": "member-bot"}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    other
        .owner
        .call("GET", &url)
        .send()
        .await
        .expect_error(404, "AGENT_NOT_FOUND");
    call("GET", &url)
        .anonymous()
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_secret_shared_with_an_agent_opens_for_that_agent_once_accepted() {
    let o = org("agent-share").await;
    let agent = o.agent(json!({})).await;
    let intents = o.agent(json!({"intentsApiEnabled": true})).await;
    o.owner
        .call("POST", &format!("/api/v1/vaults/{}/policies", o.vault))
        .json(&json!({"principal": {"kind": "user", "id": o.owner.id},
                      "actions": ["read", "write", "share"], "pathGlob": "**", "effect": "allow"}))
        .send()
        .await
        .expect(201);
    let put = |path: &'static str, kind: &'static str, value: &'static str| {
        o.owner
            .call("PUT", &o.secret(path))
            .json(&json!({"type": kind, "value": value}))
            .created_id()
    };
    let note = put("shared/note", "note", "for-the-agent-3e1").await;
    let key = put(
        "shared/key",
        "private_key",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    )
    .await;
    let share_to = |secret: &str, recipient: &TestAgent| {
        o.owner
            .call("POST", &format!("/api/v1/secrets/{secret}/share"))
            .json(&json!({"recipientType": "agent", "agentId": recipient.id}))
            .created_id()
    };
    let share = share_to(&note, &agent).await;
    let open = |who: &TestAgent, id: &str| who.call("GET", &format!("/api/v1/share/{id}"));

    // Pending until the agent accepts it; then it opens for that agent only.
    let inbound = agent
        .call("GET", "/api/v1/shares/inbound")
        .send()
        .await
        .expect(200);
    assert_eq!(inbound["data"][0]["id"], share.as_str());
    open(&agent, &share)
        .send()
        .await
        .expect_error(409, "SHARE_NOT_ACCEPTED");
    agent
        .call("POST", &format!("/api/v1/shares/{share}/accept"))
        .send()
        .await
        .expect(200);
    let opened = open(&agent, &share).send().await.expect(200);
    assert_eq!(opened["data"]["value"], "for-the-agent-3e1");
    open(&intents, &share)
        .send()
        .await
        .expect_error(404, "SHARE_NOT_FOUND");
    assert!(audit_log_text()
        .await
        .contains(&format!("agent:{}", agent.id)));

    // Key material never reaches an agent using the intents API.
    let key_share = share_to(&key, &intents).await;
    intents
        .call("POST", &format!("/api/v1/shares/{key_share}/accept"))
        .send()
        .await
        .expect(200);
    open(&intents, &key_share)
        .send()
        .await
        .expect_error(403, "DIRECT_READ_FORBIDDEN");

    // A deactivated agent is sent nothing.
    o.owner
        .call("DELETE", &format!("/api/v1/agents/{}", agent.id))
        .send()
        .await
        .expect(204);
    let refused = o
        .owner
        .call("POST", &format!("/api/v1/secrets/{note}/share"))
        .json(&json!({"recipientType": "agent", "agentId": agent.id}))
        .send()
        .await;
    assert_eq!(
        field_errors(&refused.expect_error(400, "VALIDATION_ERROR")),
        ["agentId"]
    );
}
