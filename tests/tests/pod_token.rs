//! `POST /auth/pod-token` through the Wasm host: a browser session signed
//! in at the real identity provider gets a TokenRequest-minted token for
//! the tenant the user owns (`ownerId`, set by the server), and the four
//! refusals (no session, no tenant, several tenants, no ingress host). A
//! tenant's editable `email` decides nothing.

#![allow(clippy::unwrap_used)]

use cp_tests::oidc::{cp_url, signed_in, Browser};
use cp_tests::{call, db, email, env, exclusive, jwt_claims, sign_up, unique, Resp, NAMESPACE};
use serde_json::json;

/// The signed-in user's id.
async fn user_id(browser: &Browser) -> String {
    let me = browser.get(&cp_url("/api/v1/auth/me")).await.expect(200);
    me["data"]["user"]["id"].as_str().unwrap().to_owned()
}

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

/// A tenant an operator assigns to user `owner` (created while no test has
/// the operator down).
async fn tenant_for(owner: &str) -> String {
    let _fleet = exclusive().await;
    create(owner).await
}

async fn create(owner: &str) -> String {
    let name = unique("pod");
    let created = call("POST", "/api/v1/tenants")
        .json(&json!({"name": name, "email": "contact@example.com", "ownerId": owner}))
        .send()
        .await
        .expect(201);
    assert_eq!(created["data"]["ownerId"], owner);
    name
}

#[tokio::test]
async fn a_session_gets_a_short_lived_token_for_its_own_pod() {
    let browser = signed_in(&email("pod-ada")).await;
    let tenant = tenant_for(&user_id(&browser).await).await;

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
    tenant_for(&user.id).await;
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
async fn without_a_tenant_of_ones_own_it_is_403() {
    let who = email("pod-none");
    // A tenant carrying the user's email is not theirs.
    tenant_for_email(&who).await;
    let browser = signed_in(&who).await;
    let err = pod_token(&browser).await.expect_error(403, "FORBIDDEN");
    assert!(
        err["error"].as_str().unwrap().contains("no tenant"),
        "{err}"
    );
}

/// A platform tenant no one owns, with contact email `email`.
async fn tenant_for_email(email: &str) -> String {
    let _fleet = exclusive().await;
    let name = unique("pod");
    call("POST", "/api/v1/tenants")
        .json(&json!({"name": name, "email": email}))
        .send()
        .await
        .expect(201);
    name
}

#[tokio::test]
async fn several_tenants_is_409() {
    let browser = signed_in(&email("pod-two")).await;
    let who = user_id(&browser).await;
    let a = tenant_for(&who).await;
    let b = tenant_for(&who).await;
    let err = pod_token(&browser).await.expect_error(409, "CONFLICT");
    let message = err["error"].as_str().unwrap();
    assert!(message.contains(&a) && message.contains(&b), "{message}");
}

#[tokio::test]
async fn a_pod_without_an_ingress_host_yet_is_409() {
    // The operator is down while the tenant is created: its CRD has no
    // status, so neither it nor the row knows a host.
    let browser = signed_in(&email("pod-nohost")).await;
    let who = user_id(&browser).await;
    let tenant = {
        let _fleet = exclusive().await;
        env().kube.set_operator(false);
        let tenant = create(&who).await;
        env().kube.set_operator(true);
        tenant
    };
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
async fn a_tenants_email_never_decides_whose_pod_it_is() {
    let victim_email = email("pod-victim");
    let victim = signed_in(&victim_email).await;
    let victim_tenant = tenant_for(&user_id(&victim).await).await;
    let mallory_email = email("pod-mallory");
    let mallory = signed_in(&mallory_email).await;

    // The victim's tenant is pointed at Mallory's email (any writer of the
    // contact field could do it) ...
    let current = call("GET", &format!("/api/v1/tenants/{victim_tenant}"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    call("PUT", &format!("/api/v1/tenants/{victim_tenant}"))
        .json(&json!({ "email": mallory_email }))
        .send()
        .await
        .expect(200);
    // ... which neither hands Mallory a token for it nor moves its owner.
    pod_token(&mallory).await.expect_error(403, "FORBIDDEN");
    let after = call("GET", &format!("/api/v1/tenants/{victim_tenant}"))
        .send()
        .await
        .expect(200);
    assert_eq!(after["data"]["ownerId"], current["ownerId"]);

    // A stranger's self-service tenant carrying the victim's email does not
    // turn the victim's pod token into a 409 naming both.
    let stranger = sign_up("pod-stranger").await;
    let org = stranger
        .call("POST", "/api/v1/organizations")
        .json(&json!({"name": unique("pod-org")}))
        .send()
        .await
        .expect(201);
    let org_id = org["data"]["id"].as_str().unwrap();
    let decoy = unique("pod");
    {
        let _fleet = exclusive().await;
        stranger
            .call("POST", &format!("/api/v1/organizations/{org_id}/tenants"))
            .json(&json!({"name": decoy, "email": victim_email}))
            .send()
            .await
            .expect(201);
    }
    let token = pod_token(&victim).await.expect(200);
    assert_eq!(token["data"]["tenant"], victim_tenant.as_str());
}
