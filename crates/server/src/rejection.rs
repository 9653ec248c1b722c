//! Host-side failures and the one place that decides their status codes and bodies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Response, StatusCode};
use tessera_runtime::InvokeError;

use crate::ResponseBody;

/// A request the host answers itself instead of a guest.
#[derive(Debug)]
pub enum Rejection {
    /// No route matches the path.
    NotFound,
    /// Routes match the path but not the method.
    MethodNotAllowed(Vec<Method>),
    /// The component could not serve it.
    Invoke(InvokeError),
}

impl Rejection {
    /// The status for each kind of failure. Keep this table the only place that decides.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Invoke(error) => match error {
                InvokeError::Busy { .. } | InvokeError::PoolFull { .. } => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                InvokeError::BadRequest { .. } => StatusCode::BAD_REQUEST,
                InvokeError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                InvokeError::MemoryCap { .. }
                | InvokeError::Trap { .. }
                | InvokeError::NoResponse { .. }
                | InvokeError::GuestError { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// What the client is told. Details of a guest failure stay in the log, which the
    /// request id links to.
    fn message(&self) -> String {
        match self {
            Self::NotFound => "no route matches this path".into(),
            Self::MethodNotAllowed(_) => "the route does not accept this method".into(),
            Self::Invoke(error) => match error {
                InvokeError::Busy { .. } | InvokeError::PoolFull { .. } => {
                    "the component is at capacity; retry shortly".into()
                }
                InvokeError::BadRequest { reason, .. } => reason.clone(),
                InvokeError::Timeout { .. } => "the component did not answer in time".into(),
                _ => "the component failed".into(),
            },
        }
    }

    /// The response for this rejection. Guest failures (5xx from a component) carry a
    /// request id that the log line repeats.
    pub fn into_response(self, request_id: Option<&str>) -> Response<ResponseBody> {
        let status = self.status();
        let mut body = serde_json::json!({ "error": self.message(), "status": status.as_u16() });
        if let Some(id) = request_id {
            body["request_id"] = id.into();
        }
        let mut response = Response::new(ResponseBody::host(body.to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match &self {
            Self::MethodNotAllowed(methods) => {
                let allow = methods
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                headers.insert(
                    ALLOW,
                    HeaderValue::from_str(&allow).expect("method names are valid header text"),
                );
            }
            Self::Invoke(InvokeError::Busy { .. } | InvokeError::PoolFull { .. }) => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// Issues request ids for failed requests: unique within a process and, thanks to the start
/// time in the high bits, unlikely to repeat across restarts.
pub(crate) struct RequestIds {
    base: u64,
    next: AtomicU64,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            base: now << 32,
            next: AtomicU64::new(0),
        }
    }

    pub(crate) fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}", self.base.wrapping_add(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_table() {
        let trap = Rejection::Invoke(InvokeError::Trap {
            component: "c".into(),
            reason: "boom".into(),
        });
        assert_eq!(trap.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let busy = Rejection::Invoke(InvokeError::Busy {
            component: "c".into(),
            limit: 1,
        });
        let response = busy.into_response(None);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn method_not_allowed_lists_methods() {
        let response =
            Rejection::MethodNotAllowed(vec![Method::GET, Method::HEAD]).into_response(None);
        assert_eq!(response.headers()[ALLOW], "GET, HEAD");
    }

    #[test]
    fn request_ids_differ() {
        let ids = RequestIds::new();
        assert_ne!(ids.next(), ids.next());
    }
}
