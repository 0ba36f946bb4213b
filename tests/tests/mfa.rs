//! MFA with TOTP (RFC 6238) through the Wasm host: enrolment, the login
//! challenge, replays, expiry, the per-user rate limit, disabling — and the
//! sealed `Idempotency-Key` replays of responses that show a secret.
//!
//! Codes are computed here from the secret setup returns. Each accepted
//! time step is refused afterwards, so a test uses the current step and
//! the next one (both inside the ±1 window) at most, per user.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cp_identity::totp;
use cp_tests::{
    call, db, env, log_in, send_to, sign_up, unique, Call, Resp, TestUser, GOOD_PASSWORD,
    OPERATOR_TOKEN,
};
use serde_json::{json, Value};

fn now_step() -> u64 {
    totp::step_at(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
}

/// The code `ahead` steps after the current one.
fn code(secret: &[u8], ahead: u64) -> String {
    totp::code_at(secret, now_step() + ahead)
}

/// A 6-digit code that is none of the window's.
fn wrong_code(secret: &[u8]) -> String {
    let now = now_step();
    let valid: Vec<String> = (now - 2..=now + 2)
        .map(|s| totp::code_at(secret, s))
        .collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap()
}

struct Enrolled {
    user: TestUser,
    secret: Vec<u8>,
    secret_text: String,
    /// The time step whose code verify-setup accepted.
    step: u64,
}

async fn set_up(user: &TestUser) -> Value {
    user.call("POST", "/api/v1/auth/mfa/setup")
        .send()
        .await
        .expect(200)["data"]
        .clone()
}

/// A user with MFA enabled (the current step's code already used).
async fn enrolled(prefix: &str) -> Enrolled {
    let user = sign_up(prefix).await;
    let setup = set_up(&user).await;
    let secret_text = setup["secret"].as_str().unwrap().to_owned();
    let secret = totp::base32_decode(&secret_text).unwrap();
    let step = now_step();
    user.call("POST", "/api/v1/auth/mfa/verify-setup")
        .json(&json!({"code": totp::code_at(&secret, step)}))
        .send()
        .await
        .expect(200);
    Enrolled {
        user,
        secret,
        secret_text,
        step,
    }
}

/// Logs in with the password and returns the challenge's mfaToken.
async fn challenge(email: &str) -> String {
    let data = log_in(email, GOOD_PASSWORD).await.expect(200)["data"].clone();
    assert_eq!(data["mfaRequired"], true, "{data}");
    assert_eq!(data["expiresIn"], 300);
    assert!(data.get("accessToken").is_none(), "{data}");
    let token = data["mfaToken"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cpmfa_"));
    token
}

async fn verify(mfa_token: &str, code: &str) -> Resp {
    call("POST", "/api/v1/auth/mfa/verify")
        .anonymous()
        .json(&json!({"mfaToken": mfa_token, "code": code}))
        .send()
        .await
}

async fn audit_of(user_id: &str) -> String {
    db().await
        .query(
            "SELECT a::text FROM audit_log a WHERE resource_name = $1 ORDER BY at",
            &[&user_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn enrolment_then_login_needs_a_code_and_answers_a_working_session() {
    let user = sign_up("mfa").await;
    let status = user.call("GET", "/api/v1/auth/mfa/status").send().await;
    assert_eq!(status.expect(200)["data"], json!({"enabled": false}));

    let setup = set_up(&user).await;
    let text = setup["secret"].as_str().unwrap();
    assert_eq!(text.len(), 32, "160 bits in base32");
    let uri = setup["otpauthUri"].as_str().unwrap();
    assert_eq!(
        uri,
        format!(
            "otpauth://totp/agent-control-plane:{}?secret={text}&issuer=agent-control-plane\
             &algorithm=SHA1&digits=6&period=30",
            user.email
        )
    );
    // Pending: logins do not need a code yet, and the secret is sealed.
    assert_eq!(
        user.call("GET", "/api/v1/auth/mfa/status")
            .send()
            .await
            .expect(200)["data"]["enabled"],
        false
    );
    assert!(
        log_in(&user.email, GOOD_PASSWORD).await.expect(200)["data"]["accessToken"].is_string()
    );
    let row = db()
        .await
        .query_one(
            "SELECT secret_ciphertext FROM user_mfa WHERE user_id = $1::text::uuid",
            &[&user.id],
        )
        .await
        .unwrap();
    let sealed: Vec<u8> = row.get(0);
    let secret = totp::base32_decode(text).unwrap();
    assert_eq!(
        sealed.len(),
        secret.len() + 16,
        "AES-GCM ciphertext and tag"
    );
    assert!(!sealed.windows(8).any(|w| secret.windows(8).any(|s| s == w)));

    // A wrong first code does not enable it (400 naming code).
    let wrong = user
        .call("POST", "/api/v1/auth/mfa/verify-setup")
        .json(&json!({"code": wrong_code(&secret)}))
        .send()
        .await;
    assert_eq!(
        wrong.expect_error(400, "VALIDATION_ERROR")["fieldErrors"][0]["field"],
        "code"
    );
    let enabled = user
        .call("POST", "/api/v1/auth/mfa/verify-setup")
        .json(&json!({"code": code(&secret, 0)}))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["enrolledAt"].is_string());
    assert_eq!(
        user.call("GET", "/api/v1/auth/mfa/status")
            .send()
            .await
            .expect(200)["data"],
        enabled
    );
    // Enabled: setup again is a conflict, and so is verify-setup.
    user.call("POST", "/api/v1/auth/mfa/setup")
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // The login answers a challenge, the challenge and a code a session.
    let mfa_token = challenge(&user.email).await;
    let resp = verify(&mfa_token, &code(&secret, 1)).await;
    let session = resp.expect(200)["data"].clone();
    assert_eq!(session["tokenType"], "Bearer");
    assert_eq!(session["expiresIn"], 900);
    assert_eq!(session["user"]["id"], user.id.as_str());
    let jwt = session["accessToken"].as_str().unwrap();
    let me = call("GET", "/api/v1/auth/me")
        .header("authorization", &format!("Bearer {jwt}"))
        .send()
        .await
        .expect(200);
    assert_eq!(me["data"]["user"]["id"], user.id.as_str());
    // The challenge is single use.
    verify(&mfa_token, &code(&secret, 1))
        .await
        .expect_error(401, "UNAUTHORIZED");

    // Audited: enabled, the challenge, the verified login; never the secret.
    let audit = audit_of(&user.id).await;
    for action in ["setUpMfa", "verifyMfaSetup", "logIn", "verifyMfa"] {
        assert!(audit.contains(action), "{action} missing from:\n{audit}");
    }
    assert!(audit.contains("wrongCode"), "{audit}");
    assert!(!audit.contains(text), "the secret is in the audit log");
    assert!(
        !audit.contains(&mfa_token),
        "the mfaToken is in the audit log"
    );
    let stored: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM mfa_challenges WHERE token_hash = $1",
            &[&cp_crypto::token_hash(&mfa_token)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0, "a used challenge is gone");
}

#[tokio::test]
async fn wrong_replayed_and_malformed_codes_are_refused() {
    let e = enrolled("mfa-replay").await;
    let mfa_token = challenge(&e.user.email).await;
    verify(&mfa_token, &wrong_code(&e.secret))
        .await
        .expect_error(401, "UNAUTHORIZED");
    // The code verify-setup accepted was seen: a replay.
    verify(&mfa_token, &totp::code_at(&e.secret, e.step))
        .await
        .expect_error(401, "UNAUTHORIZED");
    let bad = call("POST", "/api/v1/auth/mfa/verify")
        .anonymous()
        .json(&json!({"mfaToken": mfa_token, "code": "12ab56"}))
        .send()
        .await;
    assert_eq!(
        bad.expect_error(400, "VALIDATION_ERROR")["fieldErrors"][0]["field"],
        "code"
    );
    // A wrong code leaves the challenge usable.
    let next = code(&e.secret, 1);
    verify(&mfa_token, &next).await.expect(200);
    // That code cannot log in a second time either.
    let again = challenge(&e.user.email).await;
    verify(&again, &next)
        .await
        .expect_error(401, "UNAUTHORIZED");
    // Failures are audited without the code.
    let audit = audit_of(&e.user.id).await;
    assert!(
        audit.contains("failure") && audit.contains("wrongCode"),
        "{audit}"
    );
    assert!(!audit.contains(&next));
}

#[tokio::test]
async fn an_expired_or_unknown_mfa_token_is_a_401() {
    let e = enrolled("mfa-expiry").await;
    let mfa_token = challenge(&e.user.email).await;
    db().await
        .execute(
            "UPDATE mfa_challenges SET expires_at = now() - interval '1 second'
             WHERE token_hash = $1",
            &[&cp_crypto::token_hash(&mfa_token)],
        )
        .await
        .unwrap();
    verify(&mfa_token, &code(&e.secret, 1))
        .await
        .expect_error(401, "UNAUTHORIZED");
    verify("cpmfa_not-a-real-token", &code(&e.secret, 1))
        .await
        .expect_error(401, "UNAUTHORIZED");
    // The unused code still works with a fresh challenge.
    let fresh = challenge(&e.user.email).await;
    verify(&fresh, &code(&e.secret, 1)).await.expect(200);
}

#[tokio::test]
async fn failed_codes_are_rate_limited_per_user_with_retry_after() {
    let e = enrolled("mfa-limit").await;
    let other = enrolled("mfa-other").await;
    let mfa_token = challenge(&e.user.email).await;
    let wrong = wrong_code(&e.secret);
    for _ in 0..5 {
        verify(&mfa_token, &wrong)
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    // Even the right code now waits.
    let limited = verify(&mfa_token, &code(&e.secret, 1)).await;
    limited.expect_error(429, "RATE_LIMITED");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "Retry-After: {retry}");
    // The limit is the user's, whatever the route.
    let disable = e
        .user
        .call("DELETE", "/api/v1/auth/mfa")
        .json(&json!({"code": code(&e.secret, 1)}))
        .send()
        .await;
    disable.expect_error(429, "RATE_LIMITED");
    assert!(disable.header("retry-after").is_some());
    // Another user is not affected.
    let theirs = challenge(&other.user.email).await;
    verify(&theirs, &code(&other.secret, 1)).await.expect(200);
    // Once the window has passed, the right code works (and clears the count).
    db().await
        .execute(
            "UPDATE mfa_failures SET failed_at = failed_at - interval '5 minutes'
             WHERE user_id = $1::text::uuid",
            &[&e.user.id],
        )
        .await
        .unwrap();
    verify(&mfa_token, &code(&e.secret, 1)).await.expect(200);
    let left: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM mfa_failures WHERE user_id = $1::text::uuid",
            &[&e.user.id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert!(audit_of(&e.user.id).await.contains("rateLimited"));
}

#[tokio::test]
async fn disabling_takes_a_current_code_or_the_password() {
    // With a code.
    let e = enrolled("mfa-off-code").await;
    let wrong = e
        .user
        .call("DELETE", "/api/v1/auth/mfa")
        .json(&json!({"code": wrong_code(&e.secret)}))
        .send()
        .await;
    assert_eq!(
        wrong.expect_error(400, "VALIDATION_ERROR")["fieldErrors"][0]["field"],
        "code"
    );
    e.user
        .call("DELETE", "/api/v1/auth/mfa")
        .json(&json!({"code": code(&e.secret, 1)}))
        .send()
        .await
        .expect(204);
    assert_eq!(
        e.user
            .call("GET", "/api/v1/auth/mfa/status")
            .send()
            .await
            .expect(200)["data"],
        json!({"enabled": false})
    );
    assert!(
        log_in(&e.user.email, GOOD_PASSWORD).await.expect(200)["data"]["accessToken"].is_string()
    );
    e.user
        .call("DELETE", "/api/v1/auth/mfa")
        .json(&json!({"code": code(&e.secret, 1)}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // With the password; a pending challenge dies with it.
    let p = enrolled("mfa-off-pw").await;
    let pending = challenge(&p.user.email).await;
    let wrong = p
        .user
        .call("DELETE", "/api/v1/auth/mfa")
        .json(&json!({"password": "not-the-password-1"}))
        .send()
        .await;
    assert_eq!(
        wrong.expect_error(400, "VALIDATION_ERROR")["fieldErrors"][0]["field"],
        "password"
    );
    let both = p
        .user
        .call("DELETE", "/api/v1/auth/mfa")
        .json(&json!({"password": GOOD_PASSWORD, "code": "123456"}))
        .send()
        .await;
    both.expect_error(400, "VALIDATION_ERROR");
    p.user
        .call("DELETE", "/api/v1/auth/mfa")
        .json(&json!({"password": GOOD_PASSWORD}))
        .send()
        .await
        .expect(204);
    verify(&pending, &code(&p.secret, 1))
        .await
        .expect_error(401, "UNAUTHORIZED");
    let audit = audit_of(&p.user.id).await;
    assert!(
        audit.contains("disableMfa") && audit.contains("wrongPassword"),
        "{audit}"
    );
    assert!(!audit.contains(GOOD_PASSWORD));
    assert!(!audit.contains(&p.secret_text));
    // Enrolling again gives a new secret.
    let again = set_up(&p.user).await;
    assert_ne!(again["secret"], p.secret_text.as_str());
}

#[tokio::test]
async fn only_users_have_mfa_and_verify_setup_needs_a_setup() {
    call("GET", "/api/v1/auth/mfa/status")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    call("POST", "/api/v1/auth/mfa/setup")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let user = sign_up("mfa-none").await;
    user.call("POST", "/api/v1/auth/mfa/verify-setup")
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    user.call("DELETE", "/api/v1/auth/mfa")
        .json(&json!({"password": GOOD_PASSWORD}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    call("GET", "/api/v1/auth/mfa/status")
        .anonymous()
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
}

/// The stored replay of one Idempotency-Key: (status, body, nonce).
async fn stored_replay(key: &str) -> (Option<i64>, Vec<u8>, Option<Vec<u8>>) {
    let row = db()
        .await
        .query_one(
            "SELECT status, body, body_nonce FROM idempotency_keys WHERE key = $1",
            &[&key],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn replays_of_secrets_are_stored_sealed() {
    // An access token created with an Idempotency-Key.
    let key = unique("idem-token");
    let body = json!({"name": unique("sealed"), "scopes": ["read"]});
    let first = call("POST", "/api/v1/access-tokens")
        .header("idempotency-key", &key)
        .json(&body)
        .send()
        .await;
    let secret = first.expect(201)["data"]["plainTextToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, stored, nonce) = stored_replay(&key).await;
    assert_eq!(status, Some(201));
    assert_eq!(nonce.map(|n| n.len()), Some(12), "sealed with a GCM nonce");
    let text = String::from_utf8_lossy(&stored);
    assert!(!text.contains(&secret), "the plaintext token is stored");
    assert!(
        !text.contains("plainTextToken"),
        "the body is stored in the clear"
    );
    let all = db()
        .await
        .query(
            "SELECT encode(coalesce(body, ''), 'escape') FROM idempotency_keys",
            &[],
        )
        .await
        .unwrap();
    assert!(all.iter().all(|r| !r.get::<_, String>(0).contains(&secret)));
    // The replay still shows it, once more, to the same client.
    let replay = call("POST", "/api/v1/access-tokens")
        .header("idempotency-key", &key)
        .json(&body)
        .send()
        .await;
    assert_eq!(replay.header("idempotency-replayed"), Some("true"));
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, first.body);

    // The TOTP secret of a setup, likewise.
    let user = sign_up("mfa-idem").await;
    let key = unique("idem-setup");
    let setup = || {
        user.call("POST", "/api/v1/auth/mfa/setup")
            .header("idempotency-key", &key)
    };
    let first = setup().send().await;
    let text = first.expect(200)["data"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, stored, nonce) = stored_replay(&key).await;
    assert!(nonce.is_some());
    assert!(!String::from_utf8_lossy(&stored).contains(&text));
    let replay = setup().send().await;
    assert_eq!(replay.header("idempotency-replayed"), Some("true"));
    assert_eq!(replay.body, first.body);

    // A response without a secret is stored as before (plaintext).
    let key = unique("idem-plain");
    user.call("DELETE", "/api/v1/auth/mfa")
        .header("idempotency-key", &key)
        .json(&json!({"password": GOOD_PASSWORD}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    let (status, stored, nonce) = stored_replay(&key).await;
    assert_eq!((status, nonce), (Some(409), None));
    assert!(String::from_utf8_lossy(&stored).contains("CONFLICT"));
}

/// A second host on this binary's database, without `secrets_key`.
struct KeylessHost {
    url: String,
    child: Child,
}

impl Drop for KeylessHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn keyless_host() -> KeylessHost {
    let env = env();
    let host_bin = std::env::var("CP_HOST_BIN").map_or_else(
        |_| cp_tests::workspace().join("target/release/cp-host"),
        std::path::PathBuf::from,
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db_host = env
        .db_url
        .split("://")
        .nth(1)
        .and_then(|r| r.rsplit_once('@').map_or(Some(r), |(_, h)| Some(h)))
        .and_then(|r| r.split('/').next())
        .unwrap()
        .to_owned();
    let child = Command::new(host_bin)
        .args(["serve", "--manifest"])
        .arg(cp_tests::workspace().join("spin.toml"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("SPIN_VARIABLE_API_TOKEN", OPERATOR_TOKEN)
        .env("SPIN_VARIABLE_DB_URL", &env.db_url)
        .env("SPIN_VARIABLE_DB_HOST", db_host)
        .env("SPIN_VARIABLE_KUBE_URL", env.kube.url())
        .env("SPIN_VARIABLE_JWT_SECRET", cp_tests::JWT_SECRET)
        .env_remove("SPIN_VARIABLE_SECRETS_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let host = KeylessHost {
        url: format!("http://127.0.0.1:{port}"),
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok();
        if ready && send_to(&host.url, call("GET", "/healthz")).await.status == 200 {
            return host;
        }
        assert!(Instant::now() < deadline, "the keyless host did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn without_secrets_key_setup_is_a_503_and_secret_replays_are_not_stored() {
    let host = keyless_host().await;
    let user = sign_up("mfa-nokey").await;
    let as_user = |method, path: &str| -> Call { user.call(method, path) };
    let resp = send_to(&host.url, as_user("POST", "/api/v1/auth/mfa/setup")).await;
    let body = resp.expect_error(503, "UNAVAILABLE");
    assert!(
        body["error"].as_str().unwrap().contains("`secrets_key`"),
        "{body}"
    );
    // Status needs no key.
    send_to(&host.url, as_user("GET", "/api/v1/auth/mfa/status"))
        .await
        .expect(200);

    // A token created with an Idempotency-Key is not stored for replay: a
    // retry runs again (and makes a second token).
    let key = unique("idem-nokey");
    let create = || {
        call("POST", "/api/v1/access-tokens")
            .header("idempotency-key", &key)
            .json(&json!({"name": "nokey", "scopes": ["read"]}))
    };
    let first = send_to(&host.url, create()).await.expect(201);
    let rows: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM idempotency_keys WHERE key = $1",
            &[&key],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0, "nothing stored without a key");
    let second = send_to(&host.url, create()).await;
    assert_eq!(second.header("idempotency-replayed"), None);
    assert_ne!(
        second.expect(201)["data"]["plainTextToken"],
        first["data"]["plainTextToken"]
    );
}
