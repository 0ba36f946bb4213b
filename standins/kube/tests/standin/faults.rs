//! Fault injection (Rust API and `/_standin/` endpoints) and the request log.

use std::time::Duration;

use cp_kube_standin::{Fault, FaultKind, RequestRecord};
use hyper::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn status_faults_answer_a_kubernetes_status_without_applying() {
    let (server, api) = start(false).await;
    server.inject(Fault::status("POST", "/tenants", 503).times(1));
    let failed = api.post(&tenants(NS), &tenant("a")).await;
    assert_eq!(failed.status, 503);
    assert_eq!(failed.body["kind"], "Status");
    assert_eq!(failed.body["reason"], "ServiceUnavailable");
    assert_eq!(failed.body["code"], 503);
    assert_eq!(failed.headers["retry-after"], "1");
    assert_eq!(api.get(&tenant_path("a")).await.status, 404, "not applied");
    // The rule is used up.
    assert_eq!(api.post(&tenants(NS), &tenant("a")).await.status, 201);

    server.inject(Fault::status("*", "/tenants/a", 500));
    let failed = api.get(&tenant_path("a")).await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.body["reason"], "InternalError");
    assert_eq!(
        api.get(&tenants(NS)).await.status,
        200,
        "path does not match"
    );
    assert_eq!(
        api.get(&tenant_path("a")).await.status,
        500,
        "unlimited until cleared"
    );
    assert_eq!(server.faults()[1].hits, 2);
    server.clear_faults();
    assert_eq!(api.get(&tenant_path("a")).await.status, 200);
}

#[tokio::test]
async fn after_apply_faults_apply_then_fail() {
    let (server, api) = start(false).await;
    server.inject(Fault::after_apply("POST", "/tenants", 500).times(1));
    let failed = api.post(&tenants(NS), &tenant("ghostly")).await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.body["reason"], "InternalError");
    let applied = api.get(&tenant_path("ghostly")).await;
    assert_eq!(applied.status, 200, "the write went through");
    // A retry of the create now sees AlreadyExists, as on a real cluster.
    assert_eq!(api.post(&tenants(NS), &tenant("ghostly")).await.status, 409);
}

#[tokio::test]
async fn delay_faults_outlast_client_timeouts_but_still_apply() {
    let (server, api) = start(false).await;
    server.inject(Fault::delay("POST", "/tenants", Duration::from_millis(400)).times(1));
    let attempt = tokio::time::timeout(
        Duration::from_millis(100),
        api.post(&tenants(NS), &tenant("slow")),
    )
    .await;
    assert!(attempt.is_err(), "the client timed out");
    let mut found = false;
    for _ in 0..50 {
        if api.get(&tenant_path("slow")).await.status == 200 {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "the delayed request was processed anyway");

    // A patient client gets the normal answer.
    server.inject(Fault::delay("GET", "/tenants/slow", Duration::from_millis(150)).times(1));
    let started = std::time::Instant::now();
    let got = api.get(&tenant_path("slow")).await;
    assert_eq!(got.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn drop_faults_close_the_connection() {
    let (server, api) = start(false).await;
    server.inject(Fault::drop_connection("POST", "/tenants").times(1));
    let result = api
        .try_send(
            Method::POST,
            &tenants(NS),
            Some(JSON),
            Some(tenant("d").to_string().into_bytes()),
        )
        .await;
    assert!(result.is_err(), "no answer: {result:?}");
    assert_eq!(api.get(&tenant_path("d")).await.status, 404);
    let log = server.requests();
    let dropped = log.iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(dropped.status, None);
    assert_eq!(dropped.fault.as_deref(), Some("drop"));
}

#[tokio::test]
async fn http_admin_endpoints_manage_faults_and_the_request_log() {
    let (server, api) = start(false).await;
    // Admin endpoints need no token.
    let admin = Api::new(server.url(), None);
    let added = admin
        .post("/_standin/faults", &json!({"method": "POST", "pathContains": "/tenants", "times": 1, "kind": "status", "status": 503}))
        .await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.body["id"], 1);
    assert_eq!(added.body["hits"], 0);
    let listed = admin.get("/_standin/faults").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(
        server.faults()[0].fault.kind,
        FaultKind::Status { status: 503 }
    );
    assert_eq!(api.post(&tenants(NS), &tenant("x")).await.status, 503);
    assert_eq!(admin.get("/_standin/faults").await.body[0]["hits"], 1);

    let other = admin
        .post(
            "/_standin/faults",
            &json!({"kind": "afterApply", "status": 502}),
        )
        .await;
    assert_eq!(other.status, 201);
    let id = other.body["id"].as_u64().unwrap();
    assert_eq!(
        admin.delete(&format!("/_standin/faults/{id}")).await.status,
        204
    );
    assert_eq!(
        admin.delete(&format!("/_standin/faults/{id}")).await.status,
        404
    );
    admin
        .post("/_standin/faults", &json!({"kind": "delay", "delayMs": 10}))
        .await;
    assert_eq!(admin.delete("/_standin/faults").await.status, 204);
    assert_eq!(admin.get("/_standin/faults").await.body, json!([]));

    let bad = admin
        .post("/_standin/faults", &json!({"kind": "explode"}))
        .await;
    assert_eq!(bad.status, 400);
    let bad = admin
        .post(
            "/_standin/faults",
            &json!({"kind": "status", "status": 200}),
        )
        .await;
    assert_eq!(bad.status, 400);

    // The request log holds the API requests only.
    assert_eq!(api.post(&tenants(NS), &tenant("x")).await.status, 201);
    api.get(&format!("{}?limit=1", tenants(NS))).await;
    let log = admin.get("/_standin/requests").await.body;
    assert_eq!(
        log,
        json!([
            {"method": "POST", "path": tenants(NS), "status": 503, "fault": "status"},
            {"method": "POST", "path": tenants(NS), "status": 201},
            {"method": "GET", "path": tenants(NS), "query": "limit=1", "status": 200}
        ])
    );
    assert_eq!(
        server.requests()[1],
        RequestRecord {
            method: "POST".into(),
            path: tenants(NS),
            query: None,
            status: Some(201),
            fault: None
        }
    );
    assert_eq!(admin.delete("/_standin/requests").await.status, 204);
    assert!(server.requests().is_empty());
    server.clear_requests();
    assert_eq!(admin.get("/_standin/nope").await.status, 404);
}
