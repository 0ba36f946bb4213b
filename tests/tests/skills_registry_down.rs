//! The skills backfill against a registry that is not there: its own test
//! binary, because the registry URL is fixed when the host starts.

#![allow(clippy::unwrap_used)]

use cp_tests::{call, count, env};
use serde_json::json;

#[tokio::test]
async fn an_unreachable_registry_is_a_502_and_nothing_is_recorded() {
    // A port nothing listens on (bound, then released), set before the
    // host starts so the component's oci_registry_url points there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::env::set_var("CP_OCI_REGISTRY_URL", format!("http://127.0.0.1:{port}"));
    env();

    // Nothing published: nothing to reach, an empty report.
    let empty = call("POST", "/api/v1/skills/catalog/backfill")
        .send()
        .await
        .expect(200);
    assert_eq!(empty["data"]["bundles"], json!([]));

    let content = "# Offline\n";
    call("POST", "/api/v1/skills/catalog")
        .json(&json!({"name": "offline", "version": "1.0.0",
                      "digest": digest_of(b"stored elsewhere"),
                      "scope": "platform", "stage": "published"}))
        .send()
        .await
        .expect(201);
    let with_content = call("POST", "/api/v1/skills/catalog")
        .json(&json!({"name": "offline", "version": "1.1.0",
                      "digest": digest_of(content.as_bytes()),
                      "scope": "platform", "content": content, "stage": "published"}))
        .send()
        .await
        .expect(201);
    assert_eq!(with_content["data"]["stage"], "published");

    let err = call("POST", "/api/v1/skills/catalog/backfill")
        .send()
        .await
        .expect_error(502, "UPSTREAM_ERROR");
    let message = err["error"].as_str().unwrap();
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        !message.contains(&port.to_string()),
        "no upstream detail: {message}"
    );
    let nothing = count(
        "SELECT count(*) FROM skill_oci_pushes WHERE registry = $1",
        &format!("http://127.0.0.1:{port}"),
    )
    .await;
    assert_eq!(nothing, 0);
    assert_eq!(
        count(
            "SELECT count(*) FROM audit_log WHERE action = 'backfillSkillBundles' AND outcome = $1",
            "failure"
        )
        .await,
        1
    );
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", cp_tests::sha256_hex(bytes))
}
