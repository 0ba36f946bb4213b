//! Meta routes through the host: health, metrics, the OpenAPI document.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, create_tenant, unique, workspace};

#[tokio::test]
async fn health_endpoints_are_public() {
    let live = call("GET", "/healthz").anonymous().send().await.expect(200);
    assert_eq!(live["data"]["status"], "ok");
    let ready = call("GET", "/api/v1/health")
        .anonymous()
        .send()
        .await
        .expect(200);
    assert_eq!(ready["data"]["database"], "ok");
}

#[tokio::test]
async fn served_openapi_equals_the_committed_file_and_covers_every_route() {
    let resp = call("GET", "/api/v1/openapi.json").anonymous().send().await;
    assert_eq!(resp.status, 200);
    let committed = std::fs::read(workspace().join("openapi.json")).unwrap();
    assert!(
        resp.body == committed,
        "served OpenAPI differs from openapi.json: run `make openapi`"
    );
    let doc = resp.json();
    for path in [
        "/api/v1/tenants",
        "/api/v1/tenants/{name}",
        "/api/v1/tenants/{name}/suspend",
        "/api/v1/tenants/{name}/resume",
        "/api/v1/tenants/{name}/datasets",
        "/api/v1/tenants/{name}/effective-contract",
        "/api/v1/tenants/drift",
        "/api/v1/tenants/repair",
        "/api/v1/organizations",
        "/api/v1/organizations/{orgId}/members/{userId}",
        "/api/v1/organizations/{orgId}/events",
        "/api/v1/invitations/{token}/accept",
        "/healthz",
        "/prom",
        "/api/v1/health",
        "/api/v1/openapi.json",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
    }
}

#[tokio::test]
async fn prometheus_gauges_come_from_the_database() {
    let name = unique("prom");
    create_tenant(&name).await;
    let resp = call("GET", "/prom").anonymous().send().await;
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = String::from_utf8(resp.body).unwrap();
    let pending: i64 = text
        .lines()
        .find(|l| l.starts_with("controlplane_tenants{phase=\"Pending\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no Pending gauge in\n{text}"));
    assert!(pending >= 1);
    assert!(
        text.contains("controlplane_audit_entries_last_hour{outcome=\"success\"}"),
        "{text}"
    );
}
