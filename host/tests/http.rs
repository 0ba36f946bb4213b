//! The host over real HTTP: routing and Spin headers, variables, outbound HTTP, guest traps.

#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use common::{TestApp, TestComponent};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

fn echo_app() -> TestApp {
    TestApp::default()
        .component(TestComponent::new("exact", &["/one"]))
        .component(TestComponent::new("prefix", &["/one/..."]))
        .component(TestComponent::new("deeper", &["/one/two/..."]))
        .component(TestComponent::new("items", &["/items/:item_id/..."]))
}

#[tokio::test]
async fn spin_headers_reach_the_component() {
    let app = echo_app().start().await;
    let addr = app.addr();

    let reply = app.get("/one/two/three/?x=1&y=2").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let echo = reply.json();
    let h = &echo["headers"];
    assert_eq!(
        h["spin-full-url"],
        format!("http://{addr}/one/two/three/?x=1&y=2")
    );
    assert_eq!(h["spin-path-info"], "/three/");
    assert_eq!(h["spin-matched-route"], "/one/two/...");
    assert_eq!(h["spin-raw-component-route"], "/one/two/...");
    assert_eq!(h["spin-component-route"], "/one/two");
    assert_eq!(h["spin-base-path"], "/");
    let client: SocketAddr = h["spin-client-addr"].as_str().unwrap().parse().unwrap();
    assert_eq!(client.ip(), addr.ip());
    assert_eq!(echo["path"], "/one/two/three/");
    assert_eq!(echo["query"], "x=1&y=2");
    assert_eq!(echo["uri"], format!("http://{addr}/one/two/three/?x=1&y=2"));

    let echo = app.get("/items/42/reviews").await.json();
    assert_eq!(echo["headers"]["spin-path-match-item-id"], "42");
    assert_eq!(echo["headers"]["spin-path-info"], "/reviews");
    assert_eq!(echo["headers"]["spin-component-route"], "/items/:item_id");

    let echo = app.post("/one?op=echo", "payload").await.json();
    assert_eq!(echo["method"], "Method::Post");
    assert_eq!(echo["body"], "payload");
    assert_eq!(echo["headers"]["spin-path-info"], "");
}

#[tokio::test]
async fn exact_routes_win_then_the_longest_prefix() {
    let app = echo_app().start().await;
    let route = |reply: common::Reply| reply.json()["headers"]["spin-raw-component-route"].clone();
    assert_eq!(route(app.get("/one").await), "/one");
    assert_eq!(route(app.get("/one/x").await), "/one/...");
    assert_eq!(route(app.get("/one/two").await), "/one/two/...");
    assert_eq!(route(app.get("/one/two/x/y").await), "/one/two/...");
}

#[tokio::test]
async fn unrouted_paths_get_a_bare_404_and_health_answers() {
    let app = echo_app().start().await;
    let reply = app.get("/nowhere").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.body, "");
    let reply = app.get("/.well-known/spin/health").await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "OK"));
}

#[tokio::test]
async fn a_trapping_guest_gets_a_500_and_the_host_keeps_serving() {
    let app = echo_app().start().await;
    for _ in 0..3 {
        let reply = app.get("/one?op=trap").await;
        assert_eq!(reply.status, 500);
        assert!(
            reply.body.contains("Internal Server Error"),
            "{}",
            reply.body
        );
        let reply = app.get("/one").await;
        assert_eq!(reply.status, 200);
    }
}

#[tokio::test]
async fn component_variables_resolve_from_overrides_and_defaults() {
    let mut app = TestApp::default()
        .app_variable("greeting", "{ default = \"hello\" }")
        .app_variable("token", "{ required = true, secret = true }")
        .component(
            TestComponent::new("vars", &["/..."])
                .variable("message", "{{ greeting }}, world")
                .variable("token", "{{ token }}"),
        );
    app.overrides.insert("token".into(), "s3cret".into());
    let app = app.start().await;

    assert_eq!(
        app.get("/?op=var&name=message").await.json()["value"],
        "hello, world"
    );
    assert_eq!(
        app.get("/?op=var&name=token").await.json()["value"],
        "s3cret"
    );

    let undefined = app.get("/?op=var&name=greeting").await.json();
    assert!(
        undefined["error"]
            .as_str()
            .unwrap()
            .starts_with("Error::Undefined"),
        "{undefined}"
    );
    let invalid = app.get("/?op=var&name=Bad-Name").await.json();
    assert!(
        invalid["error"]
            .as_str()
            .unwrap()
            .starts_with("Error::InvalidName"),
        "{invalid}"
    );
}

#[tokio::test]
async fn startup_fails_clearly_on_a_missing_required_variable() {
    let app = TestApp::default()
        .app_variable("required_but_unset_in_this_test", "{ required = true }")
        .component(TestComponent::new("c", &["/..."]));
    let err = cp_host::Server::start(app.config()).await.err().unwrap();
    assert!(
        format!("{err:#}").contains("SPIN_VARIABLE_REQUIRED_BUT_UNSET_IN_THIS_TEST"),
        "{err:#}"
    );
}

#[tokio::test]
async fn startup_fails_clearly_on_an_unknown_trigger_component() {
    let app = TestApp::default().component(TestComponent::new("c", &["/..."]));
    let config = app.config();
    let text = std::fs::read_to_string(&config.manifest).unwrap()
        + "[[trigger.http]]\nroute = \"/ghost\"\ncomponent = \"ghost\"\n";
    std::fs::write(&config.manifest, text).unwrap();
    let err = cp_host::Server::start(config).await.err().unwrap();
    assert!(format!("{err:#}").contains("\"ghost\""), "{err:#}");
}

/// A loopback HTTP server answering every request with `upstream says hi`.
async fn upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"upstream says hi",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn outbound_http_is_limited_to_allowed_hosts() {
    let upstream = upstream().await;
    let app = TestApp::default()
        .component(
            TestComponent::new("allowed", &["/allowed/..."])
                .allow(&format!("http://127.0.0.1:{}", upstream.port())),
        )
        .component(TestComponent::new("wildcard", &["/wildcard/..."]).allow("http://127.0.0.1:*"))
        .component(TestComponent::new("other-port", &["/other/..."]).allow("http://127.0.0.1:1"))
        .component(TestComponent::new("none", &["/none/..."]))
        .start()
        .await;
    let url = format!("http://127.0.0.1:{}/hello", upstream.port());

    for prefix in ["/allowed", "/wildcard"] {
        let reply = app
            .get(&format!("{prefix}/?op=http&url={url}"))
            .await
            .json();
        assert_eq!(reply["status"], 200, "{prefix}: {reply}");
        assert_eq!(reply["body"], "upstream says hi");
    }
    for prefix in ["/other", "/none"] {
        let reply = app
            .get(&format!("{prefix}/?op=http&url={url}"))
            .await
            .json();
        let error = reply["error"].as_str().unwrap_or_default();
        assert!(error.contains("HttpRequestDenied"), "{prefix}: {reply}");
    }
}
