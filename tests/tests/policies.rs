//! Access policies through the Wasm host: AccessPolicy CRDs dual-written
//! with PostgreSQL rows (the same mechanism as tenants), drift and repair,
//! and what policies decide for tenants: dataset checks and the effective
//! contract, compiled with groups and catalog grants. The drift checks see
//! every policy of this binary's cluster, so the tests run one at a time.

#![allow(clippy::unwrap_used)]

use cp_kube_standin::Fault;
use cp_tests::{
    call, count, create_tenant, db, env, exclusive, field_errors, kube, sha256_hex, tenant_body,
    unique,
};
use serde_json::{json, Value};

fn crd_path(name: &str) -> String {
    format!(
        "/apis/opencrane.io/v1alpha1/namespaces/{}/accesspolicies/{name}",
        cp_tests::NAMESPACE
    )
}

async fn create_policy(body: &Value) -> Value {
    call("POST", "/api/v1/policies")
        .json(body)
        .send()
        .await
        .expect(201)
}

async fn drift() -> Value {
    call("GET", "/api/v1/policies/drift")
        .send()
        .await
        .expect(200)["data"]
        .clone()
}

/// Brings policy CRDs and rows back in sync (tests that look at drift run
/// one at a time and start clean).
async fn reset() {
    env().kube.clear_faults();
    call("POST", "/api/v1/policies/repair?dryRun=false")
        .send()
        .await
        .expect(200);
    assert_eq!(drift().await["items"], json!([]));
}

async fn row_count(name: &str) -> i64 {
    count("SELECT count(*) FROM access_policies WHERE name = $1", name).await
}

#[tokio::test]
async fn create_get_update_delete_dual_writes_the_crd_and_the_row() {
    let _serial = exclusive().await;
    let name = unique("pol");
    let acme = unique("acme");
    create_tenant(&acme).await;
    let created = create_policy(&json!({
        "name": name,
        "description": "Engineering",
        "subjects": {"tenants": [acme], "groups": ["eng"]},
        "datasets": {"allow": ["sales-*"], "deny": ["hr"]},
        "mcpServers": ["github"],
        "skills": ["code/review"]
    }))
    .await;
    let p = &created["data"];
    assert_eq!(p["name"], name.as_str());
    assert_eq!(p["subjects"], json!({"tenants": [acme], "groups": ["eng"]}));
    assert_eq!(p["datasets"]["deny"], json!(["hr"]));

    // The CRD is the source of truth and holds the same spec.
    let crd = kube("GET", &crd_path(&name), None).await.expect(200);
    assert_eq!(crd["spec"]["mcpServers"], json!(["github"]));
    assert_eq!(
        crd["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "opencrane-control-plane"
    );

    let got = call("GET", &format!("/api/v1/policies/{name}"))
        .send()
        .await;
    let etag = got.header("etag").unwrap().to_owned();
    assert_eq!(got.expect(200)["data"], *p);

    // PUT replaces the whole spec: omitted lists become empty.
    let updated = call("PUT", &format!("/api/v1/policies/{name}"))
        .header("if-match", &etag)
        .json(&json!({"skills": ["search"]}))
        .send()
        .await
        .expect(200);
    assert_eq!(updated["data"]["skills"], json!(["search"]));
    assert_eq!(updated["data"]["subjects"]["tenants"], json!([]));
    let crd = kube("GET", &crd_path(&name), None).await.expect(200);
    assert_eq!(crd["spec"]["skills"], json!(["search"]));
    assert!(crd["spec"].get("mcpServers").is_none());

    // The old ETag is stale now.
    call("PUT", &format!("/api/v1/policies/{name}"))
        .header("if-match", &etag)
        .json(&json!({}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // Every write was audited with its request id.
    let audited = count(
        "SELECT count(*) FROM audit_log WHERE resource_kind = 'policy' AND resource_name = $1 AND outcome = 'success'",
        &name,
    )
    .await;
    assert_eq!(audited, 2);

    let del = call("DELETE", &format!("/api/v1/policies/{name}"))
        .send()
        .await;
    assert_eq!(del.status, 204);
    kube("GET", &crd_path(&name), None).await.expect(404);
    assert_eq!(row_count(&name).await, 0);
    call("GET", &format!("/api/v1/policies/{name}"))
        .send()
        .await
        .expect_error(404, "POLICY_NOT_FOUND");
    call("DELETE", &format!("/api/v1/policies/{name}"))
        .send()
        .await
        .expect_error(404, "POLICY_NOT_FOUND");
}

#[tokio::test]
async fn bad_input_names_each_field_and_writes_nothing() {
    let _serial = exclusive().await;
    let name = unique("bad");
    let v = call("POST", "/api/v1/policies")
        .json(&json!({
            "name": name,
            "subjects": {"tenants": ["Acme"], "groups": ["eng", "eng"]},
            "datasets": {"allow": ["*sales"]},
            "skills": [""],
            "createdAt": "2020-01-01T00:00:00Z"
        }))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        field_errors(&v),
        [
            "createdAt",
            "subjects.tenants[0]",
            "subjects.groups[1]",
            "datasets.allow[0]",
            "skills[0]"
        ]
    );
    assert_eq!(row_count(&name).await, 0);
    kube("GET", &crd_path(&name), None).await.expect(404);

    let v = call("POST", "/api/v1/policies")
        .json(&json!({"name": "drift"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["name"]);
    let v = call("POST", "/api/v1/policies")
        .json(&json!({"name": name, "subjects": {"users": []}}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert!(v["error"].as_str().unwrap().contains("users"));

    create_policy(&json!({"name": name})).await;
    call("POST", "/api/v1/policies")
        .json(&json!({"name": name}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    // The refusal is audited under the policy's kind (400s are not: nothing was attempted).
    let refused = count(
        "SELECT count(*) FROM audit_log WHERE resource_kind = 'policy' AND outcome = 'failure' AND action = 'createPolicy' AND detail->>'code' = $1",
        "CONFLICT",
    )
    .await;
    assert!(refused >= 1);
    let v = call("PUT", &format!("/api/v1/policies/{name}"))
        .json(&json!({"name": "renamed"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["name"]);
    call("GET", "/api/v1/policies/Not_A_Name")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn list_pages_with_a_keyset_cursor() {
    let _serial = exclusive().await;
    let prefix = unique("page");
    for i in 0..3 {
        create_policy(&json!({"name": format!("{prefix}-{i}")})).await;
    }
    // Walk the whole list two at a time; ours appear once each, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/v1/policies?limit=2".to_owned(),
            Some(c) => format!("/api/v1/policies?limit=2&cursor={c}"),
        };
        let page = call("GET", &path).send().await.expect(200);
        assert!(page["data"].as_array().unwrap().len() <= 2);
        for p in page["data"].as_array().unwrap() {
            let n = p["name"].as_str().unwrap();
            if n.starts_with(&prefix) {
                seen.push(n.to_owned());
            }
        }
        match page["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [0, 1, 2].map(|i| format!("{prefix}-{i}")));
    call("GET", "/api/v1/policies?cursor=bogus")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    // Forged positions outside what the database can represent are a 400, not a 500.
    for key in [json!([-1, "a"]), json!([i64::MAX, "a"]), json!(["x", "a"])] {
        let c = cp_tests::forged_cursor("policies", key);
        call("GET", &format!("/api/v1/policies?cursor={c}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn kubernetes_failures_are_502_and_leave_no_half_state() {
    let _serial = exclusive().await;
    reset().await;
    let name = unique("kfail");
    env()
        .kube
        .inject(Fault::status("POST", "/accesspolicies", 503).times(1));
    call("POST", "/api/v1/policies")
        .json(&json!({"name": name}))
        .send()
        .await
        .expect_error(502, "UPSTREAM_ERROR");
    assert_eq!(row_count(&name).await, 0);
    kube("GET", &crd_path(&name), None).await.expect(404);

    create_policy(&json!({"name": name, "skills": ["a"]})).await;
    env()
        .kube
        .inject(Fault::status("PUT", "/accesspolicies", 500).times(1));
    call("PUT", &format!("/api/v1/policies/{name}"))
        .json(&json!({"skills": ["b"]}))
        .send()
        .await
        .expect_error(502, "UPSTREAM_ERROR");
    let got = call("GET", &format!("/api/v1/policies/{name}"))
        .send()
        .await
        .expect(200);
    assert_eq!(
        got["data"]["skills"],
        json!(["a"]),
        "the row kept the old spec"
    );
    assert_eq!(drift().await["items"], json!([]), "and so did the CRD");
}

#[tokio::test]
async fn database_failure_after_the_crd_write_is_compensated() {
    let _serial = exclusive().await;
    reset().await;
    let db = db().await;
    db.batch_execute(
        "CREATE OR REPLACE FUNCTION fail_poldb() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'disk full (injected)' USING ERRCODE = '53100'; END $$;
         CREATE TRIGGER fail_poldb BEFORE INSERT ON access_policies FOR EACH ROW
           WHEN (NEW.name LIKE 'poldb-%') EXECUTE FUNCTION fail_poldb();",
    )
    .await
    .unwrap();
    let name = unique("poldb");
    let resp = call("POST", "/api/v1/policies")
        .json(&json!({"name": name}))
        .send()
        .await;
    db.batch_execute("DROP TRIGGER fail_poldb ON access_policies")
        .await
        .unwrap();
    resp.expect_error(500, "INTERNAL_ERROR");
    kube("GET", &crd_path(&name), None).await.expect(404);
    assert_eq!(row_count(&name).await, 0);
    assert_eq!(drift().await["items"], json!([]));
}

#[tokio::test]
async fn out_of_band_changes_show_as_drift_and_repair_fixes_them() {
    let _serial = exclusive().await;
    reset().await;
    let changed = unique("oob");
    let removed = unique("gone");
    let added = unique("new");
    for n in [&changed, &removed] {
        create_policy(&json!({"name": n, "skills": ["a"]})).await;
    }
    let mut crd = kube("GET", &crd_path(&changed), None).await.expect(200);
    crd["spec"]["skills"] = json!(["b"]);
    kube("PUT", &crd_path(&changed), Some(&crd))
        .await
        .expect(200);
    kube("DELETE", &crd_path(&removed), None).await.expect(200);
    kube(
        "POST",
        &format!(
            "/apis/opencrane.io/v1alpha1/namespaces/{}/accesspolicies",
            cp_tests::NAMESPACE
        ),
        Some(&json!({
            "apiVersion": "opencrane.io/v1alpha1", "kind": "AccessPolicy",
            "metadata": {"name": added}, "spec": {"mcpServers": ["github"]}
        })),
    )
    .await
    .expect(201);

    let report = drift().await;
    assert_eq!(
        (
            &report["missingRows"],
            &report["orphanRows"],
            &report["staleRows"]
        ),
        (&json!(1), &json!(1), &json!(1))
    );
    let stale = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == changed.as_str())
        .unwrap();
    assert_eq!(stale["fields"], json!(["skills"]));

    // Dry run by default: nothing changes.
    let dry = call("POST", "/api/v1/policies/repair")
        .send()
        .await
        .expect(200);
    assert_eq!(dry["data"]["dryRun"], true);
    assert_eq!(dry["data"]["actions"].as_array().unwrap().len(), 3);
    assert_eq!(drift().await["items"].as_array().unwrap().len(), 3);

    reset().await;
    let got = call("GET", &format!("/api/v1/policies/{changed}"))
        .send()
        .await
        .expect(200);
    assert_eq!(got["data"]["skills"], json!(["b"]));
    call("GET", &format!("/api/v1/policies/{removed}"))
        .send()
        .await
        .expect_error(404, "POLICY_NOT_FOUND");
    let imported = call("GET", &format!("/api/v1/policies/{added}"))
        .send()
        .await
        .expect(200);
    assert_eq!(imported["data"]["mcpServers"], json!(["github"]));
}

/// Through the catalog and skills routes: tenant `tenant` in a new group
/// `group` with an awareness grant, an MCP server granted to the group, and
/// a published skill bundle entitled to the tenant.
async fn seed_catalog(tenant: &str, group: &str, server: &str, skill: &str) {
    call("POST", "/api/v1/groups")
        .json(&json!({
            "name": group,
            "members": [{"kind": "tenant", "name": tenant}],
            "awarenessGrants": [{"scope": "channel:support", "access": "read"}]
        }))
        .send()
        .await
        .expect(201);
    call("POST", "/api/v1/mcp-servers")
        .json(&json!({
            "name": server, "transport": "sse", "endpoint": "https://mcp.example.com/sse",
            "grants": [{"kind": "group", "name": group}]
        }))
        .send()
        .await
        .expect(201);
    let content = "# A skill";
    call("POST", "/api/v1/skills/catalog")
        .json(&json!({
            "name": skill, "version": "1.0.0", "scope": "tenant", "stage": "published",
            "content": content, "digest": format!("sha256:{}", sha256_hex(content.as_bytes())),
            "entitlements": [{"kind": "tenant", "name": tenant}]
        }))
        .send()
        .await
        .expect(201);
    // A draft bundle entitled to the tenant grants nothing yet.
    call("POST", "/api/v1/skills/catalog")
        .json(&json!({
            "name": format!("{skill}-draft"), "version": "0.1.0", "scope": "tenant",
            "digest": format!("sha256:{}", "0".repeat(64)),
            "entitlements": [{"kind": "tenant", "name": tenant}]
        }))
        .send()
        .await
        .expect(201);
}

#[tokio::test]
async fn policies_for_a_tenant_and_its_groups_decide_datasets_and_the_contract() {
    let _serial = exclusive().await;
    let tenant = unique("ctr");
    let group = unique("grp");
    let server = unique("mcp");
    let skill = unique("skill");
    let mut body = tenant_body(&tenant);
    body["skillAllowlist"] = json!([skill]);
    call("POST", "/api/v1/tenants")
        .json(&body)
        .send()
        .await
        .expect(201);
    seed_catalog(&tenant, &group, &server, &skill).await;
    let by_tenant = unique("pt");
    let by_group = unique("pg");
    create_policy(&json!({
        "name": by_tenant,
        "subjects": {"tenants": [tenant]},
        "datasets": {"allow": ["sales-*", "hr"]},
        "skills": [skill]
    }))
    .await;
    create_policy(&json!({
        "name": by_group,
        "subjects": {"groups": [group]},
        "datasets": {"deny": ["hr"]},
        "mcpServers": [server]
    }))
    .await;

    // The group's policy denies hr although the tenant's allows it.
    let datasets = format!("/api/v1/tenants/{tenant}/datasets");
    let v = call("PUT", &datasets)
        .json(&json!({"datasets": [{"name": "sales-1"}, {"name": "hr"}]}))
        .send()
        .await
        .expect_error(403, "DATASET_DENIED");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains(&format!("hr (policy:{by_group} denies 'hr')")));
    call("PUT", &datasets)
        .json(&json!({"datasets": [{"name": "ops"}]}))
        .send()
        .await
        .expect_error(403, "DATASET_DENIED");
    call("PUT", &datasets)
        .json(&json!({"datasets": [{"name": "sales-1", "access": "write"}]}))
        .send()
        .await
        .expect(200);

    let c = call(
        "GET",
        &format!("/api/v1/tenants/{tenant}/effective-contract"),
    )
    .send()
    .await
    .expect(200);
    let c = &c["data"];
    assert_eq!(c["groups"], json!([group]));
    let mut expected_policies = vec![
        json!({"name": by_group, "via": [format!("subjects.groups:{group}")]}),
        json!({"name": by_tenant, "via": ["subjects.tenants"]}),
    ];
    expected_policies.sort_by_key(|p| p["name"].as_str().unwrap().to_owned());
    assert_eq!(c["policies"], json!(expected_policies));
    assert_eq!(
        c["awareness"],
        json!([{"name": "channel:support", "access": "read", "reasons": [format!("group:{group}")]}])
    );
    assert_eq!(
        c["mcpServers"],
        json!([{"name": server, "reasons": [format!("grant:group:{group}"), format!("policy:{by_group}")]}])
    );
    assert_eq!(
        c["skills"],
        json!([{"name": skill, "reasons": [
            "tenant.spec.skillAllowlist",
            format!("entitlement:tenant ({skill}@1.0.0)"),
            format!("policy:{by_tenant}")
        ]}])
    );
    assert_eq!(
        c["datasets"],
        json!([{"name": "sales-1", "access": "write", "reasons": ["datasetMembership"]}])
    );

    // Tightening a policy later shows the membership as denied in the contract.
    call("PUT", &format!("/api/v1/policies/{by_group}"))
        .json(&json!({"subjects": {"groups": [group]}, "datasets": {"deny": ["sales-*"]}}))
        .send()
        .await
        .expect(200);
    let c = call(
        "GET",
        &format!("/api/v1/tenants/{tenant}/effective-contract"),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(c["data"]["datasets"], json!([]));
    assert_eq!(
        c["data"]["denied"],
        json!([{"name": "sales-1", "reason": format!("policy:{by_group} denies 'sales-*'")}])
    );
}

#[tokio::test]
async fn a_policy_ref_to_a_missing_policy_fails_closed() {
    let _serial = exclusive().await;
    let tenant = unique("closed");
    let mut body = tenant_body(&tenant);
    body["policyRef"] = json!(unique("nosuch"));
    call("POST", "/api/v1/tenants")
        .json(&body)
        .send()
        .await
        .expect(201);
    let v = call("PUT", &format!("/api/v1/tenants/{tenant}/datasets"))
        .json(&json!({"datasets": [{"name": "any"}]}))
        .send()
        .await
        .expect_error(403, "DATASET_DENIED");
    assert!(v["error"].as_str().unwrap().contains("does not exist"));
    let c = call(
        "GET",
        &format!("/api/v1/tenants/{tenant}/effective-contract"),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(c["data"]["missingPolicyRef"], body["policyRef"]);

    // A tenant without policies is unrestricted.
    let open = unique("open");
    create_tenant(&open).await;
    call("PUT", &format!("/api/v1/tenants/{open}/datasets"))
        .json(&json!({"datasets": [{"name": "any"}]}))
        .send()
        .await
        .expect(200);
}
