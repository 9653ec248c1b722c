//! Liveness and readiness, for load balancers and Kubernetes probes: `GET /healthz` and
//! `GET /readyz` on the admin and the metrics listeners, answered without a token.
//!
//! - `/healthz`: `200 ok` while the process serves at all.
//! - `/readyz`: `200 ready` when the app is loaded, not draining, and every store and database
//!   a component is granted answers (a key-value lookup, a SQL connection), within
//!   [`PROBE_TIMEOUT`]; otherwise `503` with the reason. From the moment a shutdown begins
//!   (SIGTERM) it says `503 draining`, while in-flight requests finish.

use std::sync::atomic::Ordering;
use std::time::Duration;

use http::{HeaderValue, Method, Response, StatusCode};

use bytes::Bytes;
use http_body_util::Full;

use crate::LiveApp;

/// How long the backends get to answer a readiness probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl LiveApp {
    /// Turns readiness off for good: the server is about to stop.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether the app is ready for traffic, or why not.
    pub async fn ready(&self) -> Result<(), String> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("draining".into());
        }
        let probes = async {
            for caps in self.capabilities.values() {
                caps.probe().await?;
            }
            Ok(())
        };
        tokio::time::timeout(PROBE_TIMEOUT, probes)
            .await
            .unwrap_or_else(|_| Err(format!("backends did not answer within {PROBE_TIMEOUT:?}")))
    }
}

/// The answer to a health request (`GET` or `HEAD` of `/healthz` or `/readyz`), or `None`
/// for any other request.
pub(crate) async fn answer(
    live: Option<&LiveApp>,
    method: &Method,
    path: &str,
) -> Option<Response<Full<Bytes>>> {
    if !matches!(path, "/healthz" | "/readyz") {
        return None;
    }
    let (status, text) = if !matches!(*method, Method::GET | Method::HEAD) {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "GET or HEAD only\n".to_string(),
        )
    } else if path == "/healthz" {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        match live {
            None => (StatusCode::SERVICE_UNAVAILABLE, "not loaded\n".to_string()),
            Some(live) => match live.ready().await {
                Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                Err(why) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {why}\n"),
                ),
            },
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Some(response)
}
