//! The accept loop: HTTP/1.1 with keep-alive and HTTP/2 on one port, in cleartext (h2c with
//! prior knowledge) or over TLS (ALPN), the limits on what clients may hold (connections in
//! all and per IP, time to send the headers, streams per HTTP/2 connection), and graceful
//! shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};

use crate::connections::{Admission, Spoken, first_bytes};
use crate::{Connection, LiveApp, Shutdown, Tls};

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP/2 connection is pinged after this long without frames, and closed if the ping is
/// not answered within [`H2_PING_TIMEOUT`] (a peer gone without a FIN).
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// How long a client may take to send a request's head, and to send the next one on a
    /// keep-alive connection; and how long a new connection may take to say which HTTP
    /// version it speaks. A client slower than this has its connection closed.
    pub header_read_timeout: Duration,
    /// The most connections open at once; more are closed as they are accepted.
    pub max_connections: usize,
    /// The most connections open at once from one client IP address (0: no limit). Behind
    /// a proxy every connection comes from the proxy's address.
    pub max_connections_per_ip: usize,
    /// The most requests in progress at once on one HTTP/2 connection.
    pub max_h2_streams: u32,
}

impl ServeOptions {
    /// 64 KiB: far above what browsers send (cookies included), far below what a flood of
    /// headers would need.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
    /// hyper's HTTP/1.1 reader needs room for at least 8 KiB.
    pub const MIN_HEADER_BYTES: usize = 8 * 1024;
    /// 30 s, hyper's default: a client on a slow mobile link gets its headers through.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// 10,000: what one process serves comfortably; the file descriptor limit (`ulimit -n`)
    /// must be above it for it to be reached.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
    /// 1,000: far above what a browser opens (6 per origin), low enough that one address
    /// cannot take every connection.
    pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1_000;
    /// 200, hyper's default.
    pub const DEFAULT_MAX_H2_STREAMS: u32 = 200;
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: crate::shutdown::DEFAULT_GRACE,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            tls: None,
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: Self::DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_h2_streams: Self::DEFAULT_MAX_H2_STREAMS,
        }
    }
}

/// Connections the kernel queues for the server to accept (`listen`'s backlog; Linux caps it
/// at `net.core.somaxconn`, 4096 by default).
///
/// Tokio's and the standard library's `bind` ask for 128. When a burst of clients connects
/// faster than the accept loop takes them, the queue overflows, and with SYN cookies on (the
/// Linux default) a client whose handshake was dropped believes it is connected until it
/// sends something: ten thousand idle connections opened in a loop left the server holding
/// under half of them. 1024 is what mio asked for before it followed the standard library,
/// and between nginx's 511 and Go's `somaxconn`.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds a TCP listener on `addr` the way [`Server::bind`] does: address reuse on (a restart
/// need not wait for the last connections' `TIME_WAIT`) and a backlog of [`LISTEN_BACKLOG`].
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
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
        let listener = listen(addr)?;
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
            header_read_timeout,
            max_connections,
            max_connections_per_ip,
            max_h2_streams,
        } = options;
        let header_bytes = max_header_bytes.max(ServeOptions::MIN_HEADER_BYTES);
        // The version is chosen before hyper sees the connection (ALPN, or the first bytes in
        // cleartext), so each connection gets a builder for one protocol. hyper's own
        // detection would wait for the first bytes without a deadline.
        let mut http1 = auto::Builder::new(TokioExecutor::new()).http1_only();
        http1
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout)
            .max_buf_size(header_bytes)
            .keep_alive(true);
        let mut http2 = auto::Builder::new(TokioExecutor::new()).http2_only();
        http2
            .http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(max_h2_streams)
            .keep_alive_interval(H2_PING_INTERVAL)
            .keep_alive_timeout(H2_PING_TIMEOUT);
        // Shared by the connections' tasks.
        let builders = Arc::new((http1, http2));
        let admission = Admission::new(max_connections, max_connections_per_ip);
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
            // Over a limit: closed now (dropped), so the client knows at once.
            let Ok(admitted) = admission.admit(peer.ip()) else {
                continue;
            };
            // Nagle's algorithm can delay small writes by 40 ms on Linux; guests streaming
            // small chunks would feel it.
            let _ = stream.set_nodelay(true);
            let host = stream
                .local_addr()
                .ok()
                .and_then(|addr| HeaderValue::try_from(addr.to_string()).ok())
                .unwrap_or_else(|| HeaderValue::from_static("localhost"));
            let connection = Arc::new(Connection::new(host, peer, tls.is_some(), true));
            let app = app.clone();
            let service = service_fn(move |request| {
                // The app as it is now, kept until the response is done: a component replaced
                // meanwhile serves this request on its old version.
                let app = app.current();
                let connection = connection.clone();
                async move { Ok::<_, std::convert::Infallible>(app.handle(request, &connection).await) }
            });
            let builders = builders.clone();
            let watcher = graceful.watcher();
            let tls = tls.as_ref().map(|tls| tls.acceptor().clone());
            tokio::spawn(async move {
                let _admitted = admitted;
                let (http1, http2) = &*builders;
                let ended = match tls {
                    None => {
                        let builder = match first_bytes(&stream, header_read_timeout).await {
                            Some(Spoken::Http1) => http1,
                            Some(Spoken::Http2) => http2,
                            None => return,
                        };
                        let connection = builder.serve_connection(TokioIo::new(stream), service);
                        watcher.watch(connection.into_owned()).await
                    }
                    Some(acceptor) => {
                        let Some(stream) = tls_handshake(&acceptor, stream, peer).await else {
                            return;
                        };
                        let builder = match stream.get_ref().1.alpn_protocol() {
                            Some(b"h2") => http2,
                            _ => http1,
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

/// The TLS handshake of a connection from `peer`, within [`TLS_HANDSHAKE_TIMEOUT`]; `None`
/// (logged) if it failed or took too long.
async fn tls_handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::debug!("TLS handshake with {peer} failed: {error}");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake with {peer} timed out");
            None
        }
    }
}
