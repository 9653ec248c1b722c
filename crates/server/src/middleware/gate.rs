//! A gate: a middleware step that looks at a request and either lets it through (possibly
//! changed) or answers it itself, without the rest of the chain (and without any Wasm).

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Request, Response};

use super::{Chain, RequestBody, Responding, Stage};
use crate::{Rejection, ResponseBody};

/// What a gate decided.
pub(crate) enum Verdict {
    /// Go on with this request. If the gate wrapped the body, `watch` reports a body that
    /// broke the gate's rule while the rest of the chain read it.
    Pass(Request<RequestBody>, Option<Watch>),
    /// Answer with this.
    Answer(Response<ResponseBody>),
}

impl From<Rejection> for Verdict {
    fn from(rejection: Rejection) -> Self {
        Self::Answer(rejection.into_response(None))
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

/// Runs a [`Gate`] in front of the rest of the chain.
pub(crate) struct GateStage<G> {
    gate: Arc<G>,
    next: Chain,
}

impl<G: Gate> GateStage<G> {
    pub(crate) fn wrap(gate: Arc<G>, next: Chain) -> Chain {
        Chain::new(Self { gate, next })
    }
}

impl<G: Gate> Stage for GateStage<G> {
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let (gate, next) = (self.gate.clone(), self.next.clone());
        Box::pin(async move {
            match gate.admit(request).await {
                Verdict::Answer(response) => response,
                Verdict::Pass(request, watch) => {
                    let response = next.call(request).await;
                    match watch.and_then(|w| w.verdict()) {
                        Some(rejection) => rejection.into_response(None),
                        None => response,
                    }
                }
            }
        })
    }
}
