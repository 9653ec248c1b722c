//! Tessera as a library: load an application (a `tessera.toml` and its WebAssembly
//! components), then serve it on a listener of its own or mount it as a
//! [`tower::Service`] in an axum, hyper or tower server. The `tessera` command is a thin shell
//! over this crate.
//!
//! ```no_run
//! # async fn run() -> Result<(), tessera::Error> {
//! let app = tessera::App::builder().manifest("tessera.toml").build().await?;
//! let listener = tessera::listen(([127, 0, 0, 1], 3000).into())?;
//! app.serve(listener, tessera::Shutdown::on_signals()?).await;
//! # Ok(()) }
//! ```
//!
//! An [`App`] owns everything a running application needs: the Wasmtime engine and its
//! instance pool, the compile cache, the stores and databases, the middleware, and the epoch
//! ticker that enforces each component's deadline. The ticker runs for as long as the app or
//! any [`AppService`] made from it exists, so an embedded app cannot lose its deadlines.
//!
//! Embedders on a multi-threaded Tokio runtime may install
//! [`on_worker_park`](tessera_runtime::on_worker_park) as the runtime's `on_thread_park`
//! hook, as `tessera up` does: it tells the runtime which workers have requests waiting, so
//! that the work a request leaves behind is done where it costs least. Without it everything
//! works the same, a little slower under load.
//!
//! # Layout
//! - `builder`: [`AppBuilder`], loading and checking an application.
//! - `app`: [`App`], serving it and replacing its components.
//! - `service`: [`AppService`], the app as a tower service.
//! - `error`: [`Error`].

mod app;
mod builder;
mod error;
mod service;

pub use app::App;
pub use builder::{AppBuilder, Checked};
pub use error::Error;
pub use service::{AppService, Responding};
pub use tessera_server::{
    ClientAddr, LISTEN_BACKLOG, Metrics, MetricsServer, ReplaceError, Replaced, ResponseBody,
    ServeOptions, Shutdown, Tls, TlsError, listen,
};

/// The crates underneath, for what this one does not wrap.
pub mod crates {
    /// The OpenTelemetry SDK whose tracer [`AppBuilder::tracer`](crate::AppBuilder::tracer)
    /// takes, at the version Tessera was built with.
    pub use opentelemetry_sdk;
    pub use tessera_manifest as manifest;
    pub use tessera_runtime as runtime;
    pub use tessera_server as server;
}
