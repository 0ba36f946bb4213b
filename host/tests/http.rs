//! The host over real HTTP: routing and Spin headers, variables, outbound HTTP, guest traps,
//! and the answers Spin gives to odd requests (bad headers, no Host, HTTP/2, well-known).

#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{TestApp, TestComponent};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};

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
    // Spin sends no content type here.
    assert!(reply.headers.get("content-type").is_none());
    assert_eq!(app.get("/.well-known/spin/other").await.status, 404);
}

#[tokio::test]
async fn well_known_info_names_the_app_and_its_version() {
    let app = echo_app().start().await;
    let reply = app.get("/.well-known/spin/info").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(
        reply.json(),
        serde_json::json!({"name": "probe-test", "version": "1.2.3"})
    );
}

#[tokio::test]
async fn a_trapping_guest_gets_a_bare_500_and_the_host_keeps_serving() {
    let app = echo_app().start().await;
    for _ in 0..3 {
        let reply = app.get("/one?op=trap").await;
        // Spin's answer to a component failure: 500, empty, no content type.
        assert_eq!(reply.status, 500);
        assert_eq!(reply.body, "");
        assert!(reply.headers.get("content-type").is_none());
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

#[tokio::test]
async fn a_header_value_that_is_not_utf8_gets_a_bare_500() {
    let app = echo_app().start().await;
    let reply = common::raw_exchange(
        app.addr(),
        b"GET /one HTTP/1.1\r\nHost: test\r\nX-Bytes: caf\xe9\r\nConnection: close\r\n\r\n",
        false,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(reply.status(), Some(500), "{}", reply.text());
    assert_eq!(reply.body(), "");
    assert!(reply.header("content-type").is_none(), "{}", reply.text());

    // UTF-8 beyond ASCII is fine.
    let reply = common::raw_exchange(
        app.addr(),
        "GET /one HTTP/1.1\r\nHost: test\r\nX-Text: caf\u{e9}\r\nConnection: close\r\n\r\n"
            .as_bytes(),
        false,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
}

#[tokio::test]
async fn a_request_without_a_usable_host_is_refused_by_closing_the_connection() {
    let app = echo_app().start().await;
    for (what, request) in [
        ("HTTP/1.0 without Host", &b"GET /one HTTP/1.0\r\n\r\n"[..]),
        (
            "a Host that is not an authority",
            &b"GET /one HTTP/1.1\r\nHost: not a host\r\n\r\n"[..],
        ),
        (
            "a Host with a path",
            &b"GET /one HTTP/1.1\r\nHost: example.com/x\r\n\r\n"[..],
        ),
        (
            "a Host that is not UTF-8",
            &b"GET /one HTTP/1.1\r\nHost: caf\xe9\r\n\r\n"[..],
        ),
        (
            "a Host that differs from the absolute target",
            &b"GET http://a.example/one HTTP/1.1\r\nHost: b.example\r\n\r\n"[..],
        ),
    ] {
        let reply = common::raw_exchange(app.addr(), request, false, Duration::from_secs(10)).await;
        assert!(reply.closed, "{what}: the connection stayed open");
        assert!(reply.bytes.is_empty(), "{what}: answered {}", reply.text());
    }

    // HTTP/1.0 with a Host, and an absolute target without one, are served.
    for request in [
        &b"GET /one HTTP/1.0\r\nHost: test\r\n\r\n"[..],
        &b"GET http://a.example/one HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
    ] {
        let reply = common::raw_exchange(app.addr(), request, false, Duration::from_secs(10)).await;
        assert_eq!(reply.status(), Some(200), "{}", reply.text());
    }
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served() {
    let app = echo_app().start().await;
    let addr = app.addr();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    for _ in 0..2 {
        let request = http::Request::builder()
            .uri(format!("http://{addr}/one/two/x?q=1"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            echo["headers"]["spin-full-url"],
            format!("http://{addr}/one/two/x?q=1")
        );
        assert_eq!(echo["headers"]["spin-path-info"], "/x");
    }
}
