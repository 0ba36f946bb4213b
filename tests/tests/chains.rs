//! The chains registry end to end: operators register, replace, disable and
//! remove chains; anyone reads the enabled ones, by registry id or EVM chain
//! id; an RPC URL is write-only (sealed, shown as its origin) and must be
//! reachable from the agents component. The real component in the host,
//! real PostgreSQL.

#![allow(clippy::unwrap_used)]

use cp_tests::{audit_log_text, call, db, field_errors, unique};
use serde_json::{json, Value};

/// A chain id no other test uses (the registry's chain ids are unique).
fn fresh_chain_id() -> i64 {
    let n = uuid::Uuid::now_v7().as_u128();
    i64::try_from(n % 1_000_000_000).unwrap() + 1_000_000
}

fn chain(name: &str, chain_id: i64, rpc_url: &str) -> Value {
    json!({"name": name, "chainId": chain_id, "rpcUrl": rpc_url,
           "nativeCurrency": {"name": "Test Ether", "symbol": "TETH", "decimals": 18},
           "blockExplorerUrl": "https://explorer.example/"})
}

#[tokio::test]
async fn operators_register_chains_and_anyone_reads_the_enabled_ones() {
    let name = unique("testnet");
    let chain_id = fresh_chain_id();
    let rpc = "http://127.0.0.1:8545/v3/provider-key-5e0c1a";
    let created = call("POST", "/api/v1/admin/chains")
        .json(&chain(&name, chain_id, rpc))
        .send()
        .await;
    let text = created.text();
    assert!(!text.contains("provider-key"), "the RPC URL shown: {text}");
    let created = created.expect(201)["data"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["rpcOrigin"], "http://127.0.0.1:8545");
    assert_eq!(created["chainId"], chain_id);
    assert_eq!(created["enabled"], true);
    assert_eq!(created["supportsEip1559"], true);
    assert!(created.get("rpcUrl").is_none());

    // Anyone reads it, by registry id or by EVM chain id.
    for path in [
        format!("/api/v1/chains/{id}"),
        format!("/api/v1/chains/{chain_id}"),
    ] {
        let read = call("GET", &path).anonymous().send().await.expect(200);
        assert_eq!(read["data"]["id"], id.as_str(), "{path}");
    }
    let listed = call("GET", "/api/v1/chains?limit=100")
        .anonymous()
        .send()
        .await;
    assert!(listed.text().contains(&id));

    // Sealed at rest: the row holds no URL in the clear.
    let row: String = db()
        .await
        .query_one(
            "SELECT row_to_json(c)::text FROM chains c WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!row.contains("provider-key"), "{row}");
    assert!(!audit_log_text().await.contains("provider-key"));

    // Disabled: gone from the public reads, still the operator's.
    let mut body = chain(&name, chain_id, rpc);
    body["enabled"] = json!(false);
    body["supportsEip1559"] = json!(false);
    let replaced = call("PUT", &format!("/api/v1/admin/chains/{chain_id}"))
        .json(&body)
        .send()
        .await
        .expect(200);
    assert_eq!(replaced["data"]["enabled"], false);
    assert_eq!(replaced["data"]["supportsEip1559"], false);
    call("GET", &format!("/api/v1/chains/{chain_id}"))
        .anonymous()
        .send()
        .await
        .expect_error(404, "CHAIN_NOT_FOUND");
    let public = call("GET", "/api/v1/chains?limit=100")
        .anonymous()
        .send()
        .await;
    assert!(!public.text().contains(&id));
    let admin = call("GET", "/api/v1/admin/chains?limit=100").send().await;
    assert!(admin.expect(200).to_string().contains(&id));

    // Removed by its EVM chain id.
    call("DELETE", &format!("/api/v1/admin/chains/{chain_id}"))
        .send()
        .await
        .expect(204);
    call("PUT", &format!("/api/v1/admin/chains/{id}"))
        .json(&body)
        .send()
        .await
        .expect_error(404, "CHAIN_NOT_FOUND");
}

#[tokio::test]
async fn a_chain_must_be_reachable_unique_and_well_formed() {
    let chain_id = fresh_chain_id();
    // Outside the component's allow-list (chain_rpc_allowed_host).
    let far = call("POST", "/api/v1/admin/chains")
        .json(&chain(&unique("far"), chain_id, "https://rpc.example.org/"))
        .send()
        .await;
    let err = far.expect_error(400, "VALIDATION_ERROR");
    assert_eq!(field_errors(&err), ["rpcUrl"]);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("chain_rpc_allowed_host"),
        "{err}"
    );

    let name = unique("dup");
    call("POST", "/api/v1/admin/chains")
        .json(&chain(&name, chain_id, "http://127.0.0.1:8545"))
        .send()
        .await
        .expect(201);
    for body in [
        chain(&name, fresh_chain_id(), "http://127.0.0.1:8545"),
        chain(&unique("other"), chain_id, "http://127.0.0.1:8545"),
    ] {
        call("POST", "/api/v1/admin/chains")
            .json(&body)
            .send()
            .await
            .expect_error(409, "CONFLICT");
    }

    let bad = call("POST", "/api/v1/admin/chains")
        .json(
            &json!({"name": "x", "chainId": 0, "rpcUrl": "http://127.0.0.1:8545",
                      "nativeCurrency": {"name": "X", "symbol": "X-1", "decimals": 40}}),
        )
        .send()
        .await;
    assert_eq!(
        field_errors(&bad.expect_error(400, "VALIDATION_ERROR")),
        [
            "chainId",
            "nativeCurrency.symbol",
            "nativeCurrency.decimals"
        ]
    );
    call("GET", "/api/v1/chains/sepolia")
        .anonymous()
        .send()
        .await
        .expect_error(400, "VALIDATION_ERROR");
    call("GET", "/api/v1/chains/999999999999")
        .anonymous()
        .send()
        .await
        .expect_error(404, "CHAIN_NOT_FOUND");
}
