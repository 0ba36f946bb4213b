//! The organisation-scoped tenant lifecycle through the Wasm host, with real
//! PostgreSQL and the Kubernetes stand-in: one state machine for `/tenants`
//! and `/organizations/{orgId}/tenants` (every legal and illegal
//! transition), decommission (CRD deleted, tombstone kept, name held for 30
//! days), role checks, users seeing only their organisations' tenants, and
//! the events and audit entries each change writes.

#![allow(clippy::unwrap_used)]

use cp_tests::{
    bearer, call, count, db, env, exclusive, kube, sign_up, tenant_body, tenant_crd_path, unique,
    TestUser,
};
use serde_json::{json, Value};

/// An organisation with these members. When the first is an owner, they
/// create it through `POST /organizations` (becoming its owner); the others
/// are written to `org_members` directly, as an accepted invitation would.
async fn org_with(members: &[(&TestUser, &str)]) -> String {
    let db = db().await;
    let (id, rest) = match members.split_first() {
        Some(((owner, "owner"), rest)) => {
            let org = owner
                .call("POST", "/api/v1/organizations")
                .json(&json!({"name": unique("org")}))
                .send()
                .await
                .expect(201);
            (org["data"]["id"].as_str().unwrap().to_owned(), rest)
        }
        _ => {
            let id = uuid::Uuid::now_v7().to_string();
            db.execute(
                "INSERT INTO organizations (id, name) VALUES ($1::text::uuid, $2)",
                &[&id, &unique("org")],
            )
            .await
            .unwrap();
            (id, members)
        }
    };
    for (user, role) in rest {
        db.execute(
            "INSERT INTO org_members (org_id, user_id, role)
             VALUES ($1::text::uuid, $2::text::uuid, $3)",
            &[&id, &user.id, role],
        )
        .await
        .unwrap();
    }
    id
}

fn org_tenants(org: &str) -> String {
    format!("/api/v1/organizations/{org}/tenants")
}

fn org_tenant(org: &str, tenant: &Value) -> String {
    format!("{}/{}", org_tenants(org), tenant["id"].as_str().unwrap())
}

/// The kinds of the organisation's events about `subject`, oldest first.
async fn events(org: &str, subject: &str) -> Vec<String> {
    db().await
        .query(
            "SELECT kind FROM org_events WHERE org_id = $1::text::uuid AND subject = $2
             ORDER BY created_at, id",
            &[&org, &subject],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The successful audit actions about tenant `name`, oldest first.
async fn audit_actions(name: &str) -> Vec<String> {
    db().await
        .query(
            "SELECT action FROM audit_log WHERE resource_kind = 'tenant' AND resource_name = $1
             AND outcome = 'success' ORDER BY at, id",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[track_caller]
fn conflict_naming(resp: &cp_tests::Resp, state: &str) {
    let v = resp.expect_error(409, "CONFLICT");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains(&format!("is {state}")) || msg.contains(&format!("is already {state}")),
        "{msg}"
    );
}

#[tokio::test]
async fn the_org_lifecycle_walks_every_transition_and_refuses_the_others() {
    // The operator simulation is switched off in another test of this binary.
    let _serial = exclusive().await;
    let owner = sign_up("owner").await;
    let org = org_with(&[(&owner, "owner")]).await;
    let name = unique("life");

    let created = owner
        .call("POST", &org_tenants(&org))
        .json(&tenant_body(&name))
        .send()
        .await;
    let t = created.expect(201)["data"].clone();
    assert_eq!(t["organizationId"], org.as_str());
    assert_eq!(t["state"], "provisioning");
    assert!(created.header("etag").is_some());
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(id.as_bytes()[14], b'7', "a UUIDv7: {id}");
    // The CRD carries the id and organisation (it is the source of truth).
    let crd = kube("GET", &tenant_crd_path(&name), None).await.expect(200);
    assert_eq!(
        crd["metadata"]["labels"]["opencrane.io/tenant-id"],
        id.as_str()
    );
    assert_eq!(
        crd["metadata"]["labels"]["opencrane.io/organization-id"],
        org.as_str()
    );

    // The operator reports the pod running: a read observes it.
    let one = org_tenant(&org, &t);
    let got = owner.call("GET", &one).send().await.expect(200)["data"].clone();
    assert_eq!(got["state"], "active");
    assert_eq!(got["phase"], "Running");

    // active: resume is illegal.
    conflict_naming(
        &owner.call("POST", &format!("{one}/resume")).send().await,
        "active",
    );
    // active → suspended.
    let s = owner
        .call("POST", &format!("{one}/suspend"))
        .send()
        .await
        .expect(200);
    assert_eq!(s["data"]["state"], "suspended");
    assert_eq!(s["data"]["suspended"], true);
    assert_eq!(
        kube("GET", &tenant_crd_path(&name), None).await.expect(200)["spec"]["suspended"],
        true
    );
    // suspended: suspend is illegal, on both routes.
    conflict_naming(
        &owner.call("POST", &format!("{one}/suspend")).send().await,
        "suspended",
    );
    conflict_naming(
        &call("POST", &format!("/api/v1/tenants/{name}/suspend"))
            .send()
            .await,
        "suspended",
    );
    // suspended → active, through /tenants (the same state machine).
    let r = call("POST", &format!("/api/v1/tenants/{name}/resume"))
        .send()
        .await
        .expect(200);
    assert_eq!(r["data"]["state"], "active");
    // active → suspended → decommissioned.
    owner
        .call("POST", &format!("{one}/suspend"))
        .send()
        .await
        .expect(200);
    let d = owner
        .call("POST", &format!("{one}/decommission"))
        .send()
        .await
        .expect(200);
    assert_eq!(d["data"]["state"], "decommissioned");
    assert!(d["data"]["decommissionedAt"].is_string());
    // The CRD is gone (its Deployment with it); the row is a tombstone.
    kube("GET", &tenant_crd_path(&name), None).await.expect(404);
    assert_eq!(
        count(
            "SELECT count(*) FROM tenants WHERE name = $1 AND state = 'decommissioned'",
            &name
        )
        .await,
        1
    );
    // decommissioned: final.
    for action in ["suspend", "resume", "decommission"] {
        conflict_naming(
            &owner.call("POST", &format!("{one}/{action}")).send().await,
            "decommissioned",
        );
    }
    conflict_naming(
        &call("POST", &format!("/api/v1/tenants/{name}/resume"))
            .send()
            .await,
        "decommissioned",
    );
    call("PUT", &format!("/api/v1/tenants/{name}"))
        .json(&json!({"email": "x@example.com"}))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    // GET shows the tombstone, on both routes.
    assert_eq!(
        owner.call("GET", &one).send().await.expect(200)["data"]["state"],
        "decommissioned"
    );
    assert_eq!(
        call("GET", &format!("/api/v1/tenants/{name}"))
            .send()
            .await
            .expect(200)["data"]["state"],
        "decommissioned"
    );

    // One event and one audit entry per change, written with it.
    assert_eq!(
        events(&org, &name).await,
        [
            "tenant.created",
            "tenant.suspended",
            "tenant.resumed",
            "tenant.suspended",
            "tenant.decommissioned"
        ]
    );
    assert_eq!(
        audit_actions(&name).await,
        [
            "createOrganizationTenant",
            "suspendOrganizationTenant",
            "resumeTenant",
            "suspendOrganizationTenant",
            "decommissionOrganizationTenant"
        ]
    );
    let detail: Value = db()
        .await
        .query_one(
            "SELECT detail FROM org_events WHERE org_id = $1::text::uuid AND subject = $2
             AND kind = 'tenant.decommissioned'",
            &[&org, &name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        detail,
        json!({"from": "suspended", "to": "decommissioned", "tenantId": id})
    );
}

#[tokio::test]
async fn provisioning_tenants_can_only_be_decommissioned() {
    let _serial = exclusive().await;
    let _down = OperatorDown::new();
    let name = unique("prov");
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect(201);
    let one = format!("/api/v1/tenants/{name}");
    conflict_naming(
        &call("POST", &format!("{one}/suspend")).send().await,
        "provisioning",
    );
    conflict_naming(
        &call("POST", &format!("{one}/resume")).send().await,
        "provisioning",
    );
    assert_eq!(
        call("GET", &one).send().await.expect(200)["data"]["state"],
        "provisioning"
    );

    // provisioning → decommissioned (an admin's DELETE is a decommission).
    let admin = sign_up("admin").await;
    let org = org_with(&[(&admin, "admin")]).await;
    let other = unique("prov");
    let t = admin
        .call("POST", &org_tenants(&org))
        .json(&tenant_body(&other))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    assert_eq!(t["state"], "provisioning");
    admin
        .call("DELETE", &format!("/api/v1/tenants/{other}"))
        .send()
        .await
        .expect(204);
    let gone = admin
        .call("GET", &org_tenant(&org, &t))
        .send()
        .await
        .expect(200);
    assert_eq!(gone["data"]["state"], "decommissioned");
    kube("GET", &tenant_crd_path(&other), None)
        .await
        .expect(404);
    assert_eq!(
        events(&org, &other).await,
        ["tenant.created", "tenant.decommissioned"]
    );
}

/// Turns the stand-in's operator simulation off until dropped: Tenants get
/// no status, as when the real operator has not reconciled them yet.
struct OperatorDown;

impl OperatorDown {
    fn new() -> Self {
        env().kube.set_operator(false);
        Self
    }
}

impl Drop for OperatorDown {
    fn drop(&mut self) {
        env().kube.set_operator(true);
    }
}

/// An operator's access policy allowing `datasets` to tenant `name`: an
/// organisation's tenant reaches no dataset without one.
async fn allow_datasets(name: &str, datasets: &[&str]) {
    call("POST", "/api/v1/policies")
        .json(&json!({
            "name": unique("allow"),
            "subjects": {"tenants": [name]},
            "datasets": {"allow": datasets}
        }))
        .send()
        .await
        .expect(201);
}

#[tokio::test]
async fn a_decommissioned_name_is_held_for_30_days_then_purged_by_its_reuse() {
    // The operator simulation is switched off in another test of this binary.
    let _serial = exclusive().await;
    let org = org_with(&[]).await;
    let name = unique("held");
    // Operators pass every organisation's role checks.
    let t = call("POST", &org_tenants(&org))
        .json(&tenant_body(&name))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    allow_datasets(&name, &["sales"]).await;
    call("PUT", &format!("/api/v1/tenants/{name}/datasets"))
        .json(&json!({"datasets": [{"name": "sales", "access": "read"}]}))
        .send()
        .await
        .expect(200);
    call("POST", &format!("{}/decommission", org_tenant(&org, &t)))
        .send()
        .await
        .expect(200);
    // Dataset memberships go with it.
    assert_eq!(
        count(
            "SELECT count(*) FROM tenant_datasets WHERE tenant_name = $1",
            &name
        )
        .await,
        0
    );

    // Lists skip it unless asked; drift and repair never see it.
    let listed = |v: &Value| {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == name.as_str())
    };
    let list = call("GET", &format!("{}?limit=1000", org_tenants(&org)))
        .send()
        .await
        .expect(200);
    assert!(!listed(&list));
    let list = call(
        "GET",
        &format!("{}?includeDecommissioned=true", org_tenants(&org)),
    )
    .send()
    .await
    .expect(200);
    assert!(listed(&list));
    assert_eq!(list["data"][0]["state"], "decommissioned");
    call(
        "GET",
        &format!("{}?includeDecommissioned=maybe", org_tenants(&org)),
    )
    .send()
    .await
    .expect_error(400, "VALIDATION_ERROR");
    let drift = call("GET", "/api/v1/tenants/drift")
        .send()
        .await
        .expect(200);
    assert!(!drift["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["name"] == name.as_str()));

    // Within 30 days the name is refused on both routes, saying when it frees.
    for path in ["/api/v1/tenants".to_owned(), org_tenants(&org)] {
        let v = call("POST", &path)
            .json(&tenant_body(&name))
            .send()
            .await
            .expect_error(409, "CONFLICT");
        assert!(v["error"].as_str().unwrap().contains("reused from"), "{v}");
    }
    kube("GET", &tenant_crd_path(&name), None).await.expect(404);

    // After 30 days, creating the name replaces the tombstone.
    db().await
        .execute(
            "UPDATE tenants SET decommissioned_at = now() - interval '31 days' WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap();
    let again = call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    assert_ne!(again["id"], t["id"]);
    assert_eq!(again["state"], "provisioning");
    assert_eq!(again["organizationId"], Value::Null);
    assert_eq!(again["decommissionedAt"], Value::Null);
    assert_eq!(
        count("SELECT count(*) FROM tenants WHERE name = $1", &name).await,
        1
    );
    // The old id no longer answers.
    call("GET", &org_tenant(&org, &t))
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");

    // The operator's DELETE is the hard delete: the name is free at once.
    call("DELETE", &format!("/api/v1/tenants/{name}"))
        .send()
        .await
        .expect(204);
    assert_eq!(
        count("SELECT count(*) FROM tenants WHERE name = $1", &name).await,
        0
    );
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(&name))
        .send()
        .await
        .expect(201);
}

#[tokio::test]
async fn org_routes_check_roles_and_hide_other_organisations() {
    // The operator simulation is switched off in another test of this binary.
    let _serial = exclusive().await;
    let owner = sign_up("own").await;
    let admin = sign_up("adm").await;
    let member = sign_up("mem").await;
    let viewer = sign_up("view").await;
    let stranger = sign_up("strange").await;
    let org = org_with(&[
        (&owner, "owner"),
        (&admin, "admin"),
        (&member, "member"),
        (&viewer, "viewer"),
    ])
    .await;
    let other_org = org_with(&[(&stranger, "owner")]).await;

    // Viewers read but do not write.
    viewer
        .call("POST", &org_tenants(&org))
        .json(&tenant_body(&unique("v")))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let name = unique("roles");
    let t = member
        .call("POST", &org_tenants(&org))
        .json(&tenant_body(&name))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let one = org_tenant(&org, &t);
    viewer.call("GET", &one).send().await.expect(200);
    let list = viewer
        .call("GET", &org_tenants(&org))
        .send()
        .await
        .expect(200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let v = viewer
        .call("POST", &format!("{one}/suspend"))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(v["error"].as_str().unwrap().contains("member"), "{v}");
    // Members suspend and resume, but only admins decommission.
    member
        .call("POST", &format!("{one}/suspend"))
        .send()
        .await
        .expect(200);
    member
        .call("POST", &format!("{one}/resume"))
        .send()
        .await
        .expect(200);
    member
        .call("POST", &format!("{one}/decommission"))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");

    // A non-member sees no organisation; another organisation's tenant is
    // not found under this one.
    stranger
        .call("GET", &org_tenants(&org))
        .send()
        .await
        .expect_error(404, "ORGANIZATION_NOT_FOUND");
    stranger
        .call("GET", &one)
        .send()
        .await
        .expect_error(404, "ORGANIZATION_NOT_FOUND");
    stranger
        .call("POST", &format!("{one}/decommission"))
        .send()
        .await
        .expect_error(404, "ORGANIZATION_NOT_FOUND");
    let foreign = stranger
        .call("POST", &org_tenants(&other_org))
        .json(&tenant_body(&unique("foreign")))
        .send()
        .await
        .expect(201)["data"]
        .clone();
    let cross = format!("{}/{}", org_tenants(&org), foreign["id"].as_str().unwrap());
    owner
        .call("GET", &cross)
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
    owner
        .call("POST", &format!("{cross}/suspend"))
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
    call("GET", &cross)
        .send()
        .await
        .expect_error(404, "TENANT_NOT_FOUND");
    // Malformed ids are 400s naming the parameter.
    let bad = owner
        .call("GET", "/api/v1/organizations/nope/tenants")
        .send()
        .await;
    assert_eq!(
        bad.expect_error(400, "VALIDATION_ERROR")["fieldErrors"][0]["field"],
        "orgId"
    );
    let bad = owner
        .call("GET", &format!("{}/nope", org_tenants(&org)))
        .send()
        .await;
    assert_eq!(
        bad.expect_error(400, "VALIDATION_ERROR")["fieldErrors"][0]["field"],
        "tenantId"
    );

    admin
        .call("POST", &format!("{one}/decommission"))
        .send()
        .await
        .expect(200);
    assert_eq!(
        events(&org, &name).await,
        [
            "tenant.created",
            "tenant.suspended",
            "tenant.resumed",
            "tenant.decommissioned"
        ]
    );
    // Refusals are audited as failures.
    assert!(
        count(
            "SELECT count(*) FROM audit_log WHERE action = 'decommissionOrganizationTenant'
             AND outcome = 'failure' AND actor LIKE $1",
            &format!("%{}%", member.id),
        )
        .await
            >= 1
    );

    // Access tokens act in the organisations area with its scopes.
    let token = |scopes: Value| async move {
        call("POST", "/api/v1/access-tokens")
            .json(&json!({"name": unique("tok"), "scopes": scopes}))
            .send()
            .await
            .expect(201)["data"]["plainTextToken"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let tenants_only = token(json!(["tenants:write"])).await;
    bearer(&tenants_only, "GET", &org_tenants(&org))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let orgs_write = token(json!(["organizations:write"])).await;
    bearer(&orgs_write, "GET", &org_tenants(&org))
        .send()
        .await
        .expect(200);
    let by_token = unique("tok");
    bearer(&orgs_write, "POST", &org_tenants(&org))
        .json(&tenant_body(&by_token))
        .send()
        .await
        .expect(201);
    // An operator's DELETE of an organisation's tenant is the hard delete,
    // visible to the organisation as an event.
    call("DELETE", &format!("/api/v1/tenants/{by_token}"))
        .send()
        .await
        .expect(204);
    assert_eq!(
        events(&org, &by_token).await,
        ["tenant.created", "tenant.deleted"]
    );
    assert_eq!(
        count("SELECT count(*) FROM tenants WHERE name = $1", &by_token).await,
        0
    );
    let orgs_read = token(json!(["organizations:read"])).await;
    bearer(&orgs_read, "POST", &org_tenants(&org))
        .json(&tenant_body(&unique("tok")))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn users_see_only_their_organisations_tenants_on_the_tenants_routes() {
    // The operator simulation is switched off in another test of this binary.
    let _serial = exclusive().await;
    let member = sign_up("mine").await;
    let viewer = sign_up("look").await;
    let admin = sign_up("boss").await;
    let org = org_with(&[(&member, "member"), (&viewer, "viewer"), (&admin, "admin")]).await;
    let other_org = org_with(&[]).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        let name = unique("mine");
        member
            .call("POST", &org_tenants(&org))
            .json(&tenant_body(&name))
            .send()
            .await
            .expect(201);
        mine.push(name);
    }
    let theirs = unique("theirs");
    call("POST", &org_tenants(&other_org))
        .json(&tenant_body(&theirs))
        .send()
        .await
        .expect(201);
    let platform = unique("plat");
    call("POST", "/api/v1/tenants")
        .json(&tenant_body(&platform))
        .send()
        .await
        .expect(201);

    // The list: only the organisation's tenants, keyset-paginated.
    let first = member
        .call("GET", "/api/v1/tenants?limit=2")
        .send()
        .await
        .expect(200);
    let cursor = first["pagination"]["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(first["pagination"]["hasMore"], true);
    let second = member
        .call("GET", &format!("/api/v1/tenants?limit=2&cursor={cursor}"))
        .send()
        .await
        .expect(200);
    assert_eq!(second["pagination"]["hasMore"], false);
    let names: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["data"].as_array().unwrap())
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, mine.iter().map(String::as_str).collect::<Vec<_>>());
    // Operators see everything.
    let all = call("GET", "/api/v1/tenants?limit=1000")
        .send()
        .await
        .expect(200);
    let all: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for n in mine.iter().chain([&theirs, &platform]) {
        assert!(all.contains(&n.as_str()), "{n}");
    }

    // Outside their organisations (or outside any): 404, whatever the route.
    for hidden in [&theirs, &platform] {
        let base = format!("/api/v1/tenants/{hidden}");
        for (method, path, body) in [
            ("GET", base.clone(), None),
            ("PUT", base.clone(), Some(json!({"email": "x@example.com"}))),
            ("GET", format!("{base}/datasets"), None),
            (
                "PUT",
                format!("{base}/datasets"),
                Some(json!({"datasets": []})),
            ),
            ("POST", format!("{base}/suspend"), None),
            ("POST", format!("{base}/resume"), None),
            ("GET", format!("{base}/effective-contract"), None),
            ("DELETE", base.clone(), None),
        ] {
            let mut c = admin.call(method, &path);
            if let Some(b) = &body {
                c = c.json(b);
            }
            c.send().await.expect_error(404, "TENANT_NOT_FOUND");
        }
    }

    // Roles on their own tenants: reads viewer, writes member, DELETE admin.
    let own = &mine[0];
    let base = format!("/api/v1/tenants/{own}");
    viewer.call("GET", &base).send().await.expect(200);
    viewer
        .call("GET", &format!("{base}/datasets"))
        .send()
        .await
        .expect(200);
    viewer
        .call("GET", &format!("{base}/effective-contract"))
        .send()
        .await
        .expect(200);
    viewer
        .call("PUT", &base)
        .json(&json!({"email": "v@example.com"}))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    viewer
        .call("POST", &format!("{base}/suspend"))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    let put = member
        .call("PUT", &base)
        .json(&json!({"email": "m@example.com"}))
        .send()
        .await
        .expect(200);
    assert_eq!(put["data"]["email"], "m@example.com");
    member
        .call("POST", &format!("{base}/suspend"))
        .send()
        .await
        .expect(200);
    member
        .call("POST", &format!("{base}/resume"))
        .send()
        .await
        .expect(200);
    allow_datasets(base.trim_start_matches("/api/v1/tenants/"), &["ops"]).await;
    member
        .call("PUT", &format!("{base}/datasets"))
        .json(&json!({"datasets": [{"name": "ops"}]}))
        .send()
        .await
        .expect(200);
    member
        .call("DELETE", &base)
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    // An admin's DELETE decommissions: the tombstone stays, the CRD goes.
    admin.call("DELETE", &base).send().await.expect(204);
    assert_eq!(
        member.call("GET", &base).send().await.expect(200)["data"]["state"],
        "decommissioned"
    );
    kube("GET", &tenant_crd_path(own), None).await.expect(404);
    assert!(events(&org, own)
        .await
        .ends_with(&["tenant.decommissioned".to_owned()]));

    // Fleet-wide and organisation-less routes are the operator's.
    let v = member
        .call("POST", "/api/v1/tenants")
        .json(&tenant_body(&unique("nope")))
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("/api/v1/organizations/{orgId}/tenants"),
        "{v}"
    );
    member
        .call("GET", "/api/v1/tenants/drift")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
    member
        .call("POST", "/api/v1/tenants/repair?dryRun=false")
        .send()
        .await
        .expect_error(403, "FORBIDDEN");
}
