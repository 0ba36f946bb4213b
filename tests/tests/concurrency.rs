//! Many writers at once: no lost acknowledged write, no duplicate, and the
//! projection never ends behind its CRD.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use cp_tests::{call, count, create_tenant, kube, report, tenant_body, tenant_crd_path, unique};
use serde_json::json;

const WRITERS: usize = 50;

#[tokio::test]
async fn fifty_concurrent_updates_of_one_tenant_end_at_an_acknowledged_write() {
    let name = unique("contended");
    create_tenant(&name).await;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            let team = format!("team-{i}");
            let resp = call("PUT", &format!("/api/v1/tenants/{name}"))
                .json(&json!({"email": format!("{name}@example.com"), "team": team}))
                .send()
                .await;
            (team, resp.status)
        }));
    }
    let mut acknowledged = HashSet::new();
    for t in tasks {
        let (team, status) = t.await.unwrap();
        assert!(
            status == 200 || status == 409,
            "status {status}: no 5xx under contention"
        );
        if status == 200 {
            acknowledged.insert(team);
        }
    }
    assert!(!acknowledged.is_empty());
    let crd = kube("GET", &tenant_crd_path(&name), None).await.expect(200);
    let row = call("GET", &format!("/api/v1/tenants/{name}"))
        .send()
        .await
        .expect(200);
    let final_team = crd["spec"]["team"].as_str().unwrap().to_owned();
    assert_eq!(
        row["data"]["team"],
        final_team.as_str(),
        "row and CRD agree"
    );
    assert!(
        acknowledged.contains(&final_team),
        "the final state is an acknowledged write"
    );
    let audited: i64 = count("SELECT count(*) FROM audit_log WHERE resource_name = $1 AND action = 'updateTenant' AND outcome = 'success'", &name).await;
    assert_eq!(
        audited as usize,
        acknowledged.len(),
        "one audit entry per acknowledged write"
    );
    report(
        "concurrency",
        &format!(
            "{WRITERS} concurrent PUTs of one tenant: {} acknowledged, none lost",
            acknowledged.len()
        ),
    );
}

#[tokio::test]
async fn fifty_concurrent_creates_of_distinct_tenants_all_land_once() {
    let prefix = unique("herd");
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let name = format!("{prefix}-{i}");
        tasks.push(tokio::spawn(async move {
            call("POST", "/api/v1/tenants")
                .json(&tenant_body(&name))
                .send()
                .await
                .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let n: i64 = count(
        "SELECT count(*) FROM tenants WHERE name LIKE $1",
        &format!("{prefix}-%"),
    )
    .await;
    assert_eq!(n as usize, WRITERS);
    for i in [0, WRITERS / 2, WRITERS - 1] {
        kube("GET", &tenant_crd_path(&format!("{prefix}-{i}")), None)
            .await
            .expect(200);
    }
    report(
        "concurrency",
        &format!("{WRITERS} concurrent creates: {WRITERS} tenants, no duplicates"),
    );
}

#[tokio::test]
async fn concurrent_dataset_replacements_leave_one_complete_set() {
    let name = unique("dsrace");
    create_tenant(&name).await;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            let sets = json!({"datasets": [{"name": format!("set-{i}-a")}, {"name": format!("set-{i}-b")}]});
            call("PUT", &format!("/api/v1/tenants/{name}/datasets")).json(&sets).send().await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let got = call("GET", &format!("/api/v1/tenants/{name}/datasets"))
        .send()
        .await
        .expect(200);
    let names: Vec<&str> = got["data"]["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "exactly one writer's complete set: {names:?}"
    );
    assert_eq!(
        names[0].trim_end_matches("-a"),
        names[1].trim_end_matches("-b")
    );
}
