//! A step's span: when the server traces, every step of a chain runs inside a span of its own
//! (`middleware <name>`), under the request's span or the step in front of it, and the rest of
//! the chain runs under it.

use std::sync::Arc;

use http::Request;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use tessera_runtime::RequestTrace;

use super::gate::RejectedBy;
use super::{Chain, RequestBody, Responding, Step};

pub(crate) struct TracedStep {
    name: Arc<str>,
    next: Chain,
}

impl TracedStep {
    /// `step`, named `name` in the manifest, in a span.
    pub(crate) fn wrap(name: &str, step: Chain) -> Chain {
        Chain::new(Self {
            name: name.into(),
            next: step,
        })
    }
}

impl Step for TracedStep {
    fn call(&self, mut request: Request<RequestBody>) -> Responding {
        let Some(trace) = request.extensions().get::<RequestTrace>() else {
            return self.next.call(request);
        };
        let span = trace.child(
            format!("middleware {}", self.name),
            SpanKind::Internal,
            vec![KeyValue::new("tessera.middleware", self.name.clone())],
        );
        request.extensions_mut().insert(span.clone());
        let responding = self.next.call(request);
        let name = self.name.clone();
        Box::pin(async move {
            let response = responding.await;
            let status = response.status();
            span.set(KeyValue::new(
                "http.response.status_code",
                i64::from(status.as_u16()),
            ));
            if let Some(RejectedBy(step)) = response.extensions().get::<RejectedBy>()
                && *step == name
            {
                span.set(KeyValue::new("tessera.middleware.refused", true));
            }
            span.end(status.is_server_error().then(|| status.to_string()));
            response
        })
    }
}
