//! The accept loop: HTTP/1.1 with keep-alive and HTTP/2 on one port, in cleartext (h2c with
//! prior knowledge) or over TLS (ALPN), and graceful shutdown.

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

use crate::{Connection, LiveApp, Shutdown, Tls};

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a [`Server`] treats its connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How long in-flight requests get to finish after shutdown is requested.
    pub grace: Duration,
    /// The most a request's head may take, in bytes: the request line and headers over
    /// HTTP/1.1, the header list over HTTP/2. A larger one is answered 431 (HTTP/1.1) or has
    /// its stream refused (HTTP/2). At least [`ServeOptions::MIN_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// Serve over TLS with this certificate (`None`: cleartext).
    pub tls: Option<Tls>,
}

impl ServeOptions {
    /// 64 KiB: far above what browsers send (cookies included), far below what a flood of
    /// headers would need.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
    /// hyper's HTTP/1.1 reader needs room for at least 8 KiB.
    pub const MIN_HEADER_BYTES: usize = 8 * 1024;
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: crate::shutdown::DEFAULT_GRACE,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            tls: None,
        }
    }
}

/// A bound listener serving one [`LiveApp`].
pub struct Server {
    app: Arc<LiveApp>,
    listener: TcpListener,
    options: ServeOptions,
}

impl Server {
    /// Binds `addr`. The app is fully loaded before this is called, so a bad manifest or
    /// component never gets as far as opening a port.
    pub async fn bind(app: Arc<LiveApp>, addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self {
            app,
            listener,
            options: ServeOptions::default(),
        })
    }

    /// Serves on a listener bound elsewhere.
    pub fn from_listener(app: Arc<LiveApp>, listener: TcpListener) -> Self {
        Self {
            app,
            listener,
            options: ServeOptions::default(),
        }
    }

    /// Sets how long in-flight requests get to finish after shutdown is requested.
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.options.grace = grace;
        self
    }

    /// Sets every option at once.
    #[must_use]
    pub fn with_options(mut self, options: ServeOptions) -> Self {
        self.options = options;
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
            options,
        } = self;
        let ServeOptions {
            grace,
            max_header_bytes,
            tls,
        } = options;
        let header_bytes = max_header_bytes.max(ServeOptions::MIN_HEADER_BYTES);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(header_bytes)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(header_bytes).unwrap_or(u32::MAX));
        // Shared by the connections' tasks.
        let builder = Arc::new(builder);
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
            let connection = Arc::new(Connection {
                host,
                peer,
                secure: tls.is_some(),
            });
            let app = app.clone();
            let service = service_fn(move |request| {
                // The app as it is now, kept until the response is done: a component replaced
                // meanwhile serves this request on its old version.
                let app = app.current();
                let connection = connection.clone();
                async move { Ok::<_, std::convert::Infallible>(app.handle(request, &connection).await) }
            });
            let builder = builder.clone();
            let watcher = graceful.watcher();
            let tls = tls.as_ref().map(|tls| tls.acceptor().clone());
            tokio::spawn(async move {
                let ended = match tls {
                    None => {
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        watcher.watch(connection.into_owned()).await
                    }
                    Some(acceptor) => {
                        let stream = match tokio::time::timeout(
                            TLS_HANDSHAKE_TIMEOUT,
                            acceptor.accept(stream),
                        )
                        .await
                        {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!("TLS handshake with {peer} failed: {error}");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!("TLS handshake with {peer} timed out");
                                return;
                            }
                        };
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        watcher.watch(connection.into_owned()).await
                    }
                };
                if let Err(error) = ended {
                    tracing::debug!("connection ended with an error: {error}");
                }
            });
        }

        // Not ready from now on (`/readyz`): load balancers stop sending while the
        // connections open drain.
        app.drain();
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
