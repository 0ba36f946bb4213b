//! Dual-write failures: Kubernetes errors and timeouts, a database failure
//! after the CRD write, out-of-band changes — never a silent divergence.
//! These tests share the fleet, so they run one at a time.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cp_kube_standin::Fault;
use cp_tests::{
    call, count, create_tenant, db, env, exclusive, kube, tenant_body, tenant_crd_path, unique,
};
use serde_json::{json, Value};

async fn drift() -> Value {
    call("GET", "/api/v1/tenants/drift")
        .send()
        .await
        .expect(200)["data"]
        .clone()
}

/// Brings CRDs and rows back in sync, so each test starts clean.
async fn reset() {
    env().kube.clear_faults();
    call("POST", "/api/v1/tenants/repair?dryRun=false")
        .send()
        .await
        .expect(200);
    assert_eq!(drift().await["items"], json!([]));
}

async fn row_count(name: &str) -> i64 {
    count("SELECT count(*) FROM tenants WHERE name = $1", name).await
}

#[tokio::test]
async fn kubernetes_error_is_502_and_writes_nothing() {
    let _serial = exclusive().await;
    reset().await;
    let name = unique("kdown");
    env()
        .kube
        .inject(Fault::status("POST", "/tenants", 503).times(1));
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect_error(502, "UPSTREAM_ERROR");
    assert_eq!(row_count(&name).await, 0);
    kube("GET", &tenant_crd_path(&name), None).await.expect(404);
    assert_eq!(drift().await["items"], json!([]));

    // Connection dropped mid-request: same outcome.
    env()
        .kube
        .inject(Fault::drop_connection("POST", "/tenants").times(1));
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect_error(502, "UPSTREAM_ERROR");
    assert_eq!(row_count(&name).await, 0);
}

#[tokio::test]
async fn write_applied_but_answer_lost_shows_as_drift_and_repair_imports_it() {
    let _serial = exclusive().await;
    reset().await;
    let name = unique("lost");
    env()
        .kube
        .inject(Fault::after_apply("POST", "/tenants", 500).times(1));
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect_error(502, "UPSTREAM_ERROR");
    assert_eq!(row_count(&name).await, 0);
    kube("GET", &tenant_crd_path(&name), None).await.expect(200);

    let report = drift().await;
    assert_eq!(report["missingRows"], 1);
    assert_eq!(
        report["items"],
        json!([{"name": name, "kind": "missingRow"}])
    );

    // Dry run (the default) changes nothing.
    let dry = call("POST", "/api/v1/tenants/repair")
        .send()
        .await
        .expect(200);
    assert_eq!(dry["data"]["dryRun"], true);
    assert_eq!(
        dry["data"]["actions"],
        json!([{"name": name, "action": "insertRow", "applied": false}])
    );
    assert_eq!(row_count(&name).await, 0);

    let done = call("POST", "/api/v1/tenants/repair?dryRun=false")
        .send()
        .await
        .expect(200);
    assert_eq!(done["data"]["actions"][0]["applied"], true);
    assert_eq!(drift().await["items"], json!([]));
    let t = call("GET", &format!("/api/v1/tenants/{name}"))
        .send()
        .await
        .expect(200);
    assert_eq!(t["data"]["email"], format!("{name}@example.com"));

    // /prom reads the last drift check from PostgreSQL.
    let prom = call("GET", "/prom").anonymous().send().await;
    let text = String::from_utf8(prom.body.clone()).unwrap();
    assert_eq!(prom.status, 200);
    assert!(
        text.contains("controlplane_projection_drift_rows{kind=\"tenants\",type=\"missing\"} 0"),
        "{text}"
    );
}

#[tokio::test]
async fn kubernetes_timeout_is_502_and_any_late_write_is_visible_as_drift() {
    let _serial = exclusive().await;
    reset().await;
    let name = unique("slow");
    // The component gives up after 1.5 s; the stand-in applies the create after 3 s.
    env()
        .kube
        .inject(Fault::delay("POST", "/tenants", Duration::from_millis(3000)).times(1));
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect_error(502, "UPSTREAM_ERROR");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let report = drift().await;
    assert_eq!(
        report["items"],
        json!([{"name": name, "kind": "missingRow"}])
    );
    reset().await;
    assert_eq!(row_count(&name).await, 1);
}

#[tokio::test]
async fn database_failure_after_the_crd_write_is_compensated() {
    let _serial = exclusive().await;
    reset().await;
    let db = db().await;
    db.batch_execute(
        "CREATE OR REPLACE FUNCTION fail_dbfail() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'disk full (injected)' USING ERRCODE = '53100'; END $$;
         CREATE TRIGGER fail_dbfail BEFORE INSERT ON tenants FOR EACH ROW
           WHEN (NEW.name LIKE 'dbfail-%') EXECUTE FUNCTION fail_dbfail();",
    )
    .await
    .unwrap();
    let name = unique("dbfail");
    let resp = call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await;
    db.batch_execute("DROP TRIGGER fail_dbfail ON tenants")
        .await
        .unwrap();
    let v = resp.expect_error(500, "INTERNAL_ERROR");
    assert_eq!(v["error"], "internal error", "no internals leak");
    assert!(!String::from_utf8_lossy(&resp.body).contains("disk full"));
    kube("GET", &tenant_crd_path(&name), None).await.expect(404);
    assert_eq!(row_count(&name).await, 0);
    assert_eq!(drift().await["items"], json!([]));
    let log = std::fs::read_to_string(&env().host_log).unwrap();
    assert!(
        log.contains("disk full (injected)"),
        "the cause is logged for operators"
    );
}

#[tokio::test]
async fn out_of_band_changes_are_stale_or_orphaned_until_repaired() {
    let _serial = exclusive().await;
    reset().await;
    let changed = unique("oob");
    let removed = unique("gone");
    for n in [&changed, &removed] {
        create_tenant(n).await;
    }
    let mut crd = kube("GET", &tenant_crd_path(&changed), None)
        .await
        .expect(200);
    crd["spec"]["email"] = json!("someone@else.io");
    kube("PUT", &tenant_crd_path(&changed), Some(&crd))
        .await
        .expect(200);
    kube("DELETE", &tenant_crd_path(&removed), None)
        .await
        .expect(200);

    let report = drift().await;
    assert_eq!(report["staleRows"], 1);
    assert_eq!(report["orphanRows"], 1);
    let items = report["items"].as_array().unwrap();
    let stale = items
        .iter()
        .find(|i| i["name"] == changed.as_str())
        .unwrap();
    assert_eq!(stale["kind"], "staleRow");
    assert_eq!(stale["fields"], json!(["email"]));

    // A write to a tenant whose CRD vanished says so instead of guessing.
    call("POST", &format!("/api/v1/tenants/{removed}/suspend"))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    reset().await;
    let t = call("GET", &format!("/api/v1/tenants/{changed}"))
        .send()
        .await
        .expect(200);
    assert_eq!(t["data"]["email"], "someone@else.io");
    call("GET", &format!("/api/v1/tenants/{removed}"))
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
}

#[tokio::test]
async fn failed_scale_reverts_the_suspend() {
    let _serial = exclusive().await;
    reset().await;
    let name = unique("noscale");
    create_tenant(&name).await;
    env()
        .kube
        .inject(Fault::status("PATCH", "/scale", 500).times(1));
    call("POST", &format!("/api/v1/tenants/{name}/suspend"))
        .send()
        .await
        .expect_error(502, "UPSTREAM_ERROR");
    let crd = kube("GET", &tenant_crd_path(&name), None).await.expect(200);
    assert_eq!(
        crd["spec"]["suspended"], false,
        "the CRD change was reverted"
    );
    let t = call("GET", &format!("/api/v1/tenants/{name}"))
        .send()
        .await
        .expect(200);
    assert_eq!(t["data"]["suspended"], false);
    assert_eq!(drift().await["items"], json!([]));
    // And it works once Kubernetes recovers.
    call("POST", &format!("/api/v1/tenants/{name}/suspend"))
        .send()
        .await
        .expect(200);
}

/// One dual-write of the API, prepared on a fresh tenant.
#[derive(Debug, Clone, Copy)]
enum Write {
    Create,
    Update,
    Delete,
    Suspend,
    Resume,
}

impl Write {
    /// (method to fault, Kubernetes path fragment to fault)
    fn kube_call(self) -> (&'static str, &'static str) {
        match self {
            Write::Create => ("POST", "/tenants"),
            Write::Update => ("PUT", "/tenants/"),
            Write::Delete => ("DELETE", "/tenants/"),
            Write::Suspend | Write::Resume => ("PATCH", "/tenants/"),
        }
    }

    async fn prepare(self, name: &str) {
        if !matches!(self, Write::Create) {
            create_tenant(name).await;
        }
        if matches!(self, Write::Resume) {
            call("POST", &format!("/api/v1/tenants/{name}/suspend"))
                .send()
                .await
                .expect(200);
        }
    }

    async fn run(self, name: &str) -> cp_tests::Resp {
        match self {
            Write::Create => {
                call("POST", "/api/v1/tenants")
                    .json(&tenant_body(name))
                    .send()
                    .await
            }
            Write::Update => {
                call("PUT", &format!("/api/v1/tenants/{name}"))
                    .json(&json!({"email": "changed@example.com"}))
                    .send()
                    .await
            }
            Write::Delete => {
                call("DELETE", &format!("/api/v1/tenants/{name}"))
                    .send()
                    .await
            }
            Write::Suspend => {
                call("POST", &format!("/api/v1/tenants/{name}/suspend"))
                    .send()
                    .await
            }
            Write::Resume => {
                call("POST", &format!("/api/v1/tenants/{name}/resume"))
                    .send()
                    .await
            }
        }
    }
}

/// Whether the row (via the API) projects the CRD (via Kubernetes).
async fn projection_matches(name: &str) -> bool {
    let crd = kube("GET", &tenant_crd_path(name), None).await;
    let row = call("GET", &format!("/api/v1/tenants/{name}")).send().await;
    match (crd.status, row.status) {
        (404, 404) => true,
        (200, 200) => {
            let (c, r) = (crd.json(), row.json());
            c["spec"]["email"] == r["data"]["email"]
                && c["spec"]["suspended"] == r["data"]["suspended"]
        }
        _ => false,
    }
}

#[tokio::test]
async fn every_dual_write_under_every_fault_never_diverges_silently() {
    let _serial = exclusive().await;
    reset().await;
    let writes = [
        Write::Create,
        Write::Update,
        Write::Delete,
        Write::Suspend,
        Write::Resume,
    ];
    let mut injected = 0;
    for write in writes {
        let (method, path) = write.kube_call();
        let faults = [
            ("status 500", Fault::status(method, path, 500)),
            (
                "timeout",
                Fault::delay(method, path, Duration::from_millis(2500)),
            ),
            ("dropped connection", Fault::drop_connection(method, path)),
            (
                "applied, answer lost",
                Fault::after_apply(method, path, 500),
            ),
        ];
        for (label, fault) in faults {
            let name = unique("fw");
            write.prepare(&name).await;
            env().kube.inject(fault.times(1));
            injected += 1;
            let resp = write.run(&name).await;
            assert!(
                resp.status == 502,
                "{write:?} under {label}: expected 502, got {} {}",
                resp.status,
                String::from_utf8_lossy(&resp.body)
            );
            resp.expect_error(502, "UPSTREAM_ERROR");
            if label == "timeout" {
                // The stand-in still applies the write once the delay is over.
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            env().kube.clear_faults();
            // Either CRD and row agree, or drift reports exactly this tenant.
            let report = drift().await;
            let reported = report["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["name"] == name.as_str());
            let others = report["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["name"] != name.as_str());
            assert!(!others, "{write:?} under {label}: unrelated drift {report}");
            assert_eq!(
                !projection_matches(&name).await,
                reported,
                "{write:?} under {label}: a divergence must be exactly what drift reports ({report})"
            );
            reset().await;
            assert!(
                projection_matches(&name).await,
                "{write:?} under {label}: repair restores agreement"
            );
        }
    }
    cp_tests::report("faults", &format!("Kubernetes faults: {injected} injected across every dual-write (status, timeout, drop, applied-but-lost); no silent divergence"));
}
