//! `make bench`: the tenants routes through the Wasm host versus the same
//! handler code served natively, against the same PostgreSQL and Kubernetes
//! stand-in, on loopback with concurrency. Prints requests/s, p50 and p99
//! for both and their ratio, the component sizes, and the host's
//! per-request instantiation time. A benchmark, not a test: it asserts
//! nothing about speed.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cp_http::{ApiRequest, Method};
use cp_platform::native::{HyperTransport, NativePlatform};
use cp_tests::bench::{self, Figures, ProductHost};
use cp_tests::{workspace, KUBE_TOKEN, NAMESPACE, OPERATOR_TOKEN};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

const SEED_TENANTS: usize = 300;
const GET_REQUESTS: usize = 6000;
const POST_REQUESTS: usize = 600;
const CONCURRENCY: usize = 16;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await
}

async fn run() -> anyhow::Result<()> {
    let (admin, db_url) = bench::database("cp_bench").await?;
    // The Wasm host, as a child process serving spin.toml.
    let host = ProductHost::start(&admin, &db_url).await?;

    let vars: HashMap<String, String> = [
        ("api_token", OPERATOR_TOKEN.to_owned()),
        ("db_url", db_url.clone()),
        ("kube_url", host.kube.url()),
        ("kube_token", KUBE_TOKEN.to_owned()),
        ("kube_namespace", NAMESPACE.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let wasm_url = host.url.clone();
    wait_ready(&wasm_url).await?;

    // The same route group, natively.
    let native_addr = start_native(vars)?;
    let native_url = format!("http://{native_addr}");
    wait_ready(&native_url).await?;

    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http();
    println!("seeding {SEED_TENANTS} tenants ...");
    let names: Arc<Vec<String>> =
        Arc::new((0..SEED_TENANTS).map(|i| format!("seed-{i}")).collect());
    let seeded = load(&client, &wasm_url, SEED_TENANTS, 8, {
        let names = names.clone();
        move |i| post_tenant(&names[i])
    })
    .await;
    anyhow::ensure!(
        seeded.errors == 0,
        "seeding failed ({} errors)",
        seeded.errors
    );

    let mut table = Vec::new();
    for (label, url) in [("wasm (host)", &wasm_url), ("native", &native_url)] {
        // Warm up pools and caches.
        load(&client, url, 200, CONCURRENCY, get_tenant(names.clone())).await;
        let get = load(
            &client,
            url,
            GET_REQUESTS,
            CONCURRENCY,
            get_tenant(names.clone()),
        )
        .await;
        let prefix = format!("bench-{}", label.split(' ').next().unwrap_or(label));
        let post = load(&client, url, POST_REQUESTS, CONCURRENCY / 2, move |i| {
            post_tenant(&format!("{prefix}-{i}"))
        })
        .await;
        table.push((label, get, post));
    }

    println!();
    println!("tenants routes, {CONCURRENCY} concurrent clients on loopback, {SEED_TENANTS} tenants in the table");
    println!(
        "{:<14} {:<28} {:>10} {:>10} {:>10} {:>7}",
        "server", "route", "req/s", "p50", "p99", "errors"
    );
    for (label, get, post) in &table {
        for (route, f) in [
            ("GET /api/v1/tenants/{name}", get),
            ("POST /api/v1/tenants", post),
        ] {
            println!(
                "{label:<14} {route:<28} {:>10.0} {:>8.2}ms {:>8.2}ms {:>7}",
                f.rate,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3,
                f.errors
            );
        }
    }
    let (_, wget, wpost) = &table[0];
    let (_, nget, npost) = &table[1];
    println!();
    println!(
        "wasm/native throughput ratio: GET {:.2}, POST {:.2} (1.00 = no overhead)",
        wget.rate / nget.rate,
        wpost.rate / npost.rate
    );
    println!(
        "wasm/native p50 latency ratio: GET {:.2}, POST {:.2}",
        wget.p50.as_secs_f64() / nget.p50.as_secs_f64(),
        wpost.p50.as_secs_f64() / npost.p50.as_secs_f64()
    );

    println!();
    println!("component sizes:");
    for c in ["cp_fn_meta", "cp_fn_tenants"] {
        let path = workspace().join(format!("target/wasm32-wasip2/wasm/{c}.wasm"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!("  {c}.wasm  {:>8.1} KiB", size as f64 / 1024.0);
    }
    println!();
    let out = Command::new(bench::host_bin())
        .args(["instantiate-bench", "--manifest"])
        .arg(workspace().join("spin.toml"))
        .env("SPIN_VARIABLE_API_TOKEN", OPERATOR_TOKEN)
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));

    host.stop().await;
    Ok(())
}

type Job = (&'static str, String, Option<Vec<u8>>);

fn get_tenant(names: Arc<Vec<String>>) -> impl Fn(usize) -> Job + Clone {
    move |i| {
        let n = &names[(i * 7919) % names.len()];
        ("GET", format!("/api/v1/tenants/{n}"), None)
    }
}

fn post_tenant(name: &str) -> Job {
    let body = serde_json::json!({ "name": name, "email": format!("{name}@bench.io") });
    (
        "POST",
        "/api/v1/tenants".into(),
        Some(serde_json::to_vec(&body).unwrap_or_default()),
    )
}

async fn load<F>(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    base: &str,
    total: usize,
    concurrency: usize,
    job: F,
) -> Figures
where
    F: Fn(usize) -> Job + Clone + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let next = next.clone();
        let job = job.clone();
        let base = base.to_owned();
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let (method, path, body) = job(i);
                let req = bench::operator_request(method, &format!("{base}{path}"), body).unwrap();
                let t = Instant::now();
                match client.request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        lat.push(t.elapsed());
                        if !ok {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (lat, e) = w.await.unwrap();
        all.extend(lat);
        errors += e;
    }
    Figures::of(all, started.elapsed(), errors)
}

async fn wait_ready(url: &str) -> anyhow::Result<()> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    for _ in 0..600 {
        let req = hyper::Request::get(format!("{url}/api/v1/tenants?limit=1"))
            .header("authorization", format!("Bearer {OPERATOR_TOKEN}"))
            .body(Full::new(Bytes::new()))?;
        if let Ok(r) = client.request(req).await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{url} did not become ready")
}

/// Serves the tenants group natively on two threads (one per core), each a
/// single-threaded runtime with its own small connection pool: the handler
/// futures are not `Send`, exactly as in a component.
fn start_native(vars: HashMap<String, String>) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let vars = Arc::new(vars);
    for _ in 0..2 {
        let listener = listener.try_clone()?;
        let vars = vars.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let db_url = vars.get("db_url").cloned().unwrap_or_default();
                let mut pool = Vec::new();
                for _ in 0..8 {
                    pool.push(cp_migrate::connect(&db_url).await.unwrap());
                }
                let pool = Rc::new(std::cell::RefCell::new(pool));
                let transport = Rc::new(HyperTransport::default());
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (pool, transport, vars) = (pool.clone(), transport.clone(), vars.clone());
                    tokio::task::spawn_local(async move {
                        let svc =
                            hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                                let (pool, transport, vars) =
                                    (pool.clone(), transport.clone(), vars.clone());
                                async move {
                                    let resp = serve_native(req, &pool, &transport, &vars).await;
                                    Ok::<_, std::convert::Infallible>(resp)
                                }
                            });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
    }
    Ok(addr)
}

async fn serve_native(
    req: hyper::Request<Incoming>,
    pool: &std::cell::RefCell<Vec<tokio_postgres::Client>>,
    transport: &HyperTransport,
    vars: &HashMap<String, String>,
) -> hyper::Response<Full<Bytes>> {
    let method = Method::parse(req.method().as_str());
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers = cp_tests::header_pairs(req.headers());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let api_req = ApiRequest {
        method,
        path,
        query,
        headers,
        body,
    };
    // Wait for a free pooled connection (yielding to the other tasks).
    let client = loop {
        if let Some(c) = pool.borrow_mut().pop() {
            break c;
        }
        tokio::task::yield_now().await;
    };
    let resp = {
        let platform = NativePlatform::new(&client, transport, vars);
        cp_platform::serve::<cp_tenants::Tenants, cp_auth::Credentials, _>(&platform, api_req).await
    };
    pool.borrow_mut().push(client);
    let mut builder = hyper::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        builder = builder.header(k, v);
    }
    builder.body(Full::new(Bytes::from(resp.body))).unwrap()
}
