//! `make bench`: the secrets vault through the Wasm host. Two figures:
//!
//! - a PUT of a new version plus a GET of it, by a user whose vault policy
//!   grants both, on a vault holding 100,000 secrets, with concurrent
//!   clients: p50, p99 and pairs per second;
//! - a client-side CMEK rotation of a vault holding 10,000 secrets: the
//!   time from the request to a completed job.
//!
//! The 100,000 secrets are seeded with SQL (each a copy of one real sealed
//! version: they are listed and counted but never read); the 10,000 CMEK
//! secrets are written through the API, since a rotation opens every one.
//! A benchmark, not a test: it asserts nothing about speed.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cp_tests::bench::{self, Figures, ProductHost};
use cp_tests::cmek::ClientKey;
use cp_tests::{GOOD_PASSWORD, OPERATOR_TOKEN};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

/// Secrets in the big vault.
const SEEDED: usize = 100_000;
/// PUT + GET pairs measured.
const PAIRS: usize = 2_000;
/// Concurrent clients.
const CONCURRENCY: usize = 8;
/// Secrets in the CMEK vault.
const CMEK_SECRETS: usize = 10_000;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (admin, db_url) = bench::database("cp_bench_vault").await?;
    let host = ProductHost::start(&admin, &db_url).await?;
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http();
    let api = Api {
        client: client.clone(),
        base: host.url.clone(),
    };
    api.wait_ready().await?;

    // An owner, an organisation, a vault and a policy granting the owner
    // everything in it.
    let signup = api
        .send(
            "POST",
            "/api/v1/auth/signup",
            "",
            &[],
            Some(json!({"email": "vault-bench@example.com", "password": GOOD_PASSWORD})),
        )
        .await?;
    let user = signup["data"]["user"]["id"].as_str().unwrap().to_owned();
    let token = signup["data"]["accessToken"].as_str().unwrap().to_owned();
    let org = api
        .send(
            "POST",
            "/api/v1/organizations",
            &token,
            &[],
            Some(json!({"name": "vault-bench"})),
        )
        .await?["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let vault = api.vault(&token, &org, "big", &user).await?;

    println!("seeding {SEEDED} secrets ...");
    let seeded = Instant::now();
    seed(&db_url, &api, &token, &vault).await?;
    println!("  seeded in {:.1} s", seeded.elapsed().as_secs_f64());

    let figures = put_then_get(&api, &token, &vault).await;
    println!();
    println!(
        "vault: PUT a new version + GET it, {CONCURRENCY} concurrent clients, {SEEDED} secrets in the vault"
    );
    println!(
        "  {PAIRS} pairs   {:>8.0} pairs/s   p50 {:>7.2} ms   p99 {:>7.2} ms   errors {}",
        figures.rate,
        ms(figures.p50),
        ms(figures.p99),
        figures.errors
    );

    // CMEK: 10,000 client-encrypted secrets, then one rotation.
    let cmek_vault = api.vault(&token, &org, "cmek", &user).await?;
    let old = ClientKey::new(1);
    let new = ClientKey::new(2);
    api.send(
        "POST",
        &format!("/api/v1/vaults/{cmek_vault}/cmek"),
        &token,
        &[],
        Some(json!({"fingerprint": old.fingerprint()})),
    )
    .await?;
    println!();
    println!("writing {CMEK_SECRETS} CMEK secrets through the API ...");
    let written = load(&api, CMEK_SECRETS, {
        let token = token.clone();
        let cmek_vault = cmek_vault.clone();
        let old = Arc::new(old);
        move |i| {
            let value = old.encrypt(&format!("client secret {i}"), i as u32);
            vec![Step {
                method: "PUT",
                path: format!("/api/v1/vaults/{cmek_vault}/secrets/cmek/{i}"),
                token: token.clone(),
                body: Some(json!({"type": "api_key", "value": value})),
            }]
        }
    })
    .await;
    println!("  {:.0} writes/s (errors {})", written.rate, written.errors);
    let old = ClientKey::new(1);
    let started = Instant::now();
    let job = api
        .send(
            "POST",
            &format!("/api/v1/vaults/{cmek_vault}/cmek-rotate"),
            &token,
            &[
                ("x-cmek-old-key", &old.header()),
                ("x-cmek-new-key", &new.header()),
            ],
            Some(json!({"fingerprint": new.fingerprint()})),
        )
        .await?;
    let took = started.elapsed();
    println!(
        "vault: CMEK rotation of {} secrets in batches of 100: {:.2} s ({:.0} secrets/s), job {}",
        job["data"]["processed"],
        took.as_secs_f64(),
        job["data"]["processed"].as_f64().unwrap_or(0.0) / took.as_secs_f64(),
        job["data"]["status"]
    );
    println!();
    host.stop().await;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The host under measurement.
#[derive(Clone)]
struct Api {
    client: HttpClient,
    base: String,
}

impl Api {
    /// One request; its JSON body, or an error naming the status.
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let req = bench::request(
            method,
            &format!("{}{path}", self.base),
            token,
            headers,
            body.map(|b| serde_json::to_vec(&b).unwrap()),
        )?;
        let resp = self.client.request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status.is_success(),
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A new vault `name` whose policy grants `user` reading and writing
    /// everything.
    async fn vault(
        &self,
        token: &str,
        org: &str,
        name: &str,
        user: &str,
    ) -> anyhow::Result<String> {
        let vault = self
            .send(
                "POST",
                "/api/v1/vaults",
                token,
                &[],
                Some(json!({"orgId": org, "name": name})),
            )
            .await?["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.send(
            "POST",
            &format!("/api/v1/vaults/{vault}/policies"),
            token,
            &[],
            Some(json!({"principal": {"kind": "user", "id": user},
                        "actions": ["read", "write"], "pathGlob": "**", "effect": "allow"})),
        )
        .await?;
        Ok(vault)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        for _ in 0..600 {
            if self
                .send("GET", "/api/v1/tenants?limit=1", OPERATOR_TOKEN, &[], None)
                .await
                .is_ok()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("{} did not become ready", self.base)
    }
}

/// `SEEDED` secrets at `seed/0` .. `seed/99999`, each a copy of one real
/// sealed version (bound to another path: never read).
async fn seed(db_url: &str, api: &Api, token: &str, vault: &str) -> anyhow::Result<()> {
    api.send(
        "PUT",
        &format!("/api/v1/vaults/{vault}/secrets/template"),
        token,
        &[],
        Some(json!({"type": "api_key", "value": "sk-bench-template"})),
    )
    .await?;
    let db = cp_migrate::connect(db_url).await?;
    db.execute(
        "INSERT INTO vault_secrets (id, vault_id, path, secret_type, current_version, created_by, updated_by)
         SELECT gen_random_uuid(), $1::text::uuid, 'seed/' || g, 'api_key', 1, 'bench', 'bench'
         FROM generate_series(0, $2::int8 - 1) g",
        &[&vault, &(SEEDED as i64)],
    )
    .await?;
    let template: Vec<u8> = db
        .query_one(
            "SELECT v.sealed FROM vault_secret_versions v JOIN vault_secrets s ON s.id = v.secret_id
             WHERE s.vault_id = $1::text::uuid AND s.path = 'template'",
            &[&vault],
        )
        .await?
        .get(0);
    db.execute(
        "INSERT INTO vault_secret_versions (secret_id, version, sealed, created_by)
         SELECT id, 1, $2, 'bench' FROM vault_secrets
         WHERE vault_id = $1::text::uuid AND path LIKE 'seed/%'",
        &[&vault, &template],
    )
    .await?;
    db.execute("ANALYZE vault_secrets", &[]).await?;
    db.execute("ANALYZE vault_secret_versions", &[]).await?;
    Ok(())
}

/// Writes a new version of a seeded secret, then reads it.
async fn put_then_get(api: &Api, token: &str, vault: &str) -> Figures {
    let token = token.to_owned();
    let vault = vault.to_owned();
    load(api, PAIRS, move |i| {
        let path = format!(
            "/api/v1/vaults/{vault}/secrets/seed/{}",
            (i * 7919) % SEEDED
        );
        vec![
            Step {
                method: "PUT",
                path: path.clone(),
                token: token.clone(),
                body: Some(json!({"type": "api_key", "value": format!("sk-bench-{i}")})),
            },
            Step {
                method: "GET",
                path,
                token: token.clone(),
                body: None,
            },
        ]
    })
    .await
}

/// One request of a unit of work.
struct Step {
    method: &'static str,
    path: String,
    token: String,
    body: Option<Value>,
}

/// Runs `total` units of work (each its steps in order) on `CONCURRENCY`
/// clients; latencies are per unit.
async fn load<F>(api: &Api, total: usize, unit: F) -> Figures
where
    F: Fn(usize) -> Vec<Step> + Clone + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let api = api.clone();
        let next = next.clone();
        let unit = unit.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                let mut ok = true;
                for step in unit(i) {
                    if let Err(e) = api
                        .send(step.method, &step.path, &step.token, &[], step.body)
                        .await
                    {
                        if errors == 0 {
                            eprintln!("  first error of a client: {e}");
                        }
                        ok = false;
                    }
                }
                latencies.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (latencies, e) = w.await.unwrap();
        all.extend(latencies);
        errors += e;
    }
    Figures::of(all, started.elapsed(), errors)
}
