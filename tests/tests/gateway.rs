//! The gateway routes end to end (provider keys, the model registry with
//! its response cache, AI budget ceilings): the real component in the host,
//! real PostgreSQL.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, db, field_errors, sign_up, unique, SECRETS_KEY};
use serde_json::{json, Value};

/// Actions audited for one resource, oldest first.
async fn audited(kind: &str, name: &str) -> Vec<String> {
    db().await
        .query(
            "SELECT action || ':' || outcome FROM audit_log WHERE resource_kind = $1 AND resource_name = $2 ORDER BY at, id",
            &[&kind, &name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn provider_entry(list: &Value, provider: &str) -> Value {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == provider)
        .unwrap()
        .clone()
}

/// The stored key of `provider`, opened with the test master key.
async fn stored_key(provider: &str) -> Option<(Vec<u8>, String)> {
    let row = db()
        .await
        .query_opt(
            "SELECT ciphertext, nonce FROM provider_keys WHERE provider = $1",
            &[&provider],
        )
        .await
        .unwrap()?;
    let ciphertext: Vec<u8> = row.get(0);
    let nonce: Vec<u8> = row.get(1);
    assert_eq!(nonce.len(), 12);
    let key = cp_crypto::MasterKey::from_base64(SECRETS_KEY).unwrap();
    let sealed = cp_crypto::Sealed {
        nonce,
        ciphertext: ciphertext.clone(),
    };
    assert!(
        key.open(&sealed, b"cp/provider-key/v1/other").is_err(),
        "bound to its provider"
    );
    let aad = format!("cp/provider-key/v1/{provider}");
    let plain = key.open(&sealed, aad.as_bytes()).unwrap();
    Some((ciphertext, String::from_utf8(plain).unwrap()))
}

#[tokio::test]
async fn provider_keys_are_write_only_encrypted_and_never_disclosed() {
    let secret = format!("sk-proj-{}-Zq9w", uuid::Uuid::now_v7().simple());
    let second = format!("sk-ant-{}-Lm3x", uuid::Uuid::now_v7().simple());
    let mut texts = Vec::new();

    let list = call("GET", "/api/v1/providers/keys").send().await;
    let v = list.expect(200);
    let providers: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        &providers[..4],
        ["openai", "anthropic", "google", "azure-openai"]
    );
    assert!(providers.contains(&"bedrock") && providers.contains(&"mistral"));
    assert_eq!(
        provider_entry(&v, "openai"),
        json!({"provider": "openai", "configured": false})
    );

    // Set: the answer shows the status and the last four characters only.
    let put = call("PUT", "/api/v1/providers/keys/openai")
        .json(&json!({ "key": secret }))
        .send()
        .await;
    let p = put.expect(200)["data"].clone();
    assert_eq!(p["provider"], "openai");
    assert_eq!(p["configured"], true);
    assert_eq!(p["lastFour"], "Zq9w");
    assert!(p["updatedAt"].as_str().is_some());
    texts.push(put.describe());
    let list = call("GET", "/api/v1/providers/keys").send().await;
    assert_eq!(provider_entry(&list.expect(200), "openai"), p);
    texts.push(list.describe());

    // At rest: ciphertext under the master key, bound to the provider.
    let (ciphertext, plain) = stored_key("openai").await.unwrap();
    assert_eq!(plain, secret);
    assert!(!ciphertext
        .windows(8)
        .any(|w| secret.as_bytes().windows(8).any(|s| s == w)));

    // Replace: the new key is stored, the old one is gone.
    let put = call("PUT", "/api/v1/providers/keys/openai")
        .header("idempotency-key", &unique("key"))
        .json(&json!({ "key": second }))
        .send()
        .await;
    assert_eq!(put.expect(200)["data"]["lastFour"], "Lm3x");
    texts.push(put.describe());
    assert_eq!(stored_key("openai").await.unwrap().1, second);
    // A short key shows no hint.
    let put = call("PUT", "/api/v1/providers/keys/groq")
        .json(&json!({ "key": "gsk_short" }))
        .send()
        .await;
    let g = put.expect(200)["data"].clone();
    assert_eq!(g["configured"], true);
    assert!(g.get("lastFour").is_none(), "{g}");

    // Refusals name the field and never echo a value.
    for (body, field) in [
        (json!({}), "key"),
        (json!({ "key": "" }), "key"),
        (json!({ "key": 987_654_321_123u64 }), "key"),
        (json!({ "key": [secret] }), "key"),
        (json!({ "key": "k", "value": "x" }), "value"),
    ] {
        let r = call("PUT", "/api/v1/providers/keys/openai")
            .json(&body)
            .send()
            .await;
        assert_eq!(
            field_errors(&r.expect_error(400, "VALIDATION_ERROR")),
            [field]
        );
        assert!(!r.describe().contains("987654321123"));
        texts.push(r.describe());
    }
    for (method, path) in [
        ("PUT", "/api/v1/providers/keys/acme"),
        ("DELETE", "/api/v1/providers/keys/acme"),
        ("PUT", "/api/v1/providers/keys/OpenAI"),
    ] {
        let mut c = call(method, path);
        if method == "PUT" {
            c = c.json(&json!({ "key": secret }));
        }
        let r = c.send().await;
        let v = r.expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), ["provider"], "{method} {path}");
        assert!(v["fieldErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic"));
        texts.push(r.describe());
    }

    // Delete.
    call("DELETE", "/api/v1/providers/keys/openai")
        .send()
        .await
        .expect(204);
    assert!(stored_key("openai").await.is_none());
    let list = call("GET", "/api/v1/providers/keys").send().await;
    assert_eq!(
        provider_entry(&list.expect(200), "openai"),
        json!({"provider": "openai", "configured": false})
    );
    call("DELETE", "/api/v1/providers/keys/openai")
        .send()
        .await
        .expect_error(404, "PROVIDER_KEY_NOT_FOUND");

    // Audited (refusals of malformed requests and 404s are not: nothing
    // was attempted), without the key or any part of it.
    assert_eq!(
        audited("provider_key", "openai").await,
        [
            "setProviderKey:success",
            "setProviderKey:success",
            "deleteProviderKey:success",
        ]
    );
    let details: Vec<Value> = db()
        .await
        .query(
            "SELECT detail::text FROM audit_log WHERE resource_kind = 'provider_key' AND resource_name = 'openai' ORDER BY at, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(r.get(0)).unwrap())
        .collect();
    assert_eq!(
        details,
        [
            json!({"provider": "openai", "replaced": false}),
            json!({"provider": "openai", "replaced": true}),
            json!({"provider": "openai"}),
        ]
    );
    let audit = cp_tests::audit_log_text().await;
    let log = cp_tests::server_log("the key scan of the host log").unwrap_or_default();
    for s in [&secret, &second] {
        for needle in [s.as_str(), &s[8..30], &s[s.len() - 4..]] {
            for t in &texts {
                assert!(
                    !t.contains(needle) || needle.len() == 4,
                    "key in a response: {t}"
                );
            }
            assert!(!audit.contains(needle), "key in audit");
            assert!(!log.contains(needle), "key in the host log");
        }
    }
    let everything: String = db()
        .await
        .query("SELECT t::text FROM provider_keys t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(!everything.contains(&secret) && !everything.contains(&second));
}

fn model_body(name: &str) -> Value {
    json!({
        "name": name, "provider": "openai", "upstreamModel": "gpt-4o-mini-2024-07-18",
        "contextWindow": 128000, "inputPricePerMillion": "0.1", "outputPricePerMillion": "0.2"
    })
}

async fn create_model(body: &Value) -> (Value, String) {
    let r = call("POST", "/api/v1/models").json(body).send().await;
    let v = r.expect(201);
    (v["data"].clone(), r.header("etag").unwrap().to_owned())
}

#[tokio::test]
async fn models_round_trip_with_exact_prices_and_cache_settings() {
    let name = unique("gpt-4o-mini");
    let (m, etag) = create_model(&model_body(&name)).await;
    let id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(m["name"], name.as_str());
    assert_eq!(m["provider"], "openai");
    assert_eq!(m["upstreamModel"], "gpt-4o-mini-2024-07-18");
    assert_eq!(m["contextWindow"], 128000);
    // Exactly as written: strings, not floats.
    assert_eq!(m["inputPricePerMillion"], "0.1");
    assert_eq!(m["outputPricePerMillion"], "0.2");
    assert_eq!(m["cachedInputPricePerMillion"], Value::Null);
    assert_eq!(
        m["cache"],
        json!({"enabled": false, "ttlSeconds": 300, "maxEntries": 1000})
    );
    // Stored as numeric: 0.1 + 0.2 is exactly 0.3 there.
    let row = db()
        .await
        .query_one(
            "SELECT pg_typeof(input_price_per_million)::text,
                    (input_price_per_million + output_price_per_million)::text,
                    input_price_per_million + output_price_per_million = 0.3
             FROM models WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "numeric");
    assert_eq!(row.get::<_, String>(1), "0.3");
    assert!(row.get::<_, bool>(2));

    let got = call("GET", &format!("/api/v1/models/{id}")).send().await;
    assert_eq!(got.expect(200)["data"], m);
    assert_eq!(got.header("etag"), Some(etag.as_str()));

    // Replace, guarded by If-Match; trailing zeros are kept as written.
    let mut body = model_body(&name);
    body["inputPricePerMillion"] = json!("3.00");
    body["outputPricePerMillion"] = json!("15.000000");
    body["cachedInputPricePerMillion"] = json!("0.30");
    body["provider"] = json!("azure-openai");
    let put = call("PUT", &format!("/api/v1/models/{id}"))
        .header("if-match", &etag)
        .json(&body)
        .send()
        .await;
    let replaced = put.expect(200)["data"].clone();
    let etag2 = put.header("etag").unwrap().to_owned();
    assert_ne!(etag2, etag);
    assert_eq!(replaced["inputPricePerMillion"], "3.00");
    assert_eq!(replaced["outputPricePerMillion"], "15.000000");
    assert_eq!(replaced["cachedInputPricePerMillion"], "0.30");
    assert_eq!(replaced["provider"], "azure-openai");
    // A stale If-Match changes nothing.
    call("PUT", &format!("/api/v1/models/{id}"))
        .header("if-match", &etag)
        .json(&model_body(&name))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // Cache settings: their own route, validated, part of the ETag.
    let cache = call("PUT", &format!("/api/v1/models/{id}/cache"))
        .header("if-match", &etag2)
        .json(&json!({"enabled": true, "ttlSeconds": 60, "maxEntries": 500}))
        .send()
        .await;
    let cached = cache.expect(200)["data"].clone();
    assert_eq!(
        cached["cache"],
        json!({"enabled": true, "ttlSeconds": 60, "maxEntries": 500})
    );
    assert_eq!(cached["inputPricePerMillion"], "3.00");
    let etag3 = cache.header("etag").unwrap().to_owned();
    assert_ne!(etag3, etag2);
    call("PUT", &format!("/api/v1/models/{id}/cache"))
        .header("if-match", &etag2)
        .json(&json!({"enabled": false, "ttlSeconds": 60, "maxEntries": 500}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    for (body, expected) in [
        (
            json!({"enabled": true, "ttlSeconds": 0, "maxEntries": 500}),
            vec!["ttlSeconds"],
        ),
        (
            json!({"enabled": true, "ttlSeconds": 2_592_001, "maxEntries": 0}),
            vec!["ttlSeconds", "maxEntries"],
        ),
        (json!({"ttlSeconds": 60, "maxEntries": 5}), vec!["enabled"]),
        (
            json!({"enabled": "yes", "ttlSeconds": 60, "maxEntries": 5}),
            vec!["enabled"],
        ),
        (
            json!({"enabled": true, "ttlSeconds": 1.5, "maxEntries": 5}),
            vec!["ttlSeconds"],
        ),
    ] {
        let v = call("PUT", &format!("/api/v1/models/{id}/cache"))
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), expected, "{body}");
    }
    // A model PUT keeps the cache settings.
    let put = call("PUT", &format!("/api/v1/models/{id}"))
        .json(&model_body(&name))
        .send()
        .await;
    let again = put.expect(200)["data"].clone();
    assert_eq!(again["cache"]["enabled"], true);
    assert_eq!(again["cachedInputPricePerMillion"], Value::Null);

    // Delete.
    call("DELETE", &format!("/api/v1/models/{id}"))
        .send()
        .await
        .expect(204);
    call("GET", &format!("/api/v1/models/{id}"))
        .send()
        .await
        .expect_error(404, "MODEL_NOT_FOUND");
    call("DELETE", &format!("/api/v1/models/{id}"))
        .send()
        .await
        .expect_error(404, "MODEL_NOT_FOUND");
    call("PUT", &format!("/api/v1/models/{id}/cache"))
        .json(&json!({"enabled": true, "ttlSeconds": 60, "maxEntries": 5}))
        .send()
        .await
        .expect_error(404, "MODEL_NOT_FOUND");
    let v = call("GET", "/api/v1/models/not-a-uuid")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["id"]);

    assert_eq!(
        audited("model", &id).await,
        [
            "createModel:success",
            "replaceModel:success",
            "replaceModel:failure",
            "setModelCache:success",
            "setModelCache:failure",
            "replaceModel:success",
            "deleteModel:success",
        ]
    );
}

#[tokio::test]
async fn model_names_are_unique_and_prices_are_validated() {
    let name = unique("claude");
    let (m, _) = create_model(&model_body(&name)).await;
    let v = call("POST", "/api/v1/models")
        .json(&model_body(&name))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    assert!(v["error"].as_str().unwrap().contains(&name));
    // Renaming onto another model's name is a 409 too, and changes nothing.
    let other = unique("other");
    let (o, _) = create_model(&model_body(&other)).await;
    let oid = o["id"].as_str().unwrap();
    call("PUT", &format!("/api/v1/models/{oid}"))
        .json(&model_body(&name))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    let still = call("GET", &format!("/api/v1/models/{oid}"))
        .send()
        .await
        .expect(200);
    assert_eq!(still["data"], o);
    assert_eq!(m["name"], name.as_str());

    for (field, value) in [
        ("inputPricePerMillion", json!("-1")),
        ("inputPricePerMillion", json!("0.1234567")),
        ("outputPricePerMillion", json!(0.5)),
        ("outputPricePerMillion", json!(2)),
        ("outputPricePerMillion", json!("1e3")),
        ("outputPricePerMillion", json!("1000000.01")),
        ("cachedInputPricePerMillion", json!(" 1")),
        ("inputPricePerMillion", Value::Null),
        ("provider", json!("acme")),
        ("contextWindow", json!(0)),
        ("contextWindow", json!("128000")),
        ("name", json!("bad name")),
        ("upstreamModel", json!("")),
    ] {
        let mut body = model_body(&unique("bad"));
        body[field] = value.clone();
        let v = call("POST", "/api/v1/models")
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), [field], "{field}: {value}");
    }
    let v = call("POST", "/api/v1/models")
        .json(&json!({"name": unique("x"), "cache": {"enabled": true}}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["cache"]);

    // Keyset pages walk every model once.
    let mut mine = Vec::new();
    for _ in 0..3 {
        let (p, _) = create_model(&model_body(&unique("page"))).await;
        mine.push(p["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => "/api/v1/models?limit=2".to_owned(),
            Some(c) => format!("/api/v1/models?limit=2&cursor={c}"),
        };
        let v = call("GET", &url).send().await.expect(200);
        for item in v["data"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match v["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut unique_ids = seen.clone();
    unique_ids.sort();
    unique_ids.dedup();
    assert_eq!(unique_ids.len(), seen.len(), "each once");
    let at = |id: &String| seen.iter().position(|s| s == id).unwrap();
    assert!(at(&mine[0]) < at(&mine[1]) && at(&mine[1]) < at(&mine[2]));
    call("GET", "/api/v1/models?cursor=v1.bogus")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn budget_ceilings_are_exact_and_per_account() {
    // Global: none until set; ETag-guarded; null removes it.
    let r = call("GET", "/api/v1/ai-budget/global").send().await;
    assert_eq!(
        r.expect(200)["data"],
        json!({"monthlyCeiling": null, "updatedAt": null})
    );
    let etag0 = r.header("etag").unwrap().to_owned();
    let put = call("PUT", "/api/v1/ai-budget/global")
        .header("if-match", &etag0)
        .json(&json!({"monthlyCeiling": "5000.10"}))
        .send()
        .await;
    let g = put.expect(200)["data"].clone();
    assert_eq!(g["monthlyCeiling"], "5000.10");
    assert!(g["updatedAt"].as_str().is_some());
    let etag1 = put.header("etag").unwrap().to_owned();
    assert_ne!(etag0, etag1);
    let r = call("GET", "/api/v1/ai-budget/global").send().await;
    assert_eq!(r.expect(200)["data"], g);
    assert_eq!(r.header("etag"), Some(etag1.as_str()));
    call("PUT", "/api/v1/ai-budget/global")
        .header("if-match", &etag0)
        .json(&json!({"monthlyCeiling": "1"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    for body in [
        json!({"monthlyCeiling": 5000}),
        json!({"monthlyCeiling": "-1"}),
        json!({"monthlyCeiling": "0.0000001"}),
        json!({}),
    ] {
        let v = call("PUT", "/api/v1/ai-budget/global")
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), ["monthlyCeiling"], "{body}");
    }
    let cleared = call("PUT", "/api/v1/ai-budget/global")
        .json(&json!({"monthlyCeiling": null}))
        .send()
        .await
        .expect(200);
    assert_eq!(cleared["data"]["monthlyCeiling"], Value::Null);
    assert_eq!(
        audited("ai_budget", "global").await,
        ["setGlobalBudget:success", "setGlobalBudget:success"]
    );

    // Accounts: a user's ceiling, created then replaced.
    let ada = sign_up("budget-ada").await;
    let bob = sign_up("budget-bob").await;
    let path = |id: &str| format!("/api/v1/ai-budget/accounts/{id}");
    let a = call("PUT", &path(&ada.id))
        .json(&json!({"monthlyCeiling": "250.00"}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    assert_eq!(a["userId"], ada.id.as_str());
    assert_eq!(a["email"], ada.email.as_str());
    assert_eq!(a["monthlyCeiling"], "250.00");
    let a2 = call("PUT", &path(&ada.id))
        .json(&json!({"monthlyCeiling": "0.1"}))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(a2["monthlyCeiling"], "0.1");
    assert_eq!(a2["createdAt"], a["createdAt"]);
    call("PUT", &path(&bob.id))
        .json(&json!({"monthlyCeiling": "1000000000"}))
        .send()
        .await
        .expect(201);
    let v = call("PUT", &path(&bob.id))
        .json(&json!({"monthlyCeiling": "1000000000.5"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["monthlyCeiling"]);
    // The users themselves may not touch budgets.
    ada.call("GET", "/api/v1/ai-budget/accounts")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    ada.call("PUT", &path(&ada.id))
        .json(&json!({"monthlyCeiling": "9999"}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // Keyset list.
    let first = call("GET", "/api/v1/ai-budget/accounts?limit=1")
        .send()
        .await
        .expect(200);
    assert_eq!(first["data"][0]["userId"], ada.id.as_str());
    assert_eq!(first["data"][0]["monthlyCeiling"], "0.1");
    let cursor = first["pagination"]["nextCursor"].as_str().unwrap();
    let second = call(
        "GET",
        &format!("/api/v1/ai-budget/accounts?limit=1&cursor={cursor}"),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(second["data"][0]["userId"], bob.id.as_str());
    assert_eq!(second["data"][0]["monthlyCeiling"], "1000000000");
    assert_eq!(second["pagination"]["hasMore"], false);

    // Unknown and malformed accounts.
    let unknown = uuid::Uuid::now_v7().to_string();
    call("PUT", &path(&unknown))
        .json(&json!({"monthlyCeiling": "1"}))
        .send()
        .await
        .expect_error(404, "USER_NOT_FOUND");
    let v = call("PUT", &path("nobody"))
        .json(&json!({"monthlyCeiling": "1"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["userId"]);

    // Delete.
    call("DELETE", &path(&ada.id)).send().await.expect(204);
    call("DELETE", &path(&ada.id))
        .send()
        .await
        .expect_error(404, "ACCOUNT_BUDGET_NOT_FOUND");
    let rest = call("GET", "/api/v1/ai-budget/accounts")
        .send()
        .await
        .expect(200);
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        audited("ai_budget_account", &ada.id).await,
        [
            "setAccountBudget:success",
            "setAccountBudget:success",
            "deleteAccountBudget:success",
        ]
    );
}
