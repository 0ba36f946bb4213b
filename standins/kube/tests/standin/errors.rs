//! `Status` error objects, exactly as the real API server sends them.

use hyper::Method;
use serde_json::{json, Value};

use crate::common::*;

/// Posts `tenant` and checks the refusal: its status and `Status` message.
async fn assert_refused(api: &Api, tenant: &Value, status: u16, message: &str) {
    let post = api.post(&tenants(NS), tenant).await;
    assert_eq!(post.status, status, "{}", post.text);
    assert_eq!(post.body["message"], message);
}

#[tokio::test]
async fn not_found_already_exists_and_conflict() {
    let (_server, api) = start(false).await;
    let missing = api.get(&tenant_path("x")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "tenants.opencrane.io \"x\" not found", "reason": "NotFound",
            "details": {"name": "x", "group": "opencrane.io", "kind": "tenants"}, "code": 404
        })
    );

    let first = api.post(&tenants(NS), &tenant("x")).await;
    assert_eq!(first.status, 201);
    let again = api.post(&tenants(NS), &tenant("x")).await;
    assert_eq!(again.status, 409);
    assert_eq!(
        again.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "tenants.opencrane.io \"x\" already exists", "reason": "AlreadyExists",
            "details": {"name": "x", "group": "opencrane.io", "kind": "tenants"}, "code": 409
        })
    );

    // Stale resourceVersion on PUT.
    let mut stale = first.body.clone();
    api.patch(&tenant_path("x"), MERGE, &json!({"spec": {"team": "new"}}))
        .await;
    stale["spec"]["team"] = json!("mine");
    let conflict = api.put(&tenant_path("x"), &stale).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(
        conflict.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Operation cannot be fulfilled on tenants.opencrane.io \"x\": the object has been modified; please apply your changes to the latest version and try again",
            "reason": "Conflict",
            "details": {"name": "x", "group": "opencrane.io", "kind": "tenants"}, "code": 409
        })
    );
    // ... and on a merge patch that carries one.
    let conflict = api
        .patch(
            &tenant_path("x"),
            MERGE,
            &json!({"metadata": {"resourceVersion": "1"}, "spec": {"team": "z"}}),
        )
        .await;
    assert_eq!(conflict.status, 409);

    // Core resources have no group in messages or details.
    let sa = api.get(&format!("{}/nobody", service_accounts(NS))).await;
    assert_eq!(sa.body["message"], "serviceaccounts \"nobody\" not found");
    assert_eq!(
        sa.body["details"],
        json!({"name": "nobody", "kind": "serviceaccounts"})
    );
    let dep = api.get(&format!("{}/nobody", deployments(NS))).await;
    assert_eq!(dep.body["message"], "deployments.apps \"nobody\" not found");
}

#[tokio::test]
async fn invalid_objects_are_422_with_causes() {
    let (_server, api) = start(false).await;
    let bad_name = api.post(&tenants(NS), &tenant("Bad_Name")).await;
    assert_eq!(bad_name.status, 422, "{}", bad_name.text);
    let expected_detail = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    assert_eq!(
        bad_name.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("Tenant.opencrane.io \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": {expected_detail}"),
            "reason": "Invalid",
            "details": {
                "name": "Bad_Name", "group": "opencrane.io", "kind": "Tenant",
                "causes": [{"reason": "FieldValueInvalid", "message": format!("Invalid value: \"Bad_Name\": {expected_detail}"), "field": "metadata.name"}]
            },
            "code": 422
        })
    );

    let mut t = tenant("v");
    t["spec"] = json!({"monthlyBudgetUsd": -1, "resources": {"cpu": "lots"}, "suspended": "yes"});
    let invalid = api.post(&tenants(NS), &t).await;
    assert_eq!(invalid.status, 422, "{}", invalid.text);
    let causes = invalid.body["details"]["causes"].as_array().unwrap();
    let fields: Vec<&str> = causes
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"spec.email"), "{fields:?}");
    assert!(fields.contains(&"spec.monthlyBudgetUsd"));
    assert!(fields.contains(&"spec.resources.cpu"));
    assert!(fields.contains(&"spec.suspended"));
    let message = invalid.body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Tenant.opencrane.io \"v\" is invalid: ["),
        "{message}"
    );
    assert!(message.contains("spec.email: Required value"), "{message}");
    assert!(message.contains("spec.monthlyBudgetUsd: Invalid value: -1: spec.monthlyBudgetUsd in body should be greater than or equal to 0"), "{message}");
    assert!(message.contains("spec.suspended: Invalid value: \"string\": spec.suspended in body must be of type boolean: \"string\""), "{message}");

    let mut t = tenant("l");
    t["metadata"]["labels"] = json!({"bad key!": "v"});
    let invalid = api.post(&tenants(NS), &t).await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        invalid.body["details"]["causes"][0]["field"],
        "metadata.labels"
    );
}

#[tokio::test]
async fn mismatched_bodies_are_rejected() {
    let (_server, api) = start(false).await;
    api.post(&tenants(NS), &tenant("m")).await;

    let put = api.put(&tenant_path("m"), &tenant("other")).await;
    assert_eq!(put.status, 400);
    assert_eq!(
        put.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the name of the object (other) does not match the name on the URL (m)",
            "reason": "BadRequest", "code": 400
        })
    );

    let mut t = tenant("n");
    t["metadata"]["namespace"] = json!("elsewhere");
    assert_refused(
        &api,
        &t,
        400,
        "the namespace of the provided object does not match the namespace sent on the request",
    )
    .await;

    let mut t = tenant("n");
    t["apiVersion"] = json!("opencrane.io/v2");
    assert_refused(&api, &t, 400, "the API version in the data (opencrane.io/v2) does not match the expected API version (opencrane.io/v1alpha1)").await;

    // A wrong kind is a 422 on `kind` for custom resources, as the real
    // apiextensions server answers.
    let mut t = tenant("n");
    t["kind"] = json!("AccessPolicy");
    assert_refused(&api, &t, 422, "AccessPolicy.opencrane.io \"n\" is invalid: kind: Invalid value: \"AccessPolicy\": must be Tenant").await;
    // For built-in types it is a 400.
    let mut d = deployment("n", 1);
    d["kind"] = json!("StatefulSet");
    let post = api.post(&deployments(NS), &d).await;
    assert_eq!(post.status, 400, "{}", post.text);

    let mut t = tenant("n");
    t["metadata"]["resourceVersion"] = json!("5");
    assert_eq!(api.post(&tenants(NS), &t).await.status, 400);

    let garbage = api
        .send(
            Method::POST,
            &tenants(NS),
            Some(JSON),
            Some(b"{nope".to_vec()),
        )
        .await;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.body["reason"], "BadRequest");
    let no_kind = api
        .post(&tenants(NS), &json!({"metadata": {"name": "k"}}))
        .await;
    assert_eq!(no_kind.status, 400);
}

#[tokio::test]
async fn unsupported_media_types_are_415() {
    let (_server, api) = start(false).await;
    api.post(&tenants(NS), &tenant("c")).await;

    let strategic = api
        .patch(
            &tenant_path("c"),
            "application/strategic-merge-patch+json",
            &json!({"spec": {}}),
        )
        .await;
    assert_eq!(strategic.status, 415);
    assert_eq!(
        strategic.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            "reason": "UnsupportedMediaType", "code": 415
        })
    );
    let text = api
        .send(
            Method::POST,
            &tenants(NS),
            Some("text/plain"),
            Some(tenant("d").to_string().into_bytes()),
        )
        .await;
    assert_eq!(text.status, 415);
    let no_type = api
        .send(Method::PATCH, &tenant_path("c"), None, Some(b"{}".to_vec()))
        .await;
    assert_eq!(no_type.status, 415);
    let apply = api
        .patch(
            &tenant_path("c"),
            "application/apply-patch+yaml",
            &json!({}),
        )
        .await;
    assert_eq!(apply.status, 415);
    // JSON with a charset parameter is fine, and so is no Content-Type on POST.
    let charset = api
        .send(
            Method::POST,
            &tenants(NS),
            Some("application/json; charset=utf-8"),
            Some(tenant("e").to_string().into_bytes()),
        )
        .await;
    assert_eq!(charset.status, 201, "{}", charset.text);
    let bare = api
        .send(
            Method::POST,
            &tenants(NS),
            None,
            Some(tenant("f").to_string().into_bytes()),
        )
        .await;
    assert_eq!(bare.status, 201, "{}", bare.text);
    // Built-in types accept strategic merge patches.
    api.post(&deployments(NS), &deployment("web", 1)).await;
    let smp = api
        .patch(
            &format!("{}/web", deployments(NS)),
            "application/strategic-merge-patch+json",
            &json!({"metadata": {"labels": {"x": "y"}}}),
        )
        .await;
    assert_eq!(smp.status, 200, "{}", smp.text);
}

#[tokio::test]
async fn bearer_token_is_required() {
    let (server, _api) = start(false).await;
    let anonymous = Api::new(server.url(), None);
    let denied = anonymous.get(&tenants(NS)).await;
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Unauthorized", "reason": "Unauthorized", "code": 401
        })
    );
    let wrong = Api::new(server.url(), Some("wrong"));
    assert_eq!(wrong.post(&tenants(NS), &tenant("a")).await.status, 401);
    for probe in ["/healthz", "/readyz", "/livez"] {
        let ok = anonymous.get(probe).await;
        assert_eq!((ok.status, ok.text.as_str()), (200, "ok"), "{probe}");
    }
    // No token configured: everything is open.
    let (_open, open_api) = {
        let s = cp_kube_standin::StandIn::start(cp_kube_standin::StandInConfig::default())
            .await
            .unwrap();
        let a = Api::new(s.url(), None);
        (s, a)
    };
    assert_eq!(open_api.get(&tenants(NS)).await.status, 200);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let (_server, api) = start(false).await;
    let expected = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server could not find the requested resource", "reason": "NotFound",
        "details": {}, "code": 404
    });
    for path in [
        "/apis/opencrane.io/v1alpha1/namespaces/a/widgets",
        "/apis/opencrane.io/v2/namespaces/a/tenants",
        "/api/v1/namespaces/a/pods",
        "/apis/opencrane.io/v1alpha1/namespaces/a/tenants/x/scale",
        "/nope",
    ] {
        let r = api.get(path).await;
        assert_eq!((r.status, &r.body), (404, &expected), "{path}");
    }
    let not_allowed = api.post(&tenant_path("x"), &tenant("x")).await;
    assert_eq!(not_allowed.status, 405);
    assert_eq!(not_allowed.body["reason"], "MethodNotAllowed");
    let watch = api.get(&format!("{}?watch=true", tenants(NS))).await;
    assert_eq!(watch.status, 400);
}
