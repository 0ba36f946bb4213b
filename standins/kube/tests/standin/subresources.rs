//! `/status`, `/scale` and `/token` subresources, Deployments, discovery.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn status_subresource_is_separate_from_the_main_resource() {
    let (_server, api) = start(false).await;
    let mut t = tenant("s");
    t["status"] = json!({"phase": "Hacked"});
    let created = api.post(&tenants(NS), &t).await.body;
    assert!(
        created.get("status").is_none(),
        "status is dropped on create"
    );

    // PUT /status changes the status only.
    let mut body = created.clone();
    body["status"] = json!({"phase": "Running", "observedGeneration": 1});
    body["spec"]["team"] = json!("ignored");
    body["metadata"]["labels"] = json!({"ignored": "yes"});
    let put = api
        .put(&format!("{}/status", tenant_path("s")), &body)
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["status"]["phase"], "Running");
    assert!(put.body["spec"].get("team").is_none());
    assert_eq!(put.body["metadata"]["labels"], json!({"team": "blue"}));
    assert_eq!(put.body["metadata"]["generation"], 1);
    assert!(rv(&put.body) > rv(&created));

    // PUT / PATCH on the main resource keep the stored status.
    let mut main = put.body.clone();
    main["status"] = json!({"phase": "Overwritten"});
    main["spec"]["team"] = json!("kept");
    let put_main = api.put(&tenant_path("s"), &main).await;
    assert_eq!(put_main.status, 200, "{}", put_main.text);
    assert_eq!(put_main.body["status"]["phase"], "Running");
    assert_eq!(put_main.body["spec"]["team"], "kept");
    assert_eq!(put_main.body["metadata"]["generation"], 2);
    let patch_main = api
        .patch(
            &tenant_path("s"),
            MERGE,
            &json!({"status": {"phase": "Nope"}}),
        )
        .await;
    assert_eq!(patch_main.body["status"]["phase"], "Running");

    // PATCH /status.
    let patched = api
        .patch(
            &format!("{}/status", tenant_path("s")),
            MERGE,
            &json!({"status": {"ingressHost": "s.example"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["status"]["ingressHost"], "s.example");
    assert_eq!(patched.body["status"]["phase"], "Running");
    assert_eq!(patched.body["metadata"]["generation"], 2);

    // GET /status returns the whole object; status is schema-validated.
    let got = api.get(&format!("{}/status", tenant_path("s"))).await;
    assert_eq!(got.body["spec"]["email"], "s@example.com");
    let invalid = api
        .patch(
            &format!("{}/status", tenant_path("s")),
            MERGE,
            &json!({"status": {"observedGeneration": "one"}}),
        )
        .await;
    assert_eq!(invalid.status, 422, "{}", invalid.text);
    assert_eq!(
        api.get(&format!("{}/status", tenant_path("ghost")))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn deployments_are_defaulted_validated_and_scaled() {
    let (_server, api) = start(false).await;
    let created = api.post(&deployments(NS), &deployment("web", 2)).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let d = &created.body;
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );

    // The simulated deployment controller reports the replicas ready.
    let got = api.get(&format!("{}/web", deployments(NS))).await.body;
    assert_eq!(got["status"]["replicas"], 2);
    assert_eq!(got["status"]["readyReplicas"], 2);
    assert_eq!(got["status"]["availableReplicas"], 2);
    assert_eq!(got["status"]["observedGeneration"], 1);
    assert!(rv(&got) > rv(d));

    // List items of built-in types carry no apiVersion/kind.
    let list = api.get(&deployments(NS)).await.body;
    assert_eq!(list["kind"], "DeploymentList");
    assert_eq!(list["apiVersion"], "apps/v1");
    assert!(list["items"][0].get("kind").is_none());

    // GET /scale.
    let scale_path = format!("{}/web/scale", deployments(NS));
    let scale = api.get(&scale_path).await;
    assert_eq!(scale.status, 200);
    assert_eq!(
        scale.body,
        json!({
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": "web", "namespace": NS, "uid": got["metadata"]["uid"],
                "resourceVersion": got["metadata"]["resourceVersion"],
                "creationTimestamp": got["metadata"]["creationTimestamp"]
            },
            "spec": {"replicas": 2},
            "status": {"replicas": 2, "selector": "app=web"}
        })
    );

    // PUT /scale changes spec.replicas; status follows.
    let mut new_scale = scale.body.clone();
    new_scale["spec"]["replicas"] = json!(5);
    let put = api.put(&scale_path, &new_scale).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["kind"], "Scale");
    assert_eq!(put.body["spec"]["replicas"], 5);
    let after = api.get(&format!("{}/web", deployments(NS))).await.body;
    assert_eq!(after["spec"]["replicas"], 5);
    assert_eq!(after["metadata"]["generation"], 2);
    assert_eq!(after["status"]["replicas"], 5);
    assert_eq!(after["status"]["readyReplicas"], 5);
    assert_eq!(after["status"]["availableReplicas"], 5);
    assert_eq!(after["status"]["observedGeneration"], 2);
    assert_eq!(api.get(&scale_path).await.body["status"]["replicas"], 5);

    // The old scale's resourceVersion is stale now.
    let conflict = api.put(&scale_path, &new_scale).await;
    assert_eq!(conflict.status, 409, "{}", conflict.text);
    assert_eq!(
        conflict.body["message"],
        "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // PATCH /scale to zero: replica counts disappear from status.
    let patched = api
        .patch(&scale_path, MERGE, &json!({"spec": {"replicas": 0}}))
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["spec"]["replicas"], 0);
    let zero = api.get(&format!("{}/web", deployments(NS))).await.body;
    assert_eq!(zero["spec"]["replicas"], 0);
    assert!(zero["status"].get("readyReplicas").is_none());
    assert_eq!(api.get(&scale_path).await.body["status"]["replicas"], 0);

    let negative = api
        .patch(&scale_path, MERGE, &json!({"spec": {"replicas": -1}}))
        .await;
    assert_eq!(negative.status, 422);
    assert_eq!(
        negative.body["message"],
        "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
    let wrong_name = api
        .put(&scale_path, &json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "x"}, "spec": {"replicas": 1}}))
        .await;
    assert_eq!(wrong_name.status, 400);
    let missing = api.get(&format!("{}/ghost/scale", deployments(NS))).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body["message"],
        "deployments.apps \"ghost\" not found"
    );

    // Validation.
    let mut bad = deployment("bad", 1);
    bad["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
    let invalid = api.post(&deployments(NS), &bad).await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        invalid.body["details"]["causes"][0]["field"],
        "spec.template.metadata.labels"
    );
    assert!(invalid.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Deployment.apps \"bad\" is invalid"));

    // DELETE answers a Status naming apps/deployments.
    let deleted = api.delete(&format!("{}/web", deployments(NS))).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["status"], "Success");
    assert_eq!(deleted.body["details"]["group"], "apps");
    assert_eq!(deleted.body["details"]["kind"], "deployments");
}

#[tokio::test]
async fn token_requests() {
    let (_server, api) = start(false).await;
    let token_path = format!("{}/robot/token", service_accounts(NS));
    let missing = api
        .post(
            &token_path,
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body["message"],
        "serviceaccounts \"robot\" not found"
    );

    let sa = api
        .post(
            &service_accounts(NS),
            &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot"}}),
        )
        .await;
    assert_eq!(sa.status, 201);
    let got = api.get(&format!("{}/robot", service_accounts(NS))).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["metadata"]["uid"], sa.body["metadata"]["uid"]);

    // Defaults: one hour, the API server audience.
    let before = chrono::Utc::now();
    let issued = api
        .post(
            &token_path,
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let body = &issued.body;
    assert_eq!(body["kind"], "TokenRequest");
    assert_eq!(body["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(body["spec"]["expirationSeconds"], 3600);
    assert_eq!(
        body["spec"]["audiences"],
        json!(["https://kubernetes.default.svc.cluster.local"])
    );
    let token = body["status"]["token"].as_str().unwrap();
    assert!(!token.is_empty());
    let expires = chrono::DateTime::parse_from_rfc3339(
        body["status"]["expirationTimestamp"].as_str().unwrap(),
    )
    .unwrap();
    let lifetime = expires.timestamp() - before.timestamp();
    assert!((3599..=3602).contains(&lifetime), "{lifetime}");

    // Requested audiences and lifetime are echoed, and the JWT-shaped
    // token carries the usual claims.
    let custom = api
        .post(&token_path, &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["openclaw"], "expirationSeconds": 600}}))
        .await;
    assert_eq!(custom.status, 201, "{}", custom.text);
    assert_eq!(custom.body["spec"]["audiences"], json!(["openclaw"]));
    assert_eq!(custom.body["spec"]["expirationSeconds"], 600);
    let token = custom.body["status"]["token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let claims: serde_json::Value = serde_json::from_slice(&decode_b64url(parts[1])).unwrap();
    assert_eq!(claims["sub"], format!("system:serviceaccount:{NS}:robot"));
    assert_eq!(claims["aud"], json!(["openclaw"]));
    assert_ne!(token, body["status"]["token"].as_str().unwrap());

    let short = api
        .post(&token_path, &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 10}}))
        .await;
    assert_eq!(short.status, 422);
    assert_eq!(
        short.body["message"],
        "TokenRequest.authentication.k8s.io \"robot\" is invalid: spec.expirationSeconds: Invalid value: 10: may not specify a duration less than 10 minutes"
    );

    // ServiceAccount DELETE answers the deleted object (ReturnDeletedObject).
    let deleted = api.delete(&format!("{}/robot", service_accounts(NS))).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["kind"], "ServiceAccount");
    assert_eq!(api.post(&token_path, &json!({})).await.status, 404);
}

fn decode_b64url(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        buffer = (buffer << 6) | ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn discovery() {
    let (_server, api) = start(false).await;
    let version = api.get("/version").await;
    assert_eq!(version.status, 200);
    assert_eq!(version.body["major"], "1");
    let apis = api.get("/apis").await.body;
    assert_eq!(apis["kind"], "APIGroupList");
    let names: Vec<&str> = apis["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["opencrane.io", "apps"]);
    let resources = api.get("/apis/opencrane.io/v1alpha1").await.body;
    assert_eq!(resources["groupVersion"], "opencrane.io/v1alpha1");
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"tenants")
            && names.contains(&"tenants/status")
            && names.contains(&"clustertenants")
    );
    let core = api.get("/api/v1").await.body;
    assert!(core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "serviceaccounts/token"));
    assert_eq!(api.get("/api").await.body["versions"], json!(["v1"]));
    assert_eq!(api.get("/apis/apps").await.body["kind"], "APIGroup");
}
