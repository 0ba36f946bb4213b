//! Token usage end to end through the Wasm host and a real PostgreSQL:
//! ingestion by the operator, access tokens and gateway keys (duplicates,
//! all-or-nothing batches, exact costs), the raw records list, totals,
//! series, cache hit rates, costs, and month-to-date spend against the
//! tenant, account and global ceilings.
//!
//! Tests share one database concurrently: each uses its own tenants and
//! models and asserts on its own data. The global ceiling changes every
//! tenant's budget state, so the tests that look at budget states hold
//! [`exclusive`].

#![allow(clippy::unwrap_used)]

use chrono::{Duration, SecondsFormat, Utc};
use cp_tests::{bearer, call, db, env, exclusive, field_errors, sign_up, unique, Resp};
use serde_json::{json, Value};

/// An RFC 3339 time `secs` seconds ago.
fn ago(secs: i64) -> String {
    (Utc::now() - Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Registers a model with these prices; returns its name and id.
async fn model(input: &str, output: &str, cached: Option<&str>) -> (String, String) {
    let name = unique("usage-model");
    let mut body = json!({
        "name": name, "provider": "openai", "upstreamModel": "gpt-4o-mini",
        "contextWindow": 128000, "inputPricePerMillion": input, "outputPricePerMillion": output,
    });
    if let Some(c) = cached {
        body["cachedInputPricePerMillion"] = json!(c);
    }
    let created = call("POST", "/api/v1/models")
        .json(&body)
        .send()
        .await
        .expect(201);
    (name, created["data"]["id"].as_str().unwrap().to_owned())
}

/// Creates a tenant (optionally with a monthly budget and an email, and
/// owned by a user).
async fn tenant_owned(budget_usd: Option<f64>, email: Option<&str>, owner: Option<&str>) -> String {
    let name = unique("usage");
    let mut body = json!({ "name": name, "email": email.map_or(format!("{name}@example.com"), str::to_owned) });
    if let Some(b) = budget_usd {
        body["monthlyBudgetUsd"] = json!(b);
    }
    if let Some(owner) = owner {
        body["ownerId"] = json!(owner);
    }
    call("POST", "/api/v1/tenants")
        .json(&body)
        .send()
        .await
        .expect(201);
    name
}

/// Creates a tenant (optionally with a monthly budget and an email).
async fn tenant_with(budget_usd: Option<f64>, email: Option<&str>) -> String {
    tenant_owned(budget_usd, email, None).await
}

async fn tenant() -> String {
    tenant_with(None, None).await
}

/// A record with the required fields.
fn rec(id: &str, tenant: &str, model: &str, input: i64, output: i64, at: &str) -> Value {
    json!({
        "requestId": id, "tenant": tenant, "model": model,
        "inputTokens": input, "outputTokens": output, "latencyMs": 100, "timestamp": at,
    })
}

async fn ingest(records: Vec<Value>) -> Resp {
    call("POST", "/api/v1/token-usage")
        .json(&json!({ "records": records }))
        .send()
        .await
}

async fn get(path: &str) -> Value {
    call("GET", path).send().await.expect(200)["data"].clone()
}

/// How many raw records a tenant has.
async fn stored(tenant: &str) -> i64 {
    db().await
        .query_one(
            "SELECT count(*) FROM token_usage WHERE tenant_name = $1",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

/// Creates a gateway key through the API: `(id, plaintext)`.
async fn gateway_key(tenant: &str) -> (String, String) {
    let created = call("POST", &format!("/api/v1/tenants/{tenant}/keys"))
        .json(&json!({ "name": unique("gw") }))
        .send()
        .await
        .expect(201);
    (
        created["data"]["id"].as_str().unwrap().to_owned(),
        created["data"]["plainTextKey"].as_str().unwrap().to_owned(),
    )
}

fn tenant_state<'a>(answer: &'a Value, tenant: &str) -> &'a Value {
    answer["data"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"] == tenant)
        .unwrap_or_else(|| panic!("{tenant} not in {answer}"))
}

#[tokio::test]
async fn the_operator_ingests_and_duplicate_request_ids_are_ignored() {
    env();
    let (t, other) = (tenant().await, tenant().await);
    let (m, _) = model("1", "2", None).await;
    let at = ago(30);
    let batch = vec![
        rec("r-1", &t, &m, 10, 5, &at),
        rec("r-2", &t, &m, 20, 5, &at),
        // Repeats r-1 within the batch: the first occurrence wins.
        rec("r-1", &t, &m, 999, 999, &at),
        // The same request id for another tenant is another request.
        rec("r-1", &other, &m, 1, 1, &at),
    ];
    let first = ingest(batch.clone()).await.expect(200);
    assert_eq!(first["data"]["accepted"], 3, "{first}");
    assert_eq!(first["data"]["duplicates"], 1);
    let names: Vec<&str> = first["data"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tenant"].as_str().unwrap())
        .collect();
    let mut expected = vec![t.as_str(), other.as_str()];
    expected.sort();
    assert_eq!(names, expected);
    let state = tenant_state(&first, &t);
    assert!(state["budget"]["spend"].as_str().is_some());
    assert_eq!(state["quota"]["tokensPerMinute"], Value::Null);
    assert_eq!(state["quota"]["state"], "ok");

    // A replayed batch stores nothing twice.
    let replay = ingest(batch).await.expect(200);
    assert_eq!(replay["data"]["accepted"], 0);
    assert_eq!(replay["data"]["duplicates"], 4);
    assert_eq!(stored(&t).await, 2);
    assert_eq!(stored(&other).await, 1);

    // The stored r-1 is the first occurrence, priced at 1/2 per million.
    let list = call("GET", &format!("/api/v1/token-usage?tenant={t}&limit=10"))
        .send()
        .await
        .expect(200);
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let r1 = items.iter().find(|r| r["requestId"] == "r-1").unwrap();
    assert_eq!(r1["inputTokens"], 10);
    assert_eq!(r1["cost"], "0.00002");
    assert_eq!(r1["keyId"], Value::Null);
    assert_eq!(r1["cacheHit"], false);
    assert_eq!(r1["cachedTokens"], 0);
    assert_eq!(r1["latencyMs"], 100);
    assert_eq!(r1["model"], m.as_str());

    // One audit entry per batch, not per record.
    let audited: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'ingestTokenUsage'
             AND detail->'tenants' ? $1",
            &[&t],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 2, "one entry for each of the two batches");
}

#[tokio::test]
async fn a_gateway_key_reports_only_its_own_tenant_and_a_disabled_key_is_refused() {
    env();
    let (t, other) = (tenant().await, tenant().await);
    let (m, _) = model("1", "1", None).await;
    let (key_id, key) = gateway_key(&t).await;
    let (other_key_id, _) = gateway_key(&other).await;
    let mut mine = rec("k-1", &t, &m, 10, 10, &ago(10));
    mine.as_object_mut().unwrap().remove("tenant");

    let ok = bearer(&key, "POST", "/api/v1/token-usage")
        .json(&json!({ "records": [mine] }))
        .send()
        .await
        .expect(200);
    assert_eq!(ok["data"]["accepted"], 1);
    assert_eq!(ok["data"]["tenants"][0]["tenant"], t.as_str());
    let list = get(&format!("/api/v1/token-usage?tenant={t}")).await;
    assert_eq!(list[0]["keyId"], key_id.as_str(), "defaults to the key");

    // Naming its own tenant explicitly is fine.
    let explicit = rec("k-2", &t, &m, 1, 1, &ago(10));
    bearer(&key, "POST", "/api/v1/token-usage")
        .json(&json!({ "records": [explicit] }))
        .send()
        .await
        .expect(200);

    // Another tenant, even in one record of many: 403 and nothing written.
    let batch = json!({ "records": [
        rec("k-3", &t, &m, 1, 1, &ago(10)),
        rec("k-4", &other, &m, 1, 1, &ago(10)),
    ]});
    let refused = bearer(&key, "POST", "/api/v1/token-usage")
        .json(&batch)
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(
        refused["error"].as_str().unwrap().contains("records[1]"),
        "{refused}"
    );
    let mut foreign_key = rec("k-5", &t, &m, 1, 1, &ago(10));
    foreign_key["keyId"] = json!(other_key_id);
    bearer(&key, "POST", "/api/v1/token-usage")
        .json(&json!({ "records": [foreign_key] }))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert_eq!(stored(&t).await, 2);
    assert_eq!(stored(&other).await, 0);

    // A gateway key only reports: reading is not its business.
    bearer(&key, "GET", "/api/v1/token-usage")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // Disabled: refused before anything is read.
    call("PUT", &format!("/api/v1/keys/{key_id}/disabled"))
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .expect(200);
    bearer(&key, "POST", "/api/v1/token-usage")
        .json(&json!({ "records": [rec("k-6", &t, &m, 1, 1, &ago(10))] }))
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(stored(&t).await, 2);
}

#[tokio::test]
async fn access_tokens_need_the_area_scope() {
    env();
    let t = tenant().await;
    let (m, _) = model("1", "1", None).await;
    let token = |scopes: Value| async move {
        call("POST", "/api/v1/access-tokens")
            .json(&json!({ "name": unique("usage-token"), "scopes": scopes }))
            .send()
            .await
            .expect(201)["data"]["plainTextToken"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let writer = token(json!(["token-usage:write"])).await;
    let reader = token(json!(["usage:read", "costs:read"])).await;
    bearer(&writer, "POST", "/api/v1/token-usage")
        .json(&json!({ "records": [rec("a-1", &t, &m, 1, 1, &ago(5))] }))
        .send()
        .await
        .expect(200);
    bearer(&writer, "GET", &format!("/api/v1/usage?tenant={t}"))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    bearer(&reader, "POST", "/api/v1/token-usage")
        .json(&json!({ "records": [rec("a-2", &t, &m, 1, 1, &ago(5))] }))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let usage = bearer(&reader, "GET", &format!("/api/v1/usage?tenant={t}"))
        .send()
        .await
        .expect(200);
    assert_eq!(usage["data"]["items"][0]["requests"], 1);
    bearer(&reader, "GET", &format!("/api/v1/costs?tenant={t}"))
        .send()
        .await
        .expect(200);
    call("GET", "/api/v1/usage")
        .anonymous()
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn one_bad_record_rejects_the_whole_batch_and_writes_nothing() {
    env();
    let t = tenant().await;
    let (m, _) = model("1", "1", None).await;
    let missing_tenant = unique("no-such");
    let mut bad_cached = rec("b-4", &t, &m, 5, 1, &ago(5));
    bad_cached["cachedTokens"] = json!(6);
    let mut no_tenant = rec("b-6", &t, &m, 1, 1, &ago(5));
    no_tenant.as_object_mut().unwrap().remove("tenant");
    let future = rec("b-5", &t, &m, 1, 1, &ago(-600));
    let err = ingest(vec![
        rec("b-1", &t, &m, 1, 1, &ago(5)),
        rec("b-2", &t, "not-a-registered-model", 1, 1, &ago(5)),
        bad_cached,
        future,
        no_tenant,
    ])
    .await
    .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        field_errors(&err),
        [
            "records[2].cachedTokens",
            "records[3].timestamp",
            "records[4].tenant"
        ]
    );
    // Field-valid, but a tenant that does not exist and a model that is not
    // registered: still a 400 naming each, and still nothing written.
    let err = ingest(vec![
        rec("b-1", &t, &m, 1, 1, &ago(5)),
        rec("b-2", &t, "not-a-registered-model", 1, 1, &ago(5)),
        rec("b-3", &missing_tenant, &m, 1, 1, &ago(5)),
    ])
    .await
    .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        field_errors(&err),
        ["records[1].model", "records[2].tenant"]
    );
    assert_eq!(stored(&t).await, 0);

    // Shape errors.
    let e = ingest(vec![]).await.expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&e), ["records"]);
    let many: Vec<Value> = (0..1001)
        .map(|i| rec(&format!("m-{i}"), &t, &m, 1, 1, &ago(5)))
        .collect();
    let e = ingest(many).await.expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&e), ["records"]);
    let mut unknown = rec("u-1", &t, &m, 1, 1, &ago(5));
    unknown["promptTokens"] = json!(1);
    let e = ingest(vec![unknown])
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&e), ["records[0].promptTokens"]);
    let mut float = rec("u-2", &t, &m, 1, 1, &ago(5));
    float["outputTokens"] = json!(1.5);
    let e = ingest(vec![float])
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&e), ["records[0].outputTokens"]);
    let mut number_time = rec("u-3", &t, &m, 1, 1, &ago(5));
    number_time["timestamp"] = json!("2026-02-30T00:00:00Z");
    let e = ingest(vec![number_time])
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&e), ["records[0].timestamp"]);
    call("POST", "/api/v1/token-usage")
        .json(&json!({}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(stored(&t).await, 0);

    // The same batch, fixed, goes through whole.
    let ok = ingest(vec![
        rec("b-1", &t, &m, 1, 1, &ago(5)),
        rec("b-2", &t, &m, 1, 1, &ago(5)),
    ])
    .await
    .expect(200);
    assert_eq!(ok["data"]["accepted"], 2);
}

#[tokio::test]
async fn costs_are_exact_decimals_fixed_at_ingestion() {
    env();
    let t = tenant().await;
    let (m, model_id) = model("0.15", "0.60", None).await;
    let (cached_m, _) = model("0.15", "0.60", Some("0.075")).await;
    let at = "2025-06-10T12:00:00Z";
    let mut cached = rec("c-2", &t, &cached_m, 1_000_000, 0, at);
    cached["cachedTokens"] = json!(400_000);
    ingest(vec![rec("c-1", &t, &m, 1_234_567, 1_234_567, at), cached])
        .await
        .expect(200);
    // 1234567 * 0.15 / 1e6 + 1234567 * 0.60 / 1e6 = 0.18518505 + 0.7407402.
    let range = "from=2025-06-01T00:00:00Z&to=2025-07-01T00:00:00Z";
    let costs = get(&format!("/api/v1/costs?tenant={t}&{range}")).await;
    assert_eq!(costs["currency"], "USD");
    assert_eq!(costs["total"], "1.04592525");
    assert_eq!(
        costs["byTenant"],
        json!([{ "tenant": t, "requests": 2, "cost": "1.04592525" }])
    );
    // 600000 uncached at 0.15 + 400000 cached at 0.075 = 0.09 + 0.03.
    assert_eq!(
        costs["byModel"],
        json!([
            { "model": m, "requests": 1, "cost": "0.92592525" },
            { "model": cached_m, "requests": 1, "cost": "0.12" },
        ])
    );

    // A price change does not rewrite history; new records use it.
    let current = call("GET", &format!("/api/v1/models/{model_id}"))
        .send()
        .await;
    current.expect(200);
    let etag = current.header("etag").unwrap().to_owned();
    let mut body = current.json()["data"].clone();
    let replaced = json!({
        "name": body["name"].take(), "provider": "openai", "upstreamModel": "gpt-4o-mini",
        "contextWindow": 128000, "inputPricePerMillion": "1.50", "outputPricePerMillion": "6.00",
    });
    call("PUT", &format!("/api/v1/models/{model_id}"))
        .header("if-match", &etag)
        .json(&replaced)
        .send()
        .await
        .expect(200);
    ingest(vec![rec("c-3", &t, &m, 1_000_000, 0, at)])
        .await
        .expect(200);
    let costs = get(&format!("/api/v1/costs?tenant={t}&{range}&model={m}")).await;
    assert_eq!(costs["total"], "2.42592525");
    let records = get(&format!("/api/v1/token-usage?tenant={t}&model={m}")).await;
    let by_id = |id: &str| {
        records
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["requestId"] == id)
            .unwrap()["cost"]
            .clone()
    };
    assert_eq!(by_id("c-1"), "0.92592525");
    assert_eq!(by_id("c-3"), "1.5");

    // A thousand tiny records sum to the last digit (7 and 3 tokens at
    // 0.15/0.60: 0.00000285 each).
    let small = tenant().await;
    let (m2, _) = model("0.15", "0.60", None).await;
    let batch: Vec<Value> = (0..1000)
        .map(|i| rec(&format!("s-{i}"), &small, &m2, 7, 3, at))
        .collect();
    ingest(batch).await.expect(200);
    let usage = get(&format!("/api/v1/usage?tenant={small}&{range}")).await;
    assert_eq!(usage["items"][0]["cost"], "0.00285");
    assert_eq!(usage["items"][0]["requests"], 1000);
    assert_eq!(usage["items"][0]["inputTokens"], 7000);
}

#[tokio::test]
async fn series_bucket_by_minute_hour_and_day_across_boundaries() {
    env();
    let (t, u) = (tenant().await, tenant().await);
    let (m, _) = model("1", "0", None).await;
    ingest(vec![
        rec("s-1", &t, &m, 1, 0, "2025-03-31T23:59:30Z"),
        rec("s-2", &t, &m, 2, 0, "2025-04-01T00:00:10Z"),
        rec("s-3", &t, &m, 4, 0, "2025-04-01T00:59:59.999Z"),
        rec("s-4", &t, &m, 8, 0, "2025-04-01T01:00:00Z"),
        // Expressed with an offset: 2025-04-01T02:30:00Z.
        rec("s-5", &t, &m, 16, 0, "2025-04-01T04:30:00+02:00"),
        rec("s-6", &u, &m, 32, 0, "2025-04-01T00:15:00Z"),
    ])
    .await
    .expect(200);
    let points = |v: &Value| -> Vec<(String, i64)> {
        v["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["start"].as_str().unwrap()[..16].to_owned(),
                    p["inputTokens"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let q = |bucket: &str, from: &str, to: &str| {
        format!("/api/v1/usage/series?tenant={t}&bucket={bucket}&from={from}&to={to}")
    };
    let hours = get(&q("hour", "2025-03-31T00:00:00Z", "2025-04-02T00:00:00Z")).await;
    assert_eq!(hours["bucket"], "hour");
    assert_eq!(
        points(&hours),
        [
            ("2025-03-31T23:00".to_owned(), 1),
            ("2025-04-01T00:00".to_owned(), 6),
            ("2025-04-01T01:00".to_owned(), 8),
            ("2025-04-01T02:00".to_owned(), 16),
        ]
    );
    assert_eq!(hours["points"][1]["requests"], 2);
    assert_eq!(hours["points"][1]["cost"], "0.000006");
    let days = get(&q("day", "2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z")).await;
    assert_eq!(
        points(&days),
        [
            ("2025-03-31T00:00".to_owned(), 1),
            ("2025-04-01T00:00".to_owned(), 30),
        ]
    );
    let minutes = get(&q("minute", "2025-03-31T23:00:00Z", "2025-04-01T01:00:01Z")).await;
    assert_eq!(
        points(&minutes),
        [
            ("2025-03-31T23:59".to_owned(), 1),
            ("2025-04-01T00:00".to_owned(), 2),
            ("2025-04-01T00:59".to_owned(), 4),
            ("2025-04-01T01:00".to_owned(), 8),
        ]
    );
    // A range starting or ending inside an hour counts only what is inside
    // (the edges come from the raw records, whole hours from the rollup).
    let partial = get(&q("hour", "2025-04-01T00:30:00Z", "2025-04-01T02:30:00Z")).await;
    assert_eq!(
        points(&partial),
        [
            ("2025-04-01T00:00".to_owned(), 4),
            ("2025-04-01T01:00".to_owned(), 8),
        ]
    );
    let partial_day = get(&q("day", "2025-04-01T00:00:05Z", "2025-04-01T02:30:01Z")).await;
    assert_eq!(points(&partial_day), [("2025-04-01T00:00".to_owned(), 30)]);
    // `to` is exclusive.
    let exclusive_to = get(&q("hour", "2025-04-01T00:00:00Z", "2025-04-01T01:00:00Z")).await;
    assert_eq!(points(&exclusive_to), [("2025-04-01T00:00".to_owned(), 6)]);

    // Per tenant.
    let both = get(&format!(
        "/api/v1/usage/series/tenants?bucket=day&from=2025-03-31T00:00:00Z&to=2025-04-02T00:00:00Z&model={m}"
    ))
    .await;
    let series = both["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "{both}");
    let of = |name: &str| series.iter().find(|s| s["tenant"] == name).unwrap().clone();
    assert_eq!(points(&of(&t)).len(), 2);
    assert_eq!(points(&of(&u)), [("2025-04-01T00:00".to_owned(), 32)]);

    // At most 10000 buckets; parameters are named when wrong.
    let e = call(
        "GET",
        &q("minute", "2025-03-01T00:00:00Z", "2025-03-08T00:00:00Z"),
    )
    .send()
    .await
    .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&e), ["bucket"]);
    call(
        "GET",
        &q("minute", "2025-03-01T00:00:00Z", "2025-03-07T22:40:00Z"),
    )
    .send()
    .await
    .expect(200);
    for (query, field) in [
        ("bucket=week", "bucket"),
        ("from=2025-03-01", "from"),
        ("to=2025-03-01T00:00:00", "to"),
        ("tenant=Not_A_Tenant", "tenant"),
        ("model=has%20space", "model"),
        ("keyId=123", "keyId"),
    ] {
        for path in ["/api/v1/usage/series", "/api/v1/usage/series/tenants"] {
            let e = call("GET", &format!("{path}?{query}"))
                .send()
                .await
                .expect_error(400, "VALIDATION_ERROR");
            assert_eq!(field_errors(&e), [field], "{path}?{query}");
        }
    }
    // An inverted range is empty, not an error.
    let empty = get(&q("hour", "2025-04-02T00:00:00Z", "2025-03-31T00:00:00Z")).await;
    assert_eq!(empty["points"], json!([]));
}

#[tokio::test]
async fn usage_totals_group_by_tenant_key_and_model() {
    env();
    let (t, u) = (tenant().await, tenant().await);
    let (m1, _) = model("1", "1", None).await;
    let (m2, _) = model("2", "2", None).await;
    let (key_id, key) = gateway_key(&t).await;
    let at = "2025-05-05T10:10:00Z";
    let mut r2 = rec("g-2", &t, &m2, 30, 3, at);
    r2["latencyMs"] = json!(300);
    r2["cachedTokens"] = json!(10);
    r2["cacheHit"] = json!(true);
    ingest(vec![
        rec("g-1", &t, &m1, 10, 1, at),
        r2,
        rec("g-3", &u, &m1, 100, 10, at),
    ])
    .await
    .expect(200);
    let mut via_key = rec("g-4", &t, &m1, 5, 5, at);
    via_key.as_object_mut().unwrap().remove("tenant");
    bearer(&key, "POST", "/api/v1/token-usage")
        .json(&json!({ "records": [via_key] }))
        .send()
        .await
        .expect(200);
    let range = "from=2025-05-01T00:00:00Z&to=2025-06-01T00:00:00Z";

    let by_tenant = get(&format!("/api/v1/usage?tenant={t}&{range}")).await;
    assert_eq!(by_tenant["groupBy"], "tenant");
    assert_eq!(by_tenant["from"], "2025-05-01T00:00:00.000000Z");
    assert_eq!(
        by_tenant["items"],
        json!([{
            "tenant": t, "requests": 3, "inputTokens": 45, "outputTokens": 9,
            "cachedTokens": 10, "cacheHits": 1, "avgLatencyMs": 167, "cost": "0.000087",
        }])
    );
    let by_model = get(&format!("/api/v1/usage/models?tenant={t}&{range}")).await;
    assert_eq!(by_model["groupBy"], "model");
    let models: Vec<(&str, i64)> = by_model["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["model"].as_str().unwrap(),
                i["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![(m1.as_str(), 2), (m2.as_str(), 1)];
    expected.sort();
    assert_eq!(models, expected);
    let same = get(&format!("/api/v1/usage?groupBy=model&tenant={t}&{range}")).await;
    assert_eq!(same["items"], by_model["items"]);

    let by_key = get(&format!("/api/v1/usage/keys?tenant={t}&{range}")).await;
    let keys = by_key["items"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{by_key}");
    assert_eq!(keys[0]["keyId"], Value::Null, "usage without a key first");
    assert_eq!(keys[0]["requests"], 2);
    assert_eq!(keys[1]["keyId"], key_id.as_str());
    assert_eq!(keys[1]["tenant"], t.as_str());
    assert!(keys[1]["keyName"].as_str().unwrap().starts_with("gw-"));
    let only_key = get(&format!("/api/v1/usage?groupBy=key&keyId={key_id}&{range}")).await;
    assert_eq!(only_key["items"].as_array().unwrap().len(), 1);
    assert_eq!(only_key["items"][0]["inputTokens"], 5);

    // Filters combine; a range outside the data is empty.
    let m1_u = get(&format!("/api/v1/usage?tenant={u}&model={m1}&{range}")).await;
    assert_eq!(m1_u["items"][0]["inputTokens"], 100);
    let none = get(&format!(
        "/api/v1/usage?tenant={t}&from=2025-05-05T10:10:00.000001Z&to=2025-06-01T00:00:00Z"
    ))
    .await;
    assert_eq!(none["items"], json!([]));
    // The default range is the current month: these 2025 records are not in it.
    let default = get(&format!("/api/v1/usage?tenant={t}")).await;
    assert_eq!(default["items"], json!([]));

    for (path, query, field) in [
        ("/api/v1/usage", "groupBy=team", "groupBy"),
        ("/api/v1/usage", "from=yesterday", "from"),
        ("/api/v1/usage/keys", "keyId=abc", "keyId"),
        ("/api/v1/usage/models", "tenant=-x", "tenant"),
        ("/api/v1/usage/cache", "to=2025-13-01T00:00:00Z", "to"),
        ("/api/v1/costs", "model=%20", "model"),
        ("/api/v1/token-usage", "from=2025-05-01T00:00:00z", "from"),
        ("/api/v1/token-usage", "limit=0", "limit"),
        ("/api/v1/token-usage", "cursor=v1.nope", "cursor"),
    ] {
        let e = call("GET", &format!("{path}?{query}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&e), [field], "{path}?{query}");
    }
}

#[tokio::test]
async fn raw_records_page_newest_first_with_filters() {
    env();
    let t = tenant().await;
    let (m, _) = model("1", "1", None).await;
    let (other_m, _) = model("1", "1", None).await;
    let key = "0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f";
    let mut batch: Vec<Value> = (0..5)
        .map(|i| {
            rec(
                &format!("p-{i}"),
                &t,
                &m,
                i,
                0,
                &format!("2025-02-0{}T08:00:00Z", i + 1),
            )
        })
        .collect();
    // Two records at the same instant: the id breaks the tie.
    batch.push(rec("p-5", &t, &other_m, 5, 0, "2025-02-05T08:00:00Z"));
    batch[0]["keyId"] = json!(key);
    ingest(batch).await.expect(200);

    let mut seen = Vec::new();
    let mut path = format!("/api/v1/token-usage?tenant={t}&limit=2");
    loop {
        let page = call("GET", &path).send().await.expect(200);
        for r in page["data"].as_array().unwrap() {
            seen.push(r["requestId"].as_str().unwrap().to_owned());
        }
        match page["pagination"]["nextCursor"].as_str() {
            Some(c) => {
                assert_eq!(page["pagination"]["hasMore"], true);
                path = format!("/api/v1/token-usage?tenant={t}&limit=2&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(seen, ["p-5", "p-4", "p-3", "p-2", "p-1", "p-0"]);

    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["requestId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&get(&format!("/api/v1/token-usage?keyId={key}&tenant={t}")).await),
        ["p-0"]
    );
    assert_eq!(
        ids(&get(&format!("/api/v1/token-usage?model={other_m}")).await),
        ["p-5"]
    );
    assert_eq!(
        ids(&get(&format!(
            "/api/v1/token-usage?tenant={t}&from=2025-02-02T08:00:00Z&to=2025-02-04T08:00:00Z"
        ))
        .await),
        ["p-2", "p-1"]
    );
    // A cursor of another list is refused.
    let models_cursor = call("GET", "/api/v1/models?limit=1")
        .send()
        .await
        .expect(200)["pagination"]["nextCursor"]
        .as_str()
        .map(str::to_owned);
    if let Some(c) = models_cursor {
        let e = call("GET", &format!("/api/v1/token-usage?cursor={c}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&e), ["cursor"]);
    }
}

#[tokio::test]
async fn the_response_cache_hit_rate_overall_and_per_model() {
    env();
    let t = tenant().await;
    let (a, _) = model("1", "1", None).await;
    let (b, _) = model("1", "1", None).await;
    let at = "2025-07-01T09:00:00Z";
    let hit = |mut r: Value, h: bool| {
        r["cacheHit"] = json!(h);
        r
    };
    ingest(vec![
        hit(rec("h-1", &t, &a, 1, 1, at), true),
        hit(rec("h-2", &t, &a, 1, 1, at), false),
        rec("h-3", &t, &a, 1, 1, at),
        hit(rec("h-4", &t, &a, 1, 1, "2025-07-01T09:30:00Z"), false),
        hit(rec("h-5", &t, &b, 1, 1, at), true),
        hit(rec("h-6", &t, &b, 1, 1, "2025-07-01T10:15:00Z"), true),
    ])
    .await
    .expect(200);
    let cache = get(&format!(
        "/api/v1/usage/cache?tenant={t}&from=2025-07-01T00:00:00Z&to=2025-07-02T00:00:00Z"
    ))
    .await;
    assert_eq!(
        cache["overall"],
        json!({ "requests": 6, "cacheHits": 3, "hitRate": 0.5 })
    );
    let mut expected = vec![
        json!({ "model": a, "requests": 4, "cacheHits": 1, "hitRate": 0.25 }),
        json!({ "model": b, "requests": 2, "cacheHits": 2, "hitRate": 1.0 }),
    ];
    expected.sort_by_key(|v| v["model"].as_str().unwrap().to_owned());
    assert_eq!(cache["models"], json!(expected));
    // Only the model, and only the part of the range after 09:15.
    let later = get(&format!(
        "/api/v1/usage/cache?tenant={t}&model={a}&from=2025-07-01T09:15:00Z&to=2025-07-02T00:00:00Z"
    ))
    .await;
    assert_eq!(
        later["overall"],
        json!({ "requests": 1, "cacheHits": 0, "hitRate": 0.0 })
    );
    let nothing = get(&format!(
        "/api/v1/usage/cache?tenant={t}&from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z"
    ))
    .await;
    assert_eq!(
        nothing,
        json!({
            "from": "2024-01-01T00:00:00.000000Z", "to": "2024-01-02T00:00:00.000000Z",
            "overall": { "requests": 0, "cacheHits": 0, "hitRate": 0.0 }, "models": [],
        })
    );
}

#[tokio::test]
async fn the_quota_state_reflects_the_last_minute() {
    env();
    let t = tenant().await;
    let (m, _) = model("1", "1", None).await;
    call("PUT", &format!("/api/v1/tenants/{t}/quota"))
        .json(&json!({ "tokensPerMinute": 1000 }))
        .send()
        .await
        .expect(200);
    // An old record does not count toward the window.
    let first = ingest(vec![
        rec("q-0", &t, &m, 5000, 0, &ago(600)),
        rec("q-1", &t, &m, 400, 200, &ago(5)),
    ])
    .await
    .expect(200);
    let q = &tenant_state(&first, &t)["quota"];
    assert_eq!(
        *q,
        json!({ "tokensPerMinute": 1000, "usedLastMinute": 600, "state": "ok" })
    );
    let second = ingest(vec![rec("q-2", &t, &m, 300, 100, &ago(2))])
        .await
        .expect(200);
    let q = &tenant_state(&second, &t)["quota"];
    assert_eq!(
        *q,
        json!({ "tokensPerMinute": 1000, "usedLastMinute": 1000, "state": "exceeded" })
    );
}

async fn spend(tenant: &str) -> Value {
    get(&format!("/api/v1/ai-budget/{tenant}/spend")).await
}

#[tokio::test]
async fn spend_goes_ok_warning_exceeded_against_tenant_account_and_global_ceilings() {
    env();
    let _serial = exclusive().await;
    // A tenant with $1.00 a month and a model at $1 per million input tokens.
    let t = tenant_with(Some(1.0), None).await;
    let (m, _) = model("1", "0", None).await;
    let month = Utc::now().format("%Y-%m").to_string();

    let fresh = spend(&t).await;
    assert_eq!(
        fresh,
        json!({
            "tenant": t, "month": month, "spend": "0", "ceiling": "1.00",
            "ceilingSource": "tenant", "remaining": "1", "percentUsed": "0.00", "state": "ok",
            "ceilings": [{ "source": "tenant", "ceiling": "1.00", "spend": "0", "remaining": "1",
                "percentUsed": "0.00", "state": "ok" }],
        })
    );

    let step = |id: &'static str, tokens: i64| {
        let t = t.clone();
        let m = m.clone();
        async move {
            ingest(vec![rec(id, &t, &m, tokens, 0, &ago(1))])
                .await
                .expect(200)
        }
    };
    let ok = step("$-1", 500_000).await;
    assert_eq!(
        tenant_state(&ok, &t)["budget"],
        json!({ "state": "ok", "spend": "0.5", "ceiling": "1.00", "ceilingSource": "tenant",
                "remaining": "0.5" })
    );
    let warning = step("$-2", 300_000).await;
    assert_eq!(tenant_state(&warning, &t)["budget"]["state"], "warning");
    assert!(tenant_state(&warning, &t)["budget"].get("code").is_none());
    let s = spend(&t).await;
    assert_eq!(
        (&s["state"], &s["percentUsed"]),
        (&json!("warning"), &json!("80.00"))
    );
    let exceeded = step("$-3", 200_000).await;
    let b = &tenant_state(&exceeded, &t)["budget"];
    assert_eq!(b["state"], "exceeded");
    assert_eq!(b["code"], "BUDGET_EXCEEDED");
    assert_eq!(b["remaining"], "0");
    let s = spend(&t).await;
    assert_eq!(
        (&s["state"], &s["percentUsed"], &s["spend"]),
        (&json!("exceeded"), &json!("100.00"), &json!("1"))
    );

    // An account ceiling covers every tenant the account owns; a tenant
    // that only carries the account's email is not the account's (it
    // neither escapes nor charges the ceiling).
    let user = sign_up("usage-account").await;
    let (a1, a2) = (
        tenant_owned(None, None, Some(&user.id)).await,
        tenant_owned(None, None, Some(&user.id)).await,
    );
    let lookalike = tenant_with(None, Some(&user.email)).await;
    assert_eq!(spend(&a1).await["ceilingSource"], Value::Null);
    assert_eq!(spend(&a1).await["state"], "ok");
    call("PUT", &format!("/api/v1/ai-budget/accounts/{}", user.id))
        .json(&json!({ "monthlyCeiling": "0.10" }))
        .send()
        .await
        .expect(201);
    ingest(vec![rec("$-a1", &a1, &m, 60_000, 0, &ago(1))])
        .await
        .expect(200);
    let s = spend(&a1).await;
    assert_eq!(
        (
            &s["ceilingSource"],
            &s["state"],
            &s["percentUsed"],
            &s["remaining"]
        ),
        (
            &json!("account"),
            &json!("ok"),
            &json!("60.00"),
            &json!("0.04")
        )
    );
    let answer = ingest(vec![rec("$-a2", &a2, &m, 40_000, 0, &ago(1))])
        .await
        .expect(200);
    assert_eq!(tenant_state(&answer, &a2)["budget"]["state"], "exceeded");
    let s = spend(&a1).await;
    assert_eq!(s["spend"], "0.06", "the tenant's own spend");
    assert_eq!(s["ceilings"][0]["spend"], "0.1", "the account's spend");
    assert_eq!(s["state"], "exceeded");
    ingest(vec![rec("$-look", &lookalike, &m, 40_000, 0, &ago(1))])
        .await
        .expect(200);
    assert_eq!(spend(&lookalike).await["ceilingSource"], Value::Null);
    assert_eq!(
        spend(&a1).await["ceilings"][0]["spend"],
        "0.1",
        "a tenant with the account's email is not charged to it"
    );

    // The global ceiling against the whole platform's spend.
    let global = |ceiling: Value| async move {
        call("PUT", "/api/v1/ai-budget/global")
            .json(&json!({ "monthlyCeiling": ceiling }))
            .send()
            .await
            .expect(200);
    };
    let roomy = tenant().await;
    assert_eq!(spend(&roomy).await["state"], "ok");
    global(json!("1000000")).await;
    let s = spend(&roomy).await;
    assert_eq!(
        (&s["ceilingSource"], &s["state"]),
        (&json!("global"), &json!("ok"))
    );
    global(json!("0.000001")).await;
    let s = spend(&roomy).await;
    assert_eq!(
        (&s["ceilingSource"], &s["state"]),
        (&json!("global"), &json!("exceeded"))
    );
    let answer = ingest(vec![rec("$-g", &roomy, &m, 1, 0, &ago(1))])
        .await
        .expect(200);
    assert_eq!(
        tenant_state(&answer, &roomy)["budget"]["code"],
        "BUDGET_EXCEEDED"
    );
    global(Value::Null).await;
    assert_eq!(spend(&roomy).await["state"], "ok");

    // Unknown and malformed tenants.
    call(
        "GET",
        &format!("/api/v1/ai-budget/{}/spend", unique("nobody")),
    )
    .send()
    .await
    .expect_error(404, "TENANT_NOT_FOUND");
    let e = call("GET", "/api/v1/ai-budget/Not_A_Tenant/spend")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&e), ["tenantName"]);
}

#[tokio::test]
async fn tenants_named_like_the_budget_routes_have_their_spend() {
    env();
    // `global` and `accounts` are ordinary tenant names; their spend paths
    // sit next to the literal /ai-budget/global and /ai-budget/accounts/{userId}.
    call("GET", "/api/v1/ai-budget/accounts/spend")
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
    for name in ["global", "accounts"] {
        call("POST", "/api/v1/tenants")
            .json(&json!({ "name": name, "email": format!("{name}@example.com") }))
            .send()
            .await
            .expect(201);
        let s = spend(name).await;
        assert_eq!(s["tenant"], name);
        assert_eq!(s["spend"], "0");
    }
    // The literal routes still answer as before.
    assert!(get("/api/v1/ai-budget/global")
        .await
        .get("monthlyCeiling")
        .is_some());
    call("GET", "/api/v1/ai-budget/accounts")
        .send()
        .await
        .expect(200);
    call("PUT", "/api/v1/ai-budget/accounts/spend")
        .json(&json!({ "monthlyCeiling": "1" }))
        .send()
        .await
        .expect_error(405, "METHOD_NOT_ALLOWED");
}
