//! The accept loop: HTTP/1.1 with keep-alive and HTTP/2 (h2c, prior knowledge) on one port,
//! and graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::{Connection, LiveApp, Shutdown};

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound listener serving one [`LiveApp`].
pub struct Server {
    app: Arc<LiveApp>,
    listener: TcpListener,
    grace: Duration,
}

impl Server {
    /// Binds `addr`. The app is fully loaded before this is called, so a bad manifest or
    /// component never gets as far as opening a port.
    pub async fn bind(app: Arc<LiveApp>, addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            app,
            listener,
            grace: crate::shutdown::DEFAULT_GRACE,
        })
    }

    /// Serves on a listener bound elsewhere.
    pub fn from_listener(app: Arc<LiveApp>, listener: TcpListener) -> Self {
        Self {
            app,
            listener,
            grace: crate::shutdown::DEFAULT_GRACE,
        }
    }

    /// Sets how long in-flight requests get to finish after shutdown is requested.
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting, waits up to the grace period
    /// for in-flight requests, and returns. Returns `true` if every connection finished in
    /// time.
    pub async fn run(self, shutdown: Shutdown) -> bool {
        let Self {
            app,
            listener,
            grace,
        } = self;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true);
        builder.http2().timer(TokioTimer::new());
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);

        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Nagle's algorithm can delay small writes by 40 ms on Linux; guests streaming
            // small chunks would feel it.
            let _ = stream.set_nodelay(true);
            let host = stream
                .local_addr()
                .ok()
                .and_then(|addr| HeaderValue::try_from(addr.to_string()).ok())
                .unwrap_or_else(|| HeaderValue::from_static("localhost"));
            let connection = Arc::new(Connection { host, peer });
            let app = app.clone();
            let service = service_fn(move |request| {
                // The app as it is now, kept until the response is done: a component replaced
                // meanwhile serves this request on its old version.
                let app = app.current();
                let connection = connection.clone();
                async move { Ok::<_, std::convert::Infallible>(app.handle(request, &connection).await) }
            });
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!("connection ended with an error: {error}");
                }
            });
        }

        drop(listener);
        let open = graceful.count();
        if open > 0 {
            tracing::info!("waiting up to {grace:?} for {open} open connection(s) to finish");
        }
        tokio::select! {
            () = graceful.shutdown() => {
                tracing::info!("all connections closed");
                true
            }
            () = tokio::time::sleep(grace) => {
                tracing::warn!("in-flight requests did not finish within {grace:?}; stopping anyway");
                false
            }
        }
    }
}
