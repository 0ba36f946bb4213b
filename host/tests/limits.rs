//! Resource limits (issue 12 item 6, item 14): request bodies, read timeouts, the
//! connection cap, guest running time and guest memory.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{raw_exchange, read_until_closed, HostProcess, TestApp, TestComponent};
use tokio::io::AsyncWriteExt;

const MIB: u64 = 1024 * 1024;

fn probe_app() -> TestApp {
    TestApp::default().component(TestComponent::new("probe", &["/..."]))
}

fn post_with_length(path: &str, length: usize, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_answered_413_without_reading_it() {
    let limits = cp_host::Limits {
        max_request_body_bytes: 1024,
        ..Default::default()
    };
    let app = probe_app().start_with(limits).await;

    // Exactly at the limit: the component echoes it.
    let reply = app.post("/?op=echo", &"a".repeat(1024)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["body"].as_str().unwrap().len(), 1024);

    // One byte over, declared up front: 413, bare, and the connection closes.
    let reply = raw_exchange(
        app.addr(),
        &post_with_length("/?op=echo", 1025, &[b'a'; 1025]),
        false,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(reply.status(), Some(413), "{}", reply.text());
    assert_eq!(reply.body(), "");
    assert_eq!(reply.header("connection").as_deref(), Some("close"));
    assert!(reply.closed, "the connection stays open after a 413");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_reaches_a_client_that_is_still_uploading() {
    let limits = cp_host::Limits {
        max_request_body_bytes: 1024,
        ..Default::default()
    };
    let app = probe_app().start_with(limits).await;
    let addr = app.addr();
    // The host answers at once, without reading the body, and closes the connection while
    // the client is still writing: the answer must still reach the client.
    let statuses = tokio::task::spawn_blocking(move || {
        (0..10)
            .map(|_| {
                upload(
                    addr,
                    &post_with_length("/?op=echo", 64 << 20, b""),
                    false,
                    64,
                )
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for status in statuses {
        assert!(status.starts_with("HTTP/1.1 413"), "{status:?}");
    }
}

#[tokio::test]
async fn a_chunked_body_is_cut_off_at_the_limit_with_413() {
    let limits = cp_host::Limits {
        max_request_body_bytes: 1024,
        ..Default::default()
    };
    let app = probe_app().start_with(limits).await;
    let mut request =
        b"POST /?op=echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        request.extend_from_slice(b"200\r\n");
        request.extend_from_slice(&[b'x'; 0x200]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let reply = raw_exchange(app.addr(), &request, false, Duration::from_secs(10)).await;
    assert_eq!(reply.status(), Some(413), "{}", reply.text());
    assert_eq!(reply.body(), "", "the guest's error text leaked");
}

#[tokio::test]
async fn a_truncated_body_gets_a_bare_400_without_internals() {
    let app = probe_app().start().await;
    // Content-Length promises 100 bytes; 10 arrive, then the client half-closes.
    let reply = raw_exchange(
        app.addr(),
        &post_with_length("/?op=echo", 100, b"0123456789"),
        true,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(reply.status(), Some(400), "{}", reply.text());
    assert_eq!(reply.body(), "", "the host's error text leaked");
    assert!(reply.header("content-type").is_none(), "{}", reply.text());
    // The host still serves.
    assert_eq!(app.get("/").await.status, 200);
}

fn short_timeouts() -> cp_host::Limits {
    cp_host::Limits {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_slow_body_is_cut_off_with_408() {
    let app = probe_app().start_with(short_timeouts()).await;
    let start = Instant::now();
    // 1 of 100 body bytes, and the connection stays open.
    let reply = raw_exchange(
        app.addr(),
        &post_with_length("/?op=echo", 100, b"x"),
        false,
        Duration::from_secs(10),
    )
    .await;
    let elapsed = start.elapsed();
    assert_eq!(reply.status(), Some(408), "{}", reply.text());
    assert_eq!(reply.body(), "");
    assert!(reply.closed, "the connection stays open after a 408");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "cut off after {elapsed:?}, the body timeout is 1 s"
    );
}

#[tokio::test]
async fn stalled_headers_and_silent_connections_are_closed() {
    let app = probe_app().start_with(short_timeouts()).await;
    for (what, bytes) in [
        ("half a header", &b"POST /?op=echo HTTP/1.1\r\nHost: te"[..]),
        ("one byte", &b"G"[..]),
        ("nothing", &b""[..]),
    ] {
        let start = Instant::now();
        let reply = raw_exchange(app.addr(), bytes, false, Duration::from_secs(10)).await;
        let elapsed = start.elapsed();
        assert!(reply.closed, "{what}: still open after {elapsed:?}");
        assert!(
            elapsed < Duration::from_secs(5),
            "{what}: closed only after {elapsed:?}, the header timeout is 1 s"
        );
        assert_ne!(reply.status(), Some(200), "{what}: {}", reply.text());
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let limits = cp_host::Limits {
        max_connections: 2,
        ..Default::default()
    };
    let app = probe_app().start_with(limits).await;
    let addr = app.addr();
    let mut idle_a = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _idle_b = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Let the host take both into service.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /?op=echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let waiting = read_until_closed(&mut third, Duration::from_millis(700)).await;
    assert!(
        waiting.bytes.is_empty() && !waiting.closed,
        "a third connection was served beyond the cap of 2: {}",
        waiting.text()
    );

    // Freeing a slot lets it through.
    idle_a.shutdown().await.unwrap();
    drop(idle_a);
    let reply = read_until_closed(&mut third, Duration::from_secs(10)).await;
    assert_eq!(reply.status(), Some(200), "{}", reply.text());
}

#[tokio::test]
async fn an_endless_guest_loop_is_stopped_at_the_deadline_and_others_keep_running() {
    let limits = cp_host::Limits {
        request_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let app = probe_app().start_with(limits).await;
    let addr = app.addr();
    let start = Instant::now();
    let looping = tokio::spawn(async move { common::request(addr, "GET", "/?op=loop", "").await });

    // While the guest spins (this test runs on one thread), other requests are served.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other = Instant::now();
    assert_eq!(app.get("/?op=echo").await.status, 200);
    assert!(
        other.elapsed() < Duration::from_secs(1),
        "a spinning guest held up another request for {:?}",
        other.elapsed()
    );

    let reply = looping.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, "");
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(8),
        "stopped after {elapsed:?}, the request timeout is 2 s"
    );
    assert_eq!(app.get("/?op=echo").await.status, 200);
}

#[tokio::test]
async fn a_guest_allocating_beyond_its_memory_cap_fails_cleanly() {
    let limits = cp_host::Limits {
        max_instance_memory_bytes: 32 * MIB,
        ..Default::default()
    };
    let app = probe_app().start_with(limits).await;
    let reply = app.get("/?op=hog&mib=8").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["pages"], 8 * 256);

    let reply = app.get("/?op=hog&mib=64").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body, "");
    assert!(reply.headers.get("content-type").is_none());

    // Under the default cap (128 MiB) the same request succeeds.
    let roomy = probe_app().start().await;
    assert_eq!(roomy.get("/?op=hog&mib=64").await.status, 200);
    assert_eq!(app.get("/?op=hog&mib=8").await.status, 200);
}

/// Uploads a `mib` MiB body on a blocking socket as fast as the host takes it, reading the
/// answer concurrently; returns the answer's status line.
fn upload(addr: SocketAddr, head: &[u8], chunked: bool, mib: usize) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = stream.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !got.windows(2).any(|w| w == b"\r\n") {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    });
    let _ = stream.write_all(head);
    let chunk = vec![b'x'; MIB as usize];
    for _ in 0..mib {
        let written = if chunked {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| stream.write_all(&chunk))
                .and_then(|()| stream.write_all(b"\r\n"))
        } else {
            stream.write_all(&chunk)
        };
        // The host stops reading and closes the connection once it has answered.
        if written.is_err() {
            break;
        }
    }
    answer.join().unwrap()
}

#[test]
fn a_200_mib_body_keeps_the_host_memory_flat_and_is_answered_413() {
    // Stated bound: the host's resident memory grows by less than 64 MiB while it refuses
    // 200 MiB bodies (the limit is 4 MiB; before the fix one such body cost ~580 MiB).
    const BOUND: u64 = 64 * MIB;
    // With RUST_BACKTRACE=1 as well: resolving a backtrace for an error once cost ~170 MiB.
    let host = HostProcess::start(
        &probe_app(),
        &["--max-request-body", "4MiB"],
        &[("RUST_BACKTRACE", "1")],
    );
    let pid = host.child.id();
    // Warm up (first instantiation, first connection) before taking the baseline.
    for _ in 0..3 {
        let mut s = std::net::TcpStream::connect(host.addr).unwrap();
        s.write_all(b"GET /?op=echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }
    let baseline = HostProcess::rss(pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(HostProcess::rss(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let declared = format!(
        "POST /?op=echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        200 * MIB
    );
    let chunked =
        "POST /?op=echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    let uploads: Vec<_> = [(declared, false), (chunked.to_string(), true)]
        .into_iter()
        .flat_map(|upload| [upload.clone(), upload])
        .map(|(head, is_chunked)| {
            let addr = host.addr;
            std::thread::spawn(move || upload(addr, head.as_bytes(), is_chunked, 200))
        })
        .collect();
    for upload in uploads {
        let status = upload.join().unwrap();
        assert!(status.starts_with("HTTP/1.1 413"), "{status:?}");
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();

    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    eprintln!(
        "host VmRSS: baseline {} MiB, peak growth {:.1} MiB",
        baseline / MIB,
        growth as f64 / MIB as f64
    );
    assert!(
        growth < BOUND,
        "the host's resident memory grew by {} MiB (bound {} MiB)",
        growth / MIB,
        BOUND / MIB
    );
}
