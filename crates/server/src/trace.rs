//! OpenTelemetry traces of the requests an app serves: a server span per request (HTTP
//! semantic conventions), continuing the trace of an incoming W3C `traceparent`, with the
//! middleware steps' spans (`middleware/traced.rs`) and the runtime's (instantiation, guest,
//! capability calls) under it. The exporter and sampler are the embedding program's: the
//! app is given an [`SdkTracer`].

use std::sync::Arc;

use http::request::Parts;
use http::{Method, StatusCode, Version};
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::SpanKind;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use tessera_runtime::RequestTrace;

use crate::Connection;
use crate::metrics::{METHODS, method_index};

/// The span of a request that arrived with `parts` and matched `route` (`None`: no route
/// did), started now, under the span of its `traceparent` header if it has one.
pub(crate) fn server_span(
    tracer: &SdkTracer,
    parts: &Parts,
    route: Option<&Arc<str>>,
    connection: &Connection,
) -> RequestTrace {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(&parts.headers));
    let method = method_label(&parts.method);
    let mut attributes = vec![
        KeyValue::new("http.request.method", method),
        KeyValue::new("url.path", parts.uri.path().to_string()),
        KeyValue::new(
            "url.scheme",
            if connection.secure { "https" } else { "http" },
        ),
        KeyValue::new("network.protocol.version", protocol(parts.version)),
        KeyValue::new("client.address", connection.client_ip()),
    ];
    let name = match route {
        Some(route) => {
            attributes.push(KeyValue::new("http.route", route.clone()));
            format!("{method} {route}")
        }
        None => method.to_string(),
    };
    RequestTrace::new(tracer.clone(), parent).child(name, SpanKind::Server, attributes)
}

/// A request's span, ended when dropped (with the response body, which holds it).
pub(crate) struct ServerSpan {
    trace: RequestTrace,
    error: Option<String>,
}

impl ServerSpan {
    /// `trace`'s span, answered with `status` (a 5xx marks it failed, per the conventions).
    pub(crate) fn answered(trace: RequestTrace, status: StatusCode) -> Self {
        trace.set(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        Self {
            trace,
            error: status.is_server_error().then(|| status.to_string()),
        }
    }
}

impl Drop for ServerSpan {
    fn drop(&mut self) {
        self.trace.end(self.error.take());
    }
}

/// The method as the conventions name it: one of the known methods, or `_OTHER` (a client
/// chooses any token, and span names must stay few).
fn method_label(method: &Method) -> &'static str {
    METHODS
        .get(method_index(method))
        .copied()
        .unwrap_or("_OTHER")
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}
