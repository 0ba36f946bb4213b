//! Sweeps over every route, enumerated from the served OpenAPI document and
//! `spin.toml` (never hand-listed), so a route added later is covered
//! without extra work: authentication, secret non-disclosure, bad input.

#![allow(clippy::unwrap_used)]

use cp_kube_standin::Fault;
use cp_tests::{
    bearer, call, create_tenant, db, env, exclusive, report, tenant_body, unique, workspace, Call,
    Resp, KUBE_TOKEN, OPERATOR_TOKEN,
};
use serde_json::{json, Value};

/// What API.md lists as public: exact paths and prefixes.
const PUBLIC_EXACT: &[&str] = &[
    "/healthz",
    "/prom",
    "/api/v1/openapi.json",
    "/api/v1/health",
];
const PUBLIC_PREFIXES: &[&str] = &[
    "/api/v1/auth/",
    "/api/v1/share/",
    "/api/v1/agents/enroll",
    "/api/v1/chains",
];

fn is_public_in_api_md(path: &str) -> bool {
    PUBLIC_EXACT.contains(&path) || PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p))
}

struct Operation {
    method: &'static str,
    path: String,
    public: bool,
}

async fn operations() -> Vec<Operation> {
    let doc = call("GET", "/api/v1/openapi.json")
        .anonymous()
        .send()
        .await
        .expect(200);
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let public = op["security"] == json!([{}]);
            ops.push(Operation {
                method: match method {
                    "get" => "GET",
                    "post" => "POST",
                    "put" => "PUT",
                    "patch" => "PATCH",
                    _ => "DELETE",
                },
                path: path.clone(),
                public,
            });
        }
    }
    assert!(
        ops.len() >= 16,
        "the sweep found only {} operations",
        ops.len()
    );
    ops
}

/// A concrete URL for a templated path.
fn concrete(path: &str, value: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { value } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

fn request(op: &Operation, path: &str) -> Call {
    let c = call(op.method, path);
    if matches!(op.method, "POST" | "PUT" | "PATCH") {
        c.json(&json!({}))
    } else {
        c
    }
}

#[tokio::test]
async fn every_route_requires_authentication_unless_api_md_makes_it_public() {
    let ops = operations().await;
    let mut checked = 0;
    for op in &ops {
        if op.public {
            assert!(
                is_public_in_api_md(&op.path),
                "{} {} is documented as public but API.md does not list it as public",
                op.method,
                op.path
            );
            continue;
        }
        let path = concrete(&op.path, "sweep-probe");
        for (label, c) in [
            ("no token", request(op, &path).anonymous()),
            (
                "wrong token",
                request(op, &path).header("authorization", "Bearer not-the-token"),
            ),
            (
                "malformed",
                request(op, &path).header("authorization", "Token abc"),
            ),
            (
                "empty bearer",
                request(op, &path).header("authorization", "Bearer "),
            ),
        ] {
            let resp = c.send().await;
            assert_eq!(
                resp.status,
                401,
                "{} {path} with {label}: expected 401, got {} {}",
                op.method,
                resp.status,
                String::from_utf8_lossy(&resp.body)
            );
            resp.expect_error(401, "UNAUTHORIZED");
            checked += 1;
        }
    }
    report(
        "sweeps",
        &format!(
            "authentication: {} operations, {checked} unauthenticated requests, all 401",
            ops.len()
        ),
    );
}

#[tokio::test]
async fn every_spin_route_serves_documented_operations() {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(workspace().join("spin.toml")).unwrap()).unwrap();
    let triggers = manifest["trigger"]["http"].as_array().unwrap();
    let ops = operations().await;
    for t in triggers {
        let route = t["route"].as_str().unwrap();
        let component = t["component"].as_str().unwrap();
        assert!(
            manifest["component"].get(component).is_some(),
            "route {route} names unknown component {component}"
        );
        if route == "/..." {
            continue;
        }
        let prefix = route.trim_end_matches("/...");
        assert!(
            ops.iter().any(|o| under_route(&o.path, prefix)),
            "spin.toml routes {route} to {component} but no documented operation lives there"
        );
    }
}

/// Whether documented `path` lives under the spin.toml route `prefix`, whose
/// `:name` segments match any one segment (`{orgId}` for `:orgId`).
fn under_route(path: &str, prefix: &str) -> bool {
    let path: Vec<&str> = path.split('/').collect();
    let prefix: Vec<&str> = prefix.split('/').collect();
    path.len() >= prefix.len()
        && prefix
            .iter()
            .zip(&path)
            .all(|(r, p)| r == p || r.starts_with(':'))
}

/// Everything a secret must never appear in.
struct Exposure {
    texts: Vec<String>,
}

impl Exposure {
    fn add(&mut self, what: &str, resp: &Resp) {
        let headers: Vec<String> = resp
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        self.texts.push(format!(
            "{what}\n{}\n{}",
            headers.join("\n"),
            String::from_utf8_lossy(&resp.body)
        ));
    }
}

async fn database_text() -> String {
    let db = db().await;
    let tables = db
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap();
    let mut all = String::new();
    for t in tables {
        let table: String = t.get(0);
        let rows = db
            .query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
            .await
            .unwrap();
        for r in rows {
            all.push_str(&r.get::<_, String>(0));
            all.push('\n');
        }
    }
    all
}

#[tokio::test]
async fn secrets_never_appear_in_responses_logs_audit_or_the_database() {
    let _serial = exclusive().await;
    let marker = format!("leakmarker{}", uuid_simple());
    // An inline brokered credential value (catalog): write-only, encrypted at rest.
    let credential_value = format!("credvalue{}", uuid_simple());
    // An LLM provider API key (gateway): write-only, encrypted at rest.
    let provider_key = format!("sk-providerkey{}", uuid_simple());
    let mut secrets = vec![
        OPERATOR_TOKEN.to_owned(),
        KUBE_TOKEN.to_owned(),
        marker.clone(),
        credential_value.clone(),
        provider_key.clone(),
    ];
    let mut exposure = Exposure { texts: Vec::new() };
    // An access token: its plaintext is in its creation response only.
    let created = call("POST", "/api/v1/access-tokens")
        .json(&json!({"name": "leak", "scopes": ["read"]}))
        .send()
        .await
        .expect(201);
    let access_token = created["data"]["plainTextToken"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(access_token.clone());
    let with_token = |method, path: &str| {
        call(method, path).header("authorization", &format!("Bearer {access_token}"))
    };
    exposure.add(
        "read with the access token",
        &with_token("GET", "/api/v1/tenants").send().await,
    );
    exposure.add(
        "write refused to the read-only access token",
        &with_token("POST", "/api/v1/tenants")
            .json(&tenant_body(&unique("leak")))
            .send()
            .await,
    );
    exposure.add(
        "list access tokens",
        &call("GET", "/api/v1/access-tokens").send().await,
    );
    exposure.add(
        "an access-token-shaped wrong token",
        &call("GET", "/api/v1/tenants")
            .header("authorization", &format!("Bearer cpat_{marker}"))
            .send()
            .await,
    );
    // A user: the password is never shown; the session JWT and a personal
    // API key only in the responses creating them.
    let password = format!("pw-{marker}");
    let signup_email = format!("{}@example.com", unique("leak"));
    let signup = call("POST", "/api/v1/auth/signup")
        .anonymous()
        .json(&json!({"email": signup_email, "password": password}))
        .send()
        .await;
    let jwt = signup.expect(201)["data"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // A refresh token: shown by the sign-in, and by the refresh that
    // rotates it (its replacement), never elsewhere.
    let first_refresh = signup.json()["data"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = call("POST", "/api/v1/auth/refresh")
        .anonymous()
        .json(&json!({"refreshToken": first_refresh}))
        .send()
        .await;
    let second_refresh = rotated.expect(200)["data"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.extend([first_refresh.clone(), second_refresh]);
    // The signup's email verification token: only the outbox holds it,
    // sealed.
    secrets.push(cp_tests::mailed_verification_token(&signup_email).await);
    exposure.add(
        "a reused refresh token",
        &call("POST", "/api/v1/auth/refresh")
            .anonymous()
            .json(&json!({"refreshToken": first_refresh}))
            .send()
            .await,
    );
    let api_key = call("POST", "/api/v1/auth/api-keys")
        .header("authorization", &format!("Bearer {jwt}"))
        .json(&json!({"name": "leak"}))
        .send()
        .await
        .expect(201)["data"]["plainTextKey"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.extend([password.clone(), jwt.clone(), api_key.clone()]);
    // MFA: the TOTP secret (shown once by setup, here with an
    // Idempotency-Key so its replay is stored) and a login challenge; and an
    // access token whose creation is replayable: replays of secrets are
    // stored sealed, never in plaintext.
    let as_user =
        |method, path: &str| call(method, path).header("authorization", &format!("Bearer {jwt}"));
    let setup = as_user("POST", "/api/v1/auth/mfa/setup")
        .header("idempotency-key", &unique("leak-mfa"))
        .send()
        .await
        .expect(200);
    let totp_secret = setup["data"]["secret"].as_str().unwrap().to_owned();
    let totp_key = cp_identity::totp::base32_decode(&totp_secret).unwrap();
    let step = cp_identity::totp::step_at(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    as_user("POST", "/api/v1/auth/mfa/verify-setup")
        .json(&json!({"code": cp_identity::totp::code_at(&totp_key, step)}))
        .send()
        .await
        .expect(200);
    let mfa_token = call("POST", "/api/v1/auth/token")
        .anonymous()
        .json(&json!({"email": signup_email, "password": password}))
        .send()
        .await
        .expect(200)["data"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    exposure.add(
        "a wrong MFA code",
        &call("POST", "/api/v1/auth/mfa/verify")
            .anonymous()
            .json(&json!({"mfaToken": mfa_token, "code": "000000"}))
            .send()
            .await,
    );
    exposure.add(
        "MFA status",
        &as_user("GET", "/api/v1/auth/mfa/status").send().await,
    );
    let replayable_token = call("POST", "/api/v1/access-tokens")
        .header("idempotency-key", &unique("leak-token"))
        .json(&json!({"name": "leak-replayable", "scopes": ["read"]}))
        .send()
        .await
        .expect(201)["data"]["plainTextToken"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.extend([totp_secret, mfa_token, replayable_token]);
    for (label, c) in [
        (
            "me with the user's JWT",
            call("GET", "/api/v1/auth/me").header("authorization", &format!("Bearer {jwt}")),
        ),
        (
            "me with the API key",
            call("GET", "/api/v1/auth/me").header("authorization", &format!("Bearer {api_key}")),
        ),
        (
            "list API keys",
            call("GET", "/api/v1/auth/api-keys").header("authorization", &format!("Bearer {jwt}")),
        ),
        (
            "tenants of the user's organisations",
            call("GET", "/api/v1/tenants").header("authorization", &format!("Bearer {api_key}")),
        ),
        (
            "a wrong password",
            call("POST", "/api/v1/auth/token")
                .anonymous()
                .json(&json!({"email": "x@example.com", "password": format!("{password}x")})),
        ),
        (
            "an API-key-shaped wrong key",
            call("GET", "/api/v1/auth/me").header("authorization", &format!("Bearer cpk_{marker}")),
        ),
    ] {
        exposure.add(label, &c.send().await);
    }
    // An organisation invitation: its token is in the creation response
    // only (sealed in its Idempotency-Key replay; in the accept URL, which
    // the host log redacts).
    let org = as_user("POST", "/api/v1/organizations")
        .json(&json!({"name": "leak"}))
        .created_id()
        .await;
    let invitation_token = as_user("POST", &format!("/api/v1/organizations/{org}/invitations"))
        .header("idempotency-key", &unique("leak-invite"))
        .json(&json!({"email": format!("{}@example.com", unique("invitee")), "role": "member"}))
        .send()
        .await
        .expect(201)["data"]["plainTextToken"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(invitation_token.clone());
    for (label, c) in [
        (
            "accept refused to another email",
            as_user(
                "POST",
                &format!("/api/v1/invitations/{invitation_token}/accept"),
            ),
        ),
        (
            "list invitations",
            as_user("GET", &format!("/api/v1/organizations/{org}/invitations")),
        ),
        (
            "organisation events",
            as_user("GET", &format!("/api/v1/organizations/{org}/events")),
        ),
    ] {
        exposure.add(label, &c.send().await);
    }
    exposure.add(
        "create mcp server with an inline credential",
        &call("POST", "/api/v1/mcp-servers")
            .json(&json!({
                "name": unique("leak"), "transport": "sse", "endpoint": "https://mcp.example.com",
                "credentials": [{"displayName": "leak", "brokeringMode": "static", "value": credential_value}]
            }))
            .send()
            .await,
    );
    exposure.add(
        "set a provider key",
        &call("PUT", "/api/v1/providers/keys/anthropic")
            .json(&json!({ "key": provider_key }))
            .send()
            .await,
    );
    exposure.add(
        "list provider keys",
        &call("GET", "/api/v1/providers/keys").send().await,
    );
    // A tenant gateway key: shown once, then used to report usage (an
    // invalid batch, so the error path is covered too), listed and disabled.
    let key_tenant = unique("leak-gw");
    create_tenant(&key_tenant).await;
    let gateway_key = call("POST", &format!("/api/v1/tenants/{key_tenant}/keys"))
        .json(&json!({ "name": "leak" }))
        .send()
        .await
        .expect(201)["data"]["plainTextKey"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(gateway_key.clone());
    let as_gateway = |method: &'static str, path: &str| bearer(&gateway_key, method, path);
    exposure.add(
        "gateway key reports an invalid batch",
        &as_gateway("POST", "/api/v1/token-usage")
            .json(&json!({ "records": [{ "requestId": "leak", "model": "no-such-model" }] }))
            .send()
            .await,
    );
    exposure.add(
        "gateway key outside ingestion",
        &as_gateway("GET", "/api/v1/keys").send().await,
    );
    exposure.add(
        "list gateway keys",
        &call("GET", "/api/v1/keys").send().await,
    );

    // A vault secret: its value is shown by an authorised read only, and
    // sealed at rest (the database scan below covers its ciphertext).
    let vault_value = format!("vaultvalue{}", uuid_simple());
    secrets.push(vault_value.clone());
    let vault = as_user("POST", "/api/v1/vaults")
        .json(&json!({"orgId": org, "name": "leak"}))
        .created_id()
        .await;
    let secret = format!("/api/v1/vaults/{vault}/secrets/leak/value");
    let put_key = unique("leak-secret");
    for label in ["write a vault secret", "replay the write"] {
        exposure.add(
            label,
            &call("PUT", &secret)
                .header("idempotency-key", &put_key)
                .json(&json!({"type": "password", "value": vault_value}))
                .send()
                .await,
        );
    }
    let read = call("GET", &secret).send().await;
    assert_eq!(read.expect(200)["data"]["value"], vault_value.as_str());
    let secret_id = read.json()["data"]["id"].as_str().unwrap().to_owned();

    // A share of it: its key is shown once, by its creation (and the
    // replay of that, stored sealed); the value only to an opening with it.
    let share_idempotency = unique("leak-share");
    let mut created = Vec::new();
    for _ in 0..2 {
        created.push(
            call("POST", &format!("/api/v1/secrets/{secret_id}/share"))
                .header("idempotency-key", &share_idempotency)
                .json(
                    &json!({"recipientType": "external_email", "email": "leak@example.com",
                              "maxAccessCount": 1}),
                )
                .send()
                .await
                .expect(201)["data"]
                .clone(),
        );
    }
    assert_eq!(created[0], created[1], "the replay shows the same share");
    let share_id = created[0]["id"].as_str().unwrap().to_owned();
    let share_key = created[0]["shareKey"].as_str().unwrap().to_owned();
    secrets.push(share_key.clone());
    let open_share = || {
        call("GET", &format!("/api/v1/share/{share_id}"))
            .anonymous()
            .header("x-share-key", &share_key)
    };
    assert_eq!(
        open_share().send().await.expect(200)["data"]["value"],
        vault_value.as_str()
    );
    for (label, c) in [
        (
            "list outbound shares",
            call("GET", "/api/v1/shares/outbound"),
        ),
        ("open an exhausted share", open_share()),
        (
            "open a share with a wrong key",
            call("GET", &format!("/api/v1/share/{share_id}"))
                .anonymous()
                .header("x-share-key", &format!("cpshr_{}", "A".repeat(43))),
        ),
        (
            "a share refused by a bad body",
            call("POST", &format!("/api/v1/secrets/{secret_id}/share"))
                .json(&json!({"recipientType": "external_email", "email": share_key})),
        ),
        (
            "revoke the share",
            call("DELETE", &format!("/api/v1/share/{share_id}")),
        ),
        ("open a revoked share", open_share()),
    ] {
        exposure.add(label, &c.send().await);
    }

    // Client-side CMEK: the customer's keys travel in headers only, for a
    // rotation, and never reach a response, the log or the database.
    let old_key = cp_tests::cmek::ClientKey::random();
    let new_key = cp_tests::cmek::ClientKey::random();
    secrets.extend([old_key.header(), new_key.header()]);
    let cmek_vault = as_user("POST", "/api/v1/vaults")
        .json(&json!({"orgId": org, "name": "leak-cmek"}))
        .created_id()
        .await;
    call("POST", &format!("/api/v1/vaults/{cmek_vault}/cmek"))
        .json(&json!({"fingerprint": old_key.fingerprint()}))
        .send()
        .await
        .expect(200);
    call(
        "PUT",
        &format!("/api/v1/vaults/{cmek_vault}/secrets/leak/cmek"),
    )
    .json(&json!({"type": "password", "value": old_key.encrypt("client secret", 1)}))
    .send()
    .await
    .expect(201);
    let rotate = |old: &str, new: &str, fingerprint: &str| {
        call("POST", &format!("/api/v1/vaults/{cmek_vault}/cmek-rotate"))
            .header("x-cmek-old-key", old)
            .header("x-cmek-new-key", new)
            .json(&json!({"fingerprint": fingerprint}))
    };
    let swapped = rotate(&new_key.header(), &old_key.header(), &new_key.fingerprint())
        .send()
        .await;
    swapped.expect_error(400, "VALIDATION_ERROR");
    exposure.add("a rotation with the keys swapped", &swapped);
    let rotated = rotate(&old_key.header(), &new_key.header(), &new_key.fingerprint())
        .send()
        .await;
    assert_eq!(rotated.expect(200)["data"]["status"], "completed");
    exposure.add("a rotation", &rotated);
    let read = call(
        "GET",
        &format!("/api/v1/vaults/{cmek_vault}/secrets/leak/cmek"),
    )
    .send()
    .await;
    let client_text = read.expect(200)["data"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        new_key.decrypt(&client_text).as_deref(),
        Some("client secret")
    );
    exposure.add("read the rotated secret", &read);

    // Agents: a key (its creation replayable, so stored sealed), its
    // token, a rotated key, an enrolment's claim token and the key it
    // collects, and a chain's RPC URL (write-only, sealed).
    let registered = as_user("POST", "/api/v1/agents")
        .header("idempotency-key", &unique("leak-agent"))
        .json(&json!({"orgId": org, "name": "leak-agent", "vaultIds": [vault]}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let agent_id = registered["id"].as_str().unwrap().to_owned();
    let first_agent_key = registered["apiKey"].as_str().unwrap().to_owned();
    let agent_jwt = cp_tests::agent_token(&agent_id, &first_agent_key)
        .await
        .expect(200)["data"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent_key = as_user("POST", &format!("/api/v1/agents/{agent_id}/rotate-key"))
        .send()
        .await
        .expect(200)["data"]["apiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let receipt = call("POST", "/api/v1/agents/enroll")
        .anonymous()
        .json(&json!({"orgId": org, "name": "leak-enrolled", "approverEmail": "leak@example.com"}))
        .send()
        .await
        .expect(202)["data"]
        .clone();
    let enrollment = receipt["id"].as_str().unwrap().to_owned();
    let claim_token = receipt["claimToken"].as_str().unwrap().to_owned();
    as_user(
        "POST",
        &format!("/api/v1/agents/enrollments/{enrollment}/approve"),
    )
    .json(&json!({}))
    .send()
    .await
    .expect(200);
    let claimed_key = call("POST", &format!("/api/v1/agents/enroll/{enrollment}/claim"))
        .anonymous()
        .json(&json!({"claimToken": claim_token}))
        .send()
        .await
        .expect(200)["data"]["apiKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let rpc_secret = format!("rpcpath{}", uuid_simple());
    call("POST", "/api/v1/admin/chains")
        .json(&json!({"name": unique("leak-chain"), "chainId": 900_000_000 + (uuid::Uuid::now_v7().as_u128() % 1_000_000) as i64,
                      "rpcUrl": format!("http://127.0.0.1:8545/{rpc_secret}"),
                      "nativeCurrency": {"name": "Ether", "symbol": "ETH", "decimals": 18}}))
        .send()
        .await
        .expect(201);
    secrets.extend([
        first_agent_key.clone(),
        agent_jwt.clone(),
        agent_key.clone(),
        claim_token.clone(),
        claimed_key,
        rpc_secret,
    ]);
    for (label, c) in [
        (
            "read an agent",
            as_user("GET", &format!("/api/v1/agents/{agent_id}")),
        ),
        (
            "list agents",
            as_user("GET", &format!("/api/v1/agents?orgId={org}")),
        ),
        (
            "list enrolments",
            as_user("GET", &format!("/api/v1/agents/enrollments?orgId={org}")),
        ),
        ("list chains", call("GET", "/api/v1/admin/chains?limit=100")),
        (
            "the old agent key refused",
            cp_tests::bearer(&first_agent_key, "GET", "/api/v1/agents/me"),
        ),
    ] {
        exposure.add(label, &c.send().await);
    }
    exposure.add(
        "the agent's own profile",
        &cp_tests::bearer(&agent_jwt, "GET", "/api/v1/agents/me")
            .send()
            .await,
    );
    exposure.add(
        "a wrong agent key",
        &cp_tests::agent_token(&agent_id, &first_agent_key).await,
    );
    exposure.add(
        "a claim again",
        &call("POST", &format!("/api/v1/agents/enroll/{enrollment}/claim"))
            .anonymous()
            .json(&json!({"claimToken": claim_token}))
            .send()
            .await,
    );
    for (label, c) in [
        (
            "list vault secrets",
            call("GET", &format!("/api/v1/vaults/{vault}/secrets")),
        ),
        (
            "list secret versions",
            call(
                "GET",
                &format!("/api/v1/vaults/{vault}/versions/leak/value"),
            ),
        ),
        ("read refused without a policy", as_user("GET", &secret)),
        (
            "a bad write",
            call("PUT", &secret).json(&json!({"type": "json", "value": vault_value})),
        ),
        ("delete the secret", call("DELETE", &secret)),
        ("read a deleted secret", call("GET", &secret)),
    ] {
        exposure.add(label, &c.send().await);
    }

    // Every operation, authenticated and with a marked wrong token.
    let name = unique("leak");
    exposure.add(
        "create",
        &call("POST", "/api/v1/tenants")
            .json(&tenant_body(&name))
            .send()
            .await,
    );
    for op in operations().await {
        let path = concrete(&op.path, &name);
        exposure.add(
            &format!("{} {path}", op.method),
            &request(&op, &path).send().await,
        );
        let wrong = request(&op, &path).header("authorization", &format!("Bearer {marker}"));
        exposure.add(
            &format!("{} {path} (marked token)", op.method),
            &wrong.send().await,
        );
    }
    // Error paths: upstream failures, bad bodies, replays.
    env()
        .kube
        .inject(Fault::status("*", "/tenants", 500).times(3));
    exposure.add(
        "kube down",
        &call("POST", "/api/v1/tenants")
            .json(&tenant_body(&unique("leak")))
            .send()
            .await,
    );
    exposure.add(
        "kube down get",
        &call("GET", "/api/v1/tenants/drift").send().await,
    );
    env().kube.clear_faults();
    exposure.add(
        "bad body",
        &call("POST", "/api/v1/tenants")
            .raw(format!("{{\"name\": \"{marker}\""), "application/json")
            .send()
            .await,
    );
    for _ in 0..2 {
        exposure.add(
            "idempotent",
            &call("POST", "/api/v1/tenants")
                .header("idempotency-key", &format!("leak-{name}"))
                .json(&tenant_body(&unique("leak")))
                .send()
                .await,
        );
    }

    // Under another server only the log part of this sweep is skipped.
    let log = cp_tests::server_log("the secret scan of the host log").unwrap_or_default();
    let database = database_text().await;
    let requests = format!("{:?}", env().kube.requests());
    for secret in &secrets {
        for text in &exposure.texts {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into a response:\n{text}"
            );
        }
        assert!(
            !log.contains(secret.as_str()),
            "a secret leaked into the host log"
        );
        // bytea columns read as hex (`\x…`): look for the secret's bytes too.
        let secret_hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            !database.contains(secret.as_str()),
            "a secret leaked into the database"
        );
        assert!(
            !database.contains(&secret_hex),
            "a secret leaked into a bytea column of the database"
        );
        assert!(
            !requests.contains(secret.as_str()),
            "a secret leaked into a Kubernetes request line"
        );
    }
    report(
        "sweeps",
        &format!(
            "secrets: {} responses, host log, {} KiB of database rows and the Kubernetes request log hold none of {} secrets",
            exposure.texts.len(),
            database.len() / 1024,
            secrets.len()
        ),
    );
}

fn uuid_simple() -> String {
    unique("x").replace('-', "")
}

#[tokio::test]
async fn bad_input_gets_4xx_envelopes_naming_the_field() {
    let field_of = |v: &Value| {
        v["fieldErrors"][0]["field"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };

    // Invalid UTF-8 (percent-encoded) in a path segment.
    let v = call("GET", "/api/v1/tenants/%ff%fe")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_of(&v), "path");
    // A very long path segment.
    let long = "a".repeat(8000);
    let v = call("GET", &format!("/api/v1/tenants/{long}"))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_of(&v), "name");
    // Numbers out of range, of the wrong type, or not numbers at all.
    for (body, field) in [
        (
            json!({"name": "n1", "email": "a@b.co", "monthlyBudgetUsd": 1e300}),
            "monthlyBudgetUsd",
        ),
        (
            json!({"name": "n1", "email": "a@b.co", "monthlyBudgetUsd": -0.01}),
            "monthlyBudgetUsd",
        ),
        (
            json!({"name": "n1", "email": "a@b.co", "monthlyBudgetUsd": "12"}),
            "monthlyBudgetUsd",
        ),
        (json!({"name": 12, "email": "a@b.co"}), "name"),
        (
            json!({"name": "n1", "email": "a@b.co", "skillAllowlist": "search"}),
            "skillAllowlist",
        ),
        (
            json!({"name": "n1", "email": "a@b.co", "resources": {"cpu": 2}}),
            "resources.cpu",
        ),
        (json!([1, 2]), "body"),
    ] {
        let v = call("POST", "/api/v1/tenants")
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_of(&v), field, "{body}");
    }
    for (q, field) in [
        ("limit=99999999999999999999", "limit"),
        ("limit=-5", "limit"),
        ("cursor=v1.%00", "cursor"),
    ] {
        let v = call("GET", &format!("/api/v1/tenants?{q}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_of(&v), field, "{q}");
    }
    let v = call("POST", "/api/v1/tenants/repair?dryRun=maybe")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_of(&v), "dryRun");
    // Wrong or missing content type, empty and oversized bodies.
    call("POST", "/api/v1/tenants")
        .raw("<tenant/>", "application/xml")
        .send()
        .await
        .expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let mut no_type = call("POST", "/api/v1/tenants").raw("{}", "application/json");
    no_type = no_type.header("content-type", "");
    no_type
        .send()
        .await
        .expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let v = call("POST", "/api/v1/tenants")
        .raw("", "application/json")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_of(&v), "body");
    call("PUT", "/api/v1/tenants/big")
        .raw(vec![b'x'; 2 * 1024 * 1024], "application/json")
        .send()
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    // A malformed If-Match and a malformed request id.
    let name = unique("bad");
    create_tenant(&name).await;
    let v = call("PUT", &format!("/api/v1/tenants/{name}"))
        .header("if-match", "not-quoted")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_of(&v), "If-Match");
    let r = call("GET", "/api/v1/tenants?limit=1")
        .header("x-request-id", "bad id\twith tab")
        .send()
        .await;
    r.expect(200);
    assert_ne!(r.header("x-request-id"), Some("bad id\twith tab"));
    report("sweeps", "bad input: invalid UTF-8, long segments, out-of-range numbers, wrong types, content types, sizes: all 4xx envelopes naming the field");
}
