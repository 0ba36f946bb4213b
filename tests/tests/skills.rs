//! The skills catalog end to end: real components in the host, real
//! PostgreSQL, and (for the backfill) a real OCI registry
//! (`scripts/registry.sh`, `CP_OCI_REGISTRY_URL`).

#![allow(clippy::unwrap_used)]

use cp_tests::{call, count, db, field_errors, oci_registry_url, send_to, unique};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CATALOG: &str = "/api/v1/skills/catalog";
/// The component's default `oci_repository_prefix` (spin.toml).
const PREFIX: &str = "opencrane/skills";

fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn bundle_body(name: &str, version: &str, content: &str) -> Value {
    json!({
        "name": name, "version": version, "digest": sha256(content.as_bytes()),
        "scope": "platform", "content": content,
    })
}

async fn create(body: &Value) -> Value {
    call("POST", CATALOG).json(body).send().await.expect(201)["data"].clone()
}

fn path(id: &str) -> String {
    format!("{CATALOG}/{id}")
}

async fn create_group(name: &str) {
    db().await
        .execute(
            "INSERT INTO groups (id, name) VALUES (gen_random_uuid(), $1)",
            &[&name],
        )
        .await
        .unwrap();
}

/// The body of a PUT that keeps everything but what `change` sets.
fn put_body(bundle: &Value, change: Value) -> Value {
    let mut body = json!({
        "digest": bundle["digest"], "scope": bundle["scope"],
        "description": bundle["description"], "content": bundle["content"],
        "entitlements": bundle["entitlements"],
    });
    for (k, v) in change.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn create_get_update_delete_round_trip() {
    let name = unique("search");
    let group = unique("eng");
    create_group(&group).await;
    let (acme, globex) = (unique("acme"), unique("globex"));
    cp_tests::create_tenant(&acme).await;
    cp_tests::create_tenant(&globex).await;
    let content = format!("# {name}\n\nSearch the web.\n");
    let mut body = bundle_body(&name, "1.0.0", &content);
    body["description"] = json!("Web search");
    body["entitlements"] =
        json!([{"kind": "tenant", "name": acme}, {"kind": "group", "name": group}]);
    let resp = call("POST", CATALOG)
        .header("x-request-id", &format!("req-{name}"))
        .json(&body)
        .send()
        .await;
    let b = resp.expect(201)["data"].clone();
    let etag = resp.header("etag").unwrap().to_owned();
    let id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(b["name"], name.as_str());
    assert_eq!(b["version"], "1.0.0");
    assert_eq!(b["stage"], "draft", "new bundles start at draft");
    assert_eq!(b["scope"], "platform");
    assert_eq!(b["digest"], sha256(content.as_bytes()).as_str());
    assert_eq!(b["content"], content.as_str());
    assert_eq!(b["contentSize"], content.len());
    // A set, read back by kind, then name.
    let entitlements = json!([{"kind": "group", "name": group}, {"kind": "tenant", "name": acme}]);
    assert_eq!(b["entitlements"], entitlements);
    assert_eq!(b["promotions"].as_array().unwrap().len(), 1);
    assert_eq!(b["promotions"][0]["from"], Value::Null);
    assert_eq!(b["promotions"][0]["to"], "draft");
    assert_eq!(b["promotions"][0]["actor"], "operator");
    assert_eq!(b["promotions"][0]["requestId"], format!("req-{name}"));
    assert_eq!(
        b["versions"],
        json!([{"id": id, "version": "1.0.0", "stage": "draft"}])
    );

    let got = call("GET", &path(&id)).send().await;
    assert_eq!(got.expect(200)["data"], b);
    assert_eq!(got.header("etag"), Some(etag.as_str()));

    // The list shows entitlements and history, not the content.
    let list = call("GET", &format!("{CATALOG}?name={name}"))
        .send()
        .await
        .expect(200);
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["entitlements"], entitlements);
    assert!(items[0].get("content").is_none());
    assert!(items[0].get("versions").is_none());

    // PUT replaces fields and entitlements, and promotes to staging.
    let put = call("PUT", &path(&id))
        .header("if-match", &etag)
        .json(&put_body(
            &b,
            json!({"description": null, "scope": "team", "stage": "staging",
                   "entitlements": [{"kind": "tenant", "name": globex}]}),
        ))
        .send()
        .await;
    let u = put.expect(200)["data"].clone();
    assert_eq!(u["stage"], "staging");
    assert_eq!(u["scope"], "team");
    assert_eq!(u["description"], Value::Null);
    assert_eq!(
        u["entitlements"],
        json!([{"kind": "tenant", "name": globex}])
    );
    assert_eq!(u["promotions"][1]["from"], "draft");
    assert_eq!(u["promotions"][1]["to"], "staging");
    assert_ne!(put.header("etag"), Some(etag.as_str()));

    // The old ETag is stale now.
    call("PUT", &path(&id))
        .header("if-match", &etag)
        .json(&put_body(&u, json!({})))
        .send()
        .await
        .expect_error(409, "CONFLICT");

    let audited = |outcome: &'static str| {
        let id = id.clone();
        async move {
            count(
                &format!(
                    "SELECT count(*) FROM audit_log WHERE resource_kind = 'skill_bundle' \
                     AND outcome = '{outcome}' AND resource_name = $1"
                ),
                &id,
            )
            .await
        }
    };
    assert_eq!(audited("success").await, 2, "create and update");
    assert_eq!(audited("failure").await, 1, "the stale write");

    // DELETE cascades to entitlements and promotions.
    let del = call("DELETE", &path(&id)).send().await;
    assert_eq!(del.status, 204);
    assert!(del.body.is_empty());
    call("GET", &path(&id))
        .send()
        .await
        .expect_error(404, "SKILL_BUNDLE_NOT_FOUND");
    call("DELETE", &path(&id))
        .send()
        .await
        .expect_error(404, "SKILL_BUNDLE_NOT_FOUND");
    for table in ["skill_entitlements", "skill_promotions"] {
        let n = count(
            &format!("SELECT count(*) FROM {table} WHERE bundle_id = $1::text::uuid"),
            &id,
        )
        .await;
        assert_eq!(n, 0, "{table}");
    }
    let deleted = count(
        "SELECT count(*) FROM audit_log WHERE action = 'deleteSkillBundle' AND resource_name = $1",
        &id,
    )
    .await;
    assert_eq!(deleted, 1);
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let name = unique("bad");
    let mut body = bundle_body(&name, "1.0", "x");
    body["digest"] = json!(sha256(b"not x"));
    body["entitlements"] = json!([
        {"kind": "tenant", "name": "acme"},
        {"kind": "group", "name": unique("nogroup")},
        {"kind": "team", "name": "x"}
    ]);
    let err = call("POST", CATALOG)
        .json(&body)
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        field_errors(&err),
        ["version", "digest", "entitlements[2].kind"]
    );

    // The subject checks run once the fields are well formed: a group must
    // exist, a tenant must be live (an entitlement never waits for a name).
    let mut body = bundle_body(&name, "1.0.0", "x");
    body["entitlements"] = json!([{"kind": "tenant", "name": unique("nobody")}, {"kind": "group", "name": "no-such-group"}]);
    let err = call("POST", CATALOG)
        .json(&body)
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(
        field_errors(&err),
        ["entitlements[0].name", "entitlements[1].name"]
    );
    assert_eq!(
        count("SELECT count(*) FROM skill_bundles WHERE name = $1", &name).await,
        0
    );

    let mut body = bundle_body(&name, "1.0.0", "x");
    body["stage"] = json!("live");
    body["scope"] = json!("galaxy");
    body["colour"] = json!("blue");
    let err = call("POST", CATALOG)
        .json(&body)
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&err), ["colour"]);

    let mut body = bundle_body(&name, "1.0.0", "x");
    body["stage"] = json!("live");
    body["scope"] = json!("galaxy");
    let err = call("POST", CATALOG)
        .json(&body)
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&err), ["scope", "stage"]);

    let err = call("POST", CATALOG)
        .json(&json!({"name": name, "version": "1.0.0", "scope": "platform"}))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&err), ["digest"]);

    let err = call("GET", &path("not-a-uuid"))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&err), ["id"]);
    let err = call("GET", &format!("{CATALOG}?name=Bad_Name"))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&err), ["name"]);
    call("GET", &path("0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f"))
        .send()
        .await
        .expect_error(404, "SKILL_BUNDLE_NOT_FOUND");
    call("PUT", &path("0190f5c2-7a4b-7c3d-8e9f-0a1b2c3d4e5f"))
        .json(&json!({"digest": sha256(b"x"), "scope": "platform"}))
        .send()
        .await
        .expect_error(404, "SKILL_BUNDLE_NOT_FOUND");
}

#[tokio::test]
async fn versions_coexist_and_a_duplicate_version_conflicts() {
    let name = unique("review");
    let v1 = create(&bundle_body(&name, "1.0.0", "one")).await;
    let v2 = create(&bundle_body(&name, "1.1.0-rc.1+build.7", "two")).await;
    let err = call("POST", CATALOG)
        .json(&bundle_body(&name, "1.0.0", "other"))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    assert!(err["error"].as_str().unwrap().contains("1.0.0"), "{err}");

    let got = call("GET", &path(v1["id"].as_str().unwrap()))
        .send()
        .await
        .expect(200);
    assert_eq!(
        got["data"]["versions"],
        json!([
            {"id": v1["id"], "version": "1.0.0", "stage": "draft"},
            {"id": v2["id"], "version": "1.1.0-rc.1+build.7", "stage": "draft"}
        ])
    );

    // Keyset pages within the name filter.
    let p1 = call("GET", &format!("{CATALOG}?name={name}&limit=1"))
        .send()
        .await
        .expect(200);
    assert_eq!(p1["data"][0]["id"], v1["id"]);
    assert_eq!(p1["pagination"]["hasMore"], true);
    let cursor = p1["pagination"]["nextCursor"].as_str().unwrap();
    let p2 = call(
        "GET",
        &format!("{CATALOG}?name={name}&limit=1&cursor={cursor}"),
    )
    .send()
    .await
    .expect(200);
    assert_eq!(p2["data"][0]["id"], v2["id"]);
    assert_eq!(p2["pagination"]["hasMore"], false);
    let err = call("GET", &format!("{CATALOG}?cursor=v1.bm9wZQ"))
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&err), ["cursor"]);
}

#[tokio::test]
async fn promotions_follow_the_rules_and_are_recorded() {
    let name = unique("deploy");
    let content = "# Deploy\n";
    let b = create(&bundle_body(&name, "2.0.0", content)).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let put = |body: Value, rid: &'static str| {
        let id = id.clone();
        async move {
            call("PUT", &path(&id))
                .header("x-request-id", rid)
                .json(&body)
                .send()
                .await
        }
    };

    // No skipping a stage.
    let err = put(put_body(&b, json!({"stage": "published"})), "p0")
        .await
        .expect_error(409, "CONFLICT");
    assert!(err["error"].as_str().unwrap().contains("'draft'"), "{err}");

    let s = put(put_body(&b, json!({"stage": "staging"})), "p1")
        .await
        .expect(200)["data"]
        .clone();
    let p = put(put_body(&s, json!({"stage": "published"})), "p2")
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(p["stage"], "published");

    // Published: no going back to staging, no content or digest change.
    let err = put(put_body(&p, json!({"stage": "staging"})), "p3")
        .await
        .expect_error(409, "CONFLICT");
    assert!(
        err["error"].as_str().unwrap().contains("'published'"),
        "{err}"
    );
    let err = put(
        put_body(
            &p,
            json!({"content": "# Deploy v2\n", "digest": sha256(b"# Deploy v2\n")}),
        ),
        "p4",
    )
    .await
    .expect_error(409, "CONFLICT");
    assert!(
        err["error"].as_str().unwrap().contains("new version"),
        "{err}"
    );
    // Other fields of a published bundle may change; no stage, no promotion.
    let same = put(put_body(&p, json!({"description": "now described"})), "p5")
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(same["description"], "now described");
    assert_eq!(same["promotions"].as_array().unwrap().len(), 3);

    // A demotion back to draft is allowed and recorded.
    let d = put(put_body(&same, json!({"stage": "draft"})), "p6")
        .await
        .expect(200)["data"]
        .clone();
    let history: Vec<(Value, Value, Value)> = d["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["from"].clone(), p["to"].clone(), p["requestId"].clone()))
        .collect();
    assert_eq!(
        history,
        [
            (
                Value::Null,
                json!("draft"),
                d["promotions"][0]["requestId"].clone()
            ),
            (json!("draft"), json!("staging"), json!("p1")),
            (json!("staging"), json!("published"), json!("p2")),
            (json!("published"), json!("draft"), json!("p6")),
        ]
    );
    assert!(d["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["actor"] == "operator" && p["at"].is_string()));
    // Demoted, it still keeps the bits it was released with.
    call("PUT", &path(&id))
        .json(&put_body(
            &d,
            json!({"content": "# Deploy v2\n", "digest": sha256(b"# Deploy v2\n")}),
        ))
        .send()
        .await
        .expect_error(409, "CONFLICT");
    // Refused moves changed nothing.
    assert_eq!(
        count(
            "SELECT count(*) FROM skill_promotions WHERE bundle_id = $1::text::uuid",
            &id
        )
        .await,
        4
    );
}

/// GET from the registry.
async fn registry_get(path: &str, accept: &str) -> cp_tests::Resp {
    send_to(
        &oci_registry_url(),
        call("GET", path).anonymous().header("accept", accept),
    )
    .await
}

#[tokio::test]
async fn backfill_pushes_published_bundles_to_a_real_registry() {
    let registry = oci_registry_url();
    assert!(
        send_to(&registry, call("GET", "/v2/").anonymous()).await.status == 200,
        "no OCI registry at {registry}: start one with scripts/registry.sh and set CP_OCI_REGISTRY_URL"
    );
    let name = unique("skill");
    let published_content = format!("# {name}\n\nPublished.\n");
    let build_content = format!("# {name}\n\nWith build metadata.\n");
    let mut a = bundle_body(&name, "1.0.0", &published_content);
    a["stage"] = json!("published");
    let a = create(&a).await;
    let mut b = bundle_body(&name, "1.1.0+build.3", &build_content);
    b["stage"] = json!("published");
    let b = create(&b).await;
    let draft = create(&bundle_body(&name, "2.0.0-alpha", "draft only")).await;
    let empty = create(&json!({
        "name": name, "version": "0.1.0", "digest": sha256(b"elsewhere"),
        "scope": "tenant", "stage": "published"
    }))
    .await;

    let run = call("POST", &format!("{CATALOG}/backfill"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    assert_eq!(run["registry"], registry.trim_end_matches('/'));
    assert_eq!(run["repositoryPrefix"], PREFIX);
    let outcome_of = |run: &Value, id: &Value| -> Value {
        run["bundles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == *id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let ia = outcome_of(&run, &a["id"]);
    let ib = outcome_of(&run, &b["id"]);
    assert_eq!(ia["outcome"], "pushed", "{run}");
    assert_eq!(ib["outcome"], "pushed", "{run}");
    assert_eq!(ib["tag"], "1.1.0_build.3");
    assert_eq!(outcome_of(&run, &empty["id"])["outcome"], "skipped");
    assert_eq!(
        outcome_of(&run, &draft["id"]),
        Value::Null,
        "drafts are not pushed"
    );

    // Read the artifacts back from the registry.
    let repo = format!("{PREFIX}/{name}");
    for (item, content, bundle) in [(&ia, &published_content, &a), (&ib, &build_content, &b)] {
        let tag = item["tag"].as_str().unwrap();
        let m = registry_get(
            &format!("/v2/{repo}/manifests/{tag}"),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .await;
        let manifest = m.expect(200);
        assert_eq!(sha256(&m.body), item["manifestDigest"].as_str().unwrap());
        assert_eq!(
            m.header("docker-content-digest"),
            item["manifestDigest"].as_str()
        );
        assert_eq!(
            manifest["artifactType"],
            "application/vnd.opencrane.skill.v1"
        );
        assert_eq!(
            manifest["config"]["mediaType"],
            "application/vnd.oci.empty.v1+json"
        );
        assert_eq!(manifest["config"]["digest"], sha256(b"{}").as_str());
        assert_eq!(manifest["layers"][0]["digest"], bundle["digest"]);
        assert_eq!(manifest["layers"][0]["size"], content.len());
        let blob = registry_get(
            &format!("/v2/{repo}/blobs/{}", bundle["digest"].as_str().unwrap()),
            "*/*",
        )
        .await;
        assert_eq!(blob.status, 200);
        assert_eq!(blob.body, content.as_bytes());
    }
    // Drafts never reach the registry.
    let none = registry_get(
        &format!("/v2/{repo}/manifests/2.0.0-alpha"),
        "application/vnd.oci.image.manifest.v1+json",
    )
    .await;
    assert_eq!(none.status, 404);

    // Re-running changes nothing.
    let again = call("POST", &format!("{CATALOG}/backfill"))
        .send()
        .await
        .expect(200)["data"]
        .clone();
    for (bundle, first) in [(&a, &ia), (&b, &ib)] {
        let item = outcome_of(&again, &bundle["id"]);
        assert_eq!(item["outcome"], "alreadyPresent", "{again}");
        assert_eq!(item["manifestDigest"], first["manifestDigest"]);
    }

    // Pushes are recorded; the backfill is audited.
    let rec = db()
        .await
        .query_one(
            "SELECT repository, tag, manifest_digest, outcome FROM skill_oci_pushes
             WHERE bundle_id = $1::text::uuid",
            &[&a["id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(rec.get::<_, String>(0), repo);
    assert_eq!(rec.get::<_, String>(1), "1.0.0");
    assert_eq!(
        rec.get::<_, String>(2),
        ia["manifestDigest"].as_str().unwrap()
    );
    assert_eq!(rec.get::<_, String>(3), "alreadyPresent");
    assert!(
        count(
            "SELECT count(*) FROM audit_log WHERE action = 'backfillSkillBundles' AND resource_name = $1",
            "backfill"
        )
        .await
            >= 2
    );
}
