//! Tessera's HTTP server: routes requests to components and serves them over HTTP/1.1 and
//! HTTP/2, with graceful shutdown.
//!
//! # Layout
//! - `app`: an [`App`]: routes bound to loaded components.
//! - `router`: the method + path [`Router`].
//! - `service`: the per-request path.
//! - `middleware`: route middleware, built once and composed per route.
//! - `rejection`: host-side failures and their status codes, in one table.
//! - `body`: the response body type.
//! - `files`: static files routes (`files = "web"`).
//! - `live`: an app whose components can be replaced while it serves ([`LiveApp`]).
//! - `admin`: the admin endpoint (replace a component over HTTP).
//! - `health`: `/healthz` and `/readyz` on the admin and metrics listeners.
//! - `metrics`: Prometheus metrics and the endpoint that serves them.
//! - `side`: the accept loop of the admin and metrics listeners.
//! - `trace`: each request's OpenTelemetry span.
//! - `serve`: the accept loop ([`Server`]).
//! - `connections`: the limits on connections, in all and per client address.
//! - `tls`: the certificate a server presents over TLS ([`Tls`]), re-read on demand.
//! - `shutdown`: what stops the server ([`Shutdown`]).

#![forbid(unsafe_code)]

mod admin;
mod app;
mod body;
mod connections;
mod files;
#[doc(hidden)]
pub mod fuzzing;
mod health;
mod live;
mod metrics;
pub mod middleware;
mod rejection;
pub mod router;
mod serve;
mod service;
mod shutdown;
mod side;
mod tls;
mod trace;
mod warn_every;

pub use admin::{AdminServer, AdminToken};
pub use app::{App, PARAM_HEADER_PREFIX, PATH_REST_HEADER, RESERVED_HEADER_PREFIX, ROUTE_HEADER};
pub use body::{BoxError, ResponseBody};
pub use health::PROBE_TIMEOUT;
pub use live::{LiveApp, ReplaceError, Replaced};
pub use metrics::{Metrics, MetricsServer};
pub use middleware::Middleware;
pub use rejection::Rejection;
pub(crate) use rejection::Rejections;
pub use router::Router;
pub use serve::{LISTEN_BACKLOG, ServeOptions, Server, listen};
pub use service::{ClientAddr, Connection};
pub use shutdown::{DEFAULT_GRACE, Shutdown};
pub use tls::{Tls, TlsError};
