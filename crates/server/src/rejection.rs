//! Host-side failures and the one place that decides their status codes and bodies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Response, StatusCode};
use tessera_runtime::InvokeError;

use crate::ResponseBody;
use crate::warn_every::WarnEvery;

/// A request the host answers itself instead of a guest.
#[derive(Debug)]
pub enum Rejection {
    /// No route matches the path.
    NotFound,
    /// Routes match the path but not the method.
    MethodNotAllowed(Vec<Method>),
    /// The component could not serve it.
    Invoke(InvokeError),
    /// Authentication is missing or failed (`jwt`, `api_key`).
    Unauthorized {
        /// The `WWW-Authenticate` challenge.
        challenge: HeaderValue,
        /// Why.
        message: String,
    },
    /// The client is known but not allowed (`guard`).
    Forbidden {
        /// Which requirement is not met.
        message: String,
    },
    /// Over a rate limit.
    TooManyRequests {
        /// Seconds until a request would be admitted.
        retry_after: u64,
        /// The bucket size.
        limit: u32,
    },
    /// The body is larger than allowed.
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The headers are larger or more than allowed.
    HeadersTooLarge {
        /// Which limit.
        message: String,
    },
    /// The request is malformed in a way hyper lets through: ambiguous framing, a missing or
    /// repeated `Host`, a body that broke off.
    BadRequest {
        /// What is wrong.
        message: String,
    },
    /// The client did not send its body in time.
    RequestTimeout {
        /// The time allowed.
        timeout: Duration,
    },
    /// The body's content type is not what the route validates.
    UnsupportedMediaType {
        /// What was expected.
        message: String,
    },
    /// The body is not well-formed JSON.
    InvalidJson {
        /// Where and why.
        message: String,
    },
    /// The JSON (body or query) does not match the route's schema.
    SchemaViolation {
        /// (JSON Pointer path, message), at most a few.
        errors: Vec<(String, String)>,
    },
    /// A files route has no file at this path (or the path leaves its folder).
    NoSuchFile,
    /// The `Range` asked for lies outside the file.
    RangeNotSatisfiable {
        /// The file's length.
        length: u64,
    },
    /// A file exists but cannot be read.
    FileUnreadable,
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
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidJson { .. } => StatusCode::BAD_REQUEST,
            Self::SchemaViolation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NoSuchFile => StatusCode::NOT_FOUND,
            Self::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::FileUnreadable => StatusCode::INTERNAL_SERVER_ERROR,
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
            Self::Unauthorized { message, .. }
            | Self::Forbidden { message }
            | Self::HeadersTooLarge { message }
            | Self::BadRequest { message }
            | Self::UnsupportedMediaType { message }
            | Self::InvalidJson { message } => message.clone(),
            Self::TooManyRequests { retry_after, .. } => {
                format!("too many requests; retry in {retry_after} s")
            }
            Self::PayloadTooLarge { limit } => {
                format!("the request body is larger than {limit} bytes")
            }
            Self::RequestTimeout { timeout } => {
                format!("the request body did not arrive within {timeout:?}")
            }
            Self::SchemaViolation { errors } => match errors.as_slice() {
                [(path, message)] => format!("{path}: {message}"),
                _ => format!("{} violations of the schema", errors.len()),
            },
            Self::NoSuchFile => "no file at this path".into(),
            Self::RangeNotSatisfiable { length } => {
                format!("the range is outside the file's {length} bytes")
            }
            Self::FileUnreadable => "the file cannot be read".into(),
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
        if let Self::SchemaViolation { errors } = &self {
            body["errors"] = errors
                .iter()
                .map(|(path, message)| serde_json::json!({ "path": path, "message": message }))
                .collect();
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
            Self::Unauthorized { challenge, .. } => {
                headers.insert(WWW_AUTHENTICATE, challenge.clone());
            }
            Self::TooManyRequests { retry_after, limit } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
                headers.insert("ratelimit-limit", HeaderValue::from(*limit));
                headers.insert("ratelimit-remaining", HeaderValue::from_static("0"));
                headers.insert("ratelimit-reset", HeaderValue::from(*retry_after));
            }
            Self::RangeNotSatisfiable { length } => {
                headers.insert(
                    http::header::CONTENT_RANGE,
                    HeaderValue::from_str(&format!("bytes */{length}"))
                        .expect("a number is valid header text"),
                );
            }
            _ => {}
        }
        response
    }
}

/// Turns a component's failure into the client's answer and the log line, linked by a
/// request id: the one a `request_id` step gave the request, or a fresh one.
pub(crate) struct Rejections {
    ids: RequestIds,
    overloads: Overloads,
}

impl Rejections {
    pub(crate) fn new() -> Self {
        Self {
            ids: RequestIds::new(),
            overloads: Overloads::default(),
        }
    }

    pub(crate) fn reject(
        &self,
        error: InvokeError,
        method: &Method,
        uri: &http::Uri,
        request_id: Option<String>,
    ) -> Response<ResponseBody> {
        let component = error.component().to_string();
        let message = error.to_string();
        let rejection = Rejection::Invoke(error);
        let status = rejection.status();
        // Guest failures get a request id that links the client's answer to this log line;
        // an overloaded component is not a failure and logs at warn.
        let request_id = (status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE)
            .then(|| request_id.unwrap_or_else(|| self.ids.next()));
        match &request_id {
            Some(id) => tracing::error!(
                request_id = %id,
                component,
                %method,
                path = uri.path(),
                status = status.as_u16(),
                "{message}"
            ),
            None if tracing::enabled!(tracing::Level::WARN) => {
                if let Some(more) = self.overloads.due(&component, Instant::now()) {
                    let also = if more > 0 {
                        format!(" ({more} more refused since the last such line)")
                    } else {
                        String::new()
                    };
                    tracing::warn!(
                        component,
                        %method,
                        path = uri.path(),
                        status = status.as_u16(),
                        "{message}{also}"
                    );
                }
            }
            None => {}
        }
        rejection.into_response(request_id.as_deref())
    }
}

/// Log lines for overloaded components (503s), at most one per component every 10 s
/// ([`WarnEvery`]): clients that retry a 503 at once send tens of thousands a second, and a
/// line for each would cost more than the answer. Failures (5xx other than 503) are each
/// logged: their request ids link the client's answer to the line.
#[derive(Default)]
struct Overloads(Mutex<HashMap<String, Overload>>);

struct Overload {
    warn: WarnEvery,
    /// Refusals not logged since the last line.
    refused: u64,
}

impl Overloads {
    /// Whether a refusal of `component` at `now` is logged; if so, how many refusals were not
    /// since the last line.
    fn due(&self, component: &str, now: Instant) -> Option<u64> {
        let mut overloads = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let overload = match overloads.get_mut(component) {
            Some(overload) => overload,
            None => overloads
                .entry(component.to_string())
                .or_insert_with(|| Overload {
                    warn: WarnEvery::starting(now),
                    refused: 0,
                }),
        };
        if overload.warn.due_at(now) {
            Some(std::mem::take(&mut overload.refused))
        } else {
            overload.refused += 1;
            None
        }
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
    fn overloads_are_logged_once_per_component_every_ten_seconds() {
        let overloads = Overloads::default();
        let start = Instant::now();
        assert_eq!(overloads.due("a", start), Some(0), "the first is logged");
        assert_eq!(
            overloads.due("b", start),
            Some(0),
            "and another component's"
        );
        for _ in 0..5 {
            assert_eq!(overloads.due("a", start + Duration::from_secs(1)), None);
        }
        assert_eq!(
            overloads.due("a", start + Duration::from_secs(10)),
            Some(5),
            "ten seconds on, with the count of those not logged"
        );
        assert_eq!(overloads.due("a", start + Duration::from_secs(11)), None);
    }

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
