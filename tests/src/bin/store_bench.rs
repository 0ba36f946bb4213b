//! `make bench`: what cp-store's Spin-compatibility costs per query. The statement
//! wrapper (`cp_store::sentinel`) makes every query yield a row so Spin 4.0.0–4.0.2 answer
//! it, and `cp_store::SESSION_START` ends a stale transaction on every connection a
//! component opens. Each case runs as a batch of statements in one request to the probe
//! component on cp-host (the same host path the product's queries take), plain and wrapped,
//! alternating, and again natively over tokio-postgres to show the database's share.
//! Prints medians per statement; asserts nothing about speed.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cp_tests::{bench, call, db_host_of, send_to, workspace};
use serde_json::{json, Value};

/// Statements per request (and per native batch).
const BATCH: usize = 50;
/// Timed batches per case and variant.
const ROUNDS: usize = 30;

struct Case {
    name: &'static str,
    sql: &'static str,
}

const CASES: [Case; 5] = [
    Case {
        name: "point SELECT, 1 row",
        sql: "SELECT id, name FROM bench_items WHERE id = 42",
    },
    Case {
        name: "point SELECT, no row",
        sql: "SELECT id, name FROM bench_items WHERE id = -1",
    },
    Case {
        name: "range SELECT, 100 rows",
        sql: "SELECT id, name FROM bench_items WHERE id <= 100 ORDER BY id",
    },
    Case {
        name: "INSERT ... RETURNING",
        sql: "INSERT INTO bench_log (note) VALUES ('x') RETURNING id",
    },
    Case {
        name: "WITH (DELETE) ... RETURNING",
        sql: "WITH gone AS (DELETE FROM bench_log WHERE id = -1 RETURNING id) \
              SELECT count(*) AS n FROM gone",
    },
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await
}

async fn run() -> anyhow::Result<()> {
    let (admin, db_url) = bench::database("cp_store_bench").await?;
    let native = cp_migrate::connect(&db_url).await?;
    native
        .batch_execute(
            "CREATE TABLE bench_items (id int4 PRIMARY KEY, name text NOT NULL);
             INSERT INTO bench_items SELECT g, 'item-' || g FROM generate_series(1, 1000) g;
             CREATE TABLE bench_log (id int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);
             ANALYZE bench_items;",
        )
        .await?;

    let probe = workspace().join("target/wasm32-wasip2/wasm/cp_host_probe.wasm");
    anyhow::ensure!(
        probe.is_file(),
        "{} is missing: run `make components`",
        probe.display()
    );
    let dir = std::env::temp_dir().join(format!("cp-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"store-bench\"\n\
             [[trigger.http]]\nroute = \"/db/...\"\ncomponent = \"db\"\n\
             [component.db]\nsource = {:?}\nallowed_outbound_hosts = [\"postgres://{}\"]\n\
             [component.db.variables]\ndb_url = {:?}\n",
            probe.display().to_string(),
            db_host_of(&admin),
            db_url
        ),
    )?;
    let port = cp_tests::free_port();
    let _host = bench::host_command(&manifest, port)
        // Plain queries matching no rows answer as Spin 3.x does, so both variants run.
        .env("CP_HOST_PG_EMPTY_RESULT", "empty")
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    // The harness's HTTP client panics on a refused connection: wait for the port first.
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "cp-host did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    send_steps(&url, &[]).await?;

    println!(
        "cp-store's Spin compatibility, per statement (median of {ROUNDS} batches of {BATCH})"
    );
    println!(
        "{:<30} {:>12} {:>12} {:>9}   {:>12} {:>12} {:>9}",
        "", "host plain", "host wrapped", "+", "native plain", "wrapped", "+"
    );
    for case in &CASES {
        let wrapped = cp_store::sentinel::wrap(case.sql)
            .ok_or_else(|| anyhow::anyhow!("not wrappable: {}", case.sql))?;
        let (mut host_plain, mut host_wrapped) = (Vec::new(), Vec::new());
        let (mut native_plain, mut native_wrapped) = (Vec::new(), Vec::new());
        for round in 0..=ROUNDS {
            let plain = host_batch(&url, case.sql).await?;
            let wrap = host_batch(&url, &wrapped).await?;
            let native_p = native_batch(&native, case.sql).await?;
            let native_w = native_batch(&native, &wrapped).await?;
            // The first round warms caches and the pool.
            if round > 0 {
                host_plain.push(plain);
                host_wrapped.push(wrap);
                native_plain.push(native_p);
                native_wrapped.push(native_w);
            }
        }
        let (hp, hw) = (median(host_plain), median(host_wrapped));
        let (np, nw) = (median(native_plain), median(native_wrapped));
        println!(
            "{:<30} {:>9.1} µs {:>9.1} µs {:>+6.1} µs   {:>9.1} µs {:>9.1} µs {:>+6.1} µs",
            case.name,
            hp,
            hw,
            hw - hp,
            np,
            nw,
            nw - np
        );
    }

    // SESSION_START: one statement per connection a component opens.
    let mut with_start = Vec::new();
    let mut without = Vec::new();
    for round in 0..=ROUNDS {
        let t = Instant::now();
        send_steps(&url, &[step("query", CASES[0].sql)]).await?;
        let plain = t.elapsed();
        let t = Instant::now();
        send_steps(
            &url,
            &[
                step("execute", cp_store::SESSION_START),
                step("query", CASES[0].sql),
            ],
        )
        .await?;
        let started = t.elapsed();
        if round > 0 {
            without.push(plain.as_secs_f64() * 1e6);
            with_start.push(started.as_secs_f64() * 1e6);
        }
    }
    let (a, b) = (median(without), median(with_start));
    println!(
        "SESSION_START (`{}`) per request: {a:.1} µs -> {b:.1} µs ({:+.1} µs)",
        cp_store::SESSION_START,
        b - a
    );
    Ok(())
}

fn step(kind: &str, sql: &str) -> Value {
    json!({ "kind": kind, "sql": sql, "params": [] })
}

/// One probe request running `steps` on one pooled connection; fails on any step error.
async fn send_steps(url: &str, steps: &[Value]) -> anyhow::Result<()> {
    let body = json!({ "steps": steps });
    let resp = tokio::time::timeout(
        Duration::from_secs(30),
        send_to(url, call("POST", "/db?op=pg").json(&body)),
    )
    .await?;
    anyhow::ensure!(resp.status == 200, "status {}", resp.status);
    let reply = resp.json();
    anyhow::ensure!(reply.get("open_error").is_none(), "{reply}");
    if let Some(results) = reply["results"].as_array() {
        if let Some(failed) = results.iter().find(|r| r.get("error").is_some()) {
            anyhow::bail!("{failed}");
        }
    }
    Ok(())
}

/// Microseconds per statement of a batch through the host.
async fn host_batch(url: &str, sql: &str) -> anyhow::Result<f64> {
    let steps: Vec<Value> = (0..BATCH).map(|_| step("query", sql)).collect();
    let t = Instant::now();
    send_steps(url, &steps).await?;
    Ok(t.elapsed().as_secs_f64() * 1e6 / BATCH as f64)
}

/// Microseconds per statement of a batch over tokio-postgres.
async fn native_batch(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    for _ in 0..BATCH {
        client.query(sql, &[]).await?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / BATCH as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
