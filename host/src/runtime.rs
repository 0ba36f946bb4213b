//! The wasmtime side: the linker, each component's pre-instance, and per-request stores.
//!
//! Every request gets a fresh store and instance (WASI 0.2 HTTP semantics, as in Spin),
//! instantiated from a `ProxyPre` prepared once at startup.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::{variables, SpinImports};
use crate::limits::Limits;
use crate::manifest::{ComponentDecl, Manifest};
use crate::outbound::OutboundHttp;
use crate::postgres::Pools;
use crate::variables::{ComponentVariables, LookupError};
use cp_outbound::AllowedHosts;

/// What a component may do and see, fixed at startup.
pub(crate) struct ComponentContext {
    pub(crate) id: String,
    pub(crate) variables: ComponentVariables,
    pub(crate) allowed_hosts: Arc<AllowedHosts>,
    environment: Vec<(String, String)>,
}

/// What one instance may use.
#[derive(Debug, Clone, Copy)]
struct InstanceLimits {
    memory: usize,
    request_timeout: Duration,
}

/// A component ready to be instantiated.
pub(crate) struct ComponentRuntime {
    pre: ProxyPre<InstanceState>,
    context: Arc<ComponentContext>,
    pg_pools: Arc<Pools>,
    limits: InstanceLimits,
}

/// Per-request store data.
pub(crate) struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outbound: OutboundHttp,
    context: Arc<ComponentContext>,
    pg_pools: Arc<Pools>,
    limits: StoreLimits,
}

/// All components of an application.
pub(crate) struct Runtime {
    components: HashMap<String, ComponentRuntime>,
}

impl Runtime {
    /// Expands each component's settings, compiles it (or loads it from the cache) and
    /// links it. `app_values` are the resolved application variables.
    pub(crate) fn load(
        engine: &Engine,
        manifest: &Manifest,
        app_values: &BTreeMap<String, String>,
        cache_dir: &std::path::Path,
        limits: &Limits,
    ) -> anyhow::Result<Self> {
        let instance_limits = InstanceLimits {
            memory: usize::try_from(limits.max_instance_memory_bytes).unwrap_or(usize::MAX),
            request_timeout: limits.request_timeout,
        };
        let mut linker = Linker::<InstanceState>::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)?;
        SpinImports::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            .map_err(anyhow::Error::from)?;

        let pg_pools = Arc::new(Pools::default());
        let mut components = HashMap::new();
        for (id, decl) in &manifest.components {
            let context = component_context(id, decl, app_values)
                .with_context(|| format!("component {id:?}"))?;
            let component = crate::cache::load_component(engine, &decl.source, cache_dir)
                .with_context(|| format!("component {id:?}"))?;
            let pre = linker
                .instantiate_pre(&component)
                .and_then(ProxyPre::new)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("component {id:?} cannot be linked (does it import something cp-host does not provide?)")
                })?;
            components.insert(
                id.clone(),
                ComponentRuntime {
                    pre,
                    context: Arc::new(context),
                    pg_pools: pg_pools.clone(),
                    limits: instance_limits,
                },
            );
        }
        Ok(Self { components })
    }

    pub(crate) fn component(&self, id: &str) -> Option<&ComponentRuntime> {
        self.components.get(id)
    }

    /// Component ids, sorted.
    pub(crate) fn component_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.components.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }
}

fn component_context(
    id: &str,
    decl: &ComponentDecl,
    app_values: &BTreeMap<String, String>,
) -> anyhow::Result<ComponentContext> {
    let hosts = decl
        .allowed_outbound_hosts
        .iter()
        .map(|t| t.expand(app_values))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ComponentContext {
        id: id.to_string(),
        variables: ComponentVariables::resolve(&decl.variables, app_values)?,
        allowed_hosts: Arc::new(AllowedHosts::parse(&hosts)?),
        environment: decl
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

impl ComponentRuntime {
    /// A fresh store for one request: stdout/stderr inherited, no files, no arguments,
    /// only the environment the manifest gives the component; its memory capped and its
    /// running time bounded by the request deadline.
    pub(crate) fn new_store(&self) -> Store<InstanceState> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.inherit_stdout()
            .inherit_stderr()
            .envs(&self.context.environment);
        let state = InstanceState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound: OutboundHttp::new(&self.context),
            context: self.context.clone(),
            pg_pools: self.pg_pools.clone(),
            // A failed memory.grow returns -1 to the guest (as in Spin), whose allocator
            // then fails the allocation; that usually ends in a trap.
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory)
                .trap_on_grow_failure(false)
                .build(),
        };
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        // At every epoch tick the guest yields, so a busy guest never starves the other
        // requests' tasks; past the deadline it is interrupted (a trap).
        let deadline = Instant::now() + self.limits.request_timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                // tokio's yield lets the runtime poll I/O before the guest resumes.
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });
        store
    }

    /// How long a request may keep this component running.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.limits.request_timeout
    }

    /// Instantiates the component in `store`.
    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<InstanceState>,
    ) -> anyhow::Result<Proxy> {
        self.pre
            .instantiate_async(store)
            .await
            .map_err(anyhow::Error::from)
            .context("cannot instantiate the component")
    }

    pub(crate) fn id(&self) -> &str {
        &self.context.id
    }
}

impl InstanceState {
    pub(crate) fn component(&self) -> &ComponentContext {
        &self.context
    }

    pub(crate) fn pg_pools(&self) -> &Pools {
        &self.pg_pools
    }

    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

impl variables::Host for InstanceState {
    async fn get(&mut self, name: String) -> anyhow::Result<Result<String, variables::Error>> {
        Ok(match self.context.variables.get(&name) {
            Ok(value) => Ok(value.to_string()),
            Err(LookupError::InvalidName(msg)) => Err(variables::Error::InvalidName(msg)),
            Err(LookupError::Undefined(msg)) => Err(variables::Error::Undefined(msg)),
        })
    }
}
