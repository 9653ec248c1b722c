//! The Wasmtime engine Tessera runs every component on, and the epoch ticker behind deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::LoadError;

/// How the engine is sized. The defaults suit one host serving a handful of components.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Instances that may exist at once across all components (the pool's size).
    pub max_instances: u32,
    /// Largest linear memory any instance may grow to; per-component caps sit below it.
    pub max_memory: u64,
    /// How often the epoch advances: the granularity of deadlines and of preemption.
    pub epoch_tick: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_instances: 1000,
            max_memory: tessera_manifest::Limits::MAX_MEMORY,
            epoch_tick: Duration::from_millis(10),
        }
    }
}

/// Bytes of each linear memory the pool keeps resident and resets with `memset` rather than
/// `madvise`. Small guests dirty well under this per request, so a reused slot costs no page
/// faults and no system call.
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;
/// The same for tables.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Core instances, memories and tables a component may have. A Rust component built for
/// wasm32-wasip2 has one core instance of its own code plus a few shims; this is the pool's
/// per-component budget.
const CORE_INSTANCES_PER_COMPONENT: u32 = 20;

/// Builds the engine for WASI 0.2 components: Cranelift, components, epoch interruption, and
/// the pooling allocator with copy-on-write memory images.
///
/// Concurrency support (the WASI 0.3 async machinery) is off: calling a WASI 0.2 export
/// through it costs extra per call, and 0.2 guests never need it. WASI 0.3 components run on
/// an engine of their own ([`new_engine_p3`]).
///
/// `bench/lifecycle/main.rs` repeats this configuration (it is built against other Wasmtime
/// versions, so it cannot call this); a change here belongs there too.
pub fn new_engine(settings: &EngineSettings) -> Result<Engine, LoadError> {
    engine(settings, false)
}

/// Builds the engine for WASI 0.3 components (`wasi:http/handler@0.3`): the same as
/// [`new_engine`] with the component model's concurrency support on, which their async
/// exports, streams and futures need. It has a pool of its own, of the same size.
pub fn new_engine_p3(settings: &EngineSettings) -> Result<Engine, LoadError> {
    engine(settings, true)
}

/// Builds the start-up engine for WASI 0.2 components: [`new_engine`]'s configuration without
/// the instance pool, each instance's memory and stack mapped when it is made. Cheap to
/// make (reserving the pool's 1,000 fiber stacks is not), and compiled code is compatible
/// between the two, so a server serves its first requests on this one while the pooled
/// engine is made (`ComponentLoader`).
pub fn new_engine_unpooled() -> Result<Engine, LoadError> {
    unpooled(false)
}

/// Builds the start-up engine for WASI 0.3 components: [`new_engine_p3`]'s configuration
/// without the instance pool, as [`new_engine_unpooled`] is for 0.2.
pub fn new_engine_unpooled_p3() -> Result<Engine, LoadError> {
    unpooled(true)
}

fn unpooled(concurrency: bool) -> Result<Engine, LoadError> {
    let mut config = config(concurrency);
    config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))
}

fn config(concurrency: bool) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .wasm_component_model_async(concurrency)
        .concurrency_support(concurrency)
        .epoch_interruption(true)
        .memory_init_cow(true);
    config
}

fn engine(settings: &EngineSettings, concurrency: bool) -> Result<Engine, LoadError> {
    let mut pool = PoolingAllocationConfig::new();
    let instances = settings.max_instances;
    pool.total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(4))
        .total_memories(instances)
        .total_tables(instances.saturating_mul(2))
        .total_stacks(instances)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_tables_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memory_size(usize::try_from(settings.max_memory).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        // Without pagemap scanning every reused slot pays a full reset; with it only the
        // pages the last instance dirtied (measured: ~33 µs vs ~16 µs per request).
        .pagemap_scan(Enabled::Auto);

    let mut config = config(concurrency);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))
}

/// Advances the engine's epoch on a background thread, so that a guest running past its
/// deadline is interrupted and a busy guest yields to others. Stops when dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engines` every `tick`.
    pub fn start(engines: crate::Engines, tick: Duration) -> Self {
        crate::fair::set_tick(tick);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("tessera-epoch".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engines.increment_epoch();
                    }
                }
            })
            .expect(
                "spawning a thread at start-up only fails when the process is out of resources",
            );
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
