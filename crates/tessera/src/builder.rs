//! [`AppBuilder`]: everything `tessera up` does before it binds a port, as a library call.
//!
//! ```no_run
//! # async fn load() -> Result<(), tessera::Error> {
//! let app = tessera::App::builder()
//!     .manifest("examples/hello/tessera.toml")
//!     .state_dir("/var/lib/hello")
//!     .build()
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use opentelemetry_sdk::trace::SdkTracer;
use tessera_manifest::{Diagnostic, Manifest, ManifestError, RuntimeConfig};
use tessera_runtime::capabilities::sql::migrate::Mode as MigrationMode;
use tessera_runtime::{
    Backends, CacheOutcome, Capabilities, CompileCache, ComponentLoader, EngineSettings,
    EpochTicker, Purpose,
};
use tessera_server::{LiveApp, Metrics, Middleware};

use crate::{App, Error};

/// Where compiled components are cached.
#[derive(Debug, Clone)]
enum Cache {
    /// `$XDG_CACHE_HOME/tessera` or `~/.cache/tessera`.
    Default,
    /// This directory.
    Dir(PathBuf),
    /// Nowhere: every component is compiled at every load.
    Off,
}

/// How to load an application. Made by [`App::builder`]; every setting is optional but the
/// manifest.
#[derive(Debug, Clone)]
pub struct AppBuilder {
    manifest: PathBuf,
    runtime_config: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    cache: Cache,
    max_instances: u32,
    access_log: bool,
    metrics: Option<Arc<Metrics>>,
    tracer: Option<SdkTracer>,
    /// The loader whose engine [`AppBuilder::start_engine`] started making.
    started: Started,
}

/// A loader made ahead of the load, its engine on its way.
#[derive(Default)]
struct Started(Option<ComponentLoader>);

/// A clone of the builder makes an engine of its own: two apps never share one by accident
/// (nor its instance pool).
impl Clone for Started {
    fn clone(&self) -> Self {
        Self(None)
    }
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Started"
        } else {
            "NotStarted"
        })
    }
}

impl Default for AppBuilder {
    fn default() -> Self {
        Self {
            manifest: PathBuf::from("tessera.toml"),
            runtime_config: None,
            state_dir: None,
            cache: Cache::Default,
            max_instances: EngineSettings::default().max_instances,
            access_log: false,
            metrics: None,
            tracer: None,
            started: Started::default(),
        }
    }
}

/// An application loaded only to check it ([`AppBuilder::check`]).
#[derive(Debug)]
pub struct Checked {
    /// The validated manifest.
    pub manifest: Manifest,
}

/// What a load produced, before it is an [`App`] (serving) or a [`Checked`] (checking).
struct Loaded {
    manifest: Manifest,
    runtime: RuntimeConfig,
    app: tessera_server::App,
    middleware: Middleware,
    loader: ComponentLoader,
    capabilities: BTreeMap<String, Arc<Capabilities>>,
    ticker: EpochTicker,
}

impl AppBuilder {
    /// The application's `tessera.toml` (default: `tessera.toml` in the working directory).
    #[must_use]
    pub fn manifest(mut self, path: impl Into<PathBuf>) -> Self {
        self.manifest = path.into();
        self
    }

    /// The runtime configuration: which backends serve the stores and databases, and secrets
    /// (default: the `default` store and database, embedded under the state directory).
    #[must_use]
    pub fn runtime_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_config = Some(path.into());
        self
    }

    /// Where embedded stores and databases keep their files (default: `.tessera` next to the
    /// manifest, or the runtime configuration's `state_dir`).
    #[must_use]
    pub fn state_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(path.into());
        self
    }

    /// Cache compiled components in `dir` (default: `$XDG_CACHE_HOME/tessera`).
    #[must_use]
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = Cache::Dir(dir.into());
        self.started = Started::default();
        self
    }

    /// Compile every component afresh and cache nothing.
    #[must_use]
    pub fn no_cache(mut self) -> Self {
        self.cache = Cache::Off;
        self.started = Started::default();
        self
    }

    /// Instances that may exist at once across all components (default 1000).
    #[must_use]
    pub fn max_instances(mut self, n: u32) -> Self {
        self.max_instances = n;
        self.started = Started::default();
        self
    }

    /// Starts making the WebAssembly start-up engine now (when there is a compile cache), on a
    /// thread of its own, instead of when [`AppBuilder::build`] or [`AppBuilder::check`]
    /// begins; a caller with start-up work of its own (its logging, its Tokio runtime) lets it
    /// run meanwhile. (The engine with the instance pool is made after the load, or during it
    /// for a component that must be compiled: see `ComponentLoader` in `tessera-runtime`.)
    /// Call it after
    /// [`AppBuilder::max_instances`] and the cache settings: changing them afterwards drops
    /// the engine started here, and the load makes another. A clone of the builder does not
    /// share it: each app has an engine and an instance pool of its own.
    ///
    /// ```no_run
    /// // Before the Tokio runtime exists: the engine needs none.
    /// let builder = tessera::App::builder()
    ///     .manifest("examples/hello/tessera.toml")
    ///     .start_engine();
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let app = runtime.block_on(builder.build())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn start_engine(mut self) -> Self {
        self.started = Started(Some(self.loader()));
        self
    }

    /// A loader for these settings, its engine being made on a thread of its own.
    fn loader(&self) -> ComponentLoader {
        let settings = EngineSettings {
            max_instances: self.max_instances,
            ..EngineSettings::default()
        };
        let cache = match &self.cache {
            Cache::Off => CompileCache::disabled(),
            Cache::Dir(dir) => CompileCache::new(dir.clone()),
            Cache::Default => {
                CompileCache::default_dir().map_or_else(CompileCache::disabled, CompileCache::new)
            }
        };
        ComponentLoader::new(&settings, cache)
    }

    /// Log one line per request (target `tessera::access`).
    #[must_use]
    pub fn access_log(mut self, enabled: bool) -> Self {
        self.access_log = enabled;
        self
    }

    /// Keep Prometheus metrics of every request in `metrics` (serve them with
    /// [`MetricsServer`](crate::MetricsServer), or encode them yourself with
    /// [`Metrics::encode`]). They survive live replacements.
    #[must_use]
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Trace every request with `tracer` (OpenTelemetry): a server span per request,
    /// continuing an incoming W3C `traceparent`, with spans under it for each middleware step,
    /// the instantiation, the guest's call and each of its key-value, SQL and outbound HTTP
    /// calls; outbound requests carry the trace on. Where the spans go (an OTLP exporter, say)
    /// and which are sampled is the tracer provider's business.
    #[must_use]
    pub fn tracer(mut self, tracer: SdkTracer) -> Self {
        self.tracer = Some(tracer);
        self
    }

    /// Loads the application to serve it: validates the manifest, opens the stores and
    /// databases (embedded ones exclusively), applies SQL migrations, compiles (or reads from
    /// the cache) and links every component, makes one trial instance of each, and starts the
    /// epoch ticker that enforces deadlines for as long as the [`App`] or a service made from
    /// it lives. Every problem is reported at once, in [`Error::Invalid`].
    ///
    /// Components found in the compile cache may start serving on a start-up engine before
    /// the instance pool is reserved; a task on the current Tokio runtime begins reserving it
    /// 50 ms later and then moves them onto it (`ComponentLoader` in `tessera-runtime` says
    /// why and how).
    pub async fn build(self) -> Result<App, Error> {
        let began = Instant::now();
        let (access_log, metrics) = (self.access_log, self.metrics.clone());
        let tracer = self.tracer.clone();
        let loaded = self.load(Purpose::Serve).await?;
        let app = loaded.app.with_access_log(access_log).with_tracer(tracer);
        let app = match &metrics {
            Some(metrics) => app.with_metrics(metrics.clone()),
            None => app,
        };
        let live = Arc::new(LiveApp::new(
            app,
            loaded.manifest,
            loaded.middleware,
            loaded.loader,
            loaded.capabilities,
        ));
        if let Some(metrics) = &metrics {
            metrics.watch(&live);
        }
        tokio::spawn({
            let live = live.clone();
            async move { live.move_to_pool(began).await }
        });
        Ok(App::new(live, loaded.runtime, loaded.ticker))
    }

    /// Does everything [`AppBuilder::build`] does short of serving, beside a host that may be
    /// serving the same application: networked backends are reached, an embedded key-value
    /// store is only probed, and pending SQL migrations are run and rolled back.
    pub async fn check(self) -> Result<Checked, Error> {
        let loaded = self.load(Purpose::Check).await?;
        // Components in the compile cache may have loaded without the pooled engine: a check
        // also says whether it can be made.
        if let Some(failure) = loaded.loader.engine_failure() {
            return Err(Error::Engine(failure));
        }
        Ok(Checked {
            manifest: loaded.manifest,
        })
    }

    async fn load(mut self, purpose: Purpose) -> Result<Loaded, Error> {
        // First: the loader starts making its engine on a thread of its own (unless
        // `start_engine` did), which the manifest, the backends and the components' reading
        // need not wait for.
        let loader = match self.started.0.take() {
            Some(loader) => loader,
            None => self.loader(),
        };
        let manifest = Manifest::load(&self.manifest)?;
        let runtime = match &self.runtime_config {
            Some(file) => RuntimeConfig::load(file, self.state_dir.clone())?,
            None => RuntimeConfig::embedded(
                self.state_dir
                    .clone()
                    .unwrap_or_else(|| manifest.dir.join(".tessera")),
            ),
        };
        let env = |name: &str| std::env::var(name).ok();
        let grants = manifest.resolve(&runtime, env)?;
        // Middleware is built (keys parsed, schemas compiled) before any backend is opened or
        // component compiled: its mistakes are the cheapest to find.
        let middleware = manifest
            .resolve_middleware(&runtime, env)
            .and_then(|secrets| Middleware::build(&manifest, &secrets))
            .map(|mut middleware| {
                middleware.trace_steps(self.tracer.is_some());
                middleware
            })?;
        let shared_limits: BTreeSet<String> = manifest
            .shared_limit_stores()
            .map(|store| store.name.clone())
            .collect();
        let mut backends = Backends::open(&runtime, &grants, &shared_limits, purpose)
            .await
            .map_err(|errors| {
                let file = runtime.file.as_ref().unwrap_or(&manifest.file);
                ManifestError {
                    diagnostics: errors
                        .iter()
                        .map(|e| {
                            Diagnostic::new(
                                file,
                                format!("{}.{}", e.kind.section(), e.name),
                                e.to_string(),
                                e.fix(),
                            )
                        })
                        .collect(),
                }
            })?;
        // Schemas before components: a component's trial instance may already query them.
        let mode = match purpose {
            Purpose::Serve => MigrationMode::Apply,
            Purpose::Check => MigrationMode::Try,
        };
        let failed = backends.migrate(&manifest.sql_databases, mode).await;
        if !failed.is_empty() {
            return Err(Error::Invalid(ManifestError {
                diagnostics: failed
                    .iter()
                    .map(|(name, error)| {
                        Diagnostic::new(
                            &manifest.file,
                            format!("sql_database.{name}.migrations"),
                            format!("database \"{name}\": {error}"),
                            error.fix(),
                        )
                        .at_line(manifest.sql_databases[name].line)
                    })
                    .collect(),
            }));
        }
        if let Some(metrics) = &self.metrics {
            backends.observe(metrics.clone());
        }
        middleware.share_limits(|name| backends.key_value(name));
        let capabilities: BTreeMap<_, _> = grants
            .iter()
            .map(|(id, grants)| (id.clone(), backends.capabilities(id, grants)))
            .collect();
        // Ticking before the components load: a trial instance whose start-up code loops is
        // stopped at its deadline like a request.
        let ticker = EpochTicker::start(loader.engines(), EngineSettings::default().epoch_tick);
        let (app, reports) =
            match tessera_server::App::load(&manifest, &loader, &capabilities, &middleware).await {
                Ok(loaded) => loaded,
                // An engine that could not be made fails every component alike: say it once.
                Err(invalid) => {
                    return Err(loader
                        .engine_failure()
                        .map_or(Error::Invalid(invalid), Error::Engine));
                }
            };
        for (id, report) in reports {
            let how = match report.cache {
                CacheOutcome::Hit => "loaded from the compile cache",
                CacheOutcome::Compiled => "compiled and cached",
                CacheOutcome::CompiledUncached => "compiled (not cached)",
            };
            let engine = if report.start_up_engine {
                " (onto the start-up engine until the instance pool is reserved)"
            } else {
                ""
            };
            tracing::info!(
                "component {id}: {how} in {} ms{engine}",
                report.elapsed.as_millis()
            );
            if let Some(metrics) = &self.metrics {
                metrics.loaded(&id, report.cache);
            }
        }
        Ok(Loaded {
            manifest,
            runtime,
            app,
            middleware,
            loader,
            capabilities,
            ticker,
        })
    }
}
