//! Federated login against a real identity provider (oidc-provider, started
//! by `scripts/oidc.sh`), through the Wasm host: the browser flow driven by
//! a cookie-keeping HTTP client (login → provider → callback → session
//! cookie → /auth/me), what must be refused on the way (tampered state, a
//! replayed callback or code, a wrong nonce, another browser, unverified
//! emails), logout, cookie-authenticated writes and their CSRF header, and
//! the ID-token exchange (audience, expiry, signature, both algorithms).

#![allow(clippy::unwrap_used)]

use cp_tests::oidc::{
    authorize, cp_url, issuer, log_in, provider_id_token, query_param, signed_in, split_url,
    start_login, with_query_param, Browser, CLIENT_ID, CLI_CLIENT_ID, OTHER_CLIENT_ID,
};
use cp_tests::{bearer, call, db, email, env, log_in as password_log_in, sign_up, GOOD_PASSWORD};
use serde_json::{json, Value};

fn cp_origin() -> String {
    env().url.clone()
}

async fn me(browser: &Browser) -> Value {
    browser.get(&cp_url("/api/v1/auth/me")).await.expect(200)["data"].clone()
}

#[tokio::test]
async fn anonymous_callers_learn_how_to_sign_in() {
    let data = call("GET", "/api/v1/auth/me")
        .anonymous()
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(data["kind"], "anonymous");
    assert_eq!(
        data["authModes"],
        json!(["oidc", "device", "password", "bearer"])
    );
    assert!(data.get("user").is_none());
}

#[tokio::test]
async fn a_browser_login_sets_a_session_cookie_that_authenticates_the_user() {
    let browser = Browser::new();
    let who = email("oidc-ada");

    // The authorization request: code flow, PKCE S256, state, nonce.
    let authorize_url = start_login(&browser, None).await;
    assert!(authorize_url.starts_with(&format!("{}/auth?", issuer())));
    assert_eq!(
        query_param(&authorize_url, "response_type").unwrap(),
        "code"
    );
    assert_eq!(query_param(&authorize_url, "client_id").unwrap(), CLIENT_ID);
    assert_eq!(
        query_param(&authorize_url, "code_challenge_method").unwrap(),
        "S256"
    );
    assert_eq!(
        query_param(&authorize_url, "redirect_uri").unwrap(),
        cp_url("/api/v1/auth/callback")
    );
    for p in ["state", "nonce", "code_challenge"] {
        assert!(query_param(&authorize_url, p).unwrap().len() >= 43, "{p}");
    }
    assert!(browser.cookie(&cp_origin(), "cp_login").is_some());

    let callback = authorize(&browser, &authorize_url, &who).await;
    assert!(
        callback.starts_with(&cp_url("/api/v1/auth/callback?")),
        "{callback}"
    );
    let resp = browser.get(&callback).await;
    assert_eq!(resp.status, 303, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("location"), Some("/api/v1/auth/me"));
    let set_cookie = resp.header("set-cookie").unwrap();
    for attr in [
        "__Host-cp_session=cps_",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let cookie = browser.cookie(&cp_origin(), "__Host-cp_session").unwrap();

    // Only the cookie's digest is stored.
    let row = db()
        .await
        .query_one(
            "SELECT s.token_hash, s.email, u.email AS user_email, u.password_hash IS NULL AS no_password
             FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
            &[&cp_crypto::token_hash(&cookie)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>("email"), who);
    assert_eq!(row.get::<_, String>("user_email"), who);
    assert!(row.get::<_, bool>("no_password"));

    let data = me(&browser).await;
    assert_eq!(data["kind"], "user");
    assert_eq!(data["user"]["email"], who.as_str());
    assert_eq!(data["session"]["email"], who.as_str());
    assert_eq!(data["session"]["issuer"], issuer().as_str());
    assert!(data["session"]["expiresAt"].as_str().is_some());

    // The cookie authenticates other routes as the user.
    browser
        .get(&cp_url("/api/v1/organizations"))
        .await
        .expect(200);
    // A cookie-authenticated write needs X-Requested-With (CSRF).
    let body = json!({"name": cp_tests::unique("oidc-org")}).to_string();
    browser
        .request(
            "POST",
            &cp_url("/api/v1/organizations"),
            &[],
            Some((body.clone().into_bytes(), "application/json")),
        )
        .await
        .expect_error(403, "FORBIDDEN");
    browser
        .request(
            "POST",
            &cp_url("/api/v1/organizations"),
            &[("x-requested-with", "XMLHttpRequest")],
            Some((body.into_bytes(), "application/json")),
        )
        .await
        .expect(201);
    // An operator route stays the operator's.
    browser
        .get(&cp_url("/api/v1/access-tokens"))
        .await
        .expect_error(403, "FORBIDDEN");

    // Logout ends the session and clears the cookie.
    let out = browser
        .request("POST", &cp_url("/api/v1/auth/logout"), &[], None)
        .await;
    assert_eq!(out.status, 204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert!(browser.cookie(&cp_origin(), "__Host-cp_session").is_none());
    assert_eq!(me(&browser).await["kind"], "anonymous");

    // The old cookie, sent again, is worth nothing.
    let replay = Browser::new();
    replay.set_cookie(&cp_origin(), "__Host-cp_session", &cookie);
    assert_eq!(me(&replay).await["kind"], "anonymous");
    replay
        .get(&cp_url("/api/v1/organizations"))
        .await
        .expect_error(401, "UNAUTHORIZED");
    // Logging out again is harmless.
    let again = replay
        .request("POST", &cp_url("/api/v1/auth/logout"), &[], None)
        .await;
    assert_eq!(again.status, 204);
    // Every session event is audited.
    let audited = db()
        .await
        .query_one(
            "SELECT count(*) FILTER (WHERE action = 'completeOidcLogin' AND outcome = 'success') AS logins,
                    count(*) FILTER (WHERE action = 'logOutSession') AS logouts
             FROM audit_log WHERE actor = (SELECT 'user:' || id::text FROM users WHERE email = $1)",
            &[&who],
        )
        .await
        .unwrap();
    assert_eq!(audited.get::<_, i64>("logins"), 1);
    assert_eq!(audited.get::<_, i64>("logouts"), 1);
}

#[tokio::test]
async fn the_same_person_is_the_same_user_and_verified_password_accounts_are_linked_by_email() {
    // A password account whose email is verified (test setup: there is no
    // verification flow yet); signing in through the provider with that
    // email reaches that account.
    let user = cp_tests::sign_up_verified("oidc-linked").await;
    let browser = signed_in(&user.email).await;
    assert_eq!(me(&browser).await["user"]["id"], user.id.as_str());
    let again = signed_in(&user.email).await;
    assert_eq!(me(&again).await["user"]["id"], user.id.as_str());
    let identities = db()
        .await
        .query_one(
            "SELECT count(*) FROM user_identities WHERE user_id = $1::text::uuid",
            &[&user.id],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(identities, 1);
    // The password still works for the password account...
    password_log_in(&user.email, GOOD_PASSWORD)
        .await
        .expect(200);

    // ...and an account made by the provider login has no password, and a
    // verified email.
    let who = email("oidc-nopw");
    let browser = signed_in(&who).await;
    assert_eq!(me(&browser).await["user"]["emailVerified"], true);
    password_log_in(&who, GOOD_PASSWORD)
        .await
        .expect_error(401, "UNAUTHORIZED");
}

/// Issue 12 item 4: someone signs up with a password as the victim's
/// address first and keeps an API key. The victim's identity-provider
/// login must not land in that account.
#[tokio::test]
async fn oidc_login_does_not_attach_to_unverified_password_account() {
    let victim = email("oidc-victim");
    let squatter = password_sign_up_with_key(&victim).await;
    assert_eq!(squatter.user["emailVerified"], false);

    let browser = Browser::new();
    let resp = log_in(&browser, &victim).await;
    let err = resp.expect_error(409, "ACCOUNT_EMAIL_UNVERIFIED");
    assert!(
        err["error"].as_str().unwrap().contains("not verified"),
        "{err}"
    );
    assert!(resp.header("set-cookie").is_none());
    assert!(browser.cookie(&cp_origin(), "__Host-cp_session").is_none());
    assert_no_identity_linked(&squatter.id).await;

    // The attacker's key still reaches only the attacker's own account,
    // which never got the victim's identity, session or organisations.
    let mine = bearer(&squatter.key, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(mine["user"]["id"], squatter.id.as_str());
    assert!(mine.get("session").is_none());
    let orgs = bearer(&squatter.key, "GET", "/api/v1/organizations")
        .send()
        .await
        .expect(200);
    assert_eq!(orgs["data"], json!([]));
}

/// Issue 12 item 4, through the ID-token exchange.
#[tokio::test]
async fn oidc_token_exchange_does_not_attach_to_unverified_password_account() {
    let victim = email("oidc-victim-cli");
    let squatter = password_sign_up_with_key(&victim).await;
    let token = provider_id_token(CLI_CLIENT_ID, &victim, None).await;
    exchange(&token)
        .await
        .expect_error(409, "ACCOUNT_EMAIL_UNVERIFIED");
    assert_no_identity_linked(&squatter.id).await;
}

/// Issue 12 item 4, by a profile email change: the attacker asks for the
/// colleague's address; it stays pending (unverified, unused), so the
/// colleague's login makes their own account, out of the attacker's reach.
#[tokio::test]
async fn a_profile_email_change_to_a_colleagues_address_does_not_capture_their_oidc_login() {
    let attacker = password_sign_up_with_key(&email("oidc-attacker")).await;
    let colleague = email("oidc-colleague");
    // Re-authentication is required.
    let err = bearer(&attacker.jwt, "PATCH", "/api/v1/auth/me")
        .json(&json!({"email": colleague}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(err["fieldErrors"][0]["field"], "currentPassword");
    let err = bearer(&attacker.jwt, "PATCH", "/api/v1/auth/me")
        .json(&json!({"email": colleague, "currentPassword": "not-the-password-1"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(err["fieldErrors"][0]["field"], "currentPassword");
    let changed = bearer(&attacker.jwt, "PATCH", "/api/v1/auth/me")
        .json(&json!({"email": colleague, "currentPassword": GOOD_PASSWORD}))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(changed["pendingEmail"], colleague.as_str());
    assert_ne!(changed["email"], colleague.as_str());

    // The colleague signs in through the provider and creates an
    // organisation: a new account, not the attacker's.
    let browser = signed_in(&colleague).await;
    let theirs = me(&browser).await;
    assert_ne!(theirs["user"]["id"], attacker.id.as_str());
    assert_eq!(theirs["user"]["email"], colleague.as_str());
    let body = json!({"name": cp_tests::unique("colleague-org")}).to_string();
    browser
        .request(
            "POST",
            &cp_url("/api/v1/organizations"),
            &[("x-requested-with", "XMLHttpRequest")],
            Some((body.into_bytes(), "application/json")),
        )
        .await
        .expect(201);
    let orgs = bearer(&attacker.key, "GET", "/api/v1/organizations")
        .send()
        .await
        .expect(200);
    assert_eq!(orgs["data"], json!([]));
    // The pending email never signs anyone in.
    password_log_in(&colleague, GOOD_PASSWORD)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_no_identity_linked(&attacker.id).await;
}

/// The owner of an unverified password account proves control by signing
/// in with the password, then links the provider identity with its ID
/// token; the account's email becomes verified and later provider logins
/// reach it.
#[tokio::test]
async fn a_signed_in_owner_links_the_provider_to_an_unverified_account() {
    let address = email("oidc-owner");
    let owner = password_sign_up_with_key(&address).await;
    let token = provider_id_token(CLI_CLIENT_ID, &address, None).await;
    let linked = bearer(&owner.jwt, "POST", "/api/v1/auth/oidc-token")
        .json(&json!({ "idToken": token }))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(linked["user"]["id"], owner.id.as_str());
    assert_eq!(linked["user"]["emailVerified"], true);
    let browser = signed_in(&address).await;
    assert_eq!(me(&browser).await["user"]["id"], owner.id.as_str());

    // Only an identity with the account's own email can be linked, and an
    // operator or access token cannot link anything.
    let other = password_sign_up_with_key(&email("oidc-owner2")).await;
    let token = provider_id_token(CLI_CLIENT_ID, &email("oidc-someone"), None).await;
    bearer(&other.jwt, "POST", "/api/v1/auth/oidc-token")
        .json(&json!({ "idToken": token }))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert_no_identity_linked(&other.id).await;
    let token = provider_id_token(CLI_CLIENT_ID, &email("oidc-op"), None).await;
    call("POST", "/api/v1/auth/oidc-token")
        .json(&json!({ "idToken": token }))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
}

/// A password account with an API key.
struct Squatter {
    id: String,
    jwt: String,
    key: String,
    user: Value,
}

async fn password_sign_up_with_key(address: &str) -> Squatter {
    let session = call("POST", "/api/v1/auth/signup")
        .anonymous()
        .json(&json!({"email": address, "password": GOOD_PASSWORD}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let jwt = session["accessToken"].as_str().unwrap().to_owned();
    let key = bearer(&jwt, "POST", "/api/v1/auth/api-keys")
        .json(&json!({"name": "kept"}))
        .send()
        .await
        .expect(201)["data"]["plainTextKey"]
        .as_str()
        .unwrap()
        .to_owned();
    Squatter {
        id: session["user"]["id"].as_str().unwrap().to_owned(),
        jwt,
        key,
        user: session["user"].clone(),
    }
}

async fn assert_no_identity_linked(user_id: &str) {
    let linked = db()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM user_identities WHERE user_id = $1::text::uuid)
                  + (SELECT count(*) FROM user_sessions WHERE user_id = $1::text::uuid)",
            &[&user_id],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(linked, 0, "the account got a provider identity or session");
}

#[tokio::test]
async fn a_tampered_state_is_refused_and_the_real_one_still_works() {
    let browser = Browser::new();
    let authorize_url = start_login(&browser, None).await;
    let callback = authorize(&browser, &authorize_url, &email("oidc-state")).await;
    let state = query_param(&callback, "state").unwrap();
    let tampered = with_query_param(&callback, "state", &format!("{state}x"));
    let err = browser
        .get(&tampered)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert!(err["error"].as_str().unwrap().contains("state"), "{err}");
    assert!(browser.cookie(&cp_origin(), "__Host-cp_session").is_none());
    let missing = with_query_param(&callback, "state", "");
    browser
        .get(&missing)
        .await
        .expect_error(400, "VALIDATION_ERROR");

    assert_eq!(browser.get(&callback).await.status, 303);
    assert_eq!(me(&browser).await["kind"], "user");
}

#[tokio::test]
async fn a_replayed_callback_and_a_replayed_code_are_refused() {
    let browser = Browser::new();
    let who = email("oidc-replay");
    let authorize_url = start_login(&browser, None).await;
    let callback = authorize(&browser, &authorize_url, &who).await;
    assert_eq!(browser.get(&callback).await.status, 303);
    // The same callback again: the login attempt was single use.
    let err = browser
        .get(&callback)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert!(
        err["error"].as_str().unwrap().contains("already used"),
        "{err}"
    );

    // A fresh attempt carrying the old code: the provider refuses it.
    let fresh = Browser::new();
    let authorize_url = start_login(&fresh, None).await;
    let new_callback = authorize(&fresh, &authorize_url, &who).await;
    let old_code = query_param(&callback, "code").unwrap();
    let replayed = with_query_param(&new_callback, "code", &old_code);
    let err = fresh.get(&replayed).await.expect_error(401, "UNAUTHORIZED");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("refused the authorization code"),
        "{err}"
    );
    assert!(fresh.cookie(&cp_origin(), "__Host-cp_session").is_none());
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let browser = Browser::new();
    let authorize_url = start_login(&browser, None).await;
    // The provider puts whatever nonce it is sent into the ID token.
    let tampered = with_query_param(&authorize_url, "nonce", "not-the-login-nonce");
    let callback = authorize(&browser, &tampered, &email("oidc-nonce")).await;
    let err = browser
        .get(&callback)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert!(err["error"].as_str().unwrap().contains("nonce"), "{err}");
    assert!(browser.cookie(&cp_origin(), "__Host-cp_session").is_none());
}

#[tokio::test]
async fn a_login_finished_in_another_browser_is_refused() {
    // Login CSRF: an attacker's attempt completed in the victim's browser.
    let attacker = Browser::new();
    let authorize_url = start_login(&attacker, None).await;
    let callback = authorize(&attacker, &authorize_url, &email("oidc-attacker")).await;
    let victim = Browser::new();
    let err = victim
        .get(&callback)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert!(
        err["error"].as_str().unwrap().contains("another browser"),
        "{err}"
    );
    assert!(victim.cookie(&cp_origin(), "__Host-cp_session").is_none());
}

#[tokio::test]
async fn an_expired_login_attempt_is_refused() {
    let browser = Browser::new();
    let authorize_url = start_login(&browser, None).await;
    let callback = authorize(&browser, &authorize_url, &email("oidc-slow")).await;
    let state = query_param(&callback, "state").unwrap();
    db().await
        .execute(
            "UPDATE oidc_login_attempts SET expires_at = now() - interval '1 second' WHERE state_hash = $1",
            &[&cp_crypto::token_hash(&state)],
        )
        .await
        .unwrap();
    let err = browser
        .get(&callback)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert!(err["error"].as_str().unwrap().contains("expired"), "{err}");
}

#[tokio::test]
async fn an_unverified_email_gets_no_session() {
    let browser = Browser::new();
    let resp = log_in(&browser, &email("unverified-oidc")).await;
    let err = resp.expect_error(403, "FORBIDDEN");
    assert!(
        err["error"].as_str().unwrap().contains("not verified"),
        "{err}"
    );
    assert!(browser.cookie(&cp_origin(), "__Host-cp_session").is_none());
}

#[tokio::test]
async fn the_login_returns_to_a_path_on_this_server_only() {
    let browser = Browser::new();
    let path = "/api/v1/auth/device/activate?userCode=BCDF-2345";
    let authorize_url = start_login(&browser, Some(path)).await;
    let callback = authorize(&browser, &authorize_url, &email("oidc-return")).await;
    let resp = browser.get(&callback).await;
    assert_eq!(resp.status, 303);
    assert_eq!(resp.header("location"), Some(path));

    for bad in ["//evil.example/x", "https://evil.example/", "relative"] {
        let url = cp_url(&format!(
            "/api/v1/auth/login?returnTo={}",
            cp_http::request::percent_encode(bad)
        ));
        let err = browser
            .get(&url)
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(err["fieldErrors"][0]["field"], "returnTo", "{bad}");
    }
}

#[tokio::test]
async fn me_keeps_checking_bearer_tokens() {
    call("GET", "/api/v1/auth/me")
        .header("authorization", "Bearer not-a-token")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        call("GET", "/api/v1/auth/me").send().await.expect(200)["data"]["kind"],
        "operator"
    );
    let user = sign_up("oidc-me").await;
    let data = user.call("GET", "/api/v1/auth/me").send().await.expect(200)["data"].clone();
    assert_eq!(data["kind"], "user");
    assert!(data.get("session").is_none());
    // A stale cookie reads as anonymous on /auth/me.
    let stale = Browser::new();
    stale.set_cookie(&cp_origin(), "__Host-cp_session", "cps_unknown");
    assert_eq!(me(&stale).await["kind"], "anonymous");
    // A bearer token wins over a cookie.
    let browser = signed_in(&email("oidc-both")).await;
    let resp = browser
        .request(
            "GET",
            &cp_url("/api/v1/auth/me"),
            &[("authorization", &format!("Bearer {}", user.token))],
            None,
        )
        .await;
    assert_eq!(resp.expect(200)["data"]["user"]["id"], user.id.as_str());
}

async fn exchange(id_token: &str) -> cp_tests::Resp {
    call("POST", "/api/v1/auth/oidc-token")
        .anonymous()
        .json(&json!({ "idToken": id_token }))
        .send()
        .await
}

#[tokio::test]
async fn provider_id_tokens_exchange_for_api_jwts() {
    // ES256, from the first-party CLI client.
    let who = email("oidc-cli");
    let token = provider_id_token(CLI_CLIENT_ID, &who, None).await;
    assert_eq!(cp_tests::jwt_claims(&token)["aud"], CLI_CLIENT_ID);
    let session = exchange(&token).await.expect(200)["data"].clone();
    assert_eq!(session["user"]["email"], who.as_str());
    assert_eq!(session["tokenType"], "Bearer");
    let jwt = session["accessToken"].as_str().unwrap();
    let data = bearer(jwt, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(data["user"]["id"], session["user"]["id"]);

    // RS256, from the control plane's own client; the same person.
    let token = provider_id_token(CLIENT_ID, &who, Some("any")).await;
    let again = exchange(&token).await.expect(200)["data"].clone();
    assert_eq!(again["user"]["id"], session["user"]["id"]);

    // The provider's metadata is cached, once per issuer.
    let cached = db()
        .await
        .query_one(
            "SELECT count(*) FROM oidc_provider_cache WHERE issuer = $1",
            &[&issuer()],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(cached, 1);
}

#[tokio::test]
async fn id_tokens_for_another_audience_tampered_or_unverified_are_refused() {
    let token = provider_id_token(OTHER_CLIENT_ID, &email("oidc-other"), None).await;
    let err = exchange(&token).await.expect_error(401, "UNAUTHORIZED");
    assert!(err["error"].as_str().unwrap().contains("audience"), "{err}");

    let token = provider_id_token(CLI_CLIENT_ID, &email("oidc-tamper"), None).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims = cp_tests::jwt_claims(&token);
    claims["email"] = json!("mallory@example.com");
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let err = exchange(&parts.join("."))
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert!(
        err["error"].as_str().unwrap().contains("signature"),
        "{err}"
    );

    let token = provider_id_token(CLI_CLIENT_ID, &email("unverified-x"), None).await;
    exchange(&token).await.expect_error(403, "FORBIDDEN");

    exchange("a.b.c").await.expect_error(401, "UNAUTHORIZED");
    let err = exchange("").await.expect_error(400, "VALIDATION_ERROR");
    assert_eq!(err["fieldErrors"][0]["field"], "idToken");
    let err = call("POST", "/api/v1/auth/oidc-token")
        .anonymous()
        .json(&json!({"idToken": "x", "extra": 1}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(err["fieldErrors"][0]["field"], "extra");
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    // The provider gives `expiring…` accounts ID tokens that live 1 s; the
    // control plane tolerates 5 s of clock skew.
    let token = provider_id_token(CLI_CLIENT_ID, &email("expiring-oidc"), None).await;
    let claims = cp_tests::jwt_claims(&token);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1
    );
    tokio::time::sleep(std::time::Duration::from_millis(7_500)).await;
    let err = exchange(&token).await.expect_error(401, "UNAUTHORIZED");
    assert!(err["error"].as_str().unwrap().contains("expired"), "{err}");
}

/// Issue 12 item 15: an ID token is exchanged once, also when the same
/// token arrives several times at once.
#[tokio::test]
async fn an_id_token_is_exchanged_once() {
    let token = provider_id_token(CLI_CLIENT_ID, &email("oidc-once"), None).await;
    exchange(&token).await.expect(200);
    let err = exchange(&token)
        .await
        .expect_error(401, "ID_TOKEN_REPLAYED");
    assert!(err["error"].as_str().unwrap().contains("already"), "{err}");

    let token = provider_id_token(CLIENT_ID, &email("oidc-once-race"), Some("n")).await;
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let token = token.clone();
            tokio::spawn(async move { exchange(&token).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let ok = answers.iter().filter(|r| r.status == 200).count();
    let replayed = answers
        .iter()
        .filter(|r| r.status == 401 && r.json()["code"] == "ID_TOKEN_REPLAYED")
        .count();
    assert_eq!((ok, replayed), (1, 5), "{answers:?}");
}

/// Issue 12 item 11: a second session cookie (planted by a sibling
/// subdomain, or anyone who can add one) never decides whose session a
/// request is; the cookie is `__Host-` prefixed, host-only.
#[tokio::test]
async fn a_request_with_two_session_cookies_is_refused() {
    let victim = signed_in(&email("oidc-fixed")).await;
    let attacker = signed_in(&email("oidc-fixer")).await;
    let mine = victim.cookie(&cp_origin(), "__Host-cp_session").unwrap();
    let planted = attacker.cookie(&cp_origin(), "__Host-cp_session").unwrap();
    for cookies in [
        format!("__Host-cp_session={planted}; __Host-cp_session={mine}"),
        format!("__Host-cp_session={mine}; other=1; __Host-cp_session={planted}"),
    ] {
        for path in ["/api/v1/auth/me", "/api/v1/organizations"] {
            call("GET", path)
                .anonymous()
                .header("cookie", &cookies)
                .send()
                .await
                .expect_error(400, "DUPLICATE_SESSION_COOKIE");
        }
    }
    // The unprefixed name of before is not a session cookie.
    let anonymous = call("GET", "/api/v1/auth/me")
        .anonymous()
        .header("cookie", &format!("cp_session={mine}"))
        .send()
        .await
        .expect(200);
    assert_eq!(anonymous["data"]["kind"], "anonymous");
    call("GET", "/api/v1/organizations")
        .anonymous()
        .header("cookie", &format!("cp_session={mine}"))
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    // One cookie works; the Set-Cookie is host-only.
    assert_eq!(me(&victim).await["kind"], "user");
    let fresh = Browser::new();
    let resp = log_in(&fresh, &email("oidc-hostonly")).await;
    let set_cookie = resp.header("set-cookie").unwrap().to_owned();
    assert!(
        set_cookie.starts_with("__Host-cp_session=cps_"),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    assert!(set_cookie.contains("; Path=/;"), "{set_cookie}");
    assert!(
        !set_cookie.to_ascii_lowercase().contains("domain"),
        "{set_cookie}"
    );
    // Logging out with both ends both sessions.
    let both = format!("__Host-cp_session={planted}; __Host-cp_session={mine}");
    call("POST", "/api/v1/auth/logout")
        .anonymous()
        .header("cookie", &both)
        .send()
        .await
        .expect(204);
    for gone in [&victim, &attacker] {
        assert_eq!(me(gone).await["kind"], "anonymous");
    }
}

#[test]
fn url_helpers() {
    assert_eq!(
        split_url("http://a:1/b?c=d"),
        ("http://a:1".to_owned(), "/b?c=d".to_owned())
    );
    assert_eq!(
        with_query_param("http://a/b?x=1&y=2", "x", "a b"),
        "http://a/b?y=2&x=a%20b"
    );
}
