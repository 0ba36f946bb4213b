//! `POST /auth/pod-token` through the Wasm host: a browser session signed
//! in at the real identity provider gets a TokenRequest-minted token for
//! the tenant whose email is the session's verified email, and the four
//! refusals (no session, no tenant, several tenants, no ingress host).

#![allow(clippy::unwrap_used)]

use cp_tests::oidc::{cp_url, signed_in, Browser};
use cp_tests::{call, db, email, env, exclusive, jwt_claims, sign_up, unique, Resp, NAMESPACE};
use serde_json::json;

async fn pod_token(browser: &Browser) -> Resp {
    browser
        .request(
            "POST",
            &cp_url("/api/v1/auth/pod-token"),
            &[("x-requested-with", "cli")],
            None,
        )
        .await
}

/// A tenant owned by `email` (created while no test has the operator down).
async fn tenant_for(email: &str) -> String {
    let _fleet = exclusive().await;
    create(email).await
}

async fn create(email: &str) -> String {
    let name = unique("pod");
    call("POST", "/api/v1/tenants")
        .json(&json!({"name": name, "email": email}))
        .send()
        .await
        .expect(201);
    name
}

#[tokio::test]
async fn a_session_gets_a_short_lived_token_for_its_own_pod() {
    let who = email("pod-ada");
    let tenant = tenant_for(&who.to_uppercase()).await;
    let browser = signed_in(&who).await;

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let data = pod_token(&browser).await.expect(200)["data"].clone();
    let host = format!("{tenant}.tenants.localhost");
    assert_eq!(data["tenant"], tenant.as_str());
    assert_eq!(data["ingressHost"], host.as_str());
    assert_eq!(data["audience"], format!("https://{host}").as_str());
    // Minted by the TokenRequest API for the tenant's service account,
    // bound to the pod's audience, for 10 minutes.
    let claims = jwt_claims(data["token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!([format!("https://{host}")]));
    assert_eq!(
        claims["sub"],
        format!("system:serviceaccount:{NAMESPACE}:{tenant}").as_str()
    );
    let exp = claims["exp"].as_i64().unwrap();
    assert!((before + 590..=before + 610).contains(&exp), "{exp}");
    assert!(data["expiresAt"].as_str().unwrap().ends_with('Z'));
    // Audited without the token.
    let detail: serde_json::Value = db()
        .await
        .query_one(
            "SELECT detail FROM audit_log WHERE action = 'createPodToken' AND tenant = $1",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(detail["audience"], format!("https://{host}").as_str());
    assert!(!detail.to_string().contains(data["token"].as_str().unwrap()));

    // Cookie-authenticated, so the CSRF header is required.
    browser
        .request("POST", &cp_url("/api/v1/auth/pod-token"), &[], None)
        .await
        .expect_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn without_a_session_it_is_401() {
    call("POST", "/api/v1/auth/pod-token")
        .anonymous()
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    // A bearer-token user has no session, even with a tenant of their own.
    let user = sign_up("pod-bearer").await;
    tenant_for(&user.email).await;
    user.call("POST", "/api/v1/auth/pod-token")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    // Nor has the operator.
    call("POST", "/api/v1/auth/pod-token")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    // A session that was logged out.
    let browser = signed_in(&email("pod-out")).await;
    browser
        .request("POST", &cp_url("/api/v1/auth/logout"), &[], None)
        .await;
    pod_token(&browser).await.expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn without_a_tenant_for_the_email_it_is_403() {
    let browser = signed_in(&email("pod-none")).await;
    let err = pod_token(&browser).await.expect_error(403, "FORBIDDEN");
    assert!(
        err["error"].as_str().unwrap().contains("no tenant"),
        "{err}"
    );
}

#[tokio::test]
async fn several_tenants_is_409() {
    let who = email("pod-two");
    let a = tenant_for(&who).await;
    let b = tenant_for(&who).await;
    let browser = signed_in(&who).await;
    let err = pod_token(&browser).await.expect_error(409, "CONFLICT");
    let message = err["error"].as_str().unwrap();
    assert!(message.contains(&a) && message.contains(&b), "{message}");
}

#[tokio::test]
async fn a_pod_without_an_ingress_host_yet_is_409() {
    // The operator is down while the tenant is created: its CRD has no
    // status, so neither it nor the row knows a host.
    let who = email("pod-nohost");
    let tenant = {
        let _fleet = exclusive().await;
        env().kube.set_operator(false);
        let tenant = create(&who).await;
        env().kube.set_operator(true);
        tenant
    };
    let browser = signed_in(&who).await;
    let err = pod_token(&browser).await.expect_error(409, "CONFLICT");
    assert!(
        err["error"].as_str().unwrap().contains("ingress host"),
        "{err}"
    );
    let row_host: Option<String> = db()
        .await
        .query_one(
            "SELECT ingress_host FROM tenants WHERE name = $1",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(row_host, None);
}

#[tokio::test]
async fn the_tenant_comes_from_the_sessions_verified_email_only() {
    // Changing the profile email to another person's does not reach their pod.
    let victim = email("pod-victim");
    tenant_for(&victim).await;
    let browser = signed_in(&email("pod-mallory")).await;
    let body = json!({ "email": victim }).to_string();
    browser
        .request(
            "PATCH",
            &cp_url("/api/v1/auth/me"),
            &[("x-requested-with", "x")],
            Some((body.into_bytes(), "application/json")),
        )
        .await
        // An email change needs the current password, which a provider
        // account has none of (issue 12 item 4: and it would only be pending).
        .expect_error(400, "VALIDATION_ERROR");
    pod_token(&browser).await.expect_error(403, "FORBIDDEN");
}
