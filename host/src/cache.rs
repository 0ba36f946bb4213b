//! The wasmtime engine configuration and the on-disk cache of compiled components.
//!
//! Compiling a component takes 0.1–3 s; loading it precompiled takes under a millisecond. The
//! cache key covers the component bytes, the wasmtime version and the engine's compilation
//! settings, so a stale or foreign artifact is never loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// Concurrent requests the pooling allocator has room for.
const MAX_CONCURRENT_INSTANCES: u32 = 1000;

/// How instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Pre-reserved slots: instantiation in a few microseconds.
    Pooling,
    /// mmap per instance, when the pool's address-space reservation is refused.
    OnDemand,
}

/// How often the epoch ticks: a running guest yields to other tasks, and its deadline is
/// checked, this often (Spin ticks every 10 ms too).
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the engine, with the pooling allocator when the system grants its reservation,
/// and starts the thread that ticks its epoch. `max_instance_memory` caps each linear memory.
pub(crate) fn build_engine(max_instance_memory: u64) -> anyhow::Result<(Engine, Allocator)> {
    let max_memory = usize::try_from(max_instance_memory).unwrap_or(usize::MAX);
    let mut pooling = PoolingAllocationConfig::default();
    // A spin-sdk component instantiates a handful of core modules (the program, the WASI
    // adapter, shims) but only one linear memory.
    pooling
        .total_component_instances(MAX_CONCURRENT_INSTANCES)
        .total_core_instances(MAX_CONCURRENT_INSTANCES * 4)
        .total_tables(MAX_CONCURRENT_INSTANCES * 4)
        .total_memories(MAX_CONCURRENT_INSTANCES)
        .total_stacks(MAX_CONCURRENT_INSTANCES)
        // wasmtime's default is 4 GiB per memory; the store limiter enforces the same
        // cap for the on-demand allocator.
        .max_memory_size(max_memory);
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    let (engine, allocator) = match Engine::new(&config) {
        Ok(engine) => (engine, Allocator::Pooling),
        Err(e) => {
            eprintln!(
                "cp-host: pooling allocator unavailable ({e}); allocating instances on demand"
            );
            let engine = Engine::new(&base_config()).map_err(anyhow::Error::from)?;
            (engine, Allocator::OnDemand)
        }
    };
    start_epoch_ticker(&engine)?;
    Ok((engine, allocator))
}

/// Ticks the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) -> anyhow::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("cp-host-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .context("cannot start the epoch ticker thread")?;
    Ok(())
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.cranelift_opt_level(OptLevel::Speed);
    // Generated code checks the epoch at loop headers and function entries, so a guest
    // stuck in a loop can be made to yield and stopped at its deadline.
    config.epoch_interruption(true);
    config
}

/// The default cache directory for a manifest in `manifest_dir`.
pub fn default_cache_dir(manifest_dir: &Path) -> PathBuf {
    manifest_dir.join("target").join("cp-host-cache")
}

/// Compiles the component at `wasm`, or loads it from `cache_dir` when compiled before.
pub(crate) fn load_component(
    engine: &Engine,
    wasm: &Path,
    cache_dir: &Path,
) -> anyhow::Result<Component> {
    let bytes = std::fs::read(wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    let cached = cache_dir.join(format!("{}.cwasm", cache_key(engine, &bytes)));
    if cached.is_file() {
        match load_precompiled(engine, &cached) {
            Ok(component) => return Ok(component),
            Err(e) => eprintln!(
                "cp-host: ignoring unusable cache entry {} ({e:#}); recompiling",
                cached.display()
            ),
        }
    }
    let component = Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile {}", wasm.display()))?;
    // A cache that cannot be written only costs time on the next start.
    if let Err(e) = store(&component, &cached) {
        eprintln!(
            "cp-host: cannot write compile cache {} ({e:#})",
            cached.display()
        );
    }
    Ok(component)
}

/// Loads a precompiled component written by [`store`].
#[allow(unsafe_code)]
fn load_precompiled(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be wasmtime output for a compatible
    // engine. Files in the cache are written only by `store` below, from `Component::serialize`,
    // under a name derived from the engine's compatibility hash, and appear atomically by
    // rename, so a reader never sees a partial file; wasmtime still checks the version and
    // configuration recorded in the artifact.
    unsafe { Component::deserialize_file(engine, path) }.map_err(anyhow::Error::from)
}

fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().context("cache path has no directory")?;
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    // Unique per writer, so concurrent writers (threads or processes) never share a file.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let unique = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp.{}.{unique}", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

/// `sha256(component bytes, wasmtime version, engine compatibility hash)`, in hex.
fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.0.update(wasm);
    hasher.0.update(env!("CARGO_PKG_NAME"));
    hasher.0.update(wasmtime_version());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

fn wasmtime_version() -> &'static str {
    // Kept in step with the `=48.0.8` pin in Cargo.toml; the compatibility hash also
    // covers the version, this only makes the key self-describing.
    "wasmtime-48.0.8"
}

/// Feeds `Hash` output into SHA-256, giving a key that is stable across runs (unlike
/// `DefaultHasher`, whose algorithm is unspecified).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        // Never used: the digest is read directly.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cache_key_depends_on_bytes_and_is_stable() {
        let engine = Engine::new(&base_config()).unwrap();
        let a = cache_key(&engine, b"component a");
        assert_eq!(a, cache_key(&engine, b"component a"));
        assert_ne!(a, cache_key(&engine, b"component b"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn cache_key_depends_on_engine_settings() {
        let fast = Engine::new(&base_config()).unwrap();
        let mut config = base_config();
        config.cranelift_opt_level(OptLevel::None);
        let slow = Engine::new(&config).unwrap();
        assert_ne!(cache_key(&fast, b"x"), cache_key(&slow, b"x"));
    }
}
