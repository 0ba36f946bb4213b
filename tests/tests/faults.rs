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
    Kind::Tenant.drift().await
}

/// Brings CRDs and rows back in sync, so each test starts clean.
async fn reset() {
    Kind::Tenant.reset().await;
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
    if let Some(log) = cp_tests::server_log("the check that the cause is logged") {
        assert!(
            log.contains("disk full (injected)"),
            "the cause is logged for operators"
        );
    }
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

/// A dual-written kind: its API collection, its CRD plural, a valid body.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Tenant,
    Policy,
}

impl Kind {
    fn route(self) -> &'static str {
        match self {
            Kind::Tenant => "/api/v1/tenants",
            Kind::Policy => "/api/v1/policies",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Tenant => "tenants",
            Kind::Policy => "accesspolicies",
        }
    }

    fn crd_path(self, name: &str) -> String {
        format!(
            "/apis/opencrane.io/v1alpha1/namespaces/{}/{}/{name}",
            cp_tests::NAMESPACE,
            self.plural()
        )
    }

    fn body(self, name: &str) -> Value {
        match self {
            Kind::Tenant => tenant_body(name),
            Kind::Policy => json!({"name": name, "skills": ["before"]}),
        }
    }

    /// A different valid spec, and the spec field it changes.
    fn update(self) -> (Value, &'static str, &'static str) {
        match self {
            Kind::Tenant => (json!({"email": "changed@example.com"}), "email", "email"),
            Kind::Policy => (json!({"skills": ["after"]}), "skills", "skills"),
        }
    }

    async fn drift(self) -> Value {
        call("GET", &format!("{}/drift", self.route()))
            .send()
            .await
            .expect(200)["data"]
            .clone()
    }

    async fn reset(self) {
        env().kube.clear_faults();
        call("POST", &format!("{}/repair?dryRun=false", self.route()))
            .send()
            .await
            .expect(200);
        assert_eq!(self.drift().await["items"], json!([]));
    }

    /// Whether the row (via the API) projects the CRD (via Kubernetes).
    async fn projection_matches(self, name: &str) -> bool {
        let crd = kube("GET", &self.crd_path(name), None).await;
        let row = call("GET", &format!("{}/{name}", self.route()))
            .send()
            .await;
        match (crd.status, row.status) {
            (404, 404) => true,
            (200, 200) => {
                let (c, r) = (crd.json(), row.json());
                let (_, spec_field, api_field) = self.update();
                c["spec"][spec_field] == r["data"][api_field]
                    && (matches!(self, Kind::Policy)
                        || c["spec"]["suspended"] == r["data"]["suspended"])
            }
            _ => false,
        }
    }
}

/// One dual-write of the API, prepared on a fresh resource.
#[derive(Debug, Clone, Copy)]
enum Write {
    Create(Kind),
    Update(Kind),
    Delete(Kind),
    Suspend,
    Resume,
    /// An organisation tenant's decommission (its Kubernetes call is the
    /// CRD delete).
    Decommission,
}

impl Write {
    fn kind(self) -> Kind {
        match self {
            Write::Create(k) | Write::Update(k) | Write::Delete(k) => k,
            Write::Suspend | Write::Resume | Write::Decommission => Kind::Tenant,
        }
    }

    /// (method to fault, Kubernetes path fragment to fault)
    fn kube_call(self) -> (&'static str, String) {
        let plural = self.kind().plural();
        match self {
            Write::Create(_) => ("POST", format!("/{plural}")),
            Write::Update(_) => ("PUT", format!("/{plural}/")),
            Write::Delete(_) | Write::Decommission => ("DELETE", format!("/{plural}/")),
            Write::Suspend | Write::Resume => ("PATCH", "/tenants/".into()),
        }
    }

    async fn prepare(self, name: &str) {
        let kind = self.kind();
        if matches!(self, Write::Decommission) {
            let org = uuid::Uuid::now_v7().to_string();
            db().await
                .execute(
                    "INSERT INTO organizations (id, name) VALUES ($1::text::uuid, 'faults')",
                    &[&org],
                )
                .await
                .unwrap();
            call("POST", &format!("/api/v1/organizations/{org}/tenants"))
                .json(&kind.body(name))
                .send()
                .await
                .expect(201);
        } else if !matches!(self, Write::Create(_)) {
            call("POST", kind.route())
                .json(&kind.body(name))
                .send()
                .await
                .expect(201);
        }
        if matches!(self, Write::Resume) {
            call("POST", &format!("/api/v1/tenants/{name}/suspend"))
                .send()
                .await
                .expect(200);
        }
    }

    async fn run(self, name: &str) -> cp_tests::Resp {
        let kind = self.kind();
        let one = format!("{}/{name}", kind.route());
        match self {
            Write::Create(_) => {
                call("POST", kind.route())
                    .json(&kind.body(name))
                    .send()
                    .await
            }
            Write::Update(_) => call("PUT", &one).json(&kind.update().0).send().await,
            Write::Delete(_) => call("DELETE", &one).send().await,
            Write::Suspend => call("POST", &format!("{one}/suspend")).send().await,
            Write::Resume => call("POST", &format!("{one}/resume")).send().await,
            Write::Decommission => {
                let row = db()
                    .await
                    .query_one(
                        "SELECT id::text, org_id::text FROM tenants WHERE name = $1",
                        &[&name],
                    )
                    .await
                    .unwrap();
                let (id, org): (String, String) = (row.get(0), row.get(1));
                call(
                    "POST",
                    &format!("/api/v1/organizations/{org}/tenants/{id}/decommission"),
                )
                .send()
                .await
            }
        }
    }
}

#[tokio::test]
async fn every_dual_write_under_every_fault_never_diverges_silently() {
    let _serial = exclusive().await;
    for kind in [Kind::Tenant, Kind::Policy] {
        kind.reset().await;
    }
    let writes = [
        Write::Create(Kind::Tenant),
        Write::Update(Kind::Tenant),
        Write::Delete(Kind::Tenant),
        Write::Suspend,
        Write::Resume,
        Write::Decommission,
        Write::Create(Kind::Policy),
        Write::Update(Kind::Policy),
        Write::Delete(Kind::Policy),
    ];
    let mut injected = 0;
    for write in writes {
        let kind = write.kind();
        let (method, path) = write.kube_call();
        let faults = [
            ("status 500", Fault::status(method, &path, 500)),
            (
                "timeout",
                Fault::delay(method, &path, Duration::from_millis(2500)),
            ),
            ("dropped connection", Fault::drop_connection(method, &path)),
            (
                "applied, answer lost",
                Fault::after_apply(method, &path, 500),
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
            // Either CRD and row agree, or drift reports exactly this resource.
            let report = kind.drift().await;
            let items = report["items"].as_array().unwrap();
            let reported = items.iter().any(|i| i["name"] == name.as_str());
            let others = items.iter().any(|i| i["name"] != name.as_str());
            assert!(!others, "{write:?} under {label}: unrelated drift {report}");
            assert_eq!(
                !kind.projection_matches(&name).await,
                reported,
                "{write:?} under {label}: a divergence must be exactly what drift reports ({report})"
            );
            kind.reset().await;
            assert!(
                kind.projection_matches(&name).await,
                "{write:?} under {label}: repair restores agreement"
            );
        }
    }
    cp_tests::report("faults", &format!("Kubernetes faults: {injected} injected across every dual-write of tenants and access policies (status, timeout, drop, applied-but-lost); no silent divergence"));
}
