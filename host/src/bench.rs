//! `instantiate-bench`: how long a fresh per-request instance takes to create.

use std::time::{Duration, Instant};

use anyhow::ensure;

use crate::server::{App, ServeConfig};

/// Instantiation timings of one component.
#[derive(Debug, Clone)]
pub struct BenchResult {
    /// Component id.
    pub component: String,
    /// Number of instantiations measured.
    pub iterations: usize,
    /// Median time for a new store plus instantiation from the pre-instance.
    pub median: Duration,
    /// 99th percentile of the same.
    pub p99: Duration,
}

/// Instantiates every component of the application `iterations` times, one after the
/// other, each in a fresh store, exactly as a request would.
pub async fn instantiate_bench(
    config: ServeConfig,
    iterations: usize,
) -> anyhow::Result<Vec<BenchResult>> {
    ensure!(iterations > 0, "iterations must be at least 1");
    let app = tokio::task::spawn_blocking(move || App::load(&config)).await??;
    let mut results = Vec::new();
    for id in app.runtime.component_ids() {
        let Some(component) = app.runtime.component(id) else {
            continue;
        };
        // Warm up: first instantiation touches fresh pool slots.
        let mut store = component.new_store();
        component.instantiate(&mut store).await?;
        drop(store);

        let mut times = Vec::with_capacity(iterations);
        for _ in 0..iterations {
            let start = Instant::now();
            let mut store = component.new_store();
            component.instantiate(&mut store).await?;
            times.push(start.elapsed());
            drop(store);
        }
        times.sort_unstable();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        results.push(BenchResult {
            component: id.to_string(),
            iterations,
            median: at(0.5),
            p99: at(0.99),
        });
    }
    Ok(results)
}
