//! Tenant gateway keys and the fair-share fleet end to end: key lifecycle
//! and authentication, tenant weights, quotas and groups, group weights,
//! gateway heartbeats with their allocations, the live snapshot, stats and
//! capacity. The real component in the host, real PostgreSQL.
//!
//! Tests that send successful heartbeats or change the capacity hold
//! [`exclusive`] and start from an empty fleet: the allocation divides the
//! whole fleet's capacity among every tenant any instance reports, so they
//! need the fleet to themselves. The others only touch their own rows.

#![allow(clippy::unwrap_used)]

use cp_tests::{
    audit_log_text, bearer, call, create_tenant, db, exclusive, field_errors, sign_up, unique, Resp,
};
use serde_json::{json, Value};

/// Actions audited for one resource, oldest first, with their tenant.
async fn audited(kind: &str, name: &str) -> Vec<String> {
    db().await
        .query(
            "SELECT action || ':' || outcome || ':' || COALESCE(tenant, '-') FROM audit_log
             WHERE resource_kind = $1 AND resource_name = $2 ORDER BY at, id",
            &[&kind, &name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Every audit entry, as text.
/// Marks a tenant decommissioned in its row (what the lifecycle does,
/// without the Kubernetes round trip).
async fn decommission(name: &str) {
    db().await
        .execute(
            "UPDATE tenants SET state = 'decommissioned', decommissioned_at = now() WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap();
}

// ------------------------------------------------------------- gateway keys

async fn create_key(tenant: &str, name: &str) -> Value {
    call("POST", &format!("/api/v1/tenants/{tenant}/keys"))
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect(201)["data"]
        .clone()
}

/// The tenant's keys, as `GET /keys?tenant=` lists them.
async fn keys_of(tenant: &str) -> Vec<Value> {
    call("GET", &format!("/api/v1/keys?tenant={tenant}"))
        .send()
        .await
        .expect(200)["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_gateway_key_is_shown_once_authenticates_and_can_be_disabled_and_deleted() {
    let tenant = unique("keys");
    create_tenant(&tenant).await;

    let created = create_key(&tenant, "  prod-key ").await;
    let secret = created["plainTextKey"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk_") && secret.len() == 46, "{secret}");
    assert_eq!(created["keyPrefix"], secret[..15]);
    assert_eq!(created["name"], "prod-key", "stored trimmed");
    assert_eq!(created["tenant"], tenant.as_str());
    assert_eq!(created["disabled"], false);
    assert_eq!(created["lastUsedAt"], Value::Null);
    let id = created["id"].as_str().unwrap().to_owned();

    // Only the digest is stored; lists never show the secret or the hash.
    let stored: String = db()
        .await
        .query_one(
            "SELECT key_hash FROM gateway_keys WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, cp_crypto::token_hash(&secret));
    let listed = keys_of(&tenant).await;
    assert_eq!(listed.len(), 1);
    let mut keys: Vec<&String> = listed[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "disabled",
            "id",
            "keyPrefix",
            "lastUsedAt",
            "name",
            "tenant"
        ]
    );
    let all = call("GET", "/api/v1/keys?limit=1000").send().await;
    assert!(!all.describe().contains(&secret) && !all.describe().contains(&stored));
    // The audit entry names the key, never its secret.
    assert_eq!(
        audited("gateway_key", &id).await,
        [format!("createGatewayKey:success:{tenant}")]
    );
    assert!(!audit_log_text().await.contains(&secret));

    // An enabled key authenticates, but reaches only usage ingestion.
    bearer(&secret, "GET", "/api/v1/stats")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    bearer(&secret, "GET", "/api/v1/keys")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(keys_of(&tenant).await[0]["lastUsedAt"].is_string());

    // Disabled: refused with a 401 everywhere.
    let off = call("PUT", &format!("/api/v1/keys/{id}/disabled"))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(off["disabled"], true);
    assert_eq!(off["id"], id.as_str());
    assert!(off.get("plainTextKey").is_none());
    for (method, path) in [("GET", "/api/v1/stats"), ("POST", "/api/v1/token-usage")] {
        bearer(&secret, method, path)
            .json(&json!({"records": []}))
            .send()
            .await
            .expect_error(401, "UNAUTHORIZED");
    }
    assert_eq!(keys_of(&tenant).await[0]["disabled"], true);

    // Re-enabled: authenticated again.
    let on = call("PUT", &format!("/api/v1/keys/{id}/disabled"))
        .json(&json!({"disabled": false}))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(on["disabled"], false);
    bearer(&secret, "GET", "/api/v1/stats")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // Deleted: gone from lists, refused with a 401, a second delete is a 404.
    let del = call("DELETE", &format!("/api/v1/keys/{id}")).send().await;
    assert_eq!(del.status, 204, "{}", del.describe());
    assert!(keys_of(&tenant).await.is_empty());
    bearer(&secret, "GET", "/api/v1/stats")
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
    call("DELETE", &format!("/api/v1/keys/{id}"))
        .send()
        .await
        .expect_error(404, "GATEWAY_KEY_NOT_FOUND");
    assert_eq!(
        audited("gateway_key", &id).await,
        [
            format!("createGatewayKey:success:{tenant}"),
            format!("setGatewayKeyDisabled:success:{tenant}"),
            format!("setGatewayKeyDisabled:success:{tenant}"),
            format!("deleteGatewayKey:success:{tenant}"),
        ]
    );
}

#[tokio::test]
async fn gateway_key_requests_are_validated_and_refused_where_they_must_be() {
    let tenant = unique("keyerr");
    create_tenant(&tenant).await;
    let path = format!("/api/v1/tenants/{tenant}/keys");

    // Users are refused before anything is looked up, even for no tenant.
    let user = sign_up("keys-user").await;
    for p in [path.clone(), "/api/v1/tenants/no-such-tenant/keys".into()] {
        user.call("POST", &p)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .expect_error(403, "FORBIDDEN");
    }
    user.call("GET", "/api/v1/keys")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    let missing = unique("nokeys");
    call("POST", &format!("/api/v1/tenants/{missing}/keys"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
    let v = call("POST", "/api/v1/tenants/Not_A_Label/keys")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["name"]);
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": " \u{3000} "}),
        json!({"name": "a\u{7}b"}),
        json!({"name": "x".repeat(65)}),
        json!({"name": 5}),
        json!({"name": "ok", "extra": 1}),
    ] {
        let v = call("POST", &path)
            .json(&bad)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        let f = field_errors(&v);
        assert!(f == ["name"] || f == ["extra"], "{bad}: {v}");
    }
    assert!(keys_of(&tenant).await.is_empty());

    create_key(&tenant, "dup").await;
    let v = call("POST", &path)
        .json(&json!({"name": " dup"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    assert!(v["error"].as_str().unwrap().contains("dup"), "{v}");
    // The same name for another tenant is fine.
    let other = unique("keyerr2");
    create_tenant(&other).await;
    create_key(&other, "dup").await;

    // Keyset pages of one tenant's keys, oldest first.
    create_key(&tenant, "second").await;
    create_key(&tenant, "third").await;
    let first = call("GET", &format!("/api/v1/keys?tenant={tenant}&limit=2"))
        .send()
        .await
        .expect(200);
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["dup", "second"]);
    assert_eq!(first["pagination"]["hasMore"], true);
    let cursor = first["pagination"]["nextCursor"].as_str().unwrap();
    let next = call(
        "GET",
        &format!("/api/v1/keys?tenant={tenant}&limit=2&cursor={cursor}"),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(names(&next), ["third"]);
    assert_eq!(next["pagination"]["hasMore"], false);
    // Unfiltered, the pages go on from the same cursor over every key.
    let all = call("GET", &format!("/api/v1/keys?limit=1000&cursor={cursor}"))
        .send()
        .await
        .expect(200);
    assert!(names(&all).contains(&"third".to_owned()));
    assert!(!names(&all).contains(&"second".to_owned()));

    for (query, field) in [
        ("tenant=Bad!", "tenant"),
        ("limit=0", "limit"),
        ("cursor=v1.garbage", "cursor"),
    ] {
        let v = call("GET", &format!("/api/v1/keys?{query}"))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), [field], "{query}");
    }
    assert!(keys_of(&unique("nobody")).await.is_empty());

    let unknown = uuid::Uuid::now_v7();
    call("PUT", &format!("/api/v1/keys/{unknown}/disabled"))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .expect_error(404, "GATEWAY_KEY_NOT_FOUND");
    call("DELETE", &format!("/api/v1/keys/{unknown}"))
        .send()
        .await
        .expect_error(404, "GATEWAY_KEY_NOT_FOUND");
    let v = call("DELETE", "/api/v1/keys/not-a-uuid")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["id"]);
    let key = keys_of(&tenant).await[0]["id"].as_str().unwrap().to_owned();
    for bad in [
        json!({}),
        json!({"disabled": "yes"}),
        json!({"disabled": null}),
    ] {
        let v = call("PUT", &format!("/api/v1/keys/{key}/disabled"))
            .json(&bad)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), ["disabled"], "{bad}");
    }

    // A decommissioned tenant gets no new keys.
    decommission(&tenant).await;
    let v = call("POST", &path)
        .json(&json!({"name": "late"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    assert!(
        v["error"].as_str().unwrap().contains("decommissioned"),
        "{v}"
    );
}

// --------------------------------------------------------- tenant settings

async fn patch_tenant(method: &'static str, tenant: &str, what: &str, body: Value) -> Resp {
    call(method, &format!("/api/v1/tenants/{tenant}/{what}"))
        .json(&body)
        .send()
        .await
}

#[tokio::test]
async fn tenant_weight_quota_and_group_start_from_the_defaults_and_are_guarded() {
    let tenant = unique("share");
    create_tenant(&tenant).await;
    let group = unique("grp");
    call("POST", "/api/v1/fairshare/groups")
        .json(&json!({"name": group, "weight": 2}))
        .send()
        .await
        .expect(201);

    // Before anything was set the settings are version 0: If-Match "0" holds.
    let r = call("PATCH", &format!("/api/v1/tenants/{tenant}/weight"))
        .header("if-match", "\"0\"")
        .json(&json!({"weight": 500}))
        .send()
        .await;
    let v = r.expect(200)["data"].clone();
    assert_eq!(
        json!({"tenant": v["tenant"], "weight": v["weight"], "tokensPerMinute": v["tokensPerMinute"], "group": v["group"]}),
        json!({"tenant": tenant, "weight": 500, "tokensPerMinute": null, "group": null})
    );
    assert!(v["updatedAt"].is_string());
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(etag, "\"1\"");
    // A stale ETag is a 409; nothing changes.
    patch_tenant("PATCH", &tenant, "weight", json!({"weight": 1}))
        .await
        .expect(200);
    let stale = call("PATCH", &format!("/api/v1/tenants/{tenant}/weight"))
        .header("if-match", &etag)
        .json(&json!({"weight": 7}))
        .send()
        .await;
    stale.expect_error(409, "CONFLICT");

    let r = patch_tenant("PUT", &tenant, "quota", json!({"tokensPerMinute": 100000})).await;
    let v = r.expect(200)["data"].clone();
    assert_eq!(v["tokensPerMinute"], 100000);
    assert_eq!(v["weight"], 1, "other settings are kept");
    assert_eq!(r.header("etag"), Some("\"3\""));
    let v = patch_tenant("PATCH", &tenant, "group", json!({"group": group}))
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(v["group"], group.as_str());
    assert_eq!(v["tokensPerMinute"], 100000);
    let v = patch_tenant("PUT", &tenant, "quota", json!({"tokensPerMinute": null}))
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(v["tokensPerMinute"], Value::Null);
    let v = patch_tenant("PATCH", &tenant, "group", json!({"group": null}))
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(v["group"], Value::Null);
    assert_eq!(
        audited("tenant_fairshare", &tenant).await,
        [
            "setTenantWeight:success",
            "setTenantWeight:success",
            "setTenantWeight:failure",
            "setTenantQuota:success",
            "setTenantGroup:success",
            "setTenantQuota:success",
            "setTenantGroup:success",
        ]
        .map(|a| format!("{a}:{}", if a.ends_with("failure") { "-" } else { &tenant }))
    );

    // Validation names the field.
    for (method, what, body, field) in [
        ("PATCH", "weight", json!({}), "weight"),
        ("PATCH", "weight", json!({"weight": -1}), "weight"),
        ("PATCH", "weight", json!({"weight": 1_000_001}), "weight"),
        ("PATCH", "weight", json!({"weight": 2.5}), "weight"),
        ("PATCH", "weight", json!({"weight": 1, "x": 1}), "x"),
        ("PUT", "quota", json!({}), "tokensPerMinute"),
        (
            "PUT",
            "quota",
            json!({"tokensPerMinute": 0}),
            "tokensPerMinute",
        ),
        (
            "PUT",
            "quota",
            json!({"tokensPerMinute": "9"}),
            "tokensPerMinute",
        ),
        ("PATCH", "group", json!({}), "group"),
        ("PATCH", "group", json!({"group": "Not A Label"}), "group"),
        // A reference in a body to a group that does not exist.
        (
            "PATCH",
            "group",
            json!({"group": unique("nogroup")}),
            "group",
        ),
    ] {
        let v = patch_tenant(method, &tenant, what, body.clone())
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), [field], "{what} {body}");
    }

    // Users are refused first, even for a tenant that does not exist.
    let user = sign_up("share-user").await;
    for (method, what, body) in [
        ("PATCH", "weight", json!({"weight": 5})),
        ("PUT", "quota", json!({"tokensPerMinute": 5})),
        ("PATCH", "group", json!({"group": null})),
    ] {
        for t in [tenant.as_str(), "no-such-tenant"] {
            user.call(method, &format!("/api/v1/tenants/{t}/{what}"))
                .json(&body)
                .send()
                .await
                .expect_error(403, "FORBIDDEN");
        }
        patch_tenant(method, &unique("ghost"), what, body.clone())
            .await
            .expect_error(404, "TENANT_NOT_FOUND");
        let v = patch_tenant(method, "UPPER", what, body.clone())
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), ["name"]);
    }

    decommission(&tenant).await;
    let v = patch_tenant("PATCH", &tenant, "weight", json!({"weight": 5}))
        .await
        .expect_error(409, "CONFLICT");
    assert!(v["error"].as_str().unwrap().contains("decommissioned"));
}

// ------------------------------------------------------------------ groups

#[tokio::test]
async fn fairshare_groups_are_created_listed_and_reweighted() {
    let name = unique("gold");
    let r = call("POST", "/api/v1/fairshare/groups")
        .json(&json!({"name": name, "weight": 3}))
        .send()
        .await;
    let g = r.expect(201)["data"].clone();
    assert_eq!(g["name"], name.as_str());
    assert_eq!(g["weight"], 3);
    assert_eq!(g["memberCount"], 0);
    assert_eq!(r.header("etag"), Some("\"1\""));
    call("POST", "/api/v1/fairshare/groups")
        .json(&json!({"name": name, "weight": 1}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    for (body, field) in [
        (json!({"weight": 1}), "name"),
        (json!({"name": "Gold", "weight": 1}), "name"),
        (json!({"name": unique("g")}), "weight"),
        (json!({"name": unique("g"), "weight": 1_000_001}), "weight"),
    ] {
        let v = call("POST", "/api/v1/fairshare/groups")
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), [field], "{body}");
    }

    // Two members.
    for _ in 0..2 {
        let t = unique("member");
        create_tenant(&t).await;
        patch_tenant("PATCH", &t, "group", json!({"group": name}))
            .await
            .expect(200);
    }
    let second = unique("silver");
    call("POST", "/api/v1/fairshare/groups")
        .json(&json!({"name": second, "weight": 0}))
        .send()
        .await
        .expect(201);

    // Page through the whole list one group at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/api/v1/fairshare/groups?limit=1".to_owned(),
            Some(c) => format!("/api/v1/fairshare/groups?limit=1&cursor={c}"),
        };
        let page = call("GET", &path).send().await.expect(200);
        seen.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let pos = |n: &str| seen.iter().position(|g| g["name"] == n).unwrap();
    assert!(pos(&name) < pos(&second), "oldest first");
    assert_eq!(seen[pos(&name)]["memberCount"], 2);
    assert_eq!(seen[pos(&second)]["weight"], 0);
    call("GET", "/api/v1/fairshare/groups?cursor=v1.e30")
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");

    // Reweighting, guarded by If-Match.
    let path = format!("/api/v1/fairshare/groups/{name}/weight");
    let r = call("PATCH", &path)
        .header("if-match", "\"1\"")
        .json(&json!({"weight": 5}))
        .send()
        .await;
    let g = r.expect(200)["data"].clone();
    assert_eq!(g["weight"], 5);
    assert_eq!(g["memberCount"], 2);
    assert_eq!(r.header("etag"), Some("\"2\""));
    call("PATCH", &path)
        .header("if-match", "\"1\"")
        .json(&json!({"weight": 6}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    let v = call("PATCH", &path)
        .json(&json!({"weight": -5}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["weight"]);
    call(
        "PATCH",
        &format!("/api/v1/fairshare/groups/{}/weight", unique("none")),
    )
    .json(&json!({"weight": 1}))
    .send()
    .await
    .expect_error(404, "FAIRSHARE_GROUP_NOT_FOUND");
    call("PATCH", "/api/v1/fairshare/groups/NOPE/weight")
        .json(&json!({"weight": 1}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        audited("fairshare_group", &name).await,
        [
            "createFairshareGroup:success:-",
            "setFairshareGroupWeight:success:-",
            "setFairshareGroupWeight:failure:-",
        ]
    );
    let user = sign_up("groups-user").await;
    user.call("GET", "/api/v1/fairshare/groups")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
}

// -------------------------------------------------------------------- fleet

/// Forgets every gateway instance (callers hold [`exclusive`]).
async fn empty_fleet() {
    db().await
        .execute("DELETE FROM gateway_instances", &[])
        .await
        .unwrap();
}

async fn set_capacity(max_in_flight: i64) -> Value {
    call("PUT", "/api/v1/capacity")
        .json(&json!({ "maxInFlight": max_in_flight }))
        .send()
        .await
        .expect(200)["data"]
        .clone()
}

/// Sends a heartbeat of `(tenant, inFlight, queued)` and returns its answer.
async fn heartbeat(instance: &str, load: &[(&str, i64, i64)]) -> Value {
    let tenants: Vec<Value> = load
        .iter()
        .map(|(t, f, q)| json!({"tenant": t, "inFlight": f, "queued": q}))
        .collect();
    call("POST", "/api/v1/fairshare/heartbeat")
        .json(&json!({"instanceId": instance, "tenants": tenants}))
        .send()
        .await
        .expect(200)["data"]
        .clone()
}

/// `(allocated, limitedBy, instanceLimit)` of a tenant in an allocation list.
fn share(allocation: &Value, tenant: &str) -> (u64, String, Option<u64>) {
    let a = allocation
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tenant"] == tenant)
        .unwrap_or_else(|| panic!("{tenant} not in {allocation}"));
    (
        a["allocated"].as_u64().unwrap(),
        a["limitedBy"].as_str().unwrap().to_owned(),
        a["instanceLimit"].as_u64(),
    )
}

fn tenants_of(allocation: &Value) -> Vec<String> {
    allocation
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tenant"].as_str().unwrap().to_owned())
        .collect()
}

/// Inserts one token-usage record (as ingestion would) for `tenant`,
/// `seconds_ago` seconds ago.
async fn used_tokens(tenant: &str, input: i64, output: i64, seconds_ago: i64) {
    db().await
        .execute(
            "INSERT INTO token_usage (request_id, tenant_name, model, input_tokens, output_tokens, occurred_at)
             VALUES ($1, $2, 'gpt-4o', $3, $4, now() - $5::int8 * interval '1 second')",
            &[&unique("req"), &tenant, &input, &output, &seconds_ago],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn heartbeats_divide_the_fleet_by_weight_group_demand_and_quota() {
    let _fleet = exclusive().await;
    empty_fleet().await;
    set_capacity(10).await;
    let [a, b, idle, over] = ["fa", "fb", "fc", "fd"].map(unique);
    for t in [&a, &b, &idle, &over] {
        create_tenant(t).await;
    }
    // `over` has used its whole minute (100 of 100 tokens); older usage
    // no longer counts.
    patch_tenant("PUT", &over, "quota", json!({"tokensPerMinute": 100}))
        .await
        .expect(200);
    used_tokens(&over, 60, 30, 5).await;
    used_tokens(&over, 5, 5, 20).await;
    used_tokens(&over, 100_000, 0, 120).await;
    let base = unique("gw");
    let (gw1, gw2) = (format!("{base}-a"), format!("{base}-b"));

    // One instance: 10 slots; a and b want 8 each; the idle tenant wants
    // nothing; the tenant over its quota gets nothing.
    let gw1_load = [
        (a.as_str(), 3, 5),
        (b.as_str(), 0, 8),
        (idle.as_str(), 0, 0),
        (over.as_str(), 2, 2),
    ];
    let answer = heartbeat(&gw1, &gw1_load).await;
    assert_eq!(answer["instanceId"], gw1.as_str());
    assert_eq!(answer["maxInFlight"], 10);
    assert_eq!(answer["heartbeatIntervalSeconds"], 10);
    assert_eq!(answer["expiresAfterSeconds"], 30);
    let alloc = &answer["allocation"];
    let mut sorted = tenants_of(alloc);
    sorted.sort();
    assert_eq!(tenants_of(alloc), sorted, "by tenant name");
    assert_eq!(sorted.len(), 4);
    assert_eq!(share(alloc, &a), (5, "share".into(), Some(5)));
    assert_eq!(share(alloc, &b), (5, "share".into(), Some(5)));
    assert_eq!(share(alloc, &idle), (0, "demand".into(), Some(0)));
    assert_eq!(share(alloc, &over), (0, "quota".into(), Some(0)));
    let first = alloc
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["tenant"] == a.as_str())
        .unwrap();
    assert_eq!(
        first,
        &json!({"tenant": a, "group": "default", "weight": 100, "demand": 8, "allocated": 5,
                "limitedBy": "share", "instanceLimit": 5})
    );

    // A second instance doubles the capacity; a's demand is split over
    // both, and each instance's part follows its part of the demand
    // (12 over 8 and 5: 7.38 and 4.62, the remainder to the larger
    // fraction), summing exactly to the allocation.
    let answer2 = heartbeat(&gw2, &[(a.as_str(), 0, 5)]).await;
    assert_eq!(tenants_of(&answer2["allocation"]), [a.as_str()]);
    assert_eq!(
        share(&answer2["allocation"], &a),
        (12, "share".into(), Some(5))
    );
    let answer1 = heartbeat(&gw1, &gw1_load).await;
    assert_eq!(
        share(&answer1["allocation"], &a),
        (12, "share".into(), Some(7))
    );
    assert_eq!(
        share(&answer1["allocation"], &b),
        (8, "demand".into(), Some(8))
    );

    // Weight 0 is best effort: b only gets what a leaves.
    patch_tenant("PATCH", &b, "weight", json!({"weight": 0}))
        .await
        .expect(200);
    let alloc = heartbeat(&gw1, &gw1_load).await["allocation"].clone();
    assert_eq!(share(&alloc, &a), (13, "demand".into(), Some(8)));
    assert_eq!(share(&alloc, &b), (7, "share".into(), Some(7)));

    // Groups share first: b alone in a group of weight 3 against the
    // default group (weight 1) gets all it wants.
    let gold = unique("gold");
    call("POST", "/api/v1/fairshare/groups")
        .json(&json!({"name": gold, "weight": 3}))
        .send()
        .await
        .expect(201);
    patch_tenant("PATCH", &b, "group", json!({"group": gold}))
        .await
        .expect(200);
    let alloc = heartbeat(&gw1, &gw1_load).await["allocation"].clone();
    assert_eq!(share(&alloc, &b), (8, "demand".into(), Some(8)));
    assert_eq!(share(&alloc, &a), (12, "share".into(), Some(7)));
    let entry = alloc
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["tenant"] == b.as_str())
        .unwrap();
    assert_eq!(
        (&entry["group"], &entry["weight"]),
        (&json!(gold), &json!(0))
    );

    // A quota not yet reached does not bind: 100 tokens of 101.
    patch_tenant("PUT", &over, "quota", json!({"tokensPerMinute": 101}))
        .await
        .expect(200);
    let alloc = heartbeat(&gw1, &gw1_load).await["allocation"].clone();
    assert_eq!(share(&alloc, &over), (4, "demand".into(), Some(4)));
    assert_eq!(share(&alloc, &a), (8, "share".into(), Some(5)));

    // The live snapshot says the same, without instance limits.
    let live = call("GET", "/api/v1/fairshare/live")
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(
        live["capacity"],
        json!({"maxInFlight": 10, "instances": 2, "totalSlots": 20})
    );
    assert!(live["generatedAt"].is_string());
    let instances: Vec<Value> = live["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            json!([
                i["instanceId"],
                i["maxInFlight"],
                i["inFlight"],
                i["queued"]
            ])
        })
        .collect();
    assert_eq!(instances, [json!([gw1, 10, 5, 15]), json!([gw2, 10, 0, 5])]);
    assert!(live["instances"][0]["lastSeenAt"].is_string());
    assert_eq!(share(&live["allocation"], &a), (8, "share".into(), None));
    assert_eq!(
        share(&live["allocation"], &over),
        (4, "demand".into(), None)
    );
    assert_eq!(tenants_of(&live["allocation"]).len(), 4);
    let stats = call("GET", "/api/v1/stats").send().await.expect(200)["data"].clone();
    assert_eq!(
        stats,
        json!({"instances": 2, "inFlight": 5, "queued": 20, "maxInFlight": 10, "totalSlots": 20})
    );

    // Telemetry: heartbeats leave no audit entries.
    let audited: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = 'gatewayHeartbeat'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 0);
}

#[tokio::test]
async fn an_instance_that_stops_reporting_ages_out_and_is_pruned() {
    let _fleet = exclusive().await;
    empty_fleet().await;
    set_capacity(6).await;
    let t = unique("age");
    create_tenant(&t).await;
    let base = unique("gw");
    let (stays, leaves) = (format!("{base}-a"), format!("{base}-b"));
    heartbeat(&stays, &[(t.as_str(), 1, 9)]).await;
    let alloc = heartbeat(&leaves, &[(t.as_str(), 2, 8)]).await["allocation"].clone();
    assert_eq!(share(&alloc, &t), (12, "share".into(), Some(6)));

    db().await
        .execute(
            "UPDATE gateway_instances SET last_seen_at = now() - interval '1 hour' WHERE instance_id = $1",
            &[&leaves],
        )
        .await
        .unwrap();
    // Excluded everywhere at once, before anything prunes it.
    let live = call("GET", "/api/v1/fairshare/live")
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(live["capacity"]["instances"], 1);
    assert_eq!(live["instances"].as_array().unwrap().len(), 1);
    assert_eq!(live["instances"][0]["instanceId"], stays.as_str());
    let entry = &live["allocation"][0];
    assert_eq!(
        (&entry["demand"], &entry["allocated"]),
        (&json!(10), &json!(6))
    );
    let stats = call("GET", "/api/v1/stats").send().await.expect(200)["data"].clone();
    assert_eq!(
        stats,
        json!({"instances": 1, "inFlight": 1, "queued": 9, "maxInFlight": 6, "totalSlots": 6})
    );
    let cap = call("GET", "/api/v1/capacity").send().await.expect(200)["data"].clone();
    assert_eq!(cap["instances"].as_array().unwrap().len(), 1);
    let rows = |id: String| async move {
        db().await
            .query_one(
                "SELECT count(*) FROM gateway_instances WHERE instance_id = $1",
                &[&id],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(rows(leaves.clone()).await, 1, "reads never write");

    // The next heartbeat prunes it, with its load.
    let alloc = heartbeat(&stays, &[(t.as_str(), 1, 9)]).await["allocation"].clone();
    assert_eq!(share(&alloc, &t), (6, "share".into(), Some(6)));
    assert_eq!(rows(leaves.clone()).await, 0);
    let load: i64 = db()
        .await
        .query_one(
            "SELECT count(*) FROM gateway_instance_load WHERE instance_id = $1",
            &[&leaves],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(load, 0);

    // Coming back, it counts again.
    let alloc = heartbeat(&leaves, &[(t.as_str(), 2, 8)]).await["allocation"].clone();
    assert_eq!(share(&alloc, &t), (12, "share".into(), Some(6)));
    // An empty report clears its load.
    assert_eq!(heartbeat(&leaves, &[]).await["allocation"], json!([]));
    let live = call("GET", "/api/v1/fairshare/live")
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(live["allocation"][0]["demand"], 10);
    assert_eq!(live["instances"][1]["queued"], 0);
}

#[tokio::test]
async fn a_capacity_change_reaches_each_instance_at_its_next_heartbeat() {
    let _fleet = exclusive().await;
    empty_fleet().await;
    set_capacity(10).await;
    let t = unique("cap");
    create_tenant(&t).await;
    let gw = unique("gw");
    assert_eq!(
        heartbeat(&gw, &[(t.as_str(), 0, 50)]).await["maxInFlight"],
        10
    );

    let r = call("GET", "/api/v1/capacity").send().await;
    let cap = r.expect(200)["data"].clone();
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(cap["maxInFlight"], 10);
    assert!(cap["updatedAt"].is_string());
    assert_eq!(cap["instances"][0]["instanceId"], gw.as_str());
    assert_eq!(cap["instances"][0]["maxInFlight"], 10);
    assert!(cap["instances"][0]["lastSeenAt"].is_string());

    let r = call("PUT", "/api/v1/capacity")
        .header("if-match", &etag)
        .json(&json!({"maxInFlight": 25}))
        .send()
        .await;
    let cap = r.expect(200)["data"].clone();
    assert_ne!(r.header("etag").unwrap(), etag);
    assert_eq!(cap["maxInFlight"], 25);
    // Until its next heartbeat the instance still runs with what it was told.
    assert_eq!(cap["instances"][0]["maxInFlight"], 10);
    call("PUT", "/api/v1/capacity")
        .header("if-match", &etag)
        .json(&json!({"maxInFlight": 30}))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    // No restart: the next answer carries it, and the allocation uses it.
    let answer = heartbeat(&gw, &[(t.as_str(), 0, 50)]).await;
    assert_eq!(answer["maxInFlight"], 25);
    assert_eq!(
        share(&answer["allocation"], &t),
        (25, "share".into(), Some(25))
    );
    let cap = call("GET", "/api/v1/capacity").send().await.expect(200)["data"].clone();
    assert_eq!(cap["instances"][0]["maxInFlight"], 25);

    for (body, field) in [
        (json!({}), "maxInFlight"),
        (json!({"maxInFlight": 0}), "maxInFlight"),
        (json!({"maxInFlight": 1_000_001}), "maxInFlight"),
        (json!({"maxInFlight": 5, "x": 1}), "x"),
    ] {
        let v = call("PUT", "/api/v1/capacity")
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), [field], "{body}");
    }
    let entries: Vec<String> = db()
        .await
        .query(
            "SELECT action || ':' || outcome || ':' || detail::text FROM audit_log
             WHERE resource_kind = 'gateway_capacity' ORDER BY at, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        entries
            .iter()
            .any(|e| e.starts_with("setCapacity:success:") && e.contains("\"maxInFlight\": 25")),
        "{entries:?}"
    );
    assert!(entries
        .iter()
        .any(|e| e.starts_with("setCapacity:failure:")));
    set_capacity(256).await;
}

#[tokio::test]
async fn heartbeats_are_validated_entry_by_entry() {
    // Only refused heartbeats here: nothing joins the fleet.
    let send = |body: Value| async move {
        call("POST", "/api/v1/fairshare/heartbeat")
            .json(&body)
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR")
    };
    assert_eq!(
        field_errors(&send(json!({})).await),
        ["instanceId", "tenants"]
    );
    let v = send(json!({
        "instanceId": "gw 1",
        "tenants": [
            {"tenant": "acme", "inFlight": 1, "queued": 2},
            {"tenant": "Bad", "inFlight": -1},
            {"tenant": "acme", "inFlight": 1, "queued": 1_000_001},
        ]
    }))
    .await;
    assert_eq!(
        field_errors(&v),
        [
            "instanceId",
            "tenants[1].tenant",
            "tenants[1].inFlight",
            "tenants[1].queued",
            "tenants[2].tenant",
            "tenants[2].queued"
        ]
    );
    let v = send(json!({"instanceId": "gw", "tenants": [{"tenant": "a", "inFlight": 1, "queued": 0, "x": 1}]})).await;
    assert_eq!(field_errors(&v), ["tenants[0].x"]);
    let v = send(json!({"instanceId": "x".repeat(129), "tenants": []})).await;
    assert_eq!(field_errors(&v), ["instanceId"]);
    let many: Vec<Value> = (0..10_001)
        .map(|i| json!({"tenant": format!("t{i}"), "inFlight": 0, "queued": 0}))
        .collect();
    let v = send(json!({"instanceId": "gw", "tenants": many})).await;
    assert_eq!(field_errors(&v), ["tenants"]);

    let user = sign_up("fleet-user").await;
    for (method, path) in [
        ("POST", "/api/v1/fairshare/heartbeat"),
        ("GET", "/api/v1/fairshare/live"),
        ("GET", "/api/v1/stats"),
        ("GET", "/api/v1/capacity"),
        ("PUT", "/api/v1/capacity"),
    ] {
        user.call(method, path)
            .json(&json!({}))
            .send()
            .await
            .expect_error(403, "FORBIDDEN");
    }
    call("GET", "/api/v1/stats")
        .anonymous()
        .send()
        .await
        .expect_error(401, "UNAUTHORIZED");
}
