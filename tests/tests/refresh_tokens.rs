//! Refresh tokens end to end: every sign-in answers one next to its access
//! JWT; a refresh rotates it; a used one presented again revokes its whole
//! family; logging out and changing the password end a sign-in's refresh
//! tokens too. Only digests reach the database.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, db, field_errors, log_in, sha256_hex, sign_up, GOOD_PASSWORD};
use serde_json::{json, Value};

/// `POST /auth/refresh` with `token`.
async fn refresh(token: &str) -> cp_tests::Resp {
    call("POST", "/api/v1/auth/refresh")
        .anonymous()
        .json(&json!({"refreshToken": token}))
        .send()
        .await
}

fn refresh_token_of(session: &Value) -> String {
    let token = session["refreshToken"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cprt_"), "{session}");
    assert_eq!(session["refreshExpiresIn"], 30 * 24 * 3600);
    token
}

#[tokio::test]
async fn a_refresh_rotates_the_pair_and_a_reused_token_revokes_the_family() {
    let user = sign_up("refresh-rotate").await;
    let login = log_in(&user.email, GOOD_PASSWORD).await.expect(200)["data"].clone();
    let first = refresh_token_of(&login);

    let rotated = refresh(&first).await;
    assert_eq!(rotated.header("cache-control"), Some("no-store"));
    let rotated = rotated.expect(200)["data"].clone();
    let second = refresh_token_of(&rotated);
    assert_ne!(second, first);
    assert_eq!(rotated["user"]["id"], user.id);
    // The new access token works.
    let me = cp_tests::bearer(
        rotated["accessToken"].as_str().unwrap(),
        "GET",
        "/api/v1/auth/me",
    )
    .send()
    .await
    .expect(200);
    assert_eq!(me["data"]["user"]["id"], user.id);

    // The first token again: someone else holds a copy. The whole family
    // goes, the token its owner holds now included.
    let reused = refresh(&first).await.expect_error(401, "UNAUTHORIZED");
    assert!(
        reused["error"].as_str().unwrap().contains("used before"),
        "{reused}"
    );
    refresh(&second).await.expect_error(401, "UNAUTHORIZED");
    let audited: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'refreshSession' \
             AND resource_name = $1 AND outcome = 'failure' AND detail->>'refresh' = 'reused'",
            &[&user.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);

    // Another sign-in is another family, untouched.
    let other = refresh_token_of(&log_in(&user.email, GOOD_PASSWORD).await.expect(200)["data"]);
    refresh(&other).await.expect(200);

    // Only digests are stored.
    let stored: Vec<String> = db()
        .await
        .query(
            "SELECT token_hash FROM refresh_tokens WHERE user_id = $1::text::uuid",
            &[&user.id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(stored.contains(&sha256_hex(first.as_bytes())));
    assert!(!stored.iter().any(|h| h == &first || h == &second));
}

#[tokio::test]
async fn logging_out_or_changing_the_password_ends_the_refresh_tokens_of_a_sign_in() {
    let user = sign_up("refresh-end").await;
    let earlier = log_in(&user.email, GOOD_PASSWORD).await.expect(200)["data"].clone();
    let kept = refresh_token_of(&earlier);

    let session = log_in(&user.email, GOOD_PASSWORD).await.expect(200)["data"].clone();
    let token = refresh_token_of(&session);
    cp_tests::bearer(
        session["accessToken"].as_str().unwrap(),
        "DELETE",
        "/api/v1/auth/token",
    )
    .send()
    .await
    .expect(204);
    let ended = refresh(&token).await.expect_error(401, "UNAUTHORIZED");
    assert!(
        ended["error"].as_str().unwrap().contains("revoked"),
        "{ended}"
    );

    // A password change: every earlier refresh token is stale, the one it
    // answers works.
    let changed = user
        .call("POST", "/api/v1/auth/change-password")
        .json(&json!({"currentPassword": GOOD_PASSWORD, "newPassword": "amber-falcon-meadow-77"}))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    let fresh = refresh_token_of(&changed);
    let stale = refresh(&kept).await.expect_error(401, "UNAUTHORIZED");
    assert!(
        stale["error"].as_str().unwrap().contains("password"),
        "{stale}"
    );
    refresh(&fresh).await.expect(200);
}

#[tokio::test]
async fn a_malformed_token_is_a_400_and_an_unknown_one_a_401() {
    let bad = refresh("not-a-token")
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&bad), ["refreshToken"]);
    refresh(&format!("cprt_{}", "A".repeat(43)))
        .await
        .expect_error(401, "UNAUTHORIZED");
    // Signup is a sign-in; an API key exchanged for a JWT is not.
    let email = cp_tests::email("refresh-apikey");
    let signup = call("POST", "/api/v1/auth/signup")
        .anonymous()
        .json(&json!({"email": email, "password": GOOD_PASSWORD}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    refresh(&refresh_token_of(&signup)).await.expect(200);
    let user = cp_tests::bearer(
        signup["accessToken"].as_str().unwrap(),
        "GET",
        "/api/v1/auth/me",
    );
    user.send().await.expect(200);
    let user = cp_tests::TestUser {
        id: signup["user"]["id"].as_str().unwrap().to_owned(),
        email,
        token: signup["accessToken"].as_str().unwrap().to_owned(),
    };
    let key = user.create_api_key("ci").await;
    let exchanged = call("POST", "/api/v1/auth/api-key-token")
        .anonymous()
        .json(&json!({"apiKey": key}))
        .send()
        .await
        .expect(200);
    assert!(
        exchanged["data"].get("refreshToken").is_none(),
        "{exchanged}"
    );
}
