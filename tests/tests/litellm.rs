//! Tenants' LiteLLM virtual keys through the Wasm host and the LiteLLM
//! stand-in: metadata without key material, revocation, and every way the
//! admin API can fail or be misconfigured.
//!
//! Keys are seeded the way an operator makes them, with LiteLLM's own
//! `/key/generate`. Tests that revoke, or inject faults every revocation
//! would hit, serialise on [`exclusive`]; other faults are scoped to one
//! tenant's requests. Misconfigured deployments run in extra hosts on the
//! same database.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cp_litellm_standin::Fault;
use cp_tests::{
    call, create_tenant, db, db_host_of, env, exclusive, free_port, litellm, send_to, unique,
    wait_ready, workspace, Call, Resp, JWT_SECRET, LITELLM_MASTER_KEY, OPERATOR_TOKEN, SECRETS_KEY,
};
use serde_json::{json, Value};

fn key_path(tenant: &str) -> String {
    format!("/api/v1/ai-budget/{tenant}/litellm-key")
}

fn revoke_path(tenant: &str) -> String {
    format!("/api/v1/ai-budget/{tenant}/litellm-key/revoke")
}

/// Creates a key in LiteLLM with this alias; LiteLLM's answer (`key` is
/// the raw key, `token` its SHA-256).
async fn seed_key(alias: &str, extra: Value) -> Value {
    let mut body = json!({
        "key_alias": alias, "models": ["gpt-4o", "claude-sonnet"], "max_budget": 100.0,
        "budget_duration": "30d", "duration": "90d", "spend": 12.5,
        "metadata": {"tenant": alias},
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let created = litellm("POST", "/key/generate", Some(&body))
        .await
        .expect(200);
    assert!(created["key"].as_str().unwrap().starts_with("sk-"));
    created
}

/// A tenant with a key; the tenant's name and LiteLLM's answer.
async fn tenant_with_key(prefix: &str) -> (String, Value) {
    let name = unique(prefix);
    create_tenant(&name).await;
    let key = seed_key(&format!("tenant/{name}"), json!({})).await;
    (name, key)
}

/// The tokens LiteLLM lists under an alias.
async fn listed(alias: &str) -> Vec<Value> {
    let path = format!("/key/list?key_alias={}", alias.replace('/', "%2F"));
    litellm("GET", &path, None).await.expect(200)["keys"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn the_metadata_shows_no_key_material() {
    let (name, key) = tenant_with_key("llm-meta").await;
    let raw = key["key"].as_str().unwrap();
    let token = key["token"].as_str().unwrap();

    let resp = call("GET", &key_path(&name)).send().await;
    let v = resp.expect(200);
    let body = resp.text();
    assert!(!body.contains(raw), "the raw key leaked: {body}");
    assert!(!body.contains(&raw[3..]), "nor its secret part: {body}");
    assert!(!body.contains(token), "nor its hash: {body}");

    let data = &v["data"];
    assert_eq!(data["tenant"], name.as_str());
    assert_eq!(data["keyAlias"], format!("tenant/{name}"));
    assert_eq!(data["keyName"], format!("sk-...{}", &raw[raw.len() - 4..]));
    assert_eq!(data["spend"], "12.5");
    assert_eq!(data["maxBudget"], "100.0");
    assert_eq!(data["budgetDuration"], "30d");
    assert_eq!(data["blocked"], false);
    assert_eq!(data["models"], json!(["gpt-4o", "claude-sonnet"]));
    let created = data["createdAt"].as_str().unwrap();
    let expires = data["expires"].as_str().unwrap();
    assert!(created.ends_with('Z') && expires.ends_with('Z'), "{data}");
    assert!(expires > created, "90 days after creation: {data}");
    // Exactly these fields (the map is sorted by name).
    let fields: Vec<&String> = data.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "blocked",
            "budgetDuration",
            "createdAt",
            "expires",
            "keyAlias",
            "keyName",
            "maxBudget",
            "models",
            "spend",
            "tenant"
        ]
    );

    // A key without a budget, expiry or model list, and blocked.
    let (bare, _) = {
        let name = unique("llm-bare");
        create_tenant(&name).await;
        let k = litellm(
            "POST",
            "/key/generate",
            Some(&json!({"key_alias": format!("tenant/{name}"), "blocked": true})),
        )
        .await
        .expect(200);
        (name, k)
    };
    let data = call("GET", &key_path(&bare)).send().await.expect(200)["data"].clone();
    assert_eq!(data["spend"], "0.0");
    assert_eq!(data["maxBudget"], Value::Null);
    assert_eq!(data["budgetDuration"], Value::Null);
    assert_eq!(data["expires"], Value::Null);
    assert_eq!(data["blocked"], true);
    assert_eq!(data["models"], json!([]));

    // The host asked LiteLLM by alias, then by token, with the master key
    // (the stand-in refuses anything else).
    let calls: Vec<_> = env()
        .litellm
        .requests()
        .into_iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains(&name) || q.contains(token))
        })
        .map(|r| (r.method, r.path, r.status))
        .collect();
    assert!(
        calls.contains(&("GET".into(), "/key/list".into(), Some(200))),
        "{calls:?}"
    );
    assert!(
        calls.contains(&("GET".into(), "/key/info".into(), Some(200))),
        "{calls:?}"
    );
}

#[tokio::test]
async fn revoking_deletes_the_key_in_litellm_and_audits_it() {
    let _serial = exclusive().await;
    let (name, key) = tenant_with_key("llm-revoke").await;
    let (other, _) = tenant_with_key("llm-keep").await;
    let raw = key["key"].as_str().unwrap();
    let alias = format!("tenant/{name}");

    let resp = call("POST", &revoke_path(&name))
        .header("idempotency-key", &unique("revoke"))
        .send()
        .await;
    let v = resp.expect(200);
    let body = resp.text();
    assert!(
        !body.contains(raw) && !body.contains(key["token"].as_str().unwrap()),
        "{body}"
    );
    let data = &v["data"];
    assert_eq!(data["tenant"], name.as_str());
    assert_eq!(data["keyAlias"], alias.as_str());
    assert!(data["revokedAt"].as_str().unwrap().ends_with('Z'));
    let keys = data["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["keyName"], key["key_name"]);
    assert_eq!(keys[0]["spend"], "12.5");

    // Gone from LiteLLM: neither listed nor readable, even by the raw key.
    assert_eq!(listed(&alias).await, Vec::<Value>::new());
    litellm("GET", &format!("/key/info?key={raw}"), None)
        .await
        .expect(404);
    call("GET", &key_path(&name))
        .send()
        .await
        .expect_error(404, "LITELLM_KEY_NOT_FOUND");
    let again = call("POST", &revoke_path(&name))
        .send()
        .await
        .expect_error(404, "LITELLM_KEY_NOT_FOUND");
    assert!(again["error"].as_str().unwrap().contains(&alias), "{again}");
    // Another tenant's key is untouched.
    assert_eq!(listed(&format!("tenant/{other}")).await.len(), 1);
    call("GET", &key_path(&other)).send().await.expect(200);

    // One audit entry, naming the alias and count only.
    let rows = db()
        .await
        .query(
            "SELECT resource_kind, resource_name, outcome, detail::text, actor FROM audit_log
             WHERE action = 'revokeLitellmKey' AND tenant = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (kind, resource, outcome, detail, actor): (String, String, String, String, String) = (
        rows[0].get(0),
        rows[0].get(1),
        rows[0].get(2),
        rows[0].get(3),
        rows[0].get(4),
    );
    assert_eq!(
        (
            kind.as_str(),
            resource.as_str(),
            outcome.as_str(),
            actor.as_str()
        ),
        ("litellm_key", alias.as_str(), "success", "operator")
    );
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail, json!({"keyAlias": alias, "keysRevoked": 1}));
}

#[tokio::test]
async fn a_replayed_revocation_answers_what_it_revoked() {
    let _serial = exclusive().await;
    let (name, _) = tenant_with_key("llm-replay").await;
    let idem = unique("revoke-once");
    let first = call("POST", &revoke_path(&name))
        .header("idempotency-key", &idem)
        .send()
        .await;
    first.expect(200);
    let replay = call("POST", &revoke_path(&name))
        .header("idempotency-key", &idem)
        .send()
        .await;
    assert_eq!(replay.expect(200)["data"], first.json()["data"]);
    assert_eq!(replay.header("idempotency-replayed"), Some("true"));
}

#[tokio::test]
async fn the_tenant_and_its_key_must_exist() {
    let ghost = unique("llm-ghost");
    // A key under the alias of a tenant that does not exist is not looked at.
    seed_key(&format!("tenant/{ghost}"), json!({})).await;
    for (method, path) in [("GET", key_path(&ghost)), ("POST", revoke_path(&ghost))] {
        let e = call(method, &path)
            .send()
            .await
            .expect_error(404, "TENANT_NOT_FOUND");
        assert!(e["error"].as_str().unwrap().contains(&ghost), "{e}");
    }
    assert_eq!(listed(&format!("tenant/{ghost}")).await.len(), 1);

    // A tenant whose key is not under `tenant/<name>` has none.
    let name = unique("llm-nokey");
    create_tenant(&name).await;
    seed_key(&name, json!({})).await;
    seed_key(&format!("tenant/{name}-2"), json!({})).await;
    seed_key(&format!("TENANT/{name}"), json!({})).await;
    for (method, path) in [("GET", key_path(&name)), ("POST", revoke_path(&name))] {
        let e = call(method, &path)
            .send()
            .await
            .expect_error(404, "LITELLM_KEY_NOT_FOUND");
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains(&format!("tenant/{name}")),
            "{e}"
        );
    }
    assert_eq!(listed(&name).await.len(), 1, "the look-alike keys stay");

    // Not a tenant name at all.
    let e = call("GET", "/api/v1/ai-budget/Not_A_Name/litellm-key")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(e["fieldErrors"][0]["field"], "tenantName");

    // Users never reach these routes; access tokens need the ai-budget scopes.
    let reader = access_token(&["ai-budget:read"]).await;
    let writer = access_token(&["ai-budget:write"]).await;
    call("GET", &key_path(&name))
        .header("authorization", &format!("Bearer {reader}"))
        .send()
        .await
        .expect_error(404, "LITELLM_KEY_NOT_FOUND");
    call("POST", &revoke_path(&name))
        .header("authorization", &format!("Bearer {reader}"))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    call("POST", &revoke_path(&name))
        .header("authorization", &format!("Bearer {writer}"))
        .send()
        .await
        .expect_error(404, "LITELLM_KEY_NOT_FOUND");
    call("GET", &key_path(&name))
        .anonymous()
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
}

async fn access_token(scopes: &[&str]) -> String {
    call("POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("llm"), "scopes": scopes}))
        .send()
        .await
        .expect(201)["data"]["plainTextToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts a 502 with this message that leaks nothing LiteLLM said.
#[track_caller]
fn assert_upstream(r: &Resp, message: &str) -> String {
    let v = r.expect_error(502, "UPSTREAM_ERROR");
    let got = v["error"].as_str().unwrap().to_owned();
    assert!(got.contains(message), "{got}");
    let body = r.text();
    assert!(
        !body.contains("injected"),
        "LiteLLM's answer leaked: {body}"
    );
    assert!(!body.contains(LITELLM_MASTER_KEY), "{body}");
    v["requestId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn litellm_failures_are_502s_that_say_what_failed() {
    let _serial = exclusive().await;
    let (name, key) = tenant_with_key("llm-faults").await;
    let token = key["token"].as_str().unwrap();
    let litellm_standin = &env().litellm;
    // Faults on reads are scoped to this tenant's alias or token.
    let by_alias = format!("key_alias=tenant%2F{name}");
    let get = || call("GET", &key_path(&name)).send();

    let id = litellm_standin.inject(Fault::status("GET", &by_alias, 500));
    assert_upstream(
        &get().await,
        "LiteLLM answered HTTP 500 to listing keys (GET /key/list)",
    );
    litellm_standin.remove_fault(id);

    let id = litellm_standin.inject(Fault::status("GET", &format!("key={token}"), 503));
    assert_upstream(
        &get().await,
        "LiteLLM answered HTTP 503 to reading a key (GET /key/info)",
    );
    litellm_standin.remove_fault(id);

    let id = litellm_standin.inject(Fault::drop_connection("GET", &by_alias));
    assert_upstream(&get().await, "LiteLLM is unreachable while listing keys");
    litellm_standin.remove_fault(id);

    // Slower than litellm_timeout_ms (1.5 s in tests).
    let id = litellm_standin.inject(Fault::delay("GET", &by_alias, Duration::from_secs(5)));
    let started = Instant::now();
    assert_upstream(
        &get().await,
        "LiteLLM did not answer in time while listing keys",
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    litellm_standin.remove_fault(id);
    get().await.expect(200);

    // The deletion fails: nothing was revoked, and the refusal is audited.
    let id = litellm_standin.inject(Fault::status("POST", "/key/delete", 500));
    let request_id = assert_upstream(
        &call("POST", &revoke_path(&name)).send().await,
        "LiteLLM answered HTTP 500 to deleting keys (POST /key/delete)",
    );
    litellm_standin.remove_fault(id);
    get().await.expect(200);
    let outcome: String = db()
        .await
        .query_one(
            "SELECT outcome FROM audit_log WHERE request_id = $1 AND action = 'revokeLitellmKey'",
            &[&request_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome, "failure");

    // The deletion happens but its answer is lost: a 502, and GET tells the
    // outcome; a retry says there is nothing left to revoke.
    let id = litellm_standin.inject(Fault::after_apply("POST", "/key/delete", 502));
    assert_upstream(
        &call("POST", &revoke_path(&name)).send().await,
        "LiteLLM answered HTTP 502 to deleting keys",
    );
    litellm_standin.remove_fault(id);
    get().await.expect_error(404, "LITELLM_KEY_NOT_FOUND");
    call("POST", &revoke_path(&name))
        .send()
        .await
        .expect_error(404, "LITELLM_KEY_NOT_FOUND");

    // The causes were logged, without the master key.
    if let Some(log) = cp_tests::server_log("the check that causes are logged") {
        assert!(
            log.contains("LiteLLM deleting keys (POST /key/delete): HTTP 500"),
            "{log}"
        );
        assert!(!log.contains(LITELLM_MASTER_KEY));
    }
}

#[tokio::test]
async fn several_keys_under_one_alias_are_a_conflict_and_all_revoked() {
    let _serial = exclusive().await;
    // Current LiteLLM refuses a second key with an alias; older versions
    // did not, so a proxy may still hold such pairs.
    let name = unique("llm-dup");
    create_tenant(&name).await;
    let alias = format!("tenant/{name}");
    let standin = &env().litellm;
    standin.set_unique_aliases(false);
    let first = seed_key(&alias, json!({})).await;
    let second = seed_key(&alias, json!({"spend": 1.0})).await;
    standin.set_unique_aliases(true);
    litellm("POST", "/key/generate", Some(&json!({"key_alias": alias})))
        .await
        .expect(400);

    let e = call("GET", &key_path(&name))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    assert!(e["error"].as_str().unwrap().contains("2 keys"), "{e}");

    let resp = call("POST", &revoke_path(&name)).send().await;
    let v = resp.expect(200);
    let mut names: Vec<&str> = v["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keyName"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut expected = [
        first["key_name"].as_str().unwrap(),
        second["key_name"].as_str().unwrap(),
    ];
    expected.sort_unstable();
    assert_eq!(names, expected);
    for k in [&first, &second] {
        assert!(!resp.text().contains(k["key"].as_str().unwrap()));
    }
    assert_eq!(listed(&alias).await, Vec::<Value>::new());
    let detail: String = db()
        .await
        .query_one(
            "SELECT detail::text FROM audit_log WHERE action = 'revokeLitellmKey' AND tenant = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        serde_json::from_str::<Value>(&detail).unwrap()["keysRevoked"],
        2
    );
}

/// A host on this binary's database whose LiteLLM settings differ
/// (`None` unsets one); stopped when dropped.
struct ExtraHost {
    url: String,
    log: PathBuf,
    child: Child,
}

impl Drop for ExtraHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ExtraHost {
    fn start(litellm_vars: &[(&str, Option<&str>)]) -> Self {
        let env = env();
        let host_bin = std::env::var("CP_HOST_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace().join("target/release/cp-host"));
        let port = free_port();
        let log = std::env::temp_dir().join(format!("cp-litellm-extra-host-{port}.log"));
        let mut cmd = Command::new(host_bin);
        cmd.args(["serve", "--manifest"])
            .arg(workspace().join("spin.toml"))
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--exit-on-stdin-eof",
            ])
            .env("SPIN_VARIABLE_API_TOKEN", OPERATOR_TOKEN)
            .env("SPIN_VARIABLE_DB_URL", &env.db_url)
            .env("SPIN_VARIABLE_DB_HOST", db_host_of(&env.db_url))
            .env("SPIN_VARIABLE_SECRETS_KEY", SECRETS_KEY)
            .env("SPIN_VARIABLE_JWT_SECRET", JWT_SECRET)
            .env("SPIN_VARIABLE_LITELLM_URL", env.litellm.url())
            .env("SPIN_VARIABLE_LITELLM_ALLOWED_HOST", env.litellm.url())
            .env("SPIN_VARIABLE_LITELLM_MASTER_KEY", LITELLM_MASTER_KEY)
            .env("SPIN_VARIABLE_LITELLM_TIMEOUT_MS", "1500");
        for (name, value) in litellm_vars {
            let var = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            match value {
                Some(v) => cmd.env(var, v),
                None => cmd.env_remove(var),
            };
        }
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting an extra cp-host");
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&url, &log);
        Self { url, log, child }
    }

    async fn send(&self, c: Call) -> Resp {
        send_to(&self.url, c).await
    }
}

#[tokio::test]
async fn a_wrong_master_key_is_a_502_naming_the_variable() {
    let (name, _) = tenant_with_key("llm-wrongkey").await;
    let wrong = "sk-not-the-master-zq9w";
    let host = ExtraHost::start(&[("litellm_master_key", Some(wrong))]);
    for c in [
        call("GET", &key_path(&name)),
        call("POST", &revoke_path(&name)),
    ] {
        let r = host.send(c).await;
        assert_upstream(
            &r,
            "LiteLLM refused the master key (HTTP 401) while listing keys (GET /key/list): \
             check the `litellm_master_key` variable",
        );
        // LiteLLM's 401 echoes the presented key's last characters.
        assert!(!r.text().contains("zq9w"), "{}", r.text());
    }
    let log = std::fs::read_to_string(&host.log).unwrap();
    assert!(!log.contains(wrong) && !log.contains("zq9w"), "{log}");
    // Nothing was revoked.
    call("GET", &key_path(&name)).send().await.expect(200);
}

#[tokio::test]
async fn an_unreachable_litellm_is_a_502_without_detail() {
    let (name, _) = tenant_with_key("llm-down").await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let host = ExtraHost::start(&[
        ("litellm_url", Some(&closed)),
        ("litellm_allowed_host", Some(&closed)),
    ]);
    for c in [
        call("GET", &key_path(&name)),
        call("POST", &revoke_path(&name)),
    ] {
        let r = host.send(c).await;
        assert_upstream(
            &r,
            "LiteLLM is unreachable while listing keys (GET /key/list)",
        );
        let port = closed.rsplit(':').next().unwrap();
        assert!(!r.text().contains(port), "no address: {}", r.text());
    }
    // A tenant that does not exist is still a 404: the database answers first.
    host.send(call("GET", &key_path(&unique("llm-none"))))
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
}

#[tokio::test]
async fn an_unconfigured_litellm_is_a_503_naming_the_variable() {
    let name = unique("llm-unset");
    create_tenant(&name).await;
    let no_url = ExtraHost::start(&[("litellm_url", None)]);
    let no_key = ExtraHost::start(&[("litellm_master_key", None)]);
    for (host, variable) in [
        (&no_url, "`litellm_url`"),
        (&no_key, "`litellm_master_key`"),
    ] {
        for c in [
            call("GET", &key_path(&name)),
            call("POST", &revoke_path(&name)),
        ] {
            let v = host.send(c).await.expect_error(503, "UNAVAILABLE");
            let message = v["error"].as_str().unwrap();
            assert!(
                message.starts_with("LiteLLM virtual keys are unavailable: ")
                    && message.contains(variable),
                "{message}"
            );
        }
    }
    // The allow-list entry left at its default: the host refuses the call.
    let not_allowed = ExtraHost::start(&[("litellm_allowed_host", None)]);
    let r = not_allowed.send(call("GET", &key_path(&name))).await;
    assert_upstream(
        &r,
        "the host does not allow outbound requests to LiteLLM while listing keys",
    );
    assert!(r.text().contains("`litellm_allowed_host`"));
}
