//! The tenants routes end to end: real components in the host, real
//! PostgreSQL, the Kubernetes stand-in.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, count, create_tenant, db, kube, tenant_body, tenant_crd_path, unique};
use serde_json::json;

#[tokio::test]
async fn create_get_update_delete_round_trip() {
    let name = unique("acme");
    let body = json!({
        "name": name, "email": "owner@acme.io", "displayName": "Acme Corp", "team": "platform",
        "monthlyBudgetUsd": 1234.56, "resources": {"cpu": "500m", "memory": "1Gi"},
        "skillAllowlist": ["search", "code-review"]
    });
    let resp = call("POST", "/api/v1/tenants").json(&body).send().await;
    let created = resp.expect(201);
    let t = &created["data"];
    assert_eq!(t["name"], name.as_str());
    assert_eq!(t["monthlyBudgetUsd"], json!(1234.56));
    assert_eq!(t["resources"], json!({"cpu": "500m", "memory": "1Gi"}));
    // Status arrives from the operator after the write; the projection shows Pending.
    assert_eq!(t["phase"], "Pending");
    assert_eq!(t["suspended"], false);
    assert!(created["meta"]["requestId"].is_string());
    let etag = resp.header("etag").unwrap().to_owned();

    // The CRD is the source of truth and carries the spec.
    let crd = kube("GET", &tenant_crd_path(&name), None).await.expect(200);
    assert_eq!(crd["spec"]["email"], "owner@acme.io");
    assert_eq!(
        crd["spec"]["skillAllowlist"],
        json!(["search", "code-review"])
    );

    assert_eq!(t["state"], "provisioning");
    assert_eq!(t["organizationId"], json!(null));
    let got = call("GET", &format!("/api/v1/tenants/{name}")).send().await;
    // Read on its own, a provisioning tenant is re-checked against its CRD:
    // the operator has reported it running since, so it is active now.
    let mut read = got.expect(200)["data"].clone();
    assert_eq!(read["state"], "active");
    assert_eq!(read["phase"], "Running");
    assert_eq!(read["ingressHost"], format!("{name}.tenants.localhost"));
    for status_field in ["state", "phase", "ingressHost", "updatedAt"] {
        read[status_field] = t[status_field].clone();
    }
    assert_eq!(read, *t);
    // The spec did not change: the ETag guards it still.
    assert_eq!(got.header("etag"), Some(etag.as_str()));

    // PUT replaces the spec; the exact budget survives the CRD's float.
    let put = call("PUT", &format!("/api/v1/tenants/{name}"))
        .header("if-match", &etag)
        .json(&json!({"email": "new@acme.io", "monthlyBudgetUsd": 0.1}))
        .send()
        .await;
    let updated = put.expect(200);
    assert_eq!(updated["data"]["email"], "new@acme.io");
    assert_eq!(updated["data"]["monthlyBudgetUsd"], json!(0.1));
    assert_eq!(updated["data"]["displayName"], json!(null));
    assert_ne!(put.header("etag"), Some(etag.as_str()));

    // A write with the old ETag is stale.
    call("PUT", &format!("/api/v1/tenants/{name}"))
        .header("if-match", &etag)
        .json(&json!({"email": "x@acme.io"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    let del = call("DELETE", &format!("/api/v1/tenants/{name}"))
        .send()
        .await;
    assert_eq!(del.status, 204);
    assert!(del.body.is_empty());
    call("GET", &format!("/api/v1/tenants/{name}"))
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
    kube("GET", &tenant_crd_path(&name), None).await.expect(404);
}

#[tokio::test]
async fn every_mutation_is_audited_with_the_request_id() {
    let name = unique("audited");
    let request_id = format!("req-{name}");
    call("POST", "/api/v1/tenants")
        .header("x-request-id", &request_id)
        .json(&tenant_body(&name))
        .send()
        .await
        .expect(201);
    let db = db().await;
    let rows = db
        .query(
            "SELECT actor, action, resource_kind, outcome, tenant FROM audit_log WHERE request_id = $1",
            &[&request_id],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>("actor"), "operator");
    assert_eq!(rows[0].get::<_, String>("action"), "createTenant");
    assert_eq!(rows[0].get::<_, String>("outcome"), "success");
    assert_eq!(
        rows[0].get::<_, Option<String>>("tenant").as_deref(),
        Some(name.as_str())
    );

    // A refused mutation is audited as a failure.
    let again = format!("req2-{name}");
    call("POST", &format!("/api/v1/tenants/{name}/resume"))
        .header("x-request-id", &again)
        .send()
        .await
        .expect_error(409, "CONFLICT");
    let outcome: String = db
        .query_one(
            "SELECT outcome FROM audit_log WHERE request_id = $1",
            &[&again],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(outcome, "failure");
}

#[tokio::test]
async fn validation_errors_name_every_field() {
    let v = call("POST", "/api/v1/tenants")
        .json(
            &json!({"name": "Not_A_Name", "email": "nope", "monthlyBudgetUsd": 1.234,
                      "resources": {"cpu": "lots"}, "phase": "Running"}),
        )
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    let fields: Vec<&str> = v["fieldErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "phase",
            "name",
            "email",
            "monthlyBudgetUsd",
            "resources.cpu"
        ]
    );

    let v = call("POST", "/api/v1/tenants")
        .json(&json!({"name": "ok-name", "email": "a@b.co", "dispalyName": "typo"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(v["fieldErrors"][0]["field"], "dispalyName");

    let v = call("POST", "/api/v1/tenants")
        .raw("{\"name\": ", "application/json")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(v["fieldErrors"][0]["field"], "body");

    call("POST", "/api/v1/tenants")
        .raw("name=x", "application/x-www-form-urlencoded")
        .send()
        .await
        .expect_error(415, "UNSUPPORTED_MEDIA_TYPE");

    call("POST", "/api/v1/tenants")
        .raw(vec![b' '; 1024 * 1024 + 1], "application/json")
        .send()
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");

    let v = call("GET", "/api/v1/tenants/Bad_Name")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(v["fieldErrors"][0]["field"], "name");
}

#[tokio::test]
async fn authentication_is_required_and_checked() {
    for c in [
        call("GET", "/api/v1/tenants").anonymous(),
        call("GET", "/api/v1/tenants").header("authorization", "Bearer wrong-token"),
        call("GET", "/api/v1/tenants").header("authorization", "Basic b3A6cHc="),
        call("POST", "/api/v1/tenants")
            .anonymous()
            .json(&tenant_body("anon")),
    ] {
        c.send().await.expect_error(401, "UNAUTHORIZED");
    }
    // Public routes need no token.
    call("GET", "/healthz").anonymous().send().await.expect(200);
}

#[tokio::test]
async fn routing_errors_use_the_envelope() {
    call("GET", "/api/v1/no-such-thing")
        .send()
        .await
        .expect_error(404, "NOT_FOUND");
    let resp = call("PATCH", "/api/v1/tenants").send().await;
    resp.expect_error(405, "METHOD_NOT_ALLOWED");
    assert_eq!(resp.header("allow"), Some("GET, POST"));
    call("GET", "/api/v1/tenants/does-not-exist-1")
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
}

#[tokio::test]
async fn duplicate_names_conflict() {
    let name = unique("dup");
    create_tenant(&name).await;
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect_error(409, "CONFLICT");
}

#[tokio::test]
async fn twenty_concurrent_creates_of_one_name_make_exactly_one_tenant() {
    let name = unique("race");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let body = tenant_body(&name);
        tasks.push(tokio::spawn(async move {
            call("POST", "/api/v1/tenants")
                .json(&body)
                .send()
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    let n: i64 = count("SELECT count(*) FROM tenants WHERE name = $1", &name).await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn suspend_and_resume_scale_the_deployment() {
    let name = unique("sus");
    create_tenant(&name).await;
    let scale_path = format!(
        "/apis/apps/v1/namespaces/{}/deployments/{name}/scale",
        cp_tests::NAMESPACE
    );
    assert_eq!(
        kube("GET", &scale_path, None).await.expect(200)["spec"]["replicas"],
        1
    );

    let s = call("POST", &format!("/api/v1/tenants/{name}/suspend"))
        .send()
        .await
        .expect(200);
    assert_eq!(s["data"]["suspended"], true);
    assert_eq!(s["data"]["phase"], "Suspended");
    assert_eq!(
        kube("GET", &scale_path, None).await.expect(200)["spec"]["replicas"],
        0
    );
    assert_eq!(
        kube("GET", &tenant_crd_path(&name), None).await.expect(200)["spec"]["suspended"],
        true
    );

    let v = call("POST", &format!("/api/v1/tenants/{name}/suspend"))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    assert!(v["error"].as_str().unwrap().contains("already suspended"));

    let r = call("POST", &format!("/api/v1/tenants/{name}/resume"))
        .send()
        .await
        .expect(200);
    assert_eq!(r["data"]["suspended"], false);
    assert_eq!(
        kube("GET", &scale_path, None).await.expect(200)["spec"]["replicas"],
        1
    );
    call("POST", &format!("/api/v1/tenants/{name}/resume"))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    call("POST", "/api/v1/tenants/nobody-here/suspend")
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
}

#[tokio::test]
async fn keyset_pagination_walks_every_tenant_once() {
    let prefix = unique("page");
    let mine: Vec<String> = (0..5).map(|i| format!("{prefix}-{i}")).collect();
    for n in &mine {
        create_tenant(n).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/tenants?limit=2&cursor={c}"),
            None => "/api/v1/tenants?limit=2".to_owned(),
        };
        let page = call("GET", &path).send().await.expect(200);
        let items = page["data"].as_array().unwrap();
        assert!(items.len() <= 2);
        assert_eq!(page["pagination"]["limit"], 2);
        for t in items {
            seen.push(t["name"].as_str().unwrap().to_owned());
        }
        if page["pagination"]["hasMore"] == true {
            cursor = Some(
                page["pagination"]["nextCursor"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        } else {
            assert!(page["pagination"].get("nextCursor").is_none());
            break;
        }
    }
    let mine_seen: Vec<&String> = seen.iter().filter(|n| n.starts_with(&prefix)).collect();
    assert_eq!(
        mine_seen,
        mine.iter().collect::<Vec<_>>(),
        "each once, in creation order"
    );
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len(), "no tenant appears twice");

    for bad in ["cursor=garbage", "limit=0", "limit=1001", "limit=x"] {
        call("GET", &format!("/api/v1/tenants?{bad}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_reuse() {
    let name = unique("idem");
    let key = format!("key-{name}");
    let first = call("POST", "/api/v1/tenants")
        .header("idempotency-key", &key)
        .json(&tenant_body(&name))
        .send()
        .await;
    let body = first.expect(201);
    assert_eq!(first.header("idempotency-replayed"), None);

    let replay = call("POST", "/api/v1/tenants")
        .header("idempotency-key", &key)
        .json(&tenant_body(&name))
        .send()
        .await;
    assert_eq!(replay.expect(201), body, "the stored response is replayed");
    assert_eq!(replay.header("idempotency-replayed"), Some("true"));
    assert_eq!(replay.header("etag"), first.header("etag"));

    let mut other = tenant_body(&name);
    other["team"] = json!("different");
    call("POST", "/api/v1/tenants")
        .header("idempotency-key", &key)
        .json(&other)
        .send()
        .await
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED");

    call("POST", "/api/v1/tenants")
        .header("idempotency-key", "bad key with spaces")
        .json(&tenant_body(&unique("idem2")))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn datasets_are_memberships_checked_against_the_policy() {
    let policy = unique("pol");
    call("POST", "/api/v1/policies")
        .json(&json!({
            "name": policy,
            "datasets": {"allow": ["sales-*", "hr"], "deny": ["hr"]},
            "skills": ["search"], "mcpServers": ["github"]
        }))
        .send()
        .await
        .expect(201);
    let name = unique("ds");
    let mut body = tenant_body(&name);
    body["policyRef"] = json!(policy);
    body["skillAllowlist"] = json!(["search", "code"]);
    call("POST", "/api/v1/tenants")
        .json(&body)
        .send()
        .await
        .expect(201);

    let path = format!("/api/v1/tenants/{name}/datasets");
    let empty = call("GET", &path).send().await.expect(200);
    assert_eq!(empty["data"]["datasets"], json!([]));

    let v = call("PUT", &path)
        .json(&json!({"datasets": [{"name": "sales-2024"}, {"name": "hr", "access": "write"}]}))
        .send()
        .await
        .expect_error(403, "DATASET_DENIED");
    assert!(v["error"].as_str().unwrap().contains("hr"));
    assert_eq!(
        call("GET", &path).send().await.expect(200)["data"]["datasets"],
        json!([]),
        "a denied replacement changes nothing"
    );

    let ok = call("PUT", &path)
        .json(
            &json!({"datasets": [{"name": "sales-2024", "access": "write"}, {"name": "sales-eu"}]}),
        )
        .send()
        .await
        .expect(200);
    let names: Vec<&str> = ok["data"]["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sales-2024", "sales-eu"]);
    assert_eq!(ok["data"]["datasets"][1]["access"], "read");

    let v = call("PUT", &path)
        .json(
            &json!({"datasets": [{"name": "a"}, {"name": "a"}, {"name": "x", "access": "admin"}]}),
        )
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    let fields: Vec<&str> = v["fieldErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["datasets[1].name", "datasets[2].access"]);

    let c = call("GET", &format!("/api/v1/tenants/{name}/effective-contract"))
        .send()
        .await
        .expect(200);
    let contract = &c["data"];
    assert_eq!(
        contract["policies"],
        json!([{"name": policy, "via": ["policyRef"]}])
    );
    assert_eq!(contract["mcpServers"][0]["name"], "github");
    let search = contract["skills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "search")
        .unwrap();
    assert_eq!(
        search["reasons"],
        json!(["tenant.spec.skillAllowlist", format!("policy:{policy}")])
    );
    assert_eq!(contract["datasets"].as_array().unwrap().len(), 2);

    // Deleting the tenant removes its memberships (cascade).
    assert_eq!(
        call("DELETE", &format!("/api/v1/tenants/{name}"))
            .send()
            .await
            .status,
        204
    );
    let n: i64 = count(
        "SELECT count(*) FROM tenant_datasets WHERE tenant_name = $1",
        &name,
    )
    .await;
    assert_eq!(n, 0);
}
