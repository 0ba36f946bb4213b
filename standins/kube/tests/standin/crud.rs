//! Create, read, list, replace, patch and delete of custom resources.

use hyper::Method;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn tenant_lifecycle() {
    let (_server, api) = start(false).await;

    let created = api.post(&tenants(NS), &tenant("acme")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let obj = &created.body;
    assert_eq!(obj["apiVersion"], "opencrane.io/v1alpha1");
    assert_eq!(obj["kind"], "Tenant");
    assert_eq!(obj["metadata"]["name"], "acme");
    assert_eq!(obj["metadata"]["namespace"], NS);
    assert_eq!(obj["metadata"]["generation"], 1);
    assert_eq!(obj["metadata"]["labels"]["team"], "blue");
    assert_eq!(obj["metadata"]["uid"].as_str().unwrap().len(), 36);
    let ts = obj["metadata"]["creationTimestamp"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 20,
        "{ts}"
    );
    assert!(obj.get("status").is_none());
    let rv1 = rv(obj);

    let got = api.get(&tenant_path("acme")).await;
    assert_eq!(got.status, 200);
    assert_eq!(&got.body, obj);
    assert_eq!(got.headers["content-type"], "application/json");

    // Replace with the current resourceVersion: spec change bumps generation.
    let mut replaced = got.body.clone();
    replaced["spec"]["team"] = json!("platform");
    let put = api.put(&tenant_path("acme"), &replaced).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["spec"]["team"], "platform");
    assert_eq!(put.body["metadata"]["generation"], 2);
    assert_eq!(put.body["metadata"]["uid"], obj["metadata"]["uid"]);
    assert_eq!(
        put.body["metadata"]["creationTimestamp"],
        obj["metadata"]["creationTimestamp"]
    );
    let rv2 = rv(&put.body);
    assert!(rv2 > rv1);

    // A metadata-only change does not bump generation.
    let patched = api
        .patch(
            &tenant_path("acme"),
            MERGE,
            &json!({"metadata": {"annotations": {"note": "x"}}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["metadata"]["generation"], 2);
    assert_eq!(patched.body["metadata"]["annotations"]["note"], "x");
    let rv3 = rv(&patched.body);
    assert!(rv3 > rv2);

    // Merge patch: null deletes, objects merge.
    let patched = api
        .patch(
            &tenant_path("acme"),
            MERGE,
            &json!({"spec": {"displayName": null, "monthlyBudgetUsd": 12.5}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert!(patched.body["spec"].get("displayName").is_none());
    assert_eq!(patched.body["spec"]["monthlyBudgetUsd"], 12.5);
    assert_eq!(patched.body["spec"]["email"], "acme@example.com");
    assert_eq!(patched.body["metadata"]["generation"], 3);

    // JSON patch.
    let patched = api
        .patch(
            &tenant_path("acme"),
            JSON_PATCH,
            &json!([
                {"op": "test", "path": "/spec/team", "value": "platform"},
                {"op": "add", "path": "/spec/skillAllowlist", "value": ["search"]},
                {"op": "add", "path": "/spec/skillAllowlist/-", "value": "code"}
            ]),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        patched.body["spec"]["skillAllowlist"],
        json!(["search", "code"])
    );
    let failed = api
        .patch(
            &tenant_path("acme"),
            JSON_PATCH,
            &json!([{"op": "test", "path": "/spec/team", "value": "nope"}]),
        )
        .await;
    assert_eq!(failed.status, 422, "{}", failed.text);
    assert_eq!(failed.body["reason"], "Invalid");

    // Delete: a success Status naming the resource.
    let uid = obj["metadata"]["uid"].as_str().unwrap();
    let deleted = api.delete(&tenant_path("acme")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(
        deleted.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": "acme", "group": "opencrane.io", "kind": "tenants", "uid": uid}
        })
    );
    assert_eq!(api.get(&tenant_path("acme")).await.status, 404);
    assert_eq!(api.delete(&tenant_path("acme")).await.status, 404);
}

#[tokio::test]
async fn resource_versions_are_global_monotonic_and_skip_no_ops() {
    let (_server, api) = start(false).await;
    let a = api.post(&tenants(NS), &tenant("a")).await.body;
    let sa = api
        .post(
            &service_accounts(NS),
            &json!({"metadata": {"name": "robot"}}),
        )
        .await;
    assert_eq!(sa.status, 201, "{}", sa.text);
    assert_eq!(sa.body["kind"], "ServiceAccount");
    assert_eq!(sa.body["apiVersion"], "v1");
    assert!(sa.body["metadata"].get("generation").is_none());
    let b = api.post(&tenants("other"), &tenant("b")).await.body;
    assert!(rv(&a) < rv(&sa.body) && rv(&sa.body) < rv(&b));
    assert_eq!(
        a["metadata"]["resourceVersion"]
            .as_str()
            .map(|s| s.is_empty()),
        Some(false)
    );

    // Writing the same object again changes nothing, not even the RV.
    let same = api.put(&tenant_path("a"), &a).await;
    assert_eq!(same.status, 200);
    assert_eq!(rv(&same.body), rv(&a));

    // The list RV is the latest revision.
    let list = api.get(&tenants(NS)).await.body;
    assert_eq!(
        list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        rv(&b)
    );
}

#[tokio::test]
async fn lists_paginate_filter_and_span_namespaces() {
    let (_server, api) = start(false).await;
    for name in ["t1", "t2", "t3", "t4", "t5"] {
        let mut t = tenant(name);
        if name == "t2" || name == "t4" {
            t["metadata"]["labels"]["tier"] = json!("gold");
        }
        assert_eq!(api.post(&tenants(NS), &t).await.status, 201);
    }
    assert_eq!(api.post(&tenants("zz"), &tenant("t9")).await.status, 201);

    let list = api.get(&tenants(NS)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["kind"], "TenantList");
    assert_eq!(list.body["apiVersion"], "opencrane.io/v1alpha1");
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    // Custom resource list items carry apiVersion and kind.
    assert_eq!(items[0]["kind"], "Tenant");
    assert!(list.body["metadata"].get("continue").is_none());

    // limit + continue walk the list in name order.
    let page1 = api.get(&format!("{}?limit=2", tenants(NS))).await.body;
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&page1), ["t1", "t2"]);
    assert_eq!(page1["metadata"]["remainingItemCount"], 3);
    let token = page1["metadata"]["continue"].as_str().unwrap();
    let page2 = api
        .get(&format!("{}?limit=2&continue={token}", tenants(NS)))
        .await
        .body;
    assert_eq!(names(&page2), ["t3", "t4"]);
    assert_eq!(
        page2["metadata"]["resourceVersion"],
        page1["metadata"]["resourceVersion"]
    );
    let token = page2["metadata"]["continue"].as_str().unwrap();
    let page3 = api
        .get(&format!("{}?limit=2&continue={token}", tenants(NS)))
        .await
        .body;
    assert_eq!(names(&page3), ["t5"]);
    assert!(page3["metadata"].get("continue").is_none());
    let bad = api.get(&format!("{}?continue=!!!", tenants(NS))).await;
    assert_eq!(bad.status, 400);

    // Label selectors (URL-encoded as clients send them).
    let gold = api
        .get(&format!("{}?labelSelector=tier%3Dgold", tenants(NS)))
        .await
        .body;
    assert_eq!(names(&gold), ["t2", "t4"]);
    let not_gold = api
        .get(&format!(
            "{}?labelSelector=tier!%3Dgold,team%3D%3Dblue",
            tenants(NS)
        ))
        .await
        .body;
    assert_eq!(names(&not_gold), ["t1", "t3", "t5"]);
    let gold_page = api
        .get(&format!(
            "{}?labelSelector=tier%3Dgold&limit=1",
            tenants(NS)
        ))
        .await
        .body;
    assert_eq!(names(&gold_page), ["t2"]);
    assert!(gold_page["metadata"]["continue"].is_string());
    assert!(gold_page["metadata"].get("remainingItemCount").is_none());
    let bad = api
        .get(&format!("{}?labelSelector=a%20b%3Dc", tenants(NS)))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["reason"], "BadRequest");

    // Field selector on the name.
    let one = api
        .get(&format!("{}?fieldSelector=metadata.name%3Dt3", tenants(NS)))
        .await
        .body;
    assert_eq!(names(&one), ["t3"]);

    // All namespaces.
    let all = api.get(&format!("{CR}/tenants")).await.body;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert_eq!(all["items"][5]["metadata"]["namespace"], "zz");
}

#[tokio::test]
async fn put_without_resource_version_is_unconditional_and_missing_is_404() {
    let (_server, api) = start(false).await;
    api.post(&tenants(NS), &tenant("u")).await;
    let mut body = tenant("u");
    body["spec"]["team"] = json!("x");
    let put = api.put(&tenant_path("u"), &body).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["spec"]["team"], "x");
    let missing = api.put(&tenant_path("ghost"), &tenant("ghost")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["reason"], "NotFound");
    let missing_patch = api.patch(&tenant_path("ghost"), MERGE, &json!({})).await;
    assert_eq!(missing_patch.status, 404);
}

#[tokio::test]
async fn unknown_fields_are_pruned_with_a_warning_or_rejected_when_strict() {
    let (_server, api) = start(false).await;
    let mut t = tenant("p");
    t["spec"]["colour"] = json!("red");
    t["spec"]["team"] = serde_json::Value::Null;
    let created = api.post(&tenants(NS), &t).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(created.body["spec"].get("colour").is_none());
    assert!(created.body["spec"].get("team").is_none());
    assert_eq!(
        created.headers["warning"],
        "299 - \"unknown field \\\"spec.colour\\\"\""
    );

    let mut t = tenant("q");
    t["spec"]["colour"] = json!("red");
    let strict = api
        .send(
            Method::POST,
            &format!("{}?fieldValidation=Strict", tenants(NS)),
            Some(JSON),
            Some(t.to_string().into_bytes()),
        )
        .await;
    assert_eq!(strict.status, 400, "{}", strict.text);
    assert_eq!(
        strict.body["message"],
        "strict decoding error: unknown field \"spec.colour\""
    );
}

#[tokio::test]
async fn generate_name_and_dry_run() {
    let (_server, api) = start(false).await;
    let body = json!({
        "apiVersion": "opencrane.io/v1alpha1", "kind": "Tenant",
        "metadata": {"generateName": "gen-"}, "spec": {"email": "g@example.com"}
    });
    let created = api.post(&tenants(NS), &body).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let name = created.body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let dry = api
        .send(
            Method::POST,
            &format!("{}?dryRun=All", tenants(NS)),
            Some(JSON),
            Some(tenant("dry").to_string().into_bytes()),
        )
        .await;
    assert_eq!(dry.status, 201, "{}", dry.text);
    assert_eq!(api.get(&tenant_path("dry")).await.status, 404);
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let (_server, api) = start(false).await;
    let mut t = tenant("f");
    t["metadata"]["finalizers"] = json!(["opencrane.io/cleanup"]);
    api.post(&tenants(NS), &t).await;
    let deleting = api.delete(&tenant_path("f")).await;
    assert_eq!(deleting.status, 200, "{}", deleting.text);
    assert_eq!(deleting.body["kind"], "Tenant");
    assert!(deleting.body["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(api.get(&tenant_path("f")).await.status, 200);

    let done = api
        .patch(
            &tenant_path("f"),
            MERGE,
            &json!({"metadata": {"finalizers": null}}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(api.get(&tenant_path("f")).await.status, 404);
}

#[tokio::test]
async fn delete_preconditions_and_collections() {
    let (_server, api) = start(false).await;
    let t = api.post(&tenants(NS), &tenant("d1")).await.body;
    api.post(&tenants(NS), &tenant("d2")).await;
    let stale = api
        .delete_with(&tenant_path("d1"), &json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}}))
        .await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert_eq!(stale.body["reason"], "Conflict");
    let ok = api
        .delete_with(
            &tenant_path("d1"),
            &json!({"preconditions": {"uid": t["metadata"]["uid"]}}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    let all = api
        .delete(&format!("{}?labelSelector=team%3Dblue", tenants(NS)))
        .await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["kind"], "TenantList");
    assert_eq!(all.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(api.get(&tenants(NS)).await.body["items"], json!([]));
}

#[tokio::test]
async fn access_policies_and_cluster_tenants_are_served() {
    let (_server, api) = start(false).await;
    let policy = json!({
        "apiVersion": "opencrane.io/v1alpha1", "kind": "AccessPolicy",
        "metadata": {"name": "default"},
        "spec": {"description": "d", "subjects": {"tenants": ["acme"], "groups": []},
                 "datasets": {"allow": ["sales"], "deny": ["hr"]}, "mcpServers": ["git"], "skills": ["s"]}
    });
    let created = api
        .post(&format!("{CR}/namespaces/{NS}/accesspolicies"), &policy)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["spec"]["datasets"]["deny"], json!(["hr"]));
    let list = api
        .get(&format!("{CR}/namespaces/{NS}/accesspolicies"))
        .await;
    assert_eq!(list.body["kind"], "AccessPolicyList");

    let ct = json!({
        "apiVersion": "opencrane.io/v1alpha1", "kind": "ClusterTenant",
        "metadata": {"name": "eu-1"}, "spec": {"displayName": "EU", "isolationTier": "vcluster", "region": "eu"}
    });
    let created = api
        .post(&format!("{CR}/namespaces/{NS}/clustertenants"), &ct)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let mut bad = ct.clone();
    bad["metadata"]["name"] = json!("eu-2");
    bad["spec"]["isolationTier"] = json!("moon");
    let invalid = api
        .post(&format!("{CR}/namespaces/{NS}/clustertenants"), &bad)
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.text);
    assert_eq!(
        invalid.body["message"],
        "ClusterTenant.opencrane.io \"eu-2\" is invalid: spec.isolationTier: Unsupported value: \"moon\": supported values: \"shared\", \"namespace\", \"vcluster\", \"dedicated\""
    );
    assert_eq!(
        invalid.body["details"]["causes"][0]["reason"],
        "FieldValueNotSupported"
    );
}
