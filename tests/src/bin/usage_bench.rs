//! `make bench`, second part: token usage at volume through the real HTTP
//! route and the Wasm host. Ingests `CP_USAGE_BENCH_RECORDS` records
//! (default 1,000,000) with `POST /api/v1/token-usage` in batches of 1000,
//! a few batches in flight, spread over the last 30 days across ~50
//! tenants, ~10 models and ~200 gateway keys; then times
//! `GET /usage/series` by hour over the month and `GET /costs` over the
//! month (a few runs each, median). A benchmark, not a test: it prints
//! figures and asserts nothing about speed.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use cp_tests::bench::{self, ProductHost};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

const DEFAULT_RECORDS: usize = 1_000_000;
const BATCH: usize = 1000;
const IN_FLIGHT: usize = 4;
const TENANTS: usize = 50;
const MODELS: usize = 10;
const KEYS_PER_TENANT: usize = 4;
const DAYS: i64 = 30;
const READ_RUNS: usize = 5;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    run().await
}

fn records_wanted() -> anyhow::Result<usize> {
    match std::env::var("CP_USAGE_BENCH_RECORDS") {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().parse()?),
        _ => Ok(DEFAULT_RECORDS),
    }
}

async fn run() -> anyhow::Result<()> {
    let total = records_wanted()?;
    let (admin, db_url) = bench::database("cp_usage_bench").await?;
    let host = ProductHost::start(&admin, &db_url).await?;
    let base = host.url.clone();
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(16)
        .build_http();
    wait_ready(&client, &base).await?;

    // Tenants, models (with prices), and gateway key ids per tenant (the
    // operator may report any key id; keys are not needed to authenticate).
    println!("token usage: seeding {TENANTS} tenants, {MODELS} models ...");
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("usage-bench-{i}")).collect();
    for t in &tenants {
        let body = json!({ "name": t, "email": format!("{t}@bench.io"), "monthlyBudgetUsd": 1000 });
        expect_ok(&client, &base, "POST", "/api/v1/tenants", Some(&body)).await?;
    }
    let prices = [
        ("0.15", "0.60"),
        ("2.50", "10.00"),
        ("3.00", "15.00"),
        ("0.075", "0.30"),
        ("1.10", "4.40"),
    ];
    let models: Vec<String> = (0..MODELS).map(|i| format!("bench-model-{i}")).collect();
    for (i, m) in models.iter().enumerate() {
        let (input, output) = prices[i % prices.len()];
        let body = json!({
            "name": m, "provider": "openai", "upstreamModel": m, "contextWindow": 128000,
            "inputPricePerMillion": input, "outputPricePerMillion": output,
        });
        expect_ok(&client, &base, "POST", "/api/v1/models", Some(&body)).await?;
    }
    let keys: Vec<Vec<String>> = (0..TENANTS)
        .map(|_| {
            (0..KEYS_PER_TENANT)
                .map(|_| uuid::Uuid::now_v7().to_string())
                .collect()
        })
        .collect();

    let now = Utc::now();
    let start = now - chrono::Duration::days(DAYS);
    let span = (now - start).num_milliseconds();
    let gen = Arc::new(Generator {
        tenants,
        models,
        keys,
        start,
        span_ms: span,
        total,
    });

    println!(
        "token usage: ingesting {total} records in batches of {BATCH}, {IN_FLIGHT} in flight ..."
    );
    let batches = total.div_ceil(BATCH);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (client, base, gen, next) = (client.clone(), base.clone(), gen.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut accepted = 0i64;
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    break;
                }
                let body = gen.batch(b);
                let t = Instant::now();
                let answer = post_json(&client, &base, "/api/v1/token-usage", body).await?;
                latencies.push(t.elapsed());
                accepted += answer["data"]["accepted"].as_i64().unwrap_or(0);
                if b % 100 == 99 {
                    println!("  {} batches", b + 1);
                }
            }
            anyhow::Ok((latencies, accepted))
        }));
    }
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for w in workers {
        let (l, a) = w.await??;
        latencies.extend(l);
        accepted += a;
    }
    let elapsed = started.elapsed();
    latencies.sort();

    // Reads over the month the records span.
    let range = format!("from={}&to={}", iso(start), iso(now));
    let mut reads = Vec::new();
    for (label, path) in [
        (
            "GET /usage/series?bucket=hour (30 days)",
            format!("/api/v1/usage/series?bucket=hour&{range}"),
        ),
        ("GET /costs (30 days)", format!("/api/v1/costs?{range}")),
        (
            "GET /usage/series?bucket=day (30 days)",
            format!("/api/v1/usage/series?bucket=day&{range}"),
        ),
        (
            "GET /usage?groupBy=key (30 days)",
            format!("/api/v1/usage?groupBy=key&{range}"),
        ),
        (
            "GET /usage/series?bucket=hour&tenant= (30 days)",
            format!("/api/v1/usage/series?bucket=hour&tenant=usage-bench-7&{range}"),
        ),
        (
            "GET /ai-budget/{tenant}/spend",
            "/api/v1/ai-budget/usage-bench-7/spend".to_owned(),
        ),
        (
            "GET /token-usage?limit=100",
            "/api/v1/token-usage?limit=100".to_owned(),
        ),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..READ_RUNS {
            let t = Instant::now();
            let body = get_json(&client, &base, &path).await?;
            times.push(t.elapsed());
            size = body.to_string().len();
        }
        times.sort();
        reads.push((label, times[times.len() / 2], times[0], size));
    }

    let counts = cp_migrate::connect(&db_url).await?;
    let row = counts
        .query_one(
            "SELECT (SELECT count(*) FROM token_usage), (SELECT count(*) FROM token_usage_hourly),
                pg_total_relation_size('token_usage'), pg_total_relation_size('token_usage_hourly')",
            &[],
        )
        .await?;
    let (raw, hourly, raw_bytes, hourly_bytes): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));

    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!();
    println!("token usage through the Wasm host ({IN_FLIGHT} batches of {BATCH} in flight)");
    println!(
        "  ingested            {accepted} records ({} duplicates) in {:.1} s",
        total as i64 - accepted,
        elapsed.as_secs_f64()
    );
    println!(
        "  ingestion           {:.0} records/s, {:.1} batches/s",
        accepted as f64 / elapsed.as_secs_f64(),
        batches as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  batch latency       p50 {:.1} ms, p99 {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    println!(
        "  stored              {raw} raw rows ({:.0} MiB with indexes), {hourly} hourly rollup rows ({:.0} MiB)",
        raw_bytes as f64 / 1048576.0,
        hourly_bytes as f64 / 1048576.0
    );
    println!("  reads ({READ_RUNS} runs each)          median      best   response");
    for (label, median, best, size) in reads {
        println!(
            "  {label:<48} {:>7.1} ms {:>7.1} ms {:>7.1} KiB",
            median.as_secs_f64() * 1e3,
            best.as_secs_f64() * 1e3,
            size as f64 / 1024.0
        );
    }

    host.stop().await;
    Ok(())
}

/// Deterministic synthetic records: record `i` happens at `i / total` of
/// the span (batches arrive roughly in time order, as a gateway's do),
/// for a pseudo-random tenant, key and model.
struct Generator {
    tenants: Vec<String>,
    models: Vec<String>,
    keys: Vec<Vec<String>>,
    start: DateTime<Utc>,
    span_ms: i64,
    total: usize,
}

impl Generator {
    fn batch(&self, b: usize) -> Vec<u8> {
        let first = b * BATCH;
        let last = (first + BATCH).min(self.total);
        let records: Vec<Value> = (first..last).map(|i| self.record(i)).collect();
        serde_json::to_vec(&json!({ "records": records })).unwrap()
    }

    fn record(&self, i: usize) -> Value {
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut next = || {
            // xorshift64*: cheap, deterministic spread.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let tenant = (next() % self.tenants.len() as u64) as usize;
        let key = (next() % self.keys[tenant].len() as u64) as usize;
        let model = (next() % self.models.len() as u64) as usize;
        let input = 50 + next() % 4000;
        let output = 10 + next() % 1000;
        let cached = if next() % 4 == 0 { input / 2 } else { 0 };
        let offset = (i as i64).saturating_mul(self.span_ms) / self.total.max(1) as i64;
        let at = self.start + chrono::Duration::milliseconds(offset);
        json!({
            "requestId": format!("bench-{i}"),
            "tenant": self.tenants[tenant],
            "keyId": self.keys[tenant][key],
            "model": self.models[model],
            "inputTokens": input,
            "outputTokens": output,
            "cachedTokens": cached,
            "cacheHit": next() % 10 == 0,
            "latencyMs": 100 + next() % 3000,
            "timestamp": iso(at),
        })
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn send(
    client: &HttpClient,
    base: &str,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<(u16, Value)> {
    let req = bench::operator_request(method, &format!("{base}{path}"), body)?;
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn expect_ok(
    client: &HttpClient,
    base: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let (status, v) = send(
        client,
        base,
        method,
        path,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await?;
    anyhow::ensure!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    Ok(v)
}

async fn post_json(
    client: &HttpClient,
    base: &str,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<Value> {
    let (status, v) = send(client, base, "POST", path, Some(body)).await?;
    anyhow::ensure!(status == 200, "POST {path}: {status} {v}");
    Ok(v)
}

async fn get_json(client: &HttpClient, base: &str, path: &str) -> anyhow::Result<Value> {
    let (status, v) = send(client, base, "GET", path, None).await?;
    anyhow::ensure!(status == 200, "GET {path}: {status} {v}");
    Ok(v)
}

async fn wait_ready(client: &HttpClient, base: &str) -> anyhow::Result<()> {
    for _ in 0..600 {
        if let Ok((200, _)) = send(client, base, "GET", "/api/v1/models?limit=1", None).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{base} did not become ready")
}
