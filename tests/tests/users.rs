//! Users through the Wasm host: signup with the password policy, login
//! (JWTs), logout, password changes, the caller's profile, personal API
//! keys — and the shared authentication step accepting user JWTs and keys
//! on every component (and keeping them out of operator-only areas).

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use cp_tests::{
    audit_log_text, bearer, call, count, db, email, forge_jwt as forge, jwt_claims as claims_of,
    jwt_key as test_key, log_in, unique, GOOD_PASSWORD as GOOD,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

async fn sign_up(email: &str, password: &str) -> Value {
    call("POST", "/api/v1/auth/signup")
        .anonymous()
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect(201)["data"]
        .clone()
}

fn token_of(session: &Value) -> String {
    session["accessToken"].as_str().unwrap().to_owned()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn signup_answers_a_session_whose_token_works() {
    let address = email("Ada");
    let resp = call("POST", "/api/v1/auth/signup")
        .anonymous()
        .json(&json!({"email": address, "password": GOOD, "displayName": "Ada"}))
        .send()
        .await;
    let body = resp.expect(201);
    assert!(!String::from_utf8_lossy(&resp.body).contains(GOOD));
    let s = &body["data"];
    assert_eq!(s["tokenType"], "Bearer");
    assert_eq!(s["expiresIn"], 900);
    assert_eq!(s["user"]["email"], address.to_lowercase().as_str());
    assert_eq!(s["user"]["displayName"], "Ada");
    let token = token_of(s);
    let claims = claims_of(&token);
    assert_eq!(claims["sub"], s["user"]["id"]);
    assert_eq!(claims["iss"], "agent-control-plane");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );

    let me = bearer(&token, "GET", "/api/v1/auth/me").send().await;
    let body = me.expect(200);
    assert_eq!(body["data"]["kind"], "user");
    assert_eq!(body["data"]["user"]["id"], s["user"]["id"]);
    assert!(me.header("etag").is_some());

    let hash: String = db()
        .await
        .query_one(
            "SELECT password_hash FROM users WHERE id = $1::text::uuid",
            &[&s["user"]["id"].as_str().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM audit_log WHERE action = 'signUp' AND resource_name = $1",
            s["user"]["id"].as_str().unwrap()
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_whatever_its_case() {
    let address = email("dup");
    sign_up(&address, GOOD).await;
    for again in [address.clone(), address.to_uppercase()] {
        call("POST", "/api/v1/auth/signup")
            .anonymous()
            .json(&json!({"email": again, "password": GOOD}))
            .send()
            .await
            .expect_error(409, "CONFLICT");
    }
}

#[tokio::test]
async fn each_password_rule_is_a_400_naming_password() {
    let address = email("grace");
    let local = address.split('@').next().unwrap().to_uppercase();
    for (password, says) in [
        ("short-pw-1".to_owned(), "between 12 and 128"),
        ("x1".repeat(65), "between 12 and 128"),
        ("zzzzzzzzzzzzzzzz".to_owned(), "repeated"),
        (format!("my-{local}-secret"), "email"),
        ("Password1234".to_owned(), "common"),
    ] {
        let body = call("POST", "/api/v1/auth/signup")
            .anonymous()
            .json(&json!({"email": address, "password": password}))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        let fields = &body["fieldErrors"];
        assert_eq!(fields[0]["field"], "password", "{password}: {body}");
        assert!(
            fields[0]["message"].as_str().unwrap().contains(says),
            "{password}: {body}"
        );
        assert!(!body.to_string().contains(&password));
    }
    assert_eq!(
        count("SELECT count(*) FROM users WHERE email = $1", &address).await,
        0
    );
}

#[tokio::test]
async fn login_failures_look_the_same_and_are_audited_without_the_password() {
    let address = email("login");
    let user = sign_up(&address, GOOD).await;
    let id = user["user"]["id"].as_str().unwrap();

    let ok = log_in(&address.to_uppercase(), GOOD).await.expect(200);
    assert_eq!(ok["data"]["user"]["id"], id);
    bearer(&token_of(&ok["data"]), "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);

    let wrong_pw = "wrong-password-123";
    let wrong = log_in(&address, wrong_pw)
        .await
        .expect_error(401, "UNAUTHORIZED");
    let unknown = log_in(&email("nobody"), wrong_pw)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(wrong["error"], unknown["error"]);
    assert_eq!(wrong["code"], unknown["code"]);

    let client = db().await;
    let rows = client
        .query(
            "SELECT actor, outcome, detail->>'reason' FROM audit_log
             WHERE action = 'logIn' AND resource_name = $1 ORDER BY at",
            &[&id],
        )
        .await
        .unwrap();
    let seen: Vec<(String, String, Option<String>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        seen,
        [
            ("anonymous".into(), "success".into(), None),
            (
                "anonymous".into(),
                "failure".into(),
                Some("wrong password".into())
            ),
        ]
    );
    let audit = audit_log_text().await;
    assert!(audit.contains("unknown email"));
    assert!(!audit.contains(wrong_pw) && !audit.contains(GOOD));

    // Both failures run one argon2id verification; reported, not asserted
    // (timings on a shared machine are too noisy for a bound).
    let mut timings = Vec::new();
    for who in [address.clone(), email("nobody")] {
        let start = std::time::Instant::now();
        for _ in 0..3 {
            log_in(&who, wrong_pw)
                .await
                .expect_error(401, "UNAUTHORIZED");
        }
        timings.push(start.elapsed().as_millis() / 3);
    }
    cp_tests::report(
        "users",
        &format!(
            "failed login in wasm (argon2id m=19456 t=2 p=1): wrong password {} ms, unknown email {} ms",
            timings[0], timings[1]
        ),
    );
}

#[tokio::test]
async fn a_logged_out_token_is_refused() {
    let session = sign_up(&email("bye"), GOOD).await;
    let token = token_of(&session);
    bearer(&token, "DELETE", "/api/v1/auth/token")
        .send()
        .await
        .expect(204);
    bearer(&token, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    let jti = claims_of(&token)["jti"].as_str().unwrap().to_owned();
    assert_eq!(
        count(
            "SELECT count(*) FROM revoked_tokens WHERE jti = $1::text::uuid",
            &jti
        )
        .await,
        1
    );
    // The operator has no session to revoke.
    call("DELETE", "/api/v1/auth/token")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn changing_the_password_revokes_earlier_tokens_but_not_the_fresh_one() {
    let address = email("change");
    let first = token_of(&sign_up(&address, GOOD).await);
    let second = token_of(&log_in(&address, GOOD).await.expect(200)["data"]);
    let new_pw = "cobalt-heron-meadow-77";

    let wrong = bearer(&second, "POST", "/api/v1/auth/change-password")
        .json(&json!({"currentPassword": "not-the-password", "newPassword": new_pw}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(wrong["fieldErrors"][0]["field"], "currentPassword");
    let weak = bearer(&second, "POST", "/api/v1/auth/change-password")
        .json(&json!({"currentPassword": GOOD, "newPassword": "qwertyqwerty"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(weak["fieldErrors"][0]["field"], "newPassword");
    // Refused changes changed nothing.
    bearer(&first, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);

    let resp = bearer(&second, "POST", "/api/v1/auth/change-password")
        .json(&json!({"currentPassword": GOOD, "newPassword": new_pw}))
        .send()
        .await;
    let fresh = token_of(&resp.expect(200)["data"]);
    assert!(!String::from_utf8_lossy(&resp.body).contains(new_pw));
    for old in [&first, &second] {
        bearer(old, "GET", "/api/v1/auth/me")
            .send()
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    bearer(&fresh, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);
    log_in(&address, GOOD)
        .await
        .expect_error(401, "UNAUTHORIZED");
    log_in(&address, new_pw).await.expect(200);
}

#[tokio::test]
async fn the_profile_can_change_and_be_deleted_with_its_data() {
    let address = email("profile");
    let session = sign_up(&address, GOOD).await;
    let token = token_of(&session);
    let id = session["user"]["id"].as_str().unwrap().to_owned();

    let me = bearer(&token, "GET", "/api/v1/auth/me").send().await;
    let etag = me.header("etag").unwrap().to_owned();
    let new_address = email("Renamed");
    let resp = bearer(&token, "PATCH", "/api/v1/auth/me")
        .header("if-match", &etag)
        .json(&json!({"displayName": "Grace", "email": new_address, "currentPassword": GOOD}))
        .send()
        .await;
    let updated = resp.expect(200);
    assert_eq!(updated["data"]["displayName"], "Grace");
    // The new email waits for verification; the account's stays in force.
    assert_eq!(updated["data"]["email"], address.to_lowercase().as_str());
    assert_eq!(
        updated["data"]["pendingEmail"],
        new_address.to_lowercase().as_str()
    );
    assert_eq!(updated["data"]["emailVerified"], false);
    assert_ne!(resp.header("etag").unwrap(), etag);
    // The account's own email cancels the pending change.
    let cancelled = bearer(&token, "PATCH", "/api/v1/auth/me")
        .json(&json!({"email": address, "currentPassword": GOOD}))
        .send()
        .await
        .expect(200);
    assert_eq!(cancelled["data"]["pendingEmail"], Value::Null);
    // A stale ETag, bad fields.
    bearer(&token, "PATCH", "/api/v1/auth/me")
        .header("if-match", &etag)
        .json(&json!({"displayName": "Stale"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    let bad = bearer(&token, "PATCH", "/api/v1/auth/me")
        .json(&json!({"email": "not-an-email", "currentPassword": GOOD}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(bad["fieldErrors"][0]["field"], "email");
    // The operator has no profile.
    call("PATCH", "/api/v1/auth/me")
        .json(&json!({"displayName": "Op"}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    call("DELETE", "/api/v1/auth/me")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    let key = bearer(&token, "POST", "/api/v1/auth/api-keys")
        .json(&json!({"name": "laptop"}))
        .send()
        .await
        .expect(201)["data"]["plainTextKey"]
        .as_str()
        .unwrap()
        .to_owned();
    bearer(&token, "DELETE", "/api/v1/auth/me")
        .send()
        .await
        .expect(204);
    for credential in [&token, &key] {
        bearer(credential, "GET", "/api/v1/auth/me")
            .send()
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    assert_eq!(
        count(
            "SELECT count(*) FROM user_api_keys WHERE user_id = $1::text::uuid",
            &id
        )
        .await,
        0
    );
    assert_eq!(
        count("SELECT count(*) FROM users WHERE id = $1::text::uuid", &id).await,
        0
    );
    log_in(&new_address, GOOD)
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        count(
            "SELECT count(*) FROM audit_log WHERE action = 'deleteMe' AND resource_name = $1",
            &id
        )
        .await,
        1
    );
}

#[tokio::test]
async fn api_keys_are_shown_once_act_as_their_user_and_are_revocable() {
    let session = sign_up(&email("keys"), GOOD).await;
    let token = token_of(&session);
    let user_id = session["user"]["id"].as_str().unwrap().to_owned();

    let resp = bearer(&token, "POST", "/api/v1/auth/api-keys")
        .json(&json!({"name": "ci"}))
        .send()
        .await;
    let created = resp.expect(201)["data"].clone();
    let key = created["plainTextKey"].as_str().unwrap().to_owned();
    assert!(key.starts_with("cpk_"), "{key}");
    assert_eq!(created["keyPrefix"], &key[..12]);

    let list = bearer(&token, "GET", "/api/v1/auth/api-keys")
        .send()
        .await
        .expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], created["id"]);
    assert!(list["data"][0].get("plainTextKey").is_none());
    assert!(!list.to_string().contains(&key));
    let stored: String = db()
        .await
        .query_one(
            "SELECT k::text FROM user_api_keys k WHERE id = $1::text::uuid",
            &[&created["id"].as_str().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.contains(&hex(&Sha256::digest(key.as_bytes()))));
    assert!(!stored.contains(&key[4..]), "no plaintext at rest");

    // The key acts as its user, directly and through a JWT.
    let me = bearer(&key, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);
    assert_eq!(me["data"]["user"]["id"], user_id.as_str());
    let exchanged = call("POST", "/api/v1/auth/api-key-token")
        .anonymous()
        .json(&json!({"apiKey": key}))
        .send()
        .await
        .expect(200);
    let jwt = token_of(&exchanged["data"]);
    assert_eq!(claims_of(&jwt)["sub"], user_id.as_str());
    bearer(&jwt, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);
    // A key cannot log itself out (only JWTs are revoked by jti).
    bearer(&key, "DELETE", "/api/v1/auth/token")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // Another user sees neither the key nor may revoke it.
    let other = token_of(&sign_up(&email("thief"), GOOD).await);
    let path = format!("/api/v1/auth/api-keys/{}", created["id"].as_str().unwrap());
    let theirs = bearer(&other, "GET", "/api/v1/auth/api-keys")
        .send()
        .await
        .expect(200);
    assert_eq!(theirs["data"], json!([]));
    bearer(&other, "DELETE", &path)
        .send()
        .await
        .expect_error(404, "API_KEY_NOT_FOUND");

    bearer(&token, "DELETE", &path).send().await.expect(204);
    bearer(&key, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    call("POST", "/api/v1/auth/api-key-token")
        .anonymous()
        .json(&json!({"apiKey": key}))
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    bearer(&token, "DELETE", &path)
        .send()
        .await
        .expect_error(404, "API_KEY_NOT_FOUND");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn users_reach_their_organisations_and_nothing_operator_only() {
    let session = sign_up(&email("scoped"), GOOD).await;
    let token = token_of(&session);
    let key = bearer(&token, "POST", "/api/v1/auth/api-keys")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect(201)["data"]["plainTextKey"]
        .as_str()
        .unwrap()
        .to_owned();
    for credential in [&token, &key] {
        // Operator-only areas.
        for (method, path) in [
            ("POST", "/api/v1/access-tokens"),
            ("GET", "/api/v1/skills/catalog"),
            ("GET", "/api/v1/policies"),
            ("POST", "/api/v1/tenants"),
        ] {
            let c = bearer(credential, method, path);
            let c = if method == "POST" {
                c.json(&json!({"name": "x", "email": "x@example.com"}))
            } else {
                c
            };
            c.send().await.expect_error(403, "FORBIDDEN");
        }
        // Tenants through organisations: none yet.
        let list = bearer(credential, "GET", "/api/v1/tenants")
            .send()
            .await
            .expect(200);
        assert_eq!(list["data"], json!([]));
    }
}

#[tokio::test]
async fn other_principals_see_who_they_are_but_have_no_account() {
    let me = call("GET", "/api/v1/auth/me").send().await.expect(200);
    assert_eq!(me["data"], json!({"kind": "operator"}));
    let t = call("POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("me"), "scopes": ["read"]}))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let secret = t["plainTextToken"].as_str().unwrap();
    let me = bearer(secret, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);
    assert_eq!(
        me["data"],
        json!({"kind": "accessToken", "accessTokenId": t["id"]})
    );
    // A read-only token may not write even to the auth area; a `*` token
    // reaches it but has no account.
    bearer(secret, "POST", "/api/v1/auth/api-keys")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let all = call("POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("me")}))
        .send()
        .await
        .expect(201)["data"]["plainTextToken"]
        .as_str()
        .unwrap()
        .to_owned();
    bearer(&all, "POST", "/api/v1/auth/api-keys")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    // Without credentials /auth/me is public: anonymous, with the ways to
    // sign in (tests/tests/oidc.rs).
    let anonymous = call("GET", "/api/v1/auth/me")
        .anonymous()
        .send()
        .await
        .expect(200);
    assert_eq!(anonymous["data"]["kind"], "anonymous");
}

#[tokio::test]
async fn forged_expired_and_tampered_jwts_are_refused() {
    let session = sign_up(&email("forge"), GOOD).await;
    let token = token_of(&session);
    let id = session["user"]["id"].as_str().unwrap();
    let now = now_secs();
    let claims = |iat: u64, exp: u64| {
        json!({"sub": id, "jti": uuid::Uuid::now_v7().to_string(), "iat": iat, "exp": exp,
               "iss": "agent-control-plane"})
    };

    // The forging itself is right: a current token signed with the test key works.
    let valid = forge(&claims(now, now + 600), &test_key());
    bearer(&valid, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);

    let expired = forge(&claims(now - 3600, now - 1800), &test_key());
    let body = bearer(&expired, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    assert!(body["error"].as_str().unwrap().contains("expired"));

    let other_key = forge(
        &claims(now, now + 600),
        b"another-key-of-thirty-two-bytes!!",
    );
    let mut wrong_issuer = claims(now, now + 600);
    wrong_issuer["iss"] = json!("someone-else");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut tampered_claims = claims_of(&token);
    tampered_claims["exp"] = json!(now + 86_400);
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(tampered_claims.to_string().as_bytes());
    let tampered = parts.join(".");
    let unknown_user = forge(
        &json!({"sub": uuid::Uuid::now_v7().to_string(), "jti": uuid::Uuid::now_v7().to_string(),
                "iat": now, "exp": now + 600, "iss": "agent-control-plane"}),
        &test_key(),
    );
    for (label, bad) in [
        ("other key", other_key),
        ("wrong issuer", forge(&wrong_issuer, &test_key())),
        ("tampered", tampered),
        ("unknown user", unknown_user),
        ("not base64", "a.b.c".to_owned()),
    ] {
        let resp = bearer(&bad, "GET", "/api/v1/auth/me").send().await;
        assert_eq!(resp.status, 401, "{label}");
        resp.expect_error(401, "UNAUTHORIZED");
    }
    // JWTs are checked by every component, not only identity's.
    bearer(&expired, "GET", "/api/v1/tenants")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn no_password_key_or_token_appears_after_creation() {
    let address = email("leak");
    let pw = format!("leak-pw-{}", uuid::Uuid::now_v7().simple());
    let session = sign_up(&address, &pw).await;
    let token = token_of(&session);
    let key = bearer(&token, "POST", "/api/v1/auth/api-keys")
        .json(&json!({"name": "leak"}))
        .send()
        .await
        .expect(201)["data"]["plainTextKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut texts = Vec::new();
    for c in [
        bearer(&token, "GET", "/api/v1/auth/me"),
        bearer(&token, "GET", "/api/v1/auth/api-keys"),
        bearer(&key, "GET", "/api/v1/auth/me"),
        bearer(&token, "PATCH", "/api/v1/auth/me").json(&json!({"displayName": "L"})),
        call("POST", "/api/v1/auth/token")
            .anonymous()
            .json(&json!({"email": address, "password": format!("{pw}x")})),
        call("POST", "/api/v1/auth/token")
            .anonymous()
            .json(&json!({"email": address, "password": pw})),
        bearer(&token, "POST", "/api/v1/auth/change-password")
            .json(&json!({"currentPassword": pw, "newPassword": "x"})),
        bearer(&token, "GET", "/api/v1/tenants"),
    ] {
        let resp = c.send().await;
        texts.push(String::from_utf8_lossy(&resp.body).into_owned());
    }
    let audit = audit_log_text().await;
    let log = cp_tests::server_log("the secret scan of the host log").unwrap_or_default();
    for secret in [&pw, &key, &token] {
        for text in &texts {
            assert!(!text.contains(secret.as_str()), "a response leaked: {text}");
        }
        assert!(!audit.contains(secret.as_str()), "the audit log leaked");
        assert!(!log.contains(secret.as_str()), "the host log leaked");
    }
}

/// Issue 12 item 16: personal API keys are credentials of their own and
/// survive a password change (documented); `DELETE /auth/api-keys`
/// revokes them all at once, the caller's only.
#[tokio::test]
async fn api_keys_survive_a_password_change_and_are_revoked_all_at_once() {
    let address = email("keys-all");
    let token = token_of(&sign_up(&address, GOOD).await);
    let mut keys = Vec::new();
    for name in ["laptop", "ci"] {
        keys.push(
            bearer(&token, "POST", "/api/v1/auth/api-keys")
                .json(&json!({ "name": name }))
                .send()
                .await
                .expect(201)["data"]["plainTextKey"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let other = token_of(&sign_up(&email("keys-other"), GOOD).await);
    let others_key = bearer(&other, "POST", "/api/v1/auth/api-keys")
        .json(&json!({ "name": "theirs" }))
        .send()
        .await
        .expect(201)["data"]["plainTextKey"]
        .as_str()
        .unwrap()
        .to_owned();

    let fresh = token_of(
        &bearer(&token, "POST", "/api/v1/auth/change-password")
            .json(&json!({"currentPassword": GOOD, "newPassword": "cobalt-heron-meadow-77"}))
            .send()
            .await
            .expect(200)["data"],
    );
    for key in &keys {
        bearer(key, "GET", "/api/v1/auth/me")
            .send()
            .await
            .expect(200);
    }

    let revoked = bearer(&fresh, "DELETE", "/api/v1/auth/api-keys")
        .send()
        .await
        .expect(200);
    assert_eq!(revoked["data"]["revoked"], 2);
    for key in &keys {
        bearer(key, "GET", "/api/v1/auth/me")
            .send()
            .await
            .expect_error(401, "UNAUTHORIZED");
        call("POST", "/api/v1/auth/api-key-token")
            .anonymous()
            .json(&json!({ "apiKey": key }))
            .send()
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    let listed = bearer(&fresh, "GET", "/api/v1/auth/api-keys")
        .send()
        .await
        .expect(200);
    assert_eq!(listed["data"], json!([]));
    // Again: nothing left. Another user's key is untouched.
    let again = bearer(&fresh, "DELETE", "/api/v1/auth/api-keys")
        .send()
        .await
        .expect(200);
    assert_eq!(again["data"]["revoked"], 0);
    bearer(&others_key, "GET", "/api/v1/auth/me")
        .send()
        .await
        .expect(200);
    // Operators have no keys to revoke.
    call("DELETE", "/api/v1/auth/api-keys")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
}

/// Issue 12 item 4: a password signup's email is unverified and a profile
/// email change needs the current password and only becomes pending.
#[tokio::test]
async fn signup_emails_are_unverified_and_email_changes_need_reauthentication() {
    let address = email("verify");
    let session = sign_up(&address, GOOD).await;
    assert_eq!(session["user"]["emailVerified"], false);
    assert_eq!(session["user"]["pendingEmail"], Value::Null);
    let token = token_of(&session);
    let target = email("verify-new");
    for (body, field) in [
        (json!({"email": target}), "currentPassword"),
        (
            json!({"email": target, "currentPassword": "wrong-password-123"}),
            "currentPassword",
        ),
        // A password given without an email change is checked all the same.
        (
            json!({"displayName": "X", "currentPassword": "wrong-password-123"}),
            "currentPassword",
        ),
        (json!({"currentPassword": ""}), "currentPassword"),
    ] {
        let err = bearer(&token, "PATCH", "/api/v1/auth/me")
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(err["fieldErrors"][0]["field"], field, "{body}");
    }
    let renamed = bearer(&token, "PATCH", "/api/v1/auth/me")
        .json(&json!({"displayName": "X", "currentPassword": GOOD}))
        .send()
        .await
        .expect(200);
    assert_eq!(renamed["data"]["displayName"], "X");
    let me = bearer(&token, "PATCH", "/api/v1/auth/me")
        .json(&json!({"email": target, "currentPassword": GOOD}))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(me["email"], address.as_str());
    assert_eq!(me["pendingEmail"], target.as_str());
    // The pending address signs nobody in; the account's own still does.
    log_in(&target, GOOD)
        .await
        .expect_error(401, "UNAUTHORIZED");
    log_in(&address, GOOD).await.expect(200);
    // The audit entry says a pending email was asked for, never the password.
    let detail = db()
        .await
        .query_one(
            "SELECT detail::text FROM audit_log WHERE action = 'updateMe' AND resource_name = $1
             AND outcome = 'success' ORDER BY at DESC LIMIT 1",
            &[&me["id"].as_str().unwrap()],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    assert!(detail.contains("pendingEmail"), "{detail}");
    assert!(!detail.contains(GOOD), "{detail}");
}

#[tokio::test]
async fn api_keys_page_through_their_cursor() {
    let user = sign_up(&cp_tests::email("keys-pager"), GOOD).await;
    let token = token_of(&user);
    let mut created = Vec::new();
    for i in 0..3 {
        let key = cp_tests::bearer(&token, "POST", "/api/v1/auth/api-keys")
            .json(&json!({ "name": format!("key-{i}") }))
            .send()
            .await
            .expect(201);
        created.push(key["data"]["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut url = "/api/v1/auth/api-keys?limit=1".to_owned();
    loop {
        let page = cp_tests::bearer(&token, "GET", &url)
            .send()
            .await
            .expect(200);
        let data = page["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{page}");
        seen.push(data[0]["id"].as_str().unwrap().to_owned());
        match page["pagination"]["nextCursor"].as_str() {
            Some(c) => url = format!("/api/v1/auth/api-keys?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, created, "oldest first, each once");
}
