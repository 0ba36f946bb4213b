//! Email verification end to end: a signup mails a token through the
//! notification outbox (sealed with the master key, as a mail sender opens
//! it); the token verifies the email once; an email change takes effect
//! when the new address is verified; a resend replaces the token; and with
//! `unverified_login = deny` an unverified account does not sign in.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, db, email, env, field_errors, log_in, send_to, Call, GOOD_PASSWORD};
use serde_json::{json, Value};

fn verify(token: &str) -> Call {
    call("POST", "/api/v1/auth/verify-email")
        .anonymous()
        .json(&json!({"token": token}))
}

fn signup(address: &str) -> Call {
    call("POST", "/api/v1/auth/signup")
        .anonymous()
        .json(&json!({"email": address, "password": GOOD_PASSWORD}))
}

#[tokio::test]
async fn a_signup_mails_a_sealed_token_that_verifies_the_email_once() {
    let address = email("verify-signup");
    let created = signup(&address).send().await.expect(201)["data"].clone();
    assert_eq!(created["user"]["emailVerified"], false);
    let jwt = created["accessToken"].as_str().unwrap().to_owned();
    let token = cp_tests::mailed_verification_token(&address).await;
    // Only its digest is kept.
    let stored: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM email_verifications WHERE token_hash = $1",
            &[&cp_tests::sha256_hex(token.as_bytes())],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);

    let verified = verify(&token).send().await.expect(200);
    assert_eq!(verified["data"]["emailVerified"], true);
    assert_eq!(verified["data"]["email"], address.as_str());
    verify(&token)
        .send()
        .await
        .expect_error(404, "VERIFICATION_TOKEN_NOT_FOUND");
    let me = cp_tests::bearer(&jwt, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);
    assert_eq!(me["data"]["user"]["emailVerified"], true);
    // Nothing left to verify.
    cp_tests::bearer(&jwt, "POST", "/api/v1/auth/verify-email/resend")
        .send()
        .await
        .expect_error(409, "CONFLICT");

    let malformed = verify("nope")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&malformed), ["token"]);
}

#[tokio::test]
async fn an_email_change_takes_effect_when_the_new_address_is_verified() {
    let address = email("verify-change");
    let created = signup(&address).send().await.expect(201)["data"].clone();
    let jwt = created["accessToken"].as_str().unwrap().to_owned();
    // A resend replaces the signup's token.
    let first = cp_tests::mailed_verification_token(&address).await;
    cp_tests::bearer(&jwt, "POST", "/api/v1/auth/verify-email/resend")
        .send()
        .await
        .expect(202);
    let second = cp_tests::mailed_verification_token(&address).await;
    assert_ne!(first, second);
    verify(&first)
        .send()
        .await
        .expect_error(404, "VERIFICATION_TOKEN_NOT_FOUND");
    verify(&second).send().await.expect(200);

    let new_address = email("verify-changed");
    let changed = cp_tests::bearer(&jwt, "PATCH", "/api/v1/auth/me")
        .json(&json!({"email": new_address, "currentPassword": GOOD_PASSWORD}))
        .send()
        .await
        .expect(200);
    assert_eq!(changed["data"]["email"], address.as_str());
    assert_eq!(changed["data"]["pendingEmail"], new_address.as_str());
    let token = cp_tests::mailed_verification_token(&new_address).await;
    let adopted = verify(&token).send().await.expect(200);
    assert_eq!(adopted["data"]["email"], new_address.as_str());
    assert_eq!(adopted["data"]["emailVerified"], true);
    assert_eq!(adopted["data"]["pendingEmail"], Value::Null);
    log_in(&new_address, GOOD_PASSWORD).await.expect(200);
}

#[tokio::test]
async fn with_unverified_login_denied_an_account_signs_in_once_verified() {
    let Some(strict) = env().other_host(&[("unverified_login", "deny")]) else {
        eprintln!("skipped: needs a second cp-host with unverified_login = deny");
        return;
    };
    let address = email("verify-deny");
    let created = send_to(&strict.url, signup(&address)).await.expect(201)["data"].clone();
    assert_eq!(created["verificationRequired"], true);
    assert!(created.get("accessToken").is_none(), "{created}");
    assert!(created.get("refreshToken").is_none(), "{created}");
    let first = cp_tests::mailed_verification_token(&address).await;

    let login = || {
        call("POST", "/api/v1/auth/token")
            .anonymous()
            .json(&json!({"email": address, "password": GOOD_PASSWORD}))
    };
    send_to(&strict.url, login())
        .await
        .expect_error(403, "EMAIL_NOT_VERIFIED");
    // The refusal mailed a new token; the first no longer works.
    let second = cp_tests::mailed_verification_token(&address).await;
    assert_ne!(first, second);
    send_to(&strict.url, verify(&first))
        .await
        .expect_error(404, "VERIFICATION_TOKEN_NOT_FOUND");
    send_to(&strict.url, verify(&second)).await.expect(200);
    let session = send_to(&strict.url, login()).await.expect(200);
    assert!(session["data"]["accessToken"].is_string());
}
