//! Drives the stand-in over real HTTP and checks the LiteLLM behaviour it
//! promises: the admin endpoints, their authentication and error bodies,
//! fault injection, and the binary.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cp_litellm_standin::keys::hash_token;
use cp_litellm_standin::{Fault, StandIn, StandInConfig};
use cp_standin_kit::{TestClient, TestResponse as Resp};
use serde_json::{json, Value};

const MASTER: &str = "sk-stand-in-master-3c9d";

struct Api {
    client: TestClient,
    key: Option<String>,
}

impl Api {
    fn new(server: &StandIn, key: Option<&str>) -> Self {
        Self {
            client: TestClient::new(server.url()),
            key: key.map(str::to_string),
        }
    }

    async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Resp, String> {
        let bearer = self.key.as_ref().map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> = [
            bearer.as_deref().map(|b| ("authorization", b)),
            body.map(|_| ("content-type", "application/json")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        self.client
            .send(method.parse().unwrap(), path, &headers, bytes.into_bytes())
            .await
    }

    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        self.try_send(method, path, body).await.unwrap()
    }

    async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send("POST", path, Some(body)).await
    }
}

async fn server() -> StandIn {
    StandIn::start(StandInConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        master_key: MASTER.into(),
    })
    .await
    .unwrap()
}

/// Asserts LiteLLM's `ProxyException` body.
#[track_caller]
fn assert_proxy_error(r: &Resp, status: u16, kind: &str, message_part: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let error = &r.body["error"];
    assert_eq!(error["code"], status.to_string(), "{}", r.text);
    assert_eq!(error["type"], kind, "{}", r.text);
    assert!(
        error["message"].as_str().unwrap().contains(message_part),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn generate_shows_the_raw_key_once_and_info_and_list_never() {
    let s = server().await;
    let api = Api::new(&s, Some(MASTER));
    let created = api
        .post(
            "/key/generate",
            &json!({"key_alias": "tenant/acme", "models": ["gpt-4o"], "max_budget": 10.5,
                    "budget_duration": "30d", "duration": "1h", "metadata": {"team": "core"},
                    "spend": 2.25, "some_future_field": true}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let raw = created.body["key"].as_str().unwrap().to_owned();
    let token = hash_token(&raw);
    assert!(raw.starts_with("sk-") && raw.len() == 25, "{raw}");
    assert_eq!(created.body["token"], token.as_str());
    assert_eq!(created.body["token_id"], token.as_str());
    assert_eq!(created.body["key_name"], format!("sk-...{}", &raw[21..]));
    assert_eq!(created.body["key_alias"], "tenant/acme");
    assert_eq!(created.body["models"], json!(["gpt-4o"]));
    assert_eq!(created.body["max_budget"], 10.5);
    assert_eq!(created.body["metadata"], json!({"team": "core"}));
    assert!(created.body["expires"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    assert_eq!(s.key_count(), 1);

    for path in [
        format!("/key/info?key={raw}"),
        format!("/key/info?key={token}"),
    ] {
        let info = api.get(&path).await;
        assert_eq!(info.status, 200, "{}", info.text);
        assert_eq!(info.body["info"]["key_alias"], "tenant/acme");
        assert_eq!(info.body["info"]["spend"], 2.25);
        assert_eq!(info.body["info"]["budget_duration"], "30d");
        assert!(info.body["info"].get("token").is_none(), "{}", info.text);
        assert!(!info.body["info"].to_string().contains(&raw));
    }

    let list = api.get("/key/list?key_alias=tenant%2Facme").await;
    assert_eq!(
        list.body,
        json!({"keys": [token], "total_count": 1, "current_page": 1, "total_pages": 1})
    );
    let full = api
        .get("/key/list?key_alias=tenant/acme&return_full_object=true")
        .await;
    assert_eq!(full.body["keys"][0]["token"], token.as_str());
    assert_eq!(full.body["keys"][0]["key_name"], created.body["key_name"]);
    assert!(!full.text.contains(&raw));
    let none = api.get("/key/list?key_alias=tenant%2Fother").await;
    assert_eq!(none.body["keys"], json!([]));
    assert_eq!(none.body["total_pages"], 0);
}

#[tokio::test]
async fn aliases_are_unique_unless_simulating_an_older_litellm() {
    let s = server().await;
    let api = Api::new(&s, Some(MASTER));
    assert_eq!(
        api.post("/key/generate", &json!({"key_alias": "a"}))
            .await
            .status,
        200
    );
    let dup = api.post("/key/generate", &json!({"key_alias": "a"})).await;
    assert_proxy_error(
        &dup,
        400,
        "bad_request_error",
        "Key with alias 'a' already exists",
    );
    assert_eq!(dup.body["error"]["param"], "key_alias");
    s.set_unique_aliases(false);
    assert_eq!(
        api.post("/key/generate", &json!({"key_alias": "a"}))
            .await
            .status,
        200
    );
    assert_eq!(
        api.get("/key/list?key_alias=a").await.body["total_count"],
        2
    );
}

#[tokio::test]
async fn generate_validates_like_litellm() {
    let s = server().await;
    let api = Api::new(&s, Some(MASTER));
    let r = api
        .post("/key/generate", &json!({"models": "gpt-4o"}))
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "models"]));
    assert_eq!(r.body["detail"][0]["type"], "list_type");
    let r = api
        .post("/key/generate", &json!({"max_budget": "lots"}))
        .await;
    assert_eq!(r.status, 422);
    let r = api
        .post("/key/generate", &json!(["not", "an", "object"]))
        .await;
    assert_eq!(r.status, 422);
    let r = api
        .post("/key/generate", &json!({"key": "pk-mine-1234567"}))
        .await;
    assert_proxy_error(&r, 400, "internal_server_error", "must start with 'sk-'");
    assert!(!r.text.contains("pk-mine-1234567"), "masked: {}", r.text);
    let r = api
        .post("/key/generate", &json!({"duration": "soon"}))
        .await;
    assert_proxy_error(&r, 500, "internal_server_error", "Invalid duration format");
    // A key of one's own choosing, and numeric strings for numbers (pydantic is lax).
    let r = api
        .post(
            "/key/generate",
            &json!({"key": "sk-my-own-key", "max_budget": "5"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["key"], "sk-my-own-key");
    assert_eq!(r.body["max_budget"], 5.0);
    assert_eq!(s.key_count(), 1);
}

#[tokio::test]
async fn list_pages_sorts_and_validates_its_parameters() {
    let s = server().await;
    let api = Api::new(&s, Some(MASTER));
    for i in 0..5 {
        let r = api
            .post(
                "/key/generate",
                &json!({"key_alias": format!("k{i}"), "spend": i}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let page = api.get("/key/list?size=2&page=3").await;
    assert_eq!(page.body["keys"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["total_count"], 5);
    assert_eq!(page.body["total_pages"], 3);
    assert_eq!(page.body["current_page"], 3);
    let sorted = api
        .get("/key/list?sort_by=spend&sort_order=asc&return_full_object=1&size=5")
        .await;
    let aliases: Vec<&str> = sorted.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_alias"].as_str().unwrap())
        .collect();
    assert_eq!(aliases, ["k0", "k1", "k2", "k3", "k4"]);

    for (query, loc) in [
        ("size=101", "size"),
        ("size=0", "size"),
        ("page=0", "page"),
        ("page=x", "page"),
    ] {
        let r = api.get(&format!("/key/list?{query}")).await;
        assert_eq!(r.status, 422, "{query}: {}", r.text);
        assert_eq!(r.body["detail"][0]["loc"], json!(["query", loc]));
    }
    let r = api.get("/key/list?return_full_object=perhaps").await;
    assert_eq!(r.status, 422);
    let r = api.get("/key/list?sort_by=secret").await;
    assert_proxy_error(&r, 400, "internal_server_error", "Invalid sort column");
}

#[tokio::test]
async fn delete_by_token_raw_key_or_alias_and_404_when_nothing_matched() {
    let s = server().await;
    let api = Api::new(&s, Some(MASTER));
    let mut raws = Vec::new();
    for alias in ["x", "y", "z"] {
        let r = api
            .post("/key/generate", &json!({"key_alias": alias}))
            .await;
        raws.push(r.body["key"].as_str().unwrap().to_owned());
    }
    let by_token = api
        .post("/key/delete", &json!({"keys": [hash_token(&raws[0])]}))
        .await;
    assert_eq!(by_token.status, 200, "{}", by_token.text);
    assert_eq!(by_token.body["deleted_keys"], json!([hash_token(&raws[0])]));
    let by_raw = api.post("/key/delete", &json!({"keys": [raws[1]]})).await;
    assert_eq!(by_raw.status, 200);
    let by_alias = api
        .post("/key/delete", &json!({"key_aliases": ["z"]}))
        .await;
    assert_eq!(by_alias.body, json!({"deleted_keys": ["z"]}));
    assert_eq!(s.key_count(), 0);

    let again = api.post("/key/delete", &json!({"keys": [raws[1]]})).await;
    assert_eq!(
        again.body,
        json!({"error": {"message": "{'error': 'No keys found'}", "type": "internal_server_error",
                         "param": "None", "code": "404"}})
    );
    assert_eq!(again.status, 404);
    let info = api.get(&format!("/key/info?key={}", raws[1])).await;
    assert_proxy_error(&info, 404, "not_found_error", "Key not found in database");
    assert_eq!(info.body["error"]["param"], "key");
    let neither = api.post("/key/delete", &json!({})).await;
    assert_eq!(neither.status, 422);
}

#[tokio::test]
async fn only_the_master_key_administers_and_refusals_are_litellms() {
    let s = server().await;
    let admin = Api::new(&s, Some(MASTER));
    let virtual_key = admin.post("/key/generate", &json!({})).await.body["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let none = Api::new(&s, None).get("/key/list").await;
    assert_proxy_error(&none, 401, "auth_error", "No api key passed in.");
    let wrong = Api::new(&s, Some("sk-wrong-master-9xyz"))
        .get("/key/list")
        .await;
    assert_proxy_error(
        &wrong,
        401,
        "auth_error",
        "Invalid proxy server token passed",
    );
    // Like LiteLLM, it shows the end of what it was given.
    assert!(wrong.text.contains("sk-...9xyz"), "{}", wrong.text);
    let odd = Api::new(&s, Some("not-a-litellm-key"))
        .get("/key/list")
        .await;
    assert_proxy_error(&odd, 401, "auth_error", "LiteLLM Virtual Key expected");
    let user = Api::new(&s, Some(&virtual_key))
        .post("/key/generate", &json!({}))
        .await;
    assert_proxy_error(&user, 401, "auth_error", "Only proxy admin");
    assert_eq!(s.key_count(), 1);

    // Health checks need no key; unknown routes are FastAPI's 404 and 405.
    let open = Api::new(&s, None);
    let alive = open.get("/health/liveliness").await;
    assert_eq!(
        (alive.status, alive.body.clone()),
        (200, json!("I'm alive!"))
    );
    assert_eq!(open.get("/nope").await.body, json!({"detail": "Not Found"}));
    let r = admin.get("/key/generate").await;
    assert_eq!(
        (r.status, r.body),
        (405, json!({"detail": "Method Not Allowed"}))
    );
}

#[tokio::test]
async fn faults_fire_as_configured_and_the_log_records_requests() {
    let s = server().await;
    let api = Api::new(&s, Some(MASTER));
    let id = s.inject(Fault::status("GET", "key_alias=a", 503).times(1));
    assert_proxy_error(
        &api.get("/key/list?key_alias=a").await,
        503,
        "internal_server_error",
        "injected",
    );
    assert_eq!(api.get("/key/list?key_alias=a").await.status, 200);
    assert_eq!(api.get("/key/list?key_alias=b").await.status, 200);
    assert_eq!(s.faults()[0].hits, 1);
    assert!(s.remove_fault(id));

    s.inject(Fault::drop_connection("*", "/key/info"));
    assert!(api.try_send("GET", "/key/info?key=x", None).await.is_err());
    s.clear_faults();

    s.inject(Fault::after_apply("POST", "/key/generate", 500).times(1));
    assert_eq!(api.post("/key/generate", &json!({})).await.status, 500);
    assert_eq!(s.key_count(), 1, "applied despite the error");

    s.inject(Fault::delay("GET", "/key/list", Duration::from_millis(300)).times(1));
    let started = std::time::Instant::now();
    assert_eq!(api.get("/key/list").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let log = s.requests();
    let statuses: Vec<_> = log
        .iter()
        .map(|r| (r.path.as_str(), r.status, r.fault.as_deref()))
        .collect();
    assert_eq!(statuses[0], ("/key/list", Some(503), Some("status")));
    assert!(statuses.contains(&("/key/info", None, Some("drop"))));
    assert_eq!(log[0].query.as_deref(), Some("key_alias=a"));

    // The same over HTTP, without a key.
    let open = Api::new(&s, None);
    let rule = open
        .post(
            "/_standin/faults",
            &json!({"method": "POST", "pathContains": "/key/delete", "kind": "status", "status": 500}),
        )
        .await;
    assert_eq!(rule.status, 201, "{}", rule.text);
    assert_eq!(
        api.post("/key/delete", &json!({"keys": ["x"]}))
            .await
            .status,
        500
    );
    let listed = open.get("/_standin/faults").await;
    assert_eq!(listed.body[0]["hits"], 1);
    let bad = open
        .post(
            "/_standin/faults",
            &json!({"kind": "status", "status": 200}),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        open.send(
            "DELETE",
            &format!("/_standin/faults/{}", rule.body["id"]),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        open.send("DELETE", "/_standin/faults/999", None)
            .await
            .status,
        404
    );
    assert!(
        open.get("/_standin/requests")
            .await
            .body
            .as_array()
            .unwrap()
            .len()
            >= 5
    );
    assert_eq!(
        open.send("DELETE", "/_standin/requests", None).await.status,
        204
    );
    assert!(s.requests().is_empty(), "admin calls are not logged");
    s.shutdown().await;
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves() {
    let bin = env!("CARGO_BIN_EXE_cp-litellm-standin");
    let mut child = tokio::process::Command::new(bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--master-key",
            MASTER,
            "--exit-on-stdin-eof",
            "--quiet",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let api = Api {
        client: TestClient::new(url),
        key: Some(MASTER.into()),
    };
    assert_eq!(api.post("/key/generate", &json!({})).await.status, 200);
    // Closing stdin stops it.
    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());

    let refused = std::process::Command::new(bin)
        .args(["--listen", "127.0.0.1:0", "--master-key", "no-prefix"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("sk-"));
}
