//! Sign-in throttles through the Wasm host (issue 12 item 7): failed
//! password logins per account and per source address, signups and
//! device-login starts per address, counted in PostgreSQL, answered with
//! `429 RATE_LIMITED` and `Retry-After`, and exact under concurrency: no
//! more password checks run than the limit allows.
//!
//! This binary's host runs with low limits ([`LIMITS`]). Every test comes
//! from 127.0.0.1, so the tests share the per-address counters: each holds
//! [`exclusive`] and starts from empty counters.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, db, email, env_with_variables, exclusive, Resp, GOOD_PASSWORD};
use serde_json::json;

const ACCOUNT_LIMIT: usize = 5;
const ADDRESS_LIMIT: usize = 12;
const SIGNUP_LIMIT: usize = 3;
const DEVICE_LIMIT: usize = 3;
const WINDOW_SECS: u64 = 120;

const LIMITS: &[(&str, &str)] = &[
    ("login_max_failures_per_account", "5"),
    ("login_max_failures_per_address", "12"),
    ("login_window_secs", "120"),
    ("signup_max_per_address", "3"),
    ("signup_window_secs", "120"),
    ("device_start_max_per_address", "3"),
    ("device_start_window_secs", "120"),
];

/// This binary's environment (low limits), and empty counters.
async fn fresh_counters() {
    env_with_variables(LIMITS);
    db().await
        .execute("DELETE FROM auth_throttle", &[])
        .await
        .unwrap();
}

async fn sign_up(address: &str) -> Resp {
    call("POST", "/api/v1/auth/signup")
        .anonymous()
        .json(&json!({"email": address, "password": GOOD_PASSWORD}))
        .send()
        .await
}

async fn log_in(address: &str, password: &str) -> Resp {
    call("POST", "/api/v1/auth/token")
        .anonymous()
        .json(&json!({"email": address, "password": password}))
        .send()
        .await
}

/// Asserts a 429 RATE_LIMITED whose `Retry-After` is within the window.
#[track_caller]
fn assert_limited(resp: &Resp, says: &str) {
    let v = resp.expect_error(429, "RATE_LIMITED");
    assert!(v["error"].as_str().unwrap().contains(says), "{v}");
    let retry: u64 = resp.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=WINDOW_SECS).contains(&retry), "Retry-After {retry}");
}

/// `n` wrong-password logins for `address` at once.
async fn concurrent_wrong_logins(address: &str, n: usize) -> Vec<Resp> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let address = address.to_owned();
            tokio::spawn(async move { log_in(&address, &format!("wrong-password-{i:03}")).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

async fn audited_wrong_passwords(address: &str) -> i64 {
    db().await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'logIn' AND outcome = 'failure'
             AND detail->>'email' = $1 AND detail->>'reason' = 'wrong password'",
            &[&address],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn parallel_wrong_passwords_run_at_most_the_account_limit_of_password_checks() {
    let _serial = exclusive().await;
    fresh_counters().await;
    let address = email("throttle-victim");
    sign_up(&address).await.expect(201);
    fresh_counters().await;

    let answers = concurrent_wrong_logins(&address, 20).await;
    let refused = answers.iter().filter(|r| r.status == 401).count();
    let limited: Vec<&Resp> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(
        (refused, limited.len()),
        (ACCOUNT_LIMIT, 20 - ACCOUNT_LIMIT),
        "{answers:?}"
    );
    for resp in limited {
        assert_limited(resp, "this account");
    }
    // Exactly the limit's password checks ran (each is audited as a wrong
    // password); the refused ones never reached argon2.
    assert_eq!(
        audited_wrong_passwords(&address).await,
        ACCOUNT_LIMIT as i64
    );

    // The account stays locked for the window, even with its password...
    assert_limited(&log_in(&address, GOOD_PASSWORD).await, "this account");
    // ...while another account from the same address is not.
    let other = email("throttle-other");
    sign_up(&other).await.expect(201);
    log_in(&other, GOOD_PASSWORD).await.expect(200);

    // When the window ends, the account may try again.
    db().await
        .execute(
            "UPDATE auth_throttle SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    log_in(&address, GOOD_PASSWORD).await.expect(200);
}

#[tokio::test]
async fn a_successful_login_is_not_counted_as_a_failure() {
    let _serial = exclusive().await;
    fresh_counters().await;
    let address = email("throttle-typo");
    sign_up(&address).await.expect(201);
    for _ in 0..ACCOUNT_LIMIT - 1 {
        log_in(&address, "wrong-password-x")
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    for _ in 0..3 {
        log_in(&address, GOOD_PASSWORD).await.expect(200);
    }
    // One failure left before the limit, then refused.
    log_in(&address, "wrong-password-y")
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_limited(&log_in(&address, "wrong-password-z").await, "this account");
    // Unknown emails count per (typed) account too.
    let nobody = email("throttle-nobody");
    for _ in 0..ACCOUNT_LIMIT {
        log_in(&nobody, "wrong-password-x")
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    assert_limited(&log_in(&nobody, "wrong-password-x").await, "this account");
}

#[tokio::test]
async fn failed_logins_are_limited_per_source_address_across_accounts() {
    let _serial = exclusive().await;
    fresh_counters().await;
    let address = email("throttle-addr");
    sign_up(&address).await.expect(201);
    for i in 0..ADDRESS_LIMIT {
        log_in(&email(&format!("throttle-spray{i}")), "wrong-password-x")
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    assert_limited(
        &log_in(&email("throttle-spray-next"), "wrong-password-x").await,
        "this address",
    );
    // The address is locked for every account, and a forged
    // spin-client-addr header does not move the caller elsewhere (the host
    // sets it from the connection).
    assert_limited(&log_in(&address, GOOD_PASSWORD).await, "this address");
    let forged = call("POST", "/api/v1/auth/token")
        .anonymous()
        .header("spin-client-addr", "198.51.100.9:4000")
        .json(&json!({"email": address, "password": GOOD_PASSWORD}))
        .send()
        .await;
    assert_limited(&forged, "this address");
    // The refusals at the address gave the account's attempts back.
    let bucket = cp_crypto::token_hash(&format!("login-account:{address}"));
    let counted: i64 = db()
        .await
        .query_one(
            "SELECT COALESCE(sum(count), 0)::int8 FROM auth_throttle WHERE bucket = $1",
            &[&bucket],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(counted, 0);
}

#[tokio::test]
async fn signups_are_limited_per_source_address() {
    let _serial = exclusive().await;
    fresh_counters().await;
    for _ in 0..SIGNUP_LIMIT {
        sign_up(&email("throttle-signup")).await.expect(201);
    }
    let refused = sign_up(&email("throttle-signup")).await;
    assert_limited(&refused, "signups");
    // Nothing was written for the refused one.
    let users: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM users WHERE email LIKE 'throttle-signup-%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, SIGNUP_LIMIT as i64);
}

#[tokio::test]
async fn device_login_starts_are_limited_per_source_address() {
    let _serial = exclusive().await;
    fresh_counters().await;
    let start = || call("POST", "/api/v1/auth/device").anonymous().send();
    let before: i64 = db()
        .await
        .query_one("SELECT count(*) FROM device_grants", &[])
        .await
        .unwrap()
        .get(0);
    for _ in 0..DEVICE_LIMIT {
        start().await.expect(201);
    }
    assert_limited(&start().await, "device logins");
    let after: i64 = db()
        .await
        .query_one("SELECT count(*) FROM device_grants", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(after - before, DEVICE_LIMIT as i64);
}
