//! A running application whose components can be replaced, one at a time, while it serves.
//!
//! The server reads the current [`App`] once per request and keeps that `Arc` until the
//! response is done. A replacement compiles and links the new version first (nothing changes
//! if that fails), then builds a new `App` around it and publishes it with one atomic store:
//! requests that arrive afterwards get the new version, requests already running finish on
//! the old one, and the old version is freed when its last request ends.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tessera_manifest::{ComponentSpec, Manifest};
use tessera_runtime::{CacheOutcome, Capabilities, ComponentLoader, HttpComponent, LoadError};

use crate::{App, Middleware};

/// How long after a load the instance pool begins to be reserved, when the components were
/// loaded onto the start-up engine. Reserving it maps and protects a thousand slots, and each
/// change to the process's mappings stalls the page faults of the threads serving the first
/// requests (on two cores, the first answer came 0.3–1 ms later when the pool began at once;
/// docs/performance.md, "The pool after the first answer"). 50 ms is past the first answers
/// of a replica that gets requests the moment it listens, and long before a readiness probe.
const POOL_AFTER_START: Duration = Duration::from_millis(50);

/// An [`App`] that can change while it serves.
pub struct LiveApp {
    current: ArcSwap<App>,
    manifest: Manifest,
    middleware: Middleware,
    loader: ComponentLoader,
    pub(crate) capabilities: BTreeMap<String, Arc<Capabilities>>,
    /// One replacement at a time: two at once would each build on the app before the other
    /// and the second store would undo the first. A Tokio mutex because compiling happens
    /// while it is held.
    replacing: tokio::sync::Mutex<()>,
    /// Set when the server starts draining: not ready from then on (`health.rs`).
    pub(crate) draining: std::sync::atomic::AtomicBool,
}

/// What a replacement did.
#[derive(Debug, Clone)]
pub struct Replaced {
    /// The component.
    pub id: String,
    /// The digest of the version now serving.
    pub digest: String,
    /// The digest of the version it replaced.
    pub previous: String,
    /// Whether the new version came from the compile cache.
    pub cache: CacheOutcome,
    /// From the call to the new version serving (compiling or reading the cache, linking,
    /// one trial instance, rebuilding the routes).
    pub elapsed: Duration,
}

/// Why a replacement was refused. The old version keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The manifest has no such component.
    #[error("the manifest has no component \"{0}\"")]
    Unknown(String),
    /// The new version does not load.
    #[error("the new version of \"{id}\" was refused, the old one keeps serving: {error}")]
    Load {
        /// The component.
        id: String,
        /// Why it does not load.
        error: LoadError,
    },
}

impl ReplaceError {
    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            Self::Unknown(_) => "use an id from the manifest's [component.<id>] sections".into(),
            Self::Load { error, .. } => error.fix(),
        }
    }
}

impl LiveApp {
    /// Serves `app`, which was loaded from `manifest` with `middleware`, `loader` and
    /// `capabilities`; replacements are loaded the same way.
    pub fn new(
        app: App,
        manifest: Manifest,
        middleware: Middleware,
        loader: ComponentLoader,
        capabilities: BTreeMap<String, Arc<Capabilities>>,
    ) -> Self {
        Self {
            current: ArcSwap::from_pointee(app),
            manifest,
            middleware,
            loader,
            capabilities,
            replacing: tokio::sync::Mutex::new(()),
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The app serving now. Keep it for the whole request: it keeps the versions the request
    /// started on alive.
    pub fn current(&self) -> Arc<App> {
        self.current.load_full()
    }

    /// The manifest the app was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Replaces component `id` with `wasm`, or with what its `source` file holds now when
    /// `wasm` is `None`. Returns once new requests get the new version.
    pub async fn replace(&self, id: &str, wasm: Option<Vec<u8>>) -> Result<Replaced, ReplaceError> {
        let spec = self
            .manifest
            .components
            .get(id)
            .ok_or_else(|| ReplaceError::Unknown(id.to_string()))?;
        let started = Instant::now();
        let caps = self.capabilities_of(id);
        let _one_at_a_time = self.replacing.lock().await;
        let result = self.load_and_swap(id, spec, wasm, caps, started).await;
        if let Some(metrics) = &self.current.load().metrics {
            metrics.replaced(id, result.is_ok());
            if let Ok(replaced) = &result {
                metrics.loaded(id, replaced.cache);
            }
        }
        result
    }

    async fn load_and_swap(
        &self,
        id: &str,
        spec: &ComponentSpec,
        wasm: Option<Vec<u8>>,
        caps: Arc<Capabilities>,
        started: Instant,
    ) -> Result<Replaced, ReplaceError> {
        let loaded = match wasm {
            Some(wasm) => {
                let origin = format!("the new version of component \"{id}\"");
                self.loader
                    .load_wasm(spec, wasm, Path::new(&origin), caps)
                    .await
            }
            None => self.loader.load(spec, caps).await,
        };
        let (component, report) = loaded.map_err(|error| ReplaceError::Load {
            id: id.to_string(),
            error,
        })?;
        let digest = component.digest().to_string();
        let previous = self.swap_in(id, component);
        let replaced = Replaced {
            id: id.to_string(),
            digest,
            previous,
            cache: report.cache,
            elapsed: started.elapsed(),
        };
        tracing::info!(
            component = id,
            "replaced {} -> {} in {} ms ({})",
            replaced.previous,
            replaced.digest,
            replaced.elapsed.as_millis(),
            match replaced.cache {
                CacheOutcome::Hit => "from the compile cache",
                CacheOutcome::Compiled | CacheOutcome::CompiledUncached => "compiled",
            }
        );
        Ok(replaced)
    }

    /// What component `id` may reach (none, for a component without grants).
    fn capabilities_of(&self, id: &str) -> Arc<Capabilities> {
        self.capabilities
            .get(id)
            .cloned()
            .unwrap_or_else(|| Capabilities::none(id))
    }

    /// Publishes `component` as the version of `id` that new requests get; returns the
    /// digest of the one it replaces.
    fn swap_in(&self, id: &str, component: HttpComponent) -> String {
        let old = self.current.load_full();
        let previous = old
            .components()
            .get(id)
            .map(|c| c.digest().to_string())
            .unwrap_or_default();
        let app = old.with_component(&self.manifest, &self.middleware, Arc::new(component));
        self.current.store(Arc::new(app));
        previous
    }

    /// Moves the components serving from the start-up engine (loaded before the instance
    /// pool was made; see `ComponentLoader`) onto the pooled engine, which it begins to make
    /// 50 ms after the load (`POOL_AFTER_START`): each is
    /// loaded again from the compile cache and switched to as a replacement is, so requests
    /// already running finish on the start-up engine and new ones get the pool. Returns when
    /// done, at once if no component is on the start-up engine. If the pool cannot be made,
    /// the components stay where they are, and an error says so once.
    pub async fn move_to_pool(&self, started: Instant) {
        let ids: Vec<String> = self
            .current()
            .components()
            .iter()
            .filter(|(_, component)| component.on_start_up_engine().is_some())
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        tokio::time::sleep(POOL_AFTER_START).await;
        if let Err(error) = self.loader.wait_for_pool().await {
            tracing::error!(
                "{error}; serving on the start-up engine, which maps each instance's memory as \
                 it is made, without the pool's limit on instances, instead of moving onto the \
                 instance pool ({})",
                error.fix()
            );
            return;
        }
        let mut moved = 0;
        for id in ids {
            let _one_at_a_time = self.replacing.lock().await;
            // Read under the lock: a replacement may have come first.
            let Some(wasm) = self
                .current()
                .components()
                .get(&id)
                .and_then(|component| component.on_start_up_engine().map(<[u8]>::to_vec))
            else {
                continue;
            };
            let Some(spec) = self.manifest.components.get(&id) else {
                continue;
            };
            let caps = self.capabilities_of(&id);
            let origin = format!("component \"{id}\" (moving onto the instance pool)");
            match self
                .loader
                .load_wasm(spec, wasm, Path::new(&origin), caps)
                .await
            {
                Ok((component, _)) => {
                    self.swap_in(&id, component);
                    moved += 1;
                }
                Err(error) => tracing::warn!(
                    component = id,
                    "stays on the start-up engine: loading it onto the pooled engine failed: {error}"
                ),
            }
        }
        tracing::info!(
            "moved {moved} {} onto the instance pool, {} ms after the load began",
            if moved == 1 {
                "component"
            } else {
                "components"
            },
            started.elapsed().as_millis()
        );
    }
}
