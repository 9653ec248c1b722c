//! [`App`]: a loaded application, ready to serve on its own listener or inside another server.
//!
//! ```no_run
//! # async fn run() -> Result<(), tessera::Error> {
//! let app = tessera::App::builder().manifest("tessera.toml").build().await?;
//! let listener = tessera::listen(([127, 0, 0, 1], 3000).into())?;
//! // What `tessera up` does: serve until SIGINT or SIGTERM, then drain for up to 30 s.
//! app.serve(listener, tessera::Shutdown::on_signals()?).await;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use tessera_manifest::{Manifest, RuntimeConfig};
use tessera_runtime::EpochTicker;
use tessera_server::{
    DEFAULT_GRACE, LiveApp, ReplaceError, Replaced, ServeOptions, Server, Shutdown,
};
use tokio::net::TcpListener;

use crate::{AppBuilder, AppService};

/// A loaded application: its components compiled and linked, its backends open, its
/// deadlines enforced. Cheap to clone; everything is shared.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) live: Arc<LiveApp>,
    runtime: RuntimeConfig,
    /// Advances the engine's epoch, without which no deadline fires. It lives as long as the
    /// app or any service made from it: there is no way to hold one without the other.
    _ticker: EpochTicker,
}

impl App {
    /// How to load an application: [`AppBuilder`].
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    pub(crate) fn new(live: Arc<LiveApp>, runtime: RuntimeConfig, ticker: EpochTicker) -> Self {
        Self {
            inner: Arc::new(Inner {
                live,
                runtime,
                _ticker: ticker,
            }),
        }
    }

    /// The manifest it was loaded from.
    pub fn manifest(&self) -> &Manifest {
        self.inner.live.manifest()
    }

    /// The runtime configuration it was loaded with (its state directory, its backends).
    pub fn runtime_config(&self) -> &RuntimeConfig {
        &self.inner.runtime
    }

    /// The replaceable application underneath, for the admin endpoint and `--watch`.
    pub fn live(&self) -> &Arc<LiveApp> {
        &self.inner.live
    }

    /// Replaces component `id` with `wasm` (or with its `source` file as it is now, for
    /// `None`) while the app serves: requests in flight finish on the old version, new ones
    /// get the new version. A version that does not load is refused and the old one serves on.
    pub async fn replace(&self, id: &str, wasm: Option<Vec<u8>>) -> Result<Replaced, ReplaceError> {
        self.inner.live.replace(id, wasm).await
    }

    /// The app as a [`tower::Service`], to mount in an axum, hyper or tower server
    /// ([`AppService`] says how requests and prefixes are handled).
    pub fn service(&self) -> AppService {
        AppService::new(self.inner.clone())
    }

    /// Serves on `listener` (HTTP/1.1 and HTTP/2 with prior knowledge) until `shutdown`
    /// resolves, then stops accepting and lets in-flight requests finish for up to 30 s.
    /// Returns `true` if they all did.
    pub async fn serve(&self, listener: TcpListener, shutdown: Shutdown) -> bool {
        self.serve_with_grace(listener, shutdown, DEFAULT_GRACE)
            .await
    }

    /// [`App::serve`] with another grace period for in-flight requests.
    pub async fn serve_with_grace(
        &self,
        listener: TcpListener,
        shutdown: Shutdown,
        grace: Duration,
    ) -> bool {
        let options = ServeOptions {
            grace,
            ..ServeOptions::default()
        };
        self.serve_with(listener, shutdown, options).await
    }

    /// [`App::serve`] with other [`ServeOptions`]: the grace period, the largest request
    /// head, TLS ([`Tls::load`](crate::Tls::load)).
    pub async fn serve_with(
        &self,
        listener: TcpListener,
        shutdown: Shutdown,
        options: ServeOptions,
    ) -> bool {
        Server::from_listener(self.inner.live.clone(), listener)
            .with_options(options)
            .run(shutdown)
            .await
    }
}
