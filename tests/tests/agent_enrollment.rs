//! Agent self-enrolment end to end: an agent asks to join an organisation
//! (public), its approver is notified through the outbox (never with the
//! claim token), an owner approves or rejects it, and the agent collects
//! its key once with its claim token; the limits that keep a flood of
//! enrolments from creating unbounded rows answer 429 with Retry-After.
//!
//! This binary's host runs with low enrolment limits ([`LIMITS`]). Every
//! request comes from 127.0.0.1, so the tests share the per-address
//! counter: each holds [`exclusive`] and starts from empty counters.

#![allow(clippy::unwrap_used)]

use cp_tests::{
    agent_token, audit_log_text, bearer, call, db, env_with_variables, exclusive, join_org,
    sign_up_verified, Resp, TestUser,
};
use serde_json::{json, Value};

const LIMITS: &[(&str, &str)] = &[
    ("enroll_max_per_address", "8"),
    ("enroll_max_per_org", "4"),
    ("enroll_window_secs", "120"),
    ("enroll_max_pending_per_org", "2"),
];

/// This binary's environment (low limits), and empty counters.
async fn fresh_counters() {
    env_with_variables(LIMITS);
    db().await
        .execute("DELETE FROM auth_throttle", &[])
        .await
        .unwrap();
}

async fn enroll(org: &str, approver: &str, name: &str) -> Resp {
    call("POST", "/api/v1/agents/enroll")
        .anonymous()
        .json(
            &json!({"orgId": org, "name": name, "description": "nightly backups",
                      "approverEmail": approver, "scopes": ["vaults:read"]}),
        )
        .send()
        .await
}

async fn claim(id: &str, token: &str) -> Resp {
    call("POST", &format!("/api/v1/agents/enroll/{id}/claim"))
        .anonymous()
        .json(&json!({"claimToken": token}))
        .send()
        .await
}

/// A verified owner and their organisation.
async fn owner_and_org(prefix: &str) -> (TestUser, String) {
    let owner = sign_up_verified(prefix).await;
    let org = owner.create_org(prefix).await;
    (owner, org)
}

#[track_caller]
fn assert_limited(resp: &Resp, says: &str) {
    let v = resp.expect_error(429, "RATE_LIMITED");
    assert!(v["error"].as_str().unwrap().contains(says), "{v}");
    let retry: u64 = resp.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn an_approved_enrolment_gives_the_agent_its_key_once() {
    let _one = exclusive().await;
    fresh_counters().await;
    let (owner, org) = owner_and_org("enroll-ok").await;
    let vault = owner.create_vault(&org, "backups").await;

    let resp = enroll(&org, &owner.email.to_uppercase(), "backup-bot").await;
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let receipt = resp.expect(202)["data"].clone();
    let id = receipt["id"].as_str().unwrap().to_owned();
    let token = receipt["claimToken"].as_str().unwrap().to_owned();
    assert!(token.starts_with("cpenr_"), "{receipt}");
    assert_eq!(receipt["status"], "pending");

    // The approver is notified in the outbox, without the claim token.
    let notice = db()
        .await
        .query_one(
            "SELECT payload::text FROM notification_outbox
             WHERE kind = 'agent.enrollment' AND recipient = $1",
            &[&owner.email],
        )
        .await
        .unwrap()
        .get::<_, String>(0);
    assert!(
        notice.contains(&id) && notice.contains("backup-bot"),
        "{notice}"
    );
    assert!(
        !notice.contains(&token),
        "the claim token in a notice: {notice}"
    );

    // Pending: nothing to collect yet. The organisation sees the request.
    claim(&id, &token)
        .await
        .expect_error(409, "ENROLLMENT_PENDING");
    let listed = owner
        .call("GET", &format!("/api/v1/agents/enrollments?orgId={org}"))
        .send()
        .await;
    assert!(!listed.text().contains(&token));
    let listed = listed.expect(200);
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["data"][0]["approverEmail"], owner.email.as_str());

    // Approved with a vault: the agent exists, without a key yet.
    let approved = owner
        .call("POST", &format!("/api/v1/agents/enrollments/{id}/approve"))
        .json(&json!({"vaultIds": [vault], "tokenTtlSeconds": 600}))
        .send()
        .await
        .expect(200);
    assert_eq!(approved["data"]["status"], "approved");
    assert_eq!(approved["data"]["decidedBy"], format!("user:{}", owner.id));
    let agent_id = approved["data"]["agentId"].as_str().unwrap().to_owned();
    let agent = owner
        .call("GET", &format!("/api/v1/agents/{agent_id}"))
        .send()
        .await
        .expect(200);
    assert_eq!(agent["data"]["name"], "backup-bot");
    assert_eq!(agent["data"]["vaultIds"], json!([vault]));
    assert_eq!(agent["data"]["keyPrefix"], Value::Null);
    owner
        .call("POST", &format!("/api/v1/agents/enrollments/{id}/reject"))
        .json(&json!({}))
        .send()
        .await
        .expect_error(409, "ENROLLMENT_NOT_PENDING");

    // A wrong token is the 404 of no enrolment; the right one, once.
    let wrong = format!("cpenr_{}", "A".repeat(43));
    claim(&id, &wrong)
        .await
        .expect_error(404, "ENROLLMENT_NOT_FOUND");
    let claimed = claim(&id, &token).await;
    assert_eq!(claimed.header("cache-control"), Some("no-store"));
    let claimed = claimed.expect(200)["data"].clone();
    assert_eq!(claimed["agentId"], agent_id.as_str());
    let key = claimed["apiKey"].as_str().unwrap().to_owned();
    claim(&id, &token)
        .await
        .expect_error(410, "ENROLLMENT_CLAIMED");

    let agent_jwt = agent_token(&agent_id, &key).await.expect(200)["data"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = bearer(&agent_jwt, "GET", "/api/v1/agents/me")
        .send()
        .await
        .expect(200);
    assert_eq!(me["data"]["createdBy"], format!("user:{}", owner.id));
    let trail = audit_log_text().await;
    assert!(!trail.contains(&token) && !trail.contains(&key));
}

#[tokio::test]
async fn a_rejected_enrolment_collects_nothing_and_only_admins_decide() {
    let _one = exclusive().await;
    fresh_counters().await;
    let (owner, org) = owner_and_org("enroll-no").await;
    let member = join_org(&owner, &org, "member", "enroll-no-member").await;

    // An address that is no admin of the organisation gets no mail, and the
    // answer does not tell.
    let stranger = "someone-else@example.com";
    let receipt = enroll(&org, stranger, "curious-bot").await.expect(202)["data"].clone();
    let id = receipt["id"].as_str().unwrap();
    let token = receipt["claimToken"].as_str().unwrap();
    let mailed: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM notification_outbox WHERE recipient = $1",
            &[&stranger],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mailed, 0);

    let decide = |who: &TestUser, verb: &str| {
        let body = if verb == "reject" {
            json!({"reason": "not ours"})
        } else {
            json!({})
        };
        who.call("POST", &format!("/api/v1/agents/enrollments/{id}/{verb}"))
            .json(&body)
            .send()
    };
    decide(&member, "reject")
        .await
        .expect_error(403, "FORBIDDEN");
    let outsider = sign_up_verified("enroll-no-outsider").await;
    decide(&outsider, "approve")
        .await
        .expect_error(404, "ENROLLMENT_NOT_FOUND");
    let rejected = decide(&owner, "reject").await.expect(200);
    assert_eq!(rejected["data"]["status"], "rejected");
    assert_eq!(rejected["data"]["reason"], "not ours");
    claim(id, token)
        .await
        .expect_error(410, "ENROLLMENT_REJECTED");

    // An organisation that does not exist, and bad fields.
    enroll(
        "0190a000-0000-7000-8000-00000000dead",
        &owner.email,
        "lost-bot",
    )
    .await
    .expect_error(404, "ORGANIZATION_NOT_FOUND");
    let bad = call("POST", "/api/v1/agents/enroll")
        .anonymous()
        .json(&json!({"orgId": org, "name": "no spaces", "approverEmail": "nope"}))
        .send()
        .await;
    assert_eq!(
        cp_tests::field_errors(&bad.expect_error(400, "VALIDATION_ERROR")),
        ["name", "approverEmail"]
    );
}

#[tokio::test]
async fn a_flood_of_enrolments_is_bounded_per_organisation_and_per_address() {
    let _one = exclusive().await;
    fresh_counters().await;
    let (owner, org) = owner_and_org("enroll-flood").await;

    // At most two wait at once (enroll_max_pending_per_org).
    let first = enroll(&org, &owner.email, "bot-1").await.expect(202);
    enroll(&org, &owner.email, "bot-2").await.expect(202);
    assert_limited(&enroll(&org, &owner.email, "bot-3").await, "waiting");
    // A decision makes room; then the organisation's rate (4 an interval) runs out.
    let id = first["data"]["id"].as_str().unwrap();
    owner
        .call("POST", &format!("/api/v1/agents/enrollments/{id}/reject"))
        .json(&json!({}))
        .send()
        .await
        .expect(200);
    enroll(&org, &owner.email, "bot-4").await.expect(202);
    assert_limited(
        &enroll(&org, &owner.email, "bot-5").await,
        "into this organisation",
    );
    let rows: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM agent_enrollments WHERE org_id = $1::text::uuid",
            &[&org],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 3, "only accepted enrolments make rows");

    // The address's rate (8 an interval) runs out across organisations:
    // five so far, three more, then none.
    for i in 0..3 {
        let other = owner.create_org(&format!("enroll-flood-{i}")).await;
        enroll(&other, &owner.email, "bot").await.expect(202);
    }
    let last = owner.create_org("enroll-flood-last").await;
    assert_limited(
        &enroll(&last, &owner.email, "bot").await,
        "from this address",
    );
}
