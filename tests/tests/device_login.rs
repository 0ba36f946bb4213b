//! CLI login by the device authorization grant (RFC 8628) against the real
//! identity provider, through the Wasm host: the CLI's calls, the browser
//! that signs in at the provider and approves on the activation page, the
//! token collected exactly once, denial, expiry, polling too fast, and the
//! page's CSRF defence.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cp_tests::oidc::{
    authorize, cp_url, form_action, hidden_input, issuer, signed_in, Browser,
    DEVICE_POLL_INTERVAL_SECS,
};
use cp_tests::{bearer, call, db, email, Resp};
use serde_json::Value;

async fn start() -> Value {
    call("POST", "/api/v1/auth/device")
        .anonymous()
        .send()
        .await
        .expect(201)["data"]
        .clone()
}

async fn poll(device_code: &str) -> Resp {
    call(
        "GET",
        &format!(
            "/api/v1/auth/device/token?deviceCode={}",
            cp_http::request::percent_encode(device_code)
        ),
    )
    .anonymous()
    .send()
    .await
}

/// Waits out the poll interval.
async fn pause() {
    tokio::time::sleep(Duration::from_millis(
        DEVICE_POLL_INTERVAL_SECS * 1000 + 150,
    ))
    .await;
}

/// The activation page for `grant`, as the signed-in `browser` sees it.
async fn activation_page(browser: &Browser, grant: &Value) -> String {
    let resp = browser
        .get(grant["verificationUriComplete"].as_str().unwrap())
        .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("x-frame-options"), Some("DENY"));
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    resp.text()
}

/// Submits the page's form whose action ends with `action`.
async fn submit(browser: &Browser, html: &str, action: &str) -> Resp {
    let start = html
        .find(&format!("/api/v1/auth/device/{action}\""))
        .unwrap();
    let form = &html[html[..start].rfind("<form").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    let user_code = hidden_input(form, "userCode").unwrap();
    let csrf = hidden_input(form, "csrfToken").unwrap();
    browser
        .post_form(
            &cp_url(&form_action(form)),
            &[("userCode", &user_code), ("csrfToken", &csrf)],
        )
        .await
}

#[tokio::test]
async fn a_cli_signs_in_with_the_device_grant_end_to_end() {
    let grant = start().await;
    let device_code = grant["deviceCode"].as_str().unwrap();
    let user_code = grant["userCode"].as_str().unwrap();
    assert!(device_code.starts_with("cpd_"));
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert!(user_code
        .chars()
        .all(|c| c == '-' || "BCDFGHJKMNPQRSTVWXZ23456789".contains(c)));
    let activate = cp_url("/api/v1/auth/device/activate");
    assert_eq!(grant["verificationUri"], activate.as_str());
    assert_eq!(
        grant["verificationUriComplete"],
        format!("{activate}?userCode={user_code}").as_str()
    );
    assert_eq!(grant["interval"], DEVICE_POLL_INTERVAL_SECS);
    assert_eq!(grant["expiresIn"], 600);
    // Only the device code's digest is stored.
    let stored: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM device_grants WHERE device_code_hash = $1 AND user_code = $2",
            &[&cp_crypto::token_hash(device_code), &user_code],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);

    // Pending; polling again at once is too fast.
    let pending = poll(device_code).await.expect(202);
    assert_eq!(pending["data"]["status"], "authorization_pending");
    let fast = poll(device_code).await;
    fast.expect_error(429, "RATE_LIMITED");
    assert_eq!(fast.header("retry-after"), Some("1"));

    // The person opens the link: no session yet, so the provider first.
    let browser = Browser::new();
    let resp = browser
        .get(grant["verificationUriComplete"].as_str().unwrap())
        .await;
    assert_eq!(resp.status, 303);
    let login = resp.header("location").unwrap().to_owned();
    assert!(login.starts_with("/api/v1/auth/login?returnTo="), "{login}");
    let resp = browser.get(&cp_url(&login)).await;
    assert_eq!(resp.status, 302);
    let who = email("device-ada");
    let callback = authorize(&browser, resp.header("location").unwrap(), &who).await;
    let resp = browser.get(&callback).await;
    assert_eq!(resp.status, 303);
    assert_eq!(
        resp.header("location").unwrap(),
        format!("/api/v1/auth/device/activate?userCode={user_code}")
    );
    let html = activation_page(&browser, &grant).await;
    assert!(html.contains(&who) && html.contains(user_code), "{html}");

    let approved = submit(&browser, &html, "approve").await;
    assert_eq!(approved.status, 200, "{}", approved.text());
    assert!(approved.text().contains("signed in"));

    // The next poll gets the token, exactly once.
    pause().await;
    let session = poll(device_code).await.expect(200)["data"].clone();
    assert_eq!(session["user"]["email"], who.as_str());
    assert_eq!(session["tokenType"], "Bearer");
    let me = bearer(
        session["accessToken"].as_str().unwrap(),
        "GET",
        "/api/v1/auth/me",
    )
    .send()
    .await
    .expect(200);
    assert_eq!(me["data"]["user"]["email"], who.as_str());
    pause().await;
    poll(device_code)
        .await
        .expect_error(410, "DEVICE_CODE_USED");
    // Deciding again is refused.
    submit(&browser, &html, "deny")
        .await
        .expect_error(409, "CONFLICT");
}

#[tokio::test]
async fn a_denied_device_gets_no_token() {
    let grant = start().await;
    let browser = signed_in(&email("device-deny")).await;
    let html = activation_page(&browser, &grant).await;
    let denied = submit(&browser, &html, "deny").await;
    assert_eq!(denied.status, 200, "{}", denied.text());
    poll(grant["deviceCode"].as_str().unwrap())
        .await
        .expect_error(410, "DEVICE_CODE_DENIED");
    submit(&browser, &html, "approve")
        .await
        .expect_error(409, "CONFLICT");
}

#[tokio::test]
async fn an_expired_device_code_is_gone() {
    let grant = start().await;
    let user_code = grant["userCode"].as_str().unwrap();
    let browser = signed_in(&email("device-late")).await;
    let html = activation_page(&browser, &grant).await;
    db().await
        .execute(
            "UPDATE device_grants SET expires_at = now() - interval '1 second' WHERE user_code = $1",
            &[&user_code],
        )
        .await
        .unwrap();
    poll(grant["deviceCode"].as_str().unwrap())
        .await
        .expect_error(410, "DEVICE_CODE_EXPIRED");
    browser
        .get(grant["verificationUriComplete"].as_str().unwrap())
        .await
        .expect_error(410, "DEVICE_CODE_EXPIRED");
    submit(&browser, &html, "approve")
        .await
        .expect_error(410, "DEVICE_CODE_EXPIRED");
}

#[tokio::test]
async fn approving_needs_the_session_and_the_pages_csrf_token() {
    let grant = start().await;
    let user_code = grant["userCode"].as_str().unwrap().to_owned();
    let browser = signed_in(&email("device-csrf")).await;
    let html = activation_page(&browser, &grant).await;
    let csrf = hidden_input(&html, "csrfToken").unwrap();
    let approve = cp_url("/api/v1/auth/device/approve");

    // A forged form (another site cannot know the token).
    browser
        .post_form(
            &approve,
            &[("userCode", &user_code), ("csrfToken", "forged")],
        )
        .await
        .expect_error(403, "FORBIDDEN");
    browser
        .post_form(&approve, &[("userCode", &user_code)])
        .await
        .expect_error(403, "FORBIDDEN");
    // Another browser (no session) with the right token.
    Browser::new()
        .post_form(&approve, &[("userCode", &user_code), ("csrfToken", &csrf)])
        .await
        .expect_error(401, "UNAUTHORIZED");
    // A signed-in someone else: the token is bound to the session.
    let other = signed_in(&email("device-other")).await;
    other
        .post_form(&approve, &[("userCode", &user_code), ("csrfToken", &csrf)])
        .await
        .expect_error(403, "FORBIDDEN");
    // Not a form.
    let body = format!("{{\"userCode\":\"{user_code}\",\"csrfToken\":\"{csrf}\"}}");
    browser
        .request(
            "POST",
            &approve,
            &[],
            Some((body.into_bytes(), "application/json")),
        )
        .await
        .expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
    // Unknown and malformed codes.
    browser
        .post_form(&approve, &[("userCode", "BCDF-BCDF"), ("csrfToken", &csrf)])
        .await
        .expect_error(404, "USER_CODE_NOT_FOUND");
    let err = browser
        .post_form(&approve, &[("userCode", "nope"), ("csrfToken", &csrf)])
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(err["fieldErrors"][0]["field"], "userCode");

    // Nothing of that approved it.
    poll(grant["deviceCode"].as_str().unwrap())
        .await
        .expect(202);
    // The code as a person may type it (lower case, no dash) works.
    let typed = user_code.replace('-', "").to_lowercase();
    let ok = browser
        .post_form(&approve, &[("userCode", &typed), ("csrfToken", &csrf)])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[tokio::test]
async fn the_activation_page_asks_for_a_code_and_polls_need_a_known_one() {
    let browser = signed_in(&email("device-page")).await;
    let resp = browser.get(&cp_url("/api/v1/auth/device/activate")).await;
    assert_eq!(resp.status, 200);
    assert!(resp.text().contains("name=\"userCode\""));
    browser
        .get(&cp_url("/api/v1/auth/device/activate?userCode=BCDF-BCDF"))
        .await
        .expect_error(404, "USER_CODE_NOT_FOUND");

    // A malformed code is refused before any sign-in.
    for bad in ["nope", ""] {
        Browser::new()
            .get(&cp_url(&format!(
                "/api/v1/auth/device/activate?userCode={bad}"
            )))
            .await
            .expect_error(400, "VALIDATION_ERROR");
    }

    poll("cpd_unknown").await.expect_error(401, "UNAUTHORIZED");
    call("GET", "/api/v1/auth/device/token")
        .anonymous()
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    call("POST", "/api/v1/auth/device")
        .anonymous()
        .json(&serde_json::json!({"clientId": "x"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    // The provider is the one of this test run.
    assert!(issuer().starts_with("http://127.0.0.1:"));
}
