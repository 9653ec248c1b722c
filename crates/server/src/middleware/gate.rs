//! A gate: a middleware step that looks at a request and either lets it through (possibly
//! changed) or answers it itself, without the rest of the chain (and without any Wasm).

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::Request;
use tower_http::request_id::RequestId;

use super::{Chain, RequestBody, Responding, Stage};
use crate::Rejection;

/// What a gate decided.
pub(crate) enum Verdict {
    /// Go on with this request. If the gate wrapped the body, `watch` reports a body that
    /// broke the gate's rule while the rest of the chain read it.
    Pass(Request<RequestBody>, Option<Watch>),
    /// Refuse it.
    Reject(Rejection),
}

impl From<Rejection> for Verdict {
    fn from(rejection: Rejection) -> Self {
        Self::Reject(rejection)
    }
}

/// A step that admits or answers requests.
pub(crate) trait Gate: Send + Sync + 'static {
    fn admit(&self, request: Request<RequestBody>) -> impl Future<Output = Verdict> + Send;
}

/// Why a watched request body was cut off.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BodyFault {
    TooLarge(u64),
    TooSlow(Duration),
}

/// Shared between a gate and the body it wrapped: set when the body is cut off. The
/// component that was reading it fails or answers as it sees fit; the client is told what
/// really happened (413 or 408) instead.
#[derive(Clone, Default)]
pub(crate) struct Watch(Arc<OnceLock<BodyFault>>);

impl Watch {
    pub(crate) fn report(&self, fault: BodyFault) {
        let _ = self.0.set(fault);
    }

    fn verdict(&self) -> Option<Rejection> {
        self.0.get().map(|fault| match *fault {
            BodyFault::TooLarge(limit) => Rejection::PayloadTooLarge { limit },
            BodyFault::TooSlow(timeout) => Rejection::RequestTimeout { timeout },
        })
    }
}

/// Any built-in gate.
#[derive(Clone)]
pub(crate) enum AnyGate {
    Jwt(Arc<super::jwt::Jwt>),
    ApiKey(Arc<super::api_key::ApiKey>),
    Guard(Arc<super::guard::Guard>),
    RateLimit(Arc<super::rate_limit::RateLimit>),
    BodyLimit(Arc<super::limits::BodyLimit>),
    HeaderLimit(Arc<super::limits::HeaderLimit>),
    RequestTimeout(Arc<super::limits::RequestTimeout>),
    JsonSchema(Arc<super::json_schema::JsonSchema>),
}

impl AnyGate {
    async fn admit(&self, request: Request<RequestBody>) -> Verdict {
        match self {
            Self::Jwt(g) => g.admit(request).await,
            Self::ApiKey(g) => g.admit(request).await,
            Self::Guard(g) => g.admit(request).await,
            Self::RateLimit(g) => g.admit(request).await,
            Self::BodyLimit(g) => g.admit(request).await,
            Self::HeaderLimit(g) => g.admit(request).await,
            Self::RequestTimeout(g) => g.admit(request).await,
            Self::JsonSchema(g) => g.admit(request).await,
        }
    }
}

/// Runs consecutive [`Gate`]s, in order, in front of the rest of the chain.
pub(crate) struct GateStage {
    gates: Arc<[AnyGate]>,
    next: Chain,
}

impl GateStage {
    /// `gates` in reverse order (as a chain is built, from its end); none leaves `next`
    /// as it is.
    pub(crate) fn wrap(mut gates: Vec<AnyGate>, next: Chain) -> Chain {
        if gates.is_empty() {
            return next;
        }
        gates.reverse();
        Chain::new(Self {
            gates: gates.into(),
            next,
        })
    }
}

impl Stage for GateStage {
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let (gates, next) = (self.gates.clone(), self.next.clone());
        Box::pin(async move {
            // A rejection's body carries the id a `request_id` step gave the request.
            let request_id = request
                .extensions()
                .get::<RequestId>()
                .map(|id| id.header_value().clone());
            let refuse = |rejection: Rejection| {
                let id = request_id.as_ref().and_then(|id| id.to_str().ok());
                rejection.into_response(id)
            };
            let mut request = request;
            let mut watches = Vec::new();
            for gate in gates.iter() {
                match gate.admit(request).await {
                    Verdict::Reject(rejection) => return refuse(rejection),
                    Verdict::Pass(passed, watch) => {
                        request = passed;
                        watches.extend(watch);
                    }
                }
            }
            let response = next.call(request).await;
            match watches.iter().find_map(Watch::verdict) {
                Some(rejection) => refuse(rejection),
                None => response,
            }
        })
    }
}
