//! Self-service reach, through the Wasm host: what a signed-up user may do
//! to their organisation's tenants, and what stays the operator's. Each test
//! replays an attack a review confirmed and sees it refused:
//! - operator-grade tenant fields (resources, budget, `policyRef`,
//!   `clusterTenantRef`) set by any signed-up user;
//! - members changing what only admins may;
//! - a member choosing a permissive policy for a restricted tenant;
//! - "no policy applies" meaning every dataset;
//! - a second policy widening what the first leaves out;
//! - `tenants:write` tokens minting gateway keys and changing fair-share;
//! - anonymous callers sharing Idempotency-Key replays.

#![allow(clippy::unwrap_used)]

use cp_tests::{
    call, email, env, field_errors, kube, sign_up, tenant_crd_path, unique, TestUser, GOOD_PASSWORD,
};
use serde_json::{json, Value};

/// A new organisation owned by `owner`; returns its id.
async fn org_of(owner: &TestUser) -> String {
    let org = owner
        .call("POST", "/api/v1/organizations")
        .json(&json!({"name": unique("self")}))
        .send()
        .await
        .expect(201);
    org["data"]["id"].as_str().unwrap().to_owned()
}

/// A new user who joined organisation `org_id` as `role`.
async fn joined(owner: &TestUser, org_id: &str, role: &str) -> TestUser {
    cp_tests::join_org(owner, org_id, role, &format!("self-{role}")).await
}

/// A tenant of `org_id` created by `user`; returns its read view.
async fn org_tenant(user: &TestUser, org_id: &str) -> Value {
    let name = unique("self");
    user.call("POST", &format!("/api/v1/organizations/{org_id}/tenants"))
        .json(&json!({"name": name, "email": user.email}))
        .send()
        .await
        .expect(201)["data"]
        .clone()
}

/// The writable fields of a read tenant, to send back with changes.
fn writable(t: &Value) -> Value {
    let mut body = json!({});
    for f in [
        "displayName",
        "email",
        "ownerId",
        "team",
        "clusterTenantRef",
        "monthlyBudgetUsd",
        "resources",
        "skillAllowlist",
        "policyRef",
    ] {
        body[f] = t[f].clone();
    }
    body
}

#[tokio::test]
async fn a_signed_up_user_cannot_give_a_tenant_operator_grade_fields() {
    env();
    let owner = sign_up("self-owner").await;
    let org_id = org_of(&owner).await;
    let create = |body: Value| {
        let owner = &owner;
        let org_id = &org_id;
        async move {
            owner
                .call("POST", &format!("/api/v1/organizations/{org_id}/tenants"))
                .json(&body)
                .send()
                .await
        }
    };

    // The review's request: unlimited resources and budget.
    let name = unique("self");
    let err = create(json!({
        "name": name, "email": owner.email, "monthlyBudgetUsd": 1e9,
        "resources": {"cpu": "100000", "memory": "1000Ti", "storage": "1000Pi"}
    }))
    .await
    .expect_error(403, "LIMIT_EXCEEDED");
    assert_eq!(
        field_errors(&err),
        [
            "monthlyBudgetUsd",
            "resources.cpu",
            "resources.memory",
            "resources.storage"
        ]
    );
    // Nothing was written: no CRD, no tenant.
    kube("GET", &tenant_crd_path(&name), None).await.expect(404);
    // Any policy, any cluster tenant.
    let err = create(json!({
        "name": name, "email": owner.email, "policyRef": "allow-everything",
        "clusterTenantRef": "someone-elses"
    }))
    .await
    .expect_error(403, "FIELD_FORBIDDEN");
    assert_eq!(field_errors(&err), ["policyRef", "clusterTenantRef"]);
    // Another owner than oneself.
    let other = sign_up("self-other").await;
    let err = create(json!({"name": name, "email": owner.email, "ownerId": other.id}))
        .await
        .expect_error(403, "FIELD_FORBIDDEN");
    assert_eq!(field_errors(&err), ["ownerId"]);
    // A negative quantity is malformed.
    let err = create(json!({"name": name, "email": owner.email, "resources": {"cpu": "-1"}}))
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&err), ["resources.cpu"]);

    // Within the limits (4 CPUs, 8Gi, 50Gi, $1000 by default) it works, and
    // the creator owns the tenant.
    let t = create(json!({
        "name": name, "email": owner.email, "monthlyBudgetUsd": 1000,
        "resources": {"cpu": "4000m", "memory": "8Gi", "storage": "50Gi"}
    }))
    .await
    .expect(201)["data"]
        .clone();
    assert_eq!(t["ownerId"], owner.id.as_str());
    let crd = kube("GET", &tenant_crd_path(&name), None).await.expect(200);
    assert_eq!(crd["spec"]["resources"]["cpu"], "4000m");
    assert_eq!(
        crd["metadata"]["labels"]["opencrane.io/owner-id"],
        owner.id.as_str()
    );

    // An operator may go beyond the limits; the owner may send that back
    // unchanged, but not raise it further.
    let mut big = writable(&t);
    big["resources"] = json!({"cpu": "64", "memory": "256Gi"});
    let t = call("PUT", &format!("/api/v1/tenants/{name}"))
        .json(&big)
        .send()
        .await
        .expect(200)["data"]
        .clone();
    owner
        .call("PUT", &format!("/api/v1/tenants/{name}"))
        .json(&writable(&t))
        .send()
        .await
        .expect(200);
    let mut more = writable(&t);
    more["resources"]["cpu"] = json!("65");
    let err = owner
        .call("PUT", &format!("/api/v1/tenants/{name}"))
        .json(&more)
        .send()
        .await
        .expect_error(403, "LIMIT_EXCEEDED");
    assert_eq!(field_errors(&err), ["resources.cpu"]);
}

#[tokio::test]
async fn members_cannot_change_what_only_admins_may() {
    env();
    let owner = sign_up("self-owner").await;
    let org_id = org_of(&owner).await;
    let member = joined(&owner, &org_id, "member").await;
    let admin = joined(&owner, &org_id, "admin").await;
    let t = org_tenant(&member, &org_id).await;
    let path = format!("/api/v1/tenants/{}", t["name"].as_str().unwrap());

    // A member edits the contact fields of a tenant ...
    let mut edit = writable(&t);
    edit["displayName"] = json!("Renamed by a member");
    member
        .call("PUT", &path)
        .json(&edit)
        .send()
        .await
        .expect(200);
    // ... but not its budget or resources.
    let mut budget = edit.clone();
    budget["monthlyBudgetUsd"] = json!(500);
    budget["resources"] = json!({"memory": "2Gi"});
    let err = member
        .call("PUT", &path)
        .json(&budget)
        .send()
        .await
        .expect_error(403, "FIELD_FORBIDDEN");
    assert_eq!(field_errors(&err), ["monthlyBudgetUsd", "resources.memory"]);
    // An admin may, within the limits.
    let done = admin
        .call("PUT", &path)
        .json(&budget)
        .send()
        .await
        .expect(200);
    assert_eq!(done["data"]["monthlyBudgetUsd"], json!(500.0));
    // Nobody in the organisation moves the tenant to another owner.
    let mut steal = writable(&done["data"]);
    steal["ownerId"] = json!(admin.id);
    let err = admin
        .call("PUT", &path)
        .json(&steal)
        .send()
        .await
        .expect_error(403, "FIELD_FORBIDDEN");
    assert_eq!(field_errors(&err), ["ownerId"]);
}

/// Creates an access policy (operator) and returns its name.
async fn policy(body: Value) -> String {
    let name = unique("self-pol");
    let mut body = body;
    body["name"] = json!(name);
    call("POST", "/api/v1/policies")
        .json(&body)
        .send()
        .await
        .expect(201);
    name
}

async fn put_datasets(user: &TestUser, tenant: &str, datasets: Value) -> cp_tests::Resp {
    user.call("PUT", &format!("/api/v1/tenants/{tenant}/datasets"))
        .json(&json!({ "datasets": datasets }))
        .send()
        .await
}

#[tokio::test]
async fn an_organisations_tenant_reaches_no_dataset_no_policy_allows() {
    env();
    let owner = sign_up("self-owner").await;
    let org_id = org_of(&owner).await;
    let t = org_tenant(&owner, &org_id).await;
    let name = t["name"].as_str().unwrap();

    // The review's request: a fresh tenant, write access to payroll.
    let err = put_datasets(
        &owner,
        name,
        json!([{"name": "hr-payroll", "access": "write"}]),
    )
    .await
    .expect_error(403, "DATASET_DENIED");
    assert!(
        err["error"].as_str().unwrap().contains("hr-payroll"),
        "{err}"
    );
    // An operator's policy opens exactly what it allows.
    policy(json!({"subjects": {"tenants": [name]}, "datasets": {"allow": ["eng-*"]}})).await;
    put_datasets(&owner, name, json!([{"name": "eng-docs"}]))
        .await
        .expect(200);
    put_datasets(&owner, name, json!([{"name": "hr-payroll"}]))
        .await
        .expect_error(403, "DATASET_DENIED");
}

#[tokio::test]
async fn a_member_cannot_swap_a_restrictive_policy_for_a_permissive_one() {
    env();
    let owner = sign_up("self-owner").await;
    let org_id = org_of(&owner).await;
    let member = joined(&owner, &org_id, "member").await;
    let t = org_tenant(&owner, &org_id).await;
    let name = t["name"].as_str().unwrap().to_owned();
    let strict = policy(json!({"datasets": {"allow": ["eng-*"], "deny": ["hr-*"]}})).await;
    let open = policy(json!({"datasets": {"allow": ["*"]}})).await;

    // The operator binds the tenant to the strict policy.
    let mut bound = writable(&t);
    bound["policyRef"] = json!(strict);
    let t = call("PUT", &format!("/api/v1/tenants/{name}"))
        .json(&bound)
        .send()
        .await
        .expect(200)["data"]
        .clone();
    put_datasets(
        &member,
        &name,
        json!([{"name": "hr-payroll", "access": "write"}]),
    )
    .await
    .expect_error(403, "DATASET_DENIED");

    // The member points the tenant at the permissive policy: refused, and
    // the same dataset stays denied.
    let mut swap = writable(&t);
    swap["policyRef"] = json!(open);
    let err = member
        .call("PUT", &format!("/api/v1/tenants/{name}"))
        .json(&swap)
        .send()
        .await
        .expect_error(403, "FIELD_FORBIDDEN");
    assert_eq!(field_errors(&err), ["policyRef"]);
    // Clearing it is changing it, too.
    let mut clear = writable(&t);
    clear["policyRef"] = Value::Null;
    member
        .call("PUT", &format!("/api/v1/tenants/{name}"))
        .json(&clear)
        .send()
        .await
        .expect_error(403, "FIELD_FORBIDDEN");
    put_datasets(
        &member,
        &name,
        json!([{"name": "hr-payroll", "access": "write"}]),
    )
    .await
    .expect_error(403, "DATASET_DENIED");
    let read = call("GET", &format!("/api/v1/tenants/{name}"))
        .send()
        .await
        .expect(200);
    assert_eq!(read["data"]["policyRef"], strict.as_str());
}

#[tokio::test]
async fn a_second_policy_never_widens_what_the_first_leaves_out() {
    env();
    let name = unique("self");
    call("POST", "/api/v1/tenants")
        .json(&json!({"name": name, "email": "ops@example.com"}))
        .send()
        .await
        .expect(201);
    let put = |datasets: Value| {
        let name = name.clone();
        async move {
            call("PUT", &format!("/api/v1/tenants/{name}/datasets"))
                .json(&json!({ "datasets": datasets }))
                .send()
                .await
        }
    };
    policy(json!({"subjects": {"tenants": [name]}, "datasets": {"allow": ["eng-*", "shared"]}}))
        .await;
    put(json!([{"name": "eng-docs"}])).await.expect(200);
    // A second policy for the same tenant allowing hr-* does not open hr-*
    // past the first; it narrows eng-* instead.
    policy(json!({"subjects": {"tenants": [name]}, "datasets": {"allow": ["hr-*", "shared"]}}))
        .await;
    put(json!([{"name": "hr-payroll"}]))
        .await
        .expect_error(403, "DATASET_DENIED");
    put(json!([{"name": "eng-docs"}]))
        .await
        .expect_error(403, "DATASET_DENIED");
    put(json!([{"name": "shared"}])).await.expect(200);
}

/// An access token with `scopes`; returns its plaintext.
async fn token_with(scopes: &[&str]) -> String {
    let created = call("POST", "/api/v1/access-tokens")
        .json(&json!({"name": unique("self"), "scopes": scopes}))
        .send()
        .await
        .expect(201);
    created["data"]["plainTextToken"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn tenant_scopes_do_not_reach_gateway_keys_or_fair_share() {
    env();
    let name = unique("self");
    cp_tests::create_tenant(&name).await;
    let tenants = token_with(&["tenants:write"]).await;
    let as_tenants = |method: &'static str, path: String, body: Value| {
        let tenants = tenants.clone();
        async move {
            cp_tests::bearer(&tenants, method, &path)
                .json(&body)
                .send()
                .await
        }
    };
    let keys = format!("/api/v1/tenants/{name}/keys");
    let err = as_tenants("POST", keys.clone(), json!({"name": "k"}))
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(
        err["error"].as_str().unwrap().contains("keys:write"),
        "{err}"
    );
    for (method, path, body) in [
        ("PATCH", "weight", json!({"weight": 5})),
        ("PUT", "quota", json!({"tokensPerMinute": 1000})),
        ("PATCH", "group", json!({"group": null})),
    ] {
        let err = as_tenants(method, format!("/api/v1/tenants/{name}/{path}"), body)
            .await
            .expect_error(403, "FORBIDDEN");
        assert!(
            err["error"].as_str().unwrap().contains("fairshare:write"),
            "{path}: {err}"
        );
    }
    // The tenant itself is still the token's to change.
    as_tenants(
        "PUT",
        format!("/api/v1/tenants/{name}"),
        json!({"email": "ops@example.com"}),
    )
    .await
    .expect(200);
    // The areas that own those operations reach them.
    let key_token = token_with(&["keys:write"]).await;
    cp_tests::bearer(&key_token, "POST", &keys)
        .json(&json!({"name": "k"}))
        .send()
        .await
        .expect(201);
}

#[tokio::test]
async fn anonymous_callers_never_get_each_others_replays() {
    env();
    let key = unique("anon-key");
    let signup = |who: String| {
        let key = key.clone();
        async move {
            call("POST", "/api/v1/auth/signup")
                .anonymous()
                .header("idempotency-key", &key)
                .json(&json!({"email": who, "password": GOOD_PASSWORD}))
                .send()
                .await
        }
    };
    let first = signup(email("anon-a")).await.expect(201);
    // The same key from another anonymous caller runs as its own request:
    // no replay of the first caller's session, no IDEMPOTENCY_KEY_REUSED.
    let second_email = email("anon-b");
    let second = signup(second_email.clone()).await;
    let second = second.expect(201);
    assert_eq!(second["data"]["user"]["email"], second_email.as_str());
    assert_ne!(second["data"]["accessToken"], first["data"]["accessToken"]);
}
