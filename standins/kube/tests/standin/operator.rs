//! The OpenCrane operator simulation and garbage collection.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn a_tenant_gets_a_deployment_a_service_account_and_a_status() {
    let (_server, api) = start(true).await;
    let created = api.post(&tenants(NS), &tenant("acme")).await;
    assert_eq!(created.status, 201, "{}", created.text);
    // The create answer is the object as written; the operator acts after.
    assert!(created.body.get("status").is_none());

    let t = api.get(&tenant_path("acme")).await.body;
    assert_eq!(t["status"]["phase"], "Running");
    assert_eq!(t["status"]["ingressHost"], "acme.tenants.localhost");
    assert_eq!(t["status"]["observedGeneration"], 1);
    assert_eq!(t["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(t["status"]["conditions"][0]["status"], "True");
    assert!(rv(&t) > rv(&created.body));

    let d = api.get(&format!("{}/acme", deployments(NS))).await;
    assert_eq!(d.status, 200, "{}", d.text);
    let d = d.body;
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/name"],
        "openclaw"
    );
    assert_eq!(d["metadata"]["labels"]["opencrane.io/tenant"], "acme");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["status"]["readyReplicas"], 1);
    let owner = &d["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Tenant");
    assert_eq!(owner["apiVersion"], "opencrane.io/v1alpha1");
    assert_eq!(owner["name"], "acme");
    assert_eq!(owner["uid"], t["metadata"]["uid"]);
    assert_eq!(owner["controller"], true);

    let sa = api.get(&format!("{}/acme", service_accounts(NS))).await;
    assert_eq!(sa.status, 200);
    assert_eq!(
        sa.body["metadata"]["ownerReferences"][0]["uid"],
        t["metadata"]["uid"]
    );
    // So the tenant's pod can get a token.
    let token = api
        .post(
            &format!("{}/acme/token", service_accounts(NS)),
            &json!({"spec": {"audiences": ["acme"]}}),
        )
        .await;
    assert_eq!(token.status, 201, "{}", token.text);

    // The deployment can be found by the operator's labels.
    let found = api
        .get(&format!(
            "{}?labelSelector=app.kubernetes.io%2Fname%3Dopenclaw,opencrane.io%2Ftenant%3Dacme",
            deployments(NS)
        ))
        .await
        .body;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn suspension_follows_the_spec() {
    let (_server, api) = start(true).await;
    let mut t = tenant("sleepy");
    t["spec"]["suspended"] = json!(true);
    api.post(&tenants(NS), &t).await;
    let d = api.get(&format!("{}/sleepy", deployments(NS))).await.body;
    assert_eq!(d["spec"]["replicas"], 0);
    assert_eq!(
        api.get(&tenant_path("sleepy")).await.body["status"]["phase"],
        "Suspended"
    );

    let resumed = api
        .patch(
            &tenant_path("sleepy"),
            MERGE,
            &json!({"spec": {"suspended": false}}),
        )
        .await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    let t = api.get(&tenant_path("sleepy")).await.body;
    assert_eq!(t["status"]["phase"], "Running");
    assert_eq!(t["status"]["observedGeneration"], 2);
    let d = api.get(&format!("{}/sleepy", deployments(NS))).await.body;
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(d["status"]["availableReplicas"], 1);

    let suspended = api
        .patch(
            &tenant_path("sleepy"),
            MERGE,
            &json!({"spec": {"suspended": true}}),
        )
        .await;
    assert_eq!(suspended.status, 200);
    assert_eq!(
        api.get(&tenant_path("sleepy")).await.body["status"]["phase"],
        "Suspended"
    );
    let scale = api
        .get(&format!("{}/sleepy/scale", deployments(NS)))
        .await
        .body;
    assert_eq!(scale["spec"]["replicas"], 0);
    assert_eq!(scale["status"]["replicas"], 0);
    assert_eq!(
        scale["status"]["selector"],
        "app.kubernetes.io/name=openclaw,opencrane.io/tenant=sleepy"
    );
}

#[tokio::test]
async fn deleting_a_tenant_collects_its_children() {
    let (_server, api) = start(true).await;
    api.post(&tenants(NS), &tenant("gone")).await;
    api.post(&tenants(NS), &tenant("kept")).await;
    assert_eq!(
        api.get(&format!("{}/gone", deployments(NS))).await.status,
        200
    );

    let deleted = api.delete(&tenant_path("gone")).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(
        api.get(&format!("{}/gone", deployments(NS))).await.status,
        404
    );
    assert_eq!(
        api.get(&format!("{}/gone", service_accounts(NS)))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(&format!("{}/kept", deployments(NS))).await.status,
        200
    );

    // The operator recreates a child deleted behind its back.
    let uid = api.get(&format!("{}/kept", deployments(NS))).await.body["metadata"]["uid"].clone();
    assert_eq!(
        api.delete(&format!("{}/kept", deployments(NS)))
            .await
            .status,
        200
    );
    let recreated = api.get(&format!("{}/kept", deployments(NS))).await;
    assert_eq!(recreated.status, 200);
    assert_ne!(recreated.body["metadata"]["uid"], uid);

    // Orphan propagation leaves the children, without the owner reference.
    let orphaned = api
        .delete_with(
            &tenant_path("kept"),
            &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}),
        )
        .await;
    assert_eq!(orphaned.status, 200, "{}", orphaned.text);
    let d = api.get(&format!("{}/kept", deployments(NS))).await;
    assert_eq!(d.status, 200);
    assert!(d.body["metadata"].get("ownerReferences").is_none());
}

#[tokio::test]
async fn without_the_operator_tenants_are_left_alone() {
    let (server, api) = start(false).await;
    api.post(&tenants(NS), &tenant("lonely")).await;
    assert!(api
        .get(&tenant_path("lonely"))
        .await
        .body
        .get("status")
        .is_none());
    assert_eq!(
        api.get(&format!("{}/lonely", deployments(NS))).await.status,
        404
    );
    assert_eq!(
        api.get(&format!("{}/lonely", service_accounts(NS)))
            .await
            .status,
        404
    );

    // It can be switched on at run time; the next write reconciles.
    server.set_operator(true);
    api.patch(
        &tenant_path("lonely"),
        MERGE,
        &json!({"spec": {"team": "t"}}),
    )
    .await;
    assert_eq!(
        api.get(&format!("{}/lonely", deployments(NS))).await.status,
        200
    );
}
