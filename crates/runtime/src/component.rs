//! Loading a component: read, check, compile (or take from the cache), link, pre-instantiate,
//! and try one instance, all before the server binds its port.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use tessera_manifest::{ComponentSpec, Limits};
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use crate::shared::Shared;
use crate::spare::{Instances, Pool, Pre};
use crate::{CacheOutcome, Capabilities, CompileCache, EngineSettings, Host, LoadError};

/// A component ready to serve: compiled, linked and pre-instantiated once, so each request
/// only creates a store and an instance from the pool.
pub struct HttpComponent {
    pub(crate) id: Arc<str>,
    pub(crate) instances: Arc<Instances>,
    pub(crate) limits: Limits,
    pub(crate) permits: Arc<Semaphore>,
    /// Requests waiting for a permit (at most `limits.max_queue`).
    pub(crate) queued: Arc<AtomicU32>,
    pub(crate) digest: Arc<str>,
    /// Workers whose instances take several requests at once: a WASI 0.3 component with
    /// `reuse.max_concurrent` > 1.
    pub(crate) shared: Option<Shared>,
}

impl HttpComponent {
    /// The component's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The first 12 hex digits of the SHA-256 of its `.wasm`: which version is serving.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Instances of it made ahead of their requests and waiting (0 or 1; see `spare.rs`).
    pub fn ready(&self) -> usize {
        self.instances.ready()
    }

    /// Lines its guests logged over their budget, dropped (`LINES_PER_SECOND`).
    pub fn log_lines_dropped(&self) -> u64 {
        self.instances.caps().log_lines_dropped()
    }

    /// Requests waiting for one of its instances now (`max_queue`).
    pub fn queued(&self) -> u32 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Instances of it running now.
    pub fn in_flight(&self) -> usize {
        self.limits.max_concurrency as usize - self.permits.available_permits()
    }
}

/// How a component was loaded, for the start-up report.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Whether the machine code came from the cache.
    pub cache: CacheOutcome,
    /// Time spent compiling or reading the cache, linking and trying an instance.
    pub elapsed: Duration,
}

/// Loads components onto two engines: WASI 0.2 components onto one without the component
/// model's concurrency support (it costs a 0.2 call extra work), WASI 0.3 components
/// (`wasi:http/handler@0.3`) onto one with it. Which one is read from the component.
///
/// The 0.3 engine and its linker are made when the first 0.3 component loads: an app of 0.2
/// components does not pay for them (about 5 MB of resident memory, most of it the code that
/// builds the 0.3 linker).
///
/// The 0.2 engine is made on a thread of its own, started by [`ComponentLoader::new`]:
/// reserving its instance pool takes a quarter of a server's start (one `mprotect` per fiber
/// stack's guard page, 1.6 ms of 6.5 with 1,000 slots), and the manifest, the backends and the
/// components' reading, hashing and parsing need no engine, so they run meanwhile. Only
/// compiling or reading the compile cache waits for it.
#[derive(Clone)]
pub struct ComponentLoader {
    p2: Arc<Making<Side>>,
    p3: Arc<OnceLock<Side>>,
    settings: EngineSettings,
    cache: CompileCache,
    trial: Arc<tokio::sync::Mutex<()>>,
}

/// The engines a [`ComponentLoader`] loads onto, for the epoch ticker: the 0.2 engine, and the
/// 0.3 engine once it exists.
#[derive(Clone)]
pub struct Engines {
    p2: Arc<Making<Side>>,
    p3: Arc<OnceLock<Side>>,
}

impl Engines {
    /// Advances every engine's epoch by one; the first call waits for the 0.2 engine to be
    /// made.
    pub fn increment_epoch(&self) {
        if let Ok(p2) = self.p2.get() {
            p2.engine.increment_epoch();
        }
        if let Some(p3) = self.p3.get() {
            p3.engine.increment_epoch();
        }
    }
}

/// A value being made on a thread of its own; [`Making::get`] waits for it.
struct Making<T> {
    made: OnceLock<Result<T, String>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<Result<T, String>>>>,
}

impl<T: Send + 'static> Making<T> {
    /// Starts `make` on a thread named `name`.
    fn start(name: &str, make: impl FnOnce() -> Result<T, String> + Send + 'static) -> Self {
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(make)
            .expect(
                "spawning a thread at start-up only fails when the process is out of resources",
            );
        Self {
            made: OnceLock::new(),
            thread: std::sync::Mutex::new(Some(thread)),
        }
    }

    /// The value, or why it could not be made, once it is; blocks until then.
    fn get(&self) -> Result<&T, &str> {
        self.made
            .get_or_init(|| {
                let thread = self
                    .thread
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                    .expect("the thread is joined once, by the first caller");
                thread
                    .join()
                    .unwrap_or_else(|_| Err("the thread making it panicked".into()))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// One engine, its linker and its instance pool.
#[derive(Clone)]
struct Side {
    engine: Engine,
    linker: Arc<Linker<Host>>,
    pool: Arc<Pool>,
}

impl Side {
    fn new(
        engine: Engine,
        add: fn(&mut Linker<Host>) -> wasmtime::Result<()>,
        max_instances: u32,
    ) -> Result<Self, LoadError> {
        let mut linker = Linker::new(&engine);
        add(&mut linker).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            pool: Arc::new(Pool::for_slots(max_instances)),
        })
    }
}

impl ComponentLoader {
    /// A loader whose linkers provide WASI 0.2 (and for 0.3 components WASI 0.3 too):
    /// `wasi:http` and everything `wasi:cli` components import.
    ///
    /// The full WASI set is linked, not only the `wasi:http/proxy` world, because ordinary
    /// toolchains (Rust binaries, wstd, componentize-py, jco) import `wasi:cli/environment`,
    /// `wasi:filesystem` and the like even when a handler never calls them, and such
    /// components run under Spin and `wasmtime serve -Scli`. What those imports can reach is
    /// the sandbox's business: no directories are preopened, the environment is empty, and
    /// every socket address is denied (see `Host`).
    ///
    /// Each engine's pool has `settings.max_instances` slots; up to a quarter of them may
    /// hold instances made ahead of their requests (see `spare.rs`).
    ///
    /// The engine's own failures (an address space too small for the pool, say) come from
    /// the first load, or from [`ComponentLoader::engine_failure`].
    pub fn new(settings: &EngineSettings, cache: CompileCache) -> Self {
        let p2 = {
            let settings = settings.clone();
            Making::start("tessera-engine", move || {
                crate::new_engine(&settings)
                    .and_then(|engine| {
                        Side::new(engine, crate::host::add_to_linker, settings.max_instances)
                    })
                    .map_err(|e| match e {
                        LoadError::Engine(reason) => reason,
                        other => other.to_string(),
                    })
            })
        };
        Self {
            p2: Arc::new(p2),
            p3: Arc::default(),
            settings: settings.clone(),
            cache,
            trial: Arc::default(),
        }
    }

    /// The engines components are loaded onto (for the epoch ticker).
    pub fn engines(&self) -> Engines {
        Engines {
            p2: self.p2.clone(),
            p3: self.p3.clone(),
        }
    }

    /// Why the 0.2 engine could not be made, if it could not; waits until it is.
    pub fn engine_failure(&self) -> Option<LoadError> {
        self.p2().err()
    }

    /// The 0.2 engine, once made.
    fn p2(&self) -> Result<&Side, LoadError> {
        self.p2
            .get()
            .map_err(|reason| LoadError::Engine(reason.to_string()))
    }

    /// The 0.3 engine, made on first use.
    fn p3(&self) -> Result<&Side, LoadError> {
        if let Some(side) = self.p3.get() {
            return Ok(side);
        }
        let side = Side::new(
            crate::new_engine_p3(&self.settings)?,
            crate::host::add_to_linker_p3,
            self.settings.max_instances,
        )?;
        // Two first 0.3 components loading at once may both make one; the first kept wins.
        Ok(self.p3.get_or_init(|| side))
    }

    /// Loads one component from its `source` file. Compilation runs on a blocking thread;
    /// call several loads at once to compile components in parallel.
    pub async fn load(
        &self,
        spec: &ComponentSpec,
        caps: Arc<Capabilities>,
    ) -> Result<(HttpComponent, LoadReport), LoadError> {
        let path = spec.source.clone();
        let wasm = tokio::fs::read(&path)
            .await
            .map_err(|source| LoadError::Read { path, source })?;
        self.load_wasm(spec, wasm, &spec.source, caps).await
    }

    /// Loads one component from `wasm` instead of its `source` file (a replacement uploaded
    /// to a running server). `origin` names where the bytes came from in errors.
    pub async fn load_wasm(
        &self,
        spec: &ComponentSpec,
        wasm: Vec<u8>,
        origin: &Path,
        caps: Arc<Capabilities>,
    ) -> Result<(HttpComponent, LoadReport), LoadError> {
        let started = Instant::now();
        let this = self.clone();
        let path = origin.to_path_buf();
        let (pre, cache, digest) = tokio::task::spawn_blocking(move || {
            let content = Sha256::digest(&wasm);
            // The first 12 hex digits: enough to tell versions apart in logs and answers.
            let digest = crate::cache::hex(&content[..6]);
            this.prepare(&wasm, &content, &path)
                .map(|(pre, cache)| (pre, cache, digest))
        })
        .await
        .expect("loading a component does not panic")?;
        let concurrent = spec.limits.reuse.filter(|reuse| reuse.max_concurrent > 1);
        if let (Some(reuse), Pre::P2(..)) = (concurrent, &pre) {
            return Err(LoadError::OneAtATime {
                path: origin.to_path_buf(),
                component: spec.id.to_string(),
                max_concurrent: reuse.max_concurrent,
            });
        }
        let instances = Instances::new(pre, caps, &spec.limits);
        let component = HttpComponent {
            id: spec.id.as_str().into(),
            shared: concurrent.map(|reuse| Shared::new(instances.clone(), &spec.limits, reuse)),
            instances,
            limits: spec.limits,
            permits: Arc::new(Semaphore::new(spec.limits.max_concurrency as usize)),
            queued: Arc::default(),
            digest: digest.into(),
        };
        self.try_instance(&component, origin).await?;
        Ok((
            component,
            LoadReport {
                cache,
                elapsed: started.elapsed(),
            },
        ))
    }

    fn prepare(
        &self,
        wasm: &[u8],
        content: &[u8],
        path: &Path,
    ) -> Result<(Pre, CacheOutcome), LoadError> {
        if !wasm.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm {
                path: path.to_path_buf(),
            });
        }
        if !wasmparser::Parser::is_component(wasm) {
            return Err(LoadError::CoreModule {
                path: path.to_path_buf(),
            });
        }
        let p3 = exports_p3_handler(wasm);
        let side = if p3 { self.p3()? } else { self.p2()? };
        let (component, cache) = self
            .cache
            .load_hashed(&side.engine, wasm, content)
            .map_err(|e| LoadError::Compile {
                path: path.to_path_buf(),
                reason: format!("{e:#}"),
            })?;
        let instance_pre = side.linker.instantiate_pre(&component).map_err(|e| {
            let message = format!("{e:#}");
            match message.split('`').nth(1) {
                Some(import) if message.contains("matching implementation was not found") => {
                    LoadError::MissingImport {
                        path: path.to_path_buf(),
                        import: import.to_string(),
                    }
                }
                _ => LoadError::Compile {
                    path: path.to_path_buf(),
                    reason: message,
                },
            }
        })?;
        let not_http = |e: wasmtime::Error| LoadError::NotHttp {
            path: path.to_path_buf(),
            reason: format!("{e:#}"),
        };
        let pre = if p3 {
            Pre::P3(
                ServicePre::new(instance_pre).map_err(not_http)?,
                side.pool.clone(),
            )
        } else {
            Pre::P2(
                ProxyPre::new(instance_pre).map_err(not_http)?,
                side.pool.clone(),
            )
        };
        Ok((pre, cache))
    }

    /// Creates and drops one instance, so a memory cap too small for the component's initial
    /// memory fails at start-up instead of on every request.
    async fn try_instance(&self, component: &HttpComponent, path: &Path) -> Result<(), LoadError> {
        // One trial at a time: components load in parallel, and with a small pool
        // (`--max-instances 1`) two trials at once would find it full.
        let _one_at_a_time = self.trial.lock().await;
        let mut store = component.instances.store(None);
        let timeout = component.limits.timeout;
        let instantiated =
            tokio::time::timeout(timeout, component.instances.pre.try_instance(&mut store)).await;
        let reason = match instantiated {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => match store.data().limiter.refused {
                Some(wanted) => format!(
                    "its initial memory needs {wanted} bytes, over the cap of {} bytes",
                    component.limits.memory
                ),
                None => format!("{e:#}"),
            },
            Err(_) => format!("starting an instance took longer than its timeout ({timeout:?})"),
        };
        Err(LoadError::Instantiate {
            path: path.to_path_buf(),
            reason,
        })
    }
}

/// Whether the component exports `wasi:http/handler` of WASI 0.3 (final or a release
/// candidate) at its top level. Read from the binary before compiling: the two kinds of
/// component are compiled for different engines.
fn exports_p3_handler(wasm: &[u8]) -> bool {
    use wasmparser::{Parser, Payload};
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ModuleSection { .. } | Payload::ComponentSection { .. }) => depth += 1,
            Ok(Payload::End(_)) => depth = depth.saturating_sub(1),
            Ok(Payload::ComponentExportSection(exports)) if depth == 0 => {
                let p3 = exports
                    .into_iter()
                    .flatten()
                    .any(|export| export.name.name.starts_with("wasi:http/handler@0.3"));
                if p3 {
                    return true;
                }
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}
