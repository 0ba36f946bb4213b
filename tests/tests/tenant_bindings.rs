//! Grants follow tenants, not names (issue 12, item 3), through the Wasm
//! host with real PostgreSQL and the Kubernetes stand-in. A tenant name can
//! be claimed by anyone once it is free, so:
//! - a grant, membership, entitlement or policy subject naming a tenant
//!   that does not exist is refused (400 naming the field), never kept
//!   waiting for whoever registers the name;
//! - deleting or decommissioning a tenant revokes everything bound to it,
//!   and a tenant created later under the name (by another organisation)
//!   inherits nothing: no group membership, MCP grant (with its brokered
//!   credential), skill entitlement, policy subject, dataset membership,
//!   gateway key or fair-share setting;
//! - tenant names that would collide with Kubernetes objects in the
//!   namespace (`default`, `kube-*`, the control plane's own) are refused.

#![allow(clippy::unwrap_used)]

use cp_tests::{
    call, count, create_tenant, db, field_errors, kube, sha256_hex, sign_up, tenant_body,
    tenant_crd_path, unique, TestUser,
};
use serde_json::{json, Value};

/// A signed-up user owning a new organisation; returns the user and the
/// organisation's id.
async fn outsider() -> (TestUser, String) {
    let user = sign_up("outsider").await;
    let org = user.create_org("org").await;
    (user, org)
}

/// `user` registers tenant `name` in their organisation `org`.
async fn claim(user: &TestUser, org: &str, name: &str) -> Value {
    user.call("POST", &format!("/api/v1/organizations/{org}/tenants"))
        .json(&tenant_body(name))
        .send()
        .await
        .expect(201)["data"]
        .clone()
}

/// What the catalog, skills and policies grant, named by ids.
struct Granted {
    group_id: String,
    server_id: String,
    bundle_id: String,
    policy: String,
}

/// The operator grants tenant `name` everything there is: a group
/// membership (with an awareness grant), an MCP server with an inline
/// credential, a published skill entitlement, an access-policy subject, a
/// dataset membership, a gateway key and a fair-share weight. Checks that
/// the effective contract shows it all.
async fn grant_everything(name: &str) -> Granted {
    let group = unique("grp");
    let g = call("POST", "/api/v1/groups")
        .json(&json!({
            "name": group,
            "members": [{"kind": "tenant", "name": name}],
            "awarenessGrants": [{"scope": "channel:payroll", "access": "write"}]
        }))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let server = unique("mcp");
    let s = call("POST", "/api/v1/mcp-servers")
        .json(&json!({
            "name": server, "transport": "streamable-http", "endpoint": "https://mcp.example.com/mcp",
            "grants": [{"kind": "tenant", "name": name}],
            "credentials": [{"displayName": "Service token", "brokeringMode": "static",
                             "value": "sk-live-0123456789abcd"}]
        }))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let skill = unique("skill");
    let content = "# Payroll";
    let b = call("POST", "/api/v1/skills/catalog")
        .json(&json!({
            "name": skill, "version": "1.0.0", "scope": "tenant", "stage": "published",
            "content": content, "digest": format!("sha256:{}", sha256_hex(content.as_bytes())),
            "entitlements": [{"kind": "tenant", "name": name}]
        }))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let policy = unique("pol");
    let policy_server = unique("pmcp");
    call("POST", "/api/v1/policies")
        .json(&json!({"name": policy, "subjects": {"tenants": [name]},
                      "datasets": {"allow": ["hr-*"]}, "mcpServers": [policy_server]}))
        .send()
        .await
        .expect(201);
    call("PUT", &format!("/api/v1/tenants/{name}/datasets"))
        .json(&json!({"datasets": [{"name": "hr-payroll", "access": "write"}]}))
        .send()
        .await
        .expect(200);
    call("POST", &format!("/api/v1/tenants/{name}/keys"))
        .json(&json!({"name": "ingest"}))
        .send()
        .await
        .expect(201);
    call("PATCH", &format!("/api/v1/tenants/{name}/weight"))
        .json(&json!({"weight": 900}))
        .send()
        .await
        .expect(200);

    let c = call("GET", &format!("/api/v1/tenants/{name}/effective-contract"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(c["groups"], json!([group]), "{c}");
    let mcp: Vec<&str> = c["mcpServers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        mcp.contains(&server.as_str()) && mcp.contains(&policy_server.as_str()),
        "{c}"
    );
    assert_eq!(c["skills"][0]["name"], skill.as_str(), "{c}");
    assert_eq!(c["policies"][0]["name"], policy.as_str(), "{c}");
    assert_eq!(c["datasets"][0]["name"], "hr-payroll", "{c}");
    assert_eq!(c["awareness"][0]["name"], "channel:payroll", "{c}");
    Granted {
        group_id: g["id"].as_str().unwrap().to_owned(),
        server_id: s["id"].as_str().unwrap().to_owned(),
        bundle_id: b["id"].as_str().unwrap().to_owned(),
        policy,
    }
}

/// The contract of a fresh tenant: nothing granted, no policy.
#[track_caller]
fn assert_inherits_nothing(c: &Value) {
    for list in [
        "groups",
        "policies",
        "awareness",
        "datasets",
        "mcpServers",
        "skills",
        "denied",
    ] {
        assert_eq!(c[list], json!([]), "{list}: {c}");
    }
}

/// Everything granted to the old tenant is revoked (the resources that
/// named it show it no more), and no gateway state survives under the name.
async fn assert_revoked(name: &str, granted: &Granted) {
    let g = call("GET", &format!("/api/v1/groups/{}", granted.group_id))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(g["members"], json!([]), "{g}");
    assert_eq!(g["memberCount"], 0);
    let s = call("GET", &format!("/api/v1/mcp-servers/{}", granted.server_id))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(s["grants"], json!([]), "{s}");
    let b = call(
        "GET",
        &format!("/api/v1/skills/catalog/{}", granted.bundle_id),
    )
    .send()
    .await
    .expect(200)["data"]
        .clone();
    assert_eq!(b["entitlements"], json!([]), "{b}");
    assert_eq!(
        count(
            "SELECT count(*) FROM access_policy_tenants WHERE policy_name = $1",
            &granted.policy
        )
        .await,
        0
    );
    for table in ["tenant_datasets", "gateway_keys", "tenant_fairshare"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_name = $1");
        assert_eq!(count(&sql, name).await, 0, "{table}");
    }
}

#[tokio::test]
async fn a_grant_to_a_tenant_name_nobody_holds_is_refused_and_its_claimant_gets_nothing() {
    let name = unique("future");
    let server = unique("mcp");
    // The operator grants an MCP server, with an inline credential, to a
    // name no tenant holds yet: refused, naming the field; nothing written.
    let v = call("POST", "/api/v1/mcp-servers")
        .json(&json!({
            "name": server, "transport": "sse", "endpoint": "https://mcp.example.com/sse",
            "grants": [{"kind": "tenant", "name": name}],
            "credentials": [{"displayName": "token", "brokeringMode": "static",
                             "value": "sk-live-0123456789abcd"}]
        }))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["grants[0].name"]);
    assert!(
        v["fieldErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("names no existing tenant ('{name}')")),
        "{v}"
    );
    assert_eq!(
        count("SELECT count(*) FROM mcp_servers WHERE name = $1", &server).await,
        0
    );
    // The same for group members, skill entitlements and policy subjects.
    let v = call("POST", "/api/v1/groups")
        .json(&json!({"name": unique("grp"), "members": [
            {"kind": "user", "name": "ada@example.com"}, {"kind": "tenant", "name": name}]}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["members[1].name"]);
    let v = call("POST", "/api/v1/skills/catalog")
        .json(&json!({
            "name": unique("skill"), "version": "1.0.0", "scope": "tenant",
            "digest": format!("sha256:{}", "0".repeat(64)),
            "entitlements": [{"kind": "tenant", "name": name}]
        }))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["entitlements[0].name"]);
    let policy = unique("pol");
    let v = call("POST", "/api/v1/policies")
        .json(&json!({"name": policy, "subjects": {"tenants": [name]}, "mcpServers": [server]}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["subjects.tenants[0]"]);
    call("GET", &format!("/api/v1/policies/{policy}"))
        .send()
        .await
        .expect_error(404, "POLICY_NOT_FOUND");

    // A user of another organisation registers the name: its contract
    // shows nothing anyone meant for a tenant of that name.
    let (user, org) = outsider().await;
    claim(&user, &org, &name).await;
    let c = user
        .call("GET", &format!("/api/v1/tenants/{name}/effective-contract"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_inherits_nothing(&c);
}

#[tokio::test]
async fn a_deleted_tenants_name_claimed_by_an_outsider_inherits_nothing() {
    let name = unique("victim");
    let victim = create_tenant(&name).await;
    let granted = grant_everything(&name).await;

    // The operator's hard delete frees the name at once.
    call("DELETE", &format!("/api/v1/tenants/{name}"))
        .send()
        .await
        .expect(204);
    assert_revoked(&name, &granted).await;

    let (user, org) = outsider().await;
    let claimed = claim(&user, &org, &name).await;
    assert_ne!(claimed["id"], victim["id"]);
    let c = user
        .call("GET", &format!("/api/v1/tenants/{name}/effective-contract"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_inherits_nothing(&c);
    let d = user
        .call("GET", &format!("/api/v1/tenants/{name}/datasets"))
        .send()
        .await
        .expect(200);
    assert_eq!(d["data"]["datasets"], json!([]));
    assert_revoked(&name, &granted).await;

    // The policy's CRD still lists the name, unbound. Keeping it in a
    // later write is refused (it would bind the outsider by accident)...
    let path = format!("/api/v1/policies/{}", granted.policy);
    let p = call("GET", &path).send().await.expect(200);
    assert_eq!(p["data"]["subjects"]["tenants"], json!([name]));
    let v = call("PUT", &path)
        .json(&json!({"subjects": {"tenants": [name]}, "skills": ["x"]}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["subjects.tenants[0]"]);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("another tenant holds the name"),
        "{v}"
    );
    // ... removing it works, and adding it again binds the tenant holding
    // it now, deliberately.
    call("PUT", &path)
        .json(&json!({"skills": ["x"]}))
        .send()
        .await
        .expect(200);
    call("PUT", &path)
        .json(&json!({"subjects": {"tenants": [name]}, "skills": ["x"]}))
        .send()
        .await
        .expect(200);
    let c = user
        .call("GET", &format!("/api/v1/tenants/{name}/effective-contract"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(
        c["policies"],
        json!([{"name": granted.policy, "via": ["subjects.tenants"]}])
    );
}

#[tokio::test]
async fn a_decommissioned_tenants_bindings_go_and_a_later_claimant_inherits_nothing() {
    let owner = sign_up("owner").await;
    let owners_org = owner.create_org("org").await;
    let name = unique("retired");
    let t = claim(&owner, &owners_org, &name).await;
    let granted = grant_everything(&name).await;

    // The organisation's owner decommissions it: the bindings go in the
    // decommission's transaction (the audit entry counts them).
    owner
        .call(
            "POST",
            &format!(
                "/api/v1/organizations/{owners_org}/tenants/{}/decommission",
                t["id"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .expect(200);
    assert_revoked(&name, &granted).await;
    let audit: String = db()
        .await
        .query_one(
            "SELECT detail::text FROM audit_log WHERE resource_kind = 'tenant' AND resource_name = $1
             AND action = 'decommissionOrganizationTenant' AND outcome = 'success'",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    let audit: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(
        audit["revoked"],
        json!({"group_memberships": 1, "mcp_grants": 1, "skill_entitlements": 1,
               "policy_subjects": 1, "dataset_memberships": 1, "gateway_keys": 1,
               "fairshare_settings": 1}),
        "{audit}"
    );
    // The policy still names the tombstone: keeping the name is refused.
    let v = call("PUT", &format!("/api/v1/policies/{}", granted.policy))
        .json(&json!({"subjects": {"tenants": [name]}}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&v), ["subjects.tenants[0]"]);
    assert!(v["error"].as_str().unwrap().contains("is gone"), "{v}");
    // A tombstone cannot be granted anything.
    let v = call("POST", "/api/v1/groups")
        .json(&json!({"name": unique("grp"), "members": [{"kind": "tenant", "name": name}]}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert!(
        v["fieldErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is decommissioned"),
        "{v}"
    );

    // The 30-day hold passes; an outsider registers the name.
    db().await
        .execute(
            "UPDATE tenants SET decommissioned_at = now() - interval '31 days' WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap();
    let (user, org) = outsider().await;
    let claimed = claim(&user, &org, &name).await;
    assert_ne!(claimed["id"], t["id"]);
    let c = user
        .call("GET", &format!("/api/v1/tenants/{name}/effective-contract"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_inherits_nothing(&c);
    assert_revoked(&name, &granted).await;
}

#[tokio::test]
async fn a_create_replacing_a_row_whose_crd_vanished_purges_the_old_tenants_bindings() {
    let name = unique("vanished");
    let old = create_tenant(&name).await;
    let granted = grant_everything(&name).await;
    // The CRD goes behind the control plane's back; a create under the name
    // then replaces the live row (another UID: another tenant).
    kube("DELETE", &tenant_crd_path(&name), None)
        .await
        .expect(200);
    let new = create_tenant(&name).await;
    assert_ne!(new["id"], old["id"]);
    let c = call("GET", &format!("/api/v1/tenants/{name}/effective-contract"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_inherits_nothing(&c);
    assert_revoked(&name, &granted).await;
}

#[tokio::test]
async fn tenant_names_colliding_with_kubernetes_objects_are_refused() {
    let (user, org) = outsider().await;
    for name in [
        "default",
        "kubernetes",
        "kube-system",
        "kube-public",
        "opencrane-control-plane",
    ] {
        let v = call("POST", "/api/v1/tenants")
            .json(&tenant_body(name))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), ["name"], "{name}");
        let v = user
            .call("POST", &format!("/api/v1/organizations/{org}/tenants"))
            .json(&tenant_body(name))
            .send()
            .await
            .expect_error(400, "VALIDATION_ERROR");
        assert_eq!(field_errors(&v), ["name"], "{name}");
        kube("GET", &tenant_crd_path(name), None).await.expect(404);
    }
    // Names merely containing them are fine.
    claim(&user, &org, &unique("defaults")).await;
}

/// `0017_tenant_bindings` on a database written before it: bindings are
/// bound to the live tenant holding their name; those naming no tenant or a
/// tombstone go (their resources get a new version), as do the tombstones'
/// gateway keys and fair-share settings.
#[tokio::test]
async fn the_migration_binds_existing_rows_and_drops_those_naming_no_live_tenant() {
    let admin = cp_tests::with_database(&cp_tests::env().db_url, "postgres");
    let name = "tenant_bindings_upgrade";
    cp_migrate::connect(&admin)
        .await
        .unwrap()
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
    cp_migrate::ensure_database(&admin, name).await.unwrap();
    let db = cp_migrate::connect(&cp_tests::with_database(&admin, name))
        .await
        .unwrap();
    let at = cp_migrate::MIGRATIONS
        .iter()
        .position(|(v, _)| *v == "0017_tenant_bindings")
        .unwrap();
    for (_, sql) in &cp_migrate::MIGRATIONS[..at] {
        db.batch_execute(sql).await.unwrap();
    }
    db.batch_execute(
        "INSERT INTO tenants (name, email, phase, kube_uid, kube_resource_version, id, state)
           VALUES ('live', 'a@b.co', 'Running', 'u1', '1', gen_random_uuid(), 'active');
         INSERT INTO tenants (name, email, phase, kube_uid, kube_resource_version, id, state, decommissioned_at)
           VALUES ('tomb', 'a@b.co', 'Decommissioned', 'u2', '1', gen_random_uuid(), 'decommissioned', now());
         INSERT INTO groups (id, name) VALUES (gen_random_uuid(), 'g');
         INSERT INTO group_members (group_id, member_kind, member_name, position)
           SELECT id, 'tenant', n, 0 FROM groups, unnest(ARRAY['live', 'tomb', 'ghost']) n;
         INSERT INTO group_members (group_id, member_kind, member_name, position)
           SELECT id, 'user', 'ada@example.com', 3 FROM groups;
         INSERT INTO mcp_servers (id, name, endpoint, transport)
           VALUES (gen_random_uuid(), 's', 'https://mcp.example.com', 'sse');
         INSERT INTO mcp_server_grants (server_id, subject_kind, subject_name, position)
           SELECT id, 'tenant', n, 0 FROM mcp_servers, unnest(ARRAY['live', 'tomb', 'ghost']) n;
         INSERT INTO mcp_server_grants (server_id, subject_kind, subject_name, position)
           SELECT id, 'group', 'g', 4 FROM mcp_servers;
         INSERT INTO skill_bundles (id, name, version, digest, scope, stage)
           VALUES (gen_random_uuid(), 'k', '1.0.0', 'sha256:' || repeat('0', 64), 'tenant', 'published');
         INSERT INTO skill_entitlements (bundle_id, subject_kind, subject_name)
           SELECT id, 'tenant', n FROM skill_bundles, unnest(ARRAY['live', 'ghost']) n;
         INSERT INTO tenant_datasets (tenant_name, dataset, access)
           VALUES ('live', 'd', 'read'), ('tomb', 'd', 'read');
         INSERT INTO access_policies (name, spec, kube_uid, kube_resource_version)
           VALUES ('p', '{\"subjects\": {\"tenants\": [\"live\", \"tomb\", \"ghost\"]}}', 'u', '1');
         INSERT INTO tenant_fairshare (tenant_name) VALUES ('live'), ('tomb');
         INSERT INTO gateway_keys (id, tenant_name, name, key_prefix, key_hash, created_by)
           VALUES (gen_random_uuid(), 'tomb', 'k', 'sk_x', 'h', 'operator');",
    )
    .await
    .unwrap();
    db.batch_execute(cp_migrate::MIGRATIONS[at].1)
        .await
        .unwrap();

    let rows = |sql: &'static str| {
        let db = &db;
        async move {
            db.query(sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        rows("SELECT m.member_kind || ':' || m.member_name || ':' || (m.tenant_id IS NOT DISTINCT FROM t.id)
              FROM group_members m LEFT JOIN tenants t ON t.name = 'live' ORDER BY m.position")
        .await,
        ["tenant:live:true", "user:ada@example.com:false"]
    );
    assert_eq!(
        rows(
            "SELECT g.subject_kind || ':' || g.subject_name || ':' || (g.tenant_id IS NOT NULL)
              FROM mcp_server_grants g ORDER BY g.position"
        )
        .await,
        ["tenant:live:true", "group:g:false"]
    );
    assert_eq!(
        rows("SELECT subject_name FROM skill_entitlements WHERE tenant_id = (SELECT id FROM tenants WHERE name = 'live')")
            .await,
        ["live"]
    );
    assert_eq!(
        rows("SELECT count(*)::text FROM skill_entitlements").await,
        ["1"]
    );
    assert_eq!(
        rows("SELECT d.tenant_name FROM tenant_datasets d JOIN tenants t ON t.id = d.tenant_id")
            .await,
        ["live"]
    );
    assert_eq!(
        rows("SELECT b.policy_name || ':' || t.name FROM access_policy_tenants b JOIN tenants t ON t.id = b.tenant_id")
            .await,
        ["p:live"]
    );
    assert_eq!(
        rows("SELECT tenant_name FROM tenant_fairshare").await,
        ["live"]
    );
    assert_eq!(rows("SELECT count(*)::text FROM gateway_keys").await, ["0"]);
    // The resources that lost a row changed: a new ETag.
    assert_eq!(
        rows(
            "SELECT (SELECT version FROM groups)::text || (SELECT version FROM mcp_servers)::text
                     || (SELECT revision FROM skill_bundles)::text"
        )
        .await,
        ["222"]
    );
    drop(db);
    cp_migrate::connect(&admin)
        .await
        .unwrap()
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}
