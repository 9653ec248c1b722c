//! Loading a component: read, check, compile (or take from the cache), link, pre-instantiate,
//! and try one instance, all before the server binds its port.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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
    /// The component's bytes while it runs on the start-up engine, to load it onto the
    /// pooled one once that is made ([`ComponentLoader`]); `None` on the pooled engine.
    starter_wasm: Option<Arc<[u8]>>,
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

    /// Its bytes, if it runs on the start-up engine and is to be loaded again onto the pooled
    /// one once that is made ([`ComponentLoader::wait_for_pool`]).
    pub fn on_start_up_engine(&self) -> Option<&[u8]> {
        self.starter_wasm.as_deref()
    }
}

/// How a component was loaded, for the start-up report.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Whether the machine code came from the cache.
    pub cache: CacheOutcome,
    /// Time spent compiling or reading the cache, linking and trying an instance.
    pub elapsed: Duration,
    /// Whether it was loaded onto the start-up engine, to be moved onto the instance pool
    /// once that is reserved ([`ComponentLoader`]).
    pub start_up_engine: bool,
}

/// Loads components onto two engines: WASI 0.2 components onto one without the component
/// model's concurrency support (it costs a 0.2 call extra work), WASI 0.3 components
/// (`wasi:http/handler@0.3`) onto one with it. Which one is read from the component.
///
/// The 0.3 engine and its linker are made when the first 0.3 component loads: an app of 0.2
/// components does not pay for them (about 5 MB of resident memory, most of it the code that
/// builds the 0.3 linker).
///
/// Components start on one engine and serve on another. Reserving the instance
/// pool takes a quarter of a server's start (one `mprotect` per fiber stack's guard page,
/// 1.3–1.6 ms of 6 with 1,000 slots), and while it runs, the other threads' page faults wait
/// for it (each `mprotect` holds the process's memory map lock), so it cannot be hidden
/// behind the rest of the start. So a component whose compiled code is in the compile
/// cache is loaded onto a start-up engine without a pool ([`crate::new_engine_unpooled`] for
/// 0.2, made on a thread of its own by [`ComponentLoader::new`] when there is a compile cache;
/// [`crate::new_engine_unpooled_p3`] for 0.3, made when the first 0.3 component loads:
/// instances mapped one at a time, as `wasmtime serve` does by default), and the server
/// serves its first requests there.
/// The pooled engine is made after that ([`ComponentLoader::wait_for_pool`], which
/// `LiveApp::move_to_pool` calls 50 ms after the load, past the first answers); the server
/// then loads the components again from the same cache entries (the compiled code suits
/// both engines) and switches to them as a live replacement does (`LiveApp::move_to_pool`).
/// A component that must be compiled is compiled for the pooled engine, made then:
/// compiling takes far longer than the pool.
#[derive(Clone)]
pub struct ComponentLoader {
    /// The WASI 0.2 engines; the start-up one begun by [`ComponentLoader::new`] when there is
    /// a compile cache.
    p2: Pair,
    /// The WASI 0.3 engines, made when the first 0.3 component loads.
    p3: Pair,
    cache: CompileCache,
    trial: Arc<tokio::sync::Mutex<()>>,
}

/// The engines a [`ComponentLoader`] loads onto, for the epoch ticker: those of the 0.2 and
/// 0.3 engines that exist.
#[derive(Clone)]
pub struct Engines {
    pairs: [Pair; 2],
}

impl Engines {
    /// Advances the epoch of every engine made so far by one.
    pub fn increment_epoch(&self) {
        let made = self
            .pairs
            .iter()
            .flat_map(|pair| [&pair.pooled, &pair.starter])
            .filter_map(|making| making.made());
        for side in made {
            side.engine.increment_epoch();
        }
    }
}

/// One kind's engines (WASI 0.2 or 0.3): the one with the instance pool, and the start-up
/// engine that serves components from the compile cache until the pool is made.
#[derive(Clone)]
struct Pair {
    pooled: Arc<Making<Side>>,
    starter: Arc<Making<Side>>,
    /// Whether a component was loaded onto the start-up engine, and so is to move.
    started: Arc<AtomicBool>,
}

impl Pair {
    /// `names`: the threads that make the pooled and the start-up engine.
    fn new(
        names: [&'static str; 2],
        settings: &EngineSettings,
        pooled: fn(&EngineSettings) -> Result<Engine, LoadError>,
        unpooled: fn() -> Result<Engine, LoadError>,
        add: fn(&mut Linker<Host>) -> wasmtime::Result<()>,
    ) -> Self {
        let reason = |e| match e {
            LoadError::Engine(reason) => reason,
            other => other.to_string(),
        };
        let max_instances = settings.max_instances;
        let settings = settings.clone();
        Self {
            pooled: Arc::new(Making::later(names[0], move || {
                pooled(&settings)
                    .and_then(|engine| Side::new(engine, add, settings.max_instances))
                    .map_err(reason)
            })),
            starter: Arc::new(Making::later(names[1], move || {
                unpooled()
                    .and_then(|engine| Side::new(engine, add, max_instances))
                    .map_err(reason)
            })),
            started: Arc::default(),
        }
    }

    /// The pooled engine; makes it now, unless that has begun, and waits for it.
    fn pooled(&self) -> Result<&Side, LoadError> {
        self.pooled
            .get()
            .map_err(|reason| LoadError::Engine(reason.to_string()))
    }

    /// The engine to load the component whose SHA-256 is `content` onto, and whether it is
    /// the start-up engine: the pooled engine once it is made; before that, or if it cannot
    /// be made, the start-up engine when the compile cache holds the component; otherwise the
    /// pooled engine, made now. (So whether a server whose pool cannot be reserved starts
    /// depends only on its cache: it serves without the pool, and says so, when every
    /// component is in the cache.)
    fn for_content(
        &self,
        cache: &CompileCache,
        content: &[u8],
    ) -> Result<(&Side, bool), LoadError> {
        if let Some(side) = self.pooled.made() {
            return Ok((side, false));
        }
        if cache.dir().is_some()
            && let Ok(starter) = self.starter.get()
            && cache.holds(&starter.engine, content)
        {
            self.started.store(true, Ordering::Release);
            return Ok((starter, true));
        }
        Ok((self.pooled()?, false))
    }
}

/// A value made on a thread of its own, from when [`Making::begin`] (or the first
/// [`Making::get`]) asks for it; [`Making::get`] waits for it.
///
/// The waiters wait for the value, not for the thread: a thread's exit (mimalloc handing its
/// pages back, with a TLB shootdown on every other CPU) takes a few tenths of a millisecond
/// here that nobody needs to wait for.
struct Making<T> {
    name: &'static str,
    made: Arc<Made<T>>,
    make: std::sync::Mutex<Option<Make<T>>>,
}

type Make<T> = Box<dyn FnOnce() -> Result<T, String> + Send>;

struct Made<T> {
    value: OnceLock<Result<T, String>>,
    /// Held while the value is set, so that a waiter cannot miss the notification.
    lock: std::sync::Mutex<()>,
    ready: std::sync::Condvar,
}

impl<T: Send + Sync + 'static> Making<T> {
    /// `make`, to be run on a thread named `name` when first asked for.
    fn later(
        name: &'static str,
        make: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Self {
        Self {
            name,
            made: Arc::new(Made {
                value: OnceLock::new(),
                lock: std::sync::Mutex::new(()),
                ready: std::sync::Condvar::new(),
            }),
            make: std::sync::Mutex::new(Some(Box::new(make))),
        }
    }

    /// Begins making it, unless that has begun.
    fn begin(&self) {
        self.begin_with(false);
    }

    /// Begins making it, unless that has begun, on a thread of the lowest CPU priority
    /// (`nice` 19): work that requests being served should not wait for.
    fn begin_in_background(&self) {
        self.begin_with(true);
    }

    fn begin_with(&self, background: bool) {
        let Some(make) = self
            .make
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let made = self.made.clone();
        std::thread::Builder::new()
            .name(self.name.into())
            .spawn(move || {
                if background {
                    lower_priority();
                }
                let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(make))
                    .unwrap_or_else(|_| Err("the thread making it panicked".into()));
                {
                    let _held = made
                        .lock
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    let _ = made.value.set(value);
                }
                made.ready.notify_all();
            })
            .expect("spawning a thread only fails when the process is out of resources");
    }

    /// Whether [`Making::get`] would return without waiting (and without beginning it).
    #[cfg(test)]
    fn is_made(&self) -> bool {
        self.made.value.get().is_some()
    }

    /// The value if it has been made, and made without failing; never waits or begins it.
    fn made(&self) -> Option<&T> {
        self.made.value.get()?.as_ref().ok()
    }

    /// The value, or why it could not be made; begins making it if that has not begun, and
    /// blocks until it is made.
    fn get(&self) -> Result<&T, &str> {
        if self.made.value.get().is_none() {
            self.begin();
            let held = self
                .made
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let _held = self
                .made
                .ready
                .wait_while(held, |()| self.made.value.get().is_none())
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        self.made
            .value
            .get()
            .expect("waited for above")
            .as_ref()
            .map_err(String::as_str)
    }
}

/// Gives the calling thread the lowest CPU priority (`nice` 19; on Linux the nice value is
/// per thread). Failure changes nothing but the priority, so it is ignored.
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: a system call with no pointers; `who = 0` names the calling thread.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
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
        let p2 = Pair::new(
            ["tessera-pool", "tessera-engine"],
            settings,
            crate::new_engine,
            crate::new_engine_unpooled,
            crate::host::add_to_linker,
        );
        let p3 = Pair::new(
            ["tessera-pool-p3", "tessera-engine-p3"],
            settings,
            crate::new_engine_p3,
            crate::new_engine_unpooled_p3,
            crate::host::add_to_linker_p3,
        );
        // Without a compile cache nothing can load onto it (see `Pair::for_content`). The 0.3
        // one is made when a 0.3 component first loads: most apps have none.
        if cache.dir().is_some() {
            p2.starter.begin();
        }
        Self {
            p2,
            p3,
            cache,
            trial: Arc::default(),
        }
    }

    /// The engines components are loaded onto (for the epoch ticker).
    pub fn engines(&self) -> Engines {
        Engines {
            pairs: [self.p2.clone(), self.p3.clone()],
        }
    }

    /// Why a pooled engine could not be made, if one could not; waits until they are: the
    /// 0.2 one always (`tessera check` says whether the server could reserve its pool), the
    /// 0.3 one when a 0.3 component was loaded without it.
    pub fn engine_failure(&self) -> Option<LoadError> {
        if let Err(error) = self.p2.pooled() {
            return Some(error);
        }
        if self.p3.started.load(Ordering::Acquire) {
            return self.p3.pooled().err();
        }
        None
    }

    /// Makes, in the background, the pooled engine of each kind (0.2, 0.3) that has
    /// components on its start-up engine, unless a load has made it, and waits for them; once
    /// it returns `Ok`, every load goes onto them. Then the components
    /// [`HttpComponent::on_start_up_engine`] names are to be loaded again.
    pub async fn wait_for_pool(&self) -> Result<(), LoadError> {
        let pairs: Vec<Pair> = [&self.p2, &self.p3]
            .into_iter()
            .filter(|pair| pair.started.load(Ordering::Acquire))
            .cloned()
            .collect();
        for pair in &pairs {
            pair.pooled.begin_in_background();
        }
        tokio::task::spawn_blocking(move || {
            pairs.iter().try_for_each(|pair| pair.pooled().map(|_| ()))
        })
        .await
        .expect("waiting for the engine does not panic")
    }

    /// Loads one component from its `source` file. Compilation runs on a blocking thread;
    /// call several loads at once to compile components in parallel.
    pub async fn load(
        &self,
        spec: &ComponentSpec,
        caps: Arc<Capabilities>,
    ) -> Result<(HttpComponent, LoadReport), LoadError> {
        self.load_from(spec, None, &spec.source, caps).await
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
        self.load_from(spec, Some(wasm), origin, caps).await
    }

    /// Loads `wasm`, or with `None` the file at `origin`, read on the same blocking thread as
    /// the rest of the load (one hop less than `tokio::fs::read` at start-up).
    async fn load_from(
        &self,
        spec: &ComponentSpec,
        wasm: Option<Vec<u8>>,
        origin: &Path,
        caps: Arc<Capabilities>,
    ) -> Result<(HttpComponent, LoadReport), LoadError> {
        let started = Instant::now();
        let this = self.clone();
        let path = origin.to_path_buf();
        let (pre, cache, digest, starter_wasm) = tokio::task::spawn_blocking(move || {
            let wasm = match wasm {
                Some(wasm) => wasm,
                None => std::fs::read(&path).map_err(|source| LoadError::Read {
                    path: path.clone(),
                    source,
                })?,
            };
            let content = Sha256::digest(&wasm);
            // The first 12 hex digits: enough to tell versions apart in logs and answers.
            let digest = crate::cache::hex(&content[..6]);
            this.prepare(&wasm, &content, &path)
                .map(|(pre, cache, starter)| (pre, cache, digest, starter.then(|| wasm.into())))
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
            starter_wasm,
        };
        self.try_instance(&component, origin).await?;
        let report = LoadReport {
            cache,
            elapsed: started.elapsed(),
            start_up_engine: component.starter_wasm.is_some(),
        };
        Ok((component, report))
    }

    fn prepare(
        &self,
        wasm: &[u8],
        content: &[u8],
        path: &Path,
    ) -> Result<(Pre, CacheOutcome, bool), LoadError> {
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
        let pair = if p3 { &self.p3 } else { &self.p2 };
        let (side, starter) = pair.for_content(&self.cache, content)?;
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
        Ok((pre, cache, starter))
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

#[cfg(test)]
mod tests {
    use super::Making;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn a_value_made_later_is_made_when_first_asked_for_and_once() {
        let ran = Arc::new(AtomicBool::new(false));
        let making = Making::later("test", {
            let ran = ran.clone();
            move || {
                assert!(!ran.swap(true, Ordering::SeqCst), "made twice");
                Ok(7)
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!ran.load(Ordering::SeqCst), "made before it was asked for");
        assert!(!making.is_made());
        assert_eq!(making.get(), Ok(&7));
        assert!(making.is_made());
        making.begin();
        assert_eq!(making.get(), Ok(&7));
    }

    #[test]
    fn a_value_begun_now_is_made_without_being_asked_for() {
        let making = Making::later("test", || Ok("made"));
        making.begin();
        for _ in 0..500 {
            if making.is_made() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(making.is_made());
        assert_eq!(making.get(), Ok(&"made"));
    }

    #[test]
    fn a_failure_or_a_panic_is_the_reason_every_waiter_gets() {
        let failing: Making<u32> = Making::later("test", || Err("no room".into()));
        assert_eq!(failing.get(), Err("no room"));
        let panicking: Arc<Making<u32>> = Arc::new(Making::later("test", || panic!("boom")));
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let making = panicking.clone();
                std::thread::spawn(move || making.get().copied().map_err(str::to_string))
            })
            .collect();
        for waiter in waiters {
            assert_eq!(
                waiter.join().expect("a waiter"),
                Err("the thread making it panicked".to_string())
            );
        }
    }
}
