//! A gate: a middleware step that looks at a request and either lets it through (possibly
//! changed) or answers it itself, without the rest of the chain (and without any Wasm).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower::{Service, ServiceExt};

use super::{Chain, RequestBody};
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
pub(crate) struct GateService<G> {
    gate: Arc<G>,
    inner: Chain,
}

impl<G> Clone for GateService<G> {
    fn clone(&self) -> Self {
        Self {
            gate: self.gate.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<G: Gate> GateService<G> {
    pub(crate) fn wrap(gate: Arc<G>, inner: Chain) -> Chain {
        Chain::new(Self { gate, inner })
    }
}

impl<G: Gate> Service<Request<RequestBody>> for GateService<G> {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            match this.gate.admit(request).await {
                Verdict::Answer(response) => Ok(response),
                Verdict::Pass(request, watch) => {
                    let response = this.inner.oneshot(request).await?;
                    match watch.and_then(|w| w.verdict()) {
                        Some(rejection) => Ok(rejection.into_response(None)),
                        None => Ok(response),
                    }
                }
            }
        })
    }
}
