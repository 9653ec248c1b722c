//! [`AppService`]: an [`App`](crate::App) as a [`tower::Service`], for axum, hyper or tower.
//!
//! ```no_run
//! # async fn run() -> Result<(), tessera::Error> {
//! use axum::Router;
//! use axum::routing::get;
//!
//! let wasm = tessera::App::builder().manifest("tessera.toml").build().await?;
//! let router = Router::new()
//!     .route("/status", get(|| async { "native" }))
//!     .nest_service("/wasm", wasm.service());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, router).await?;
//! # Ok(()) }
//! ```
//!
//! Prefixes: axum's `nest_service` strips the prefix before it calls the service, so the
//! manifest's routes match the rest of the path. Mounted at `/wasm`, a request for
//! `/wasm/api/users/7` reaches the route `/api/users/:id`, and the component sees the path
//! `/api/users/7` (the full path is in axum's `OriginalUri` extension). A service mounted
//! without a prefix (`fallback_service`, or a plain hyper server) sees paths whole.
//!
//! The client's address, which per-IP rate limits key on, is read from a
//! [`ClientAddr`](tessera_server::ClientAddr) in the request's extensions; without one every
//! request counts as coming from `0.0.0.0`.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt as _;
use tessera_runtime::HttpError;
use tessera_server::{ClientAddr, Connection, ResponseBody};

use crate::app::Inner;

/// The app as a service. Cloning it is cheap; every clone serves the app's current version
/// (a component replaced through [`App::replace`](crate::App::replace) serves the next
/// request), and keeps the app's deadlines running.
#[derive(Clone)]
pub struct AppService {
    inner: Arc<Inner>,
}

impl AppService {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }
}

/// The future of `AppService::call` (its [`tower::Service`] implementation).
pub type Responding =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

impl<B> tower::Service<Request<B>> for AppService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Responding;

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The app as it is now, for the whole request (see LiveApp::current).
        let app = self.inner.live.current();
        let peer = request
            .extensions()
            .get::<ClientAddr>()
            .map_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), |c| c.0);
        let host = request
            .headers()
            .get(HOST)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("localhost"));
        let request = request
            .map(|body| body.map_err(|e| HttpError::InternalError(Some(e.into().to_string()))));
        Box::pin(async move {
            // The outer server knows whether it is TLS; a scheme it put in the URI stays.
            let connection = Connection::new(host, peer, false, false);
            Ok(app.handle(request, &connection).await)
        })
    }

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
}
