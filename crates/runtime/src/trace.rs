//! A request's place in its OpenTelemetry trace, for the spans the runtime makes: the
//! instance's instantiation, the guest's call, and every key-value, SQL and outbound HTTP call
//! the guest makes; and the `traceparent` header its outbound requests carry.
//!
//! A server that traces puts a [`RequestTrace`] in the request's extensions, holding the span
//! the runtime's spans are children of (the request's, or the middleware step's in front of
//! the component). Without one, no span is made and nothing costs. Not traced: the guest's
//! calls in a WASI 0.3 instance shared by several requests at once
//! (`reuse.max_concurrent` > 1), which runs in its own worker, not in the request.

use std::borrow::Cow;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderInjector;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;

/// A request's trace: the tracer, and the context holding the span new spans go under.
#[derive(Clone, Debug)]
pub struct RequestTrace {
    tracer: SdkTracer,
    context: Context,
}

impl RequestTrace {
    /// Spans made with `tracer`, under the span in `context`.
    pub fn new(tracer: SdkTracer, context: Context) -> Self {
        Self { tracer, context }
    }

    /// The context: its span is this trace's current one.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// A span under this one, started now, as the trace for what runs inside it.
    pub fn child(
        &self,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Self {
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &self.context);
        Self {
            tracer: self.tracer.clone(),
            context: self.context.with_span(span),
        }
    }

    /// Adds an attribute to this trace's span.
    pub fn set(&self, attribute: KeyValue) {
        self.context.span().set_attribute(attribute);
    }

    /// Ends this trace's span now, as failed with `error` if there is one. (A span not ended
    /// ends when the last clone of its trace is dropped.)
    pub fn end(&self, error: Option<String>) {
        let span = self.context.span();
        if let Some(error) = error {
            span.set_status(Status::error(error));
        }
        span.end();
    }

    /// Writes the W3C `traceparent` and `tracestate` headers for this trace's span, so that
    /// the server `headers` are sent to continues the trace.
    pub fn inject(&self, headers: &mut http::HeaderMap) {
        TraceContextPropagator::new().inject_context(&self.context, &mut HeaderInjector(headers));
    }
}
