//! Shutdown: what asks the server to stop, and how long in-flight requests get to finish.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Resolves when the server should stop accepting connections.
///
/// The server then lets in-flight requests finish for up to its grace period, and returns.
pub struct Shutdown {
    signal: Pin<Box<dyn Future<Output = ()> + Send>>,
}

/// The default time in-flight requests get to finish after a shutdown signal.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

impl Shutdown {
    /// Shut down on SIGINT (Ctrl-C) or SIGTERM (what `kill` and container runtimes send).
    pub fn on_signals() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut terminate = signal(SignalKind::terminate())?;
            Ok(Self::new(async move {
                tokio::select! {
                    _ = interrupt.recv() => tracing::info!("SIGINT received: shutting down"),
                    _ = terminate.recv() => tracing::info!("SIGTERM received: shutting down"),
                }
            }))
        }
        #[cfg(not(unix))]
        {
            Ok(Self::new(async {
                let _ = tokio::signal::ctrl_c().await;
            }))
        }
    }

    /// Shut down when `signal` resolves.
    pub fn new(signal: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            signal: Box::pin(signal),
        }
    }

    /// Never shut down.
    pub fn never() -> Self {
        Self::new(std::future::pending())
    }
}

impl Future for Shutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.signal.as_mut().poll(cx)
    }
}
