//! A route's chain of steps: the [`Step`] trait every step implements, and [`Chain`], a step
//! with the rest of the chain behind it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tessera_runtime::WasiBody;
use tower::Service;

use crate::ResponseBody;

/// The request body inside a middleware chain: the same boxed body a middleware component's
/// outgoing request carries, so that passing one on converts nothing.
pub type RequestBody = WasiBody;

/// What a step's call returns: the response, in time.
pub(crate) type Responding = Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>;

/// One step of a chain (a middleware, or the endpoint at its end), holding the rest of the
/// chain after it.
pub(crate) trait Step: Send + Sync + 'static {
    fn call(&self, request: Request<RequestBody>) -> Responding;
}

/// A route's chain of steps from some step on, ending in its component.
///
/// Steps are called through `&self`, so a request clones nothing but the reference counts
/// a step's future keeps. (A stack of tower services would be cloned whole, layer by layer,
/// for every request: `Service::call` takes `&mut self`.)
#[derive(Clone)]
pub(crate) struct Chain(Arc<dyn Step>);

impl Chain {
    pub(crate) fn new(step: impl Step) -> Self {
        Self(Arc::new(step))
    }

    pub(crate) fn call(&self, request: Request<RequestBody>) -> Responding {
        self.0.call(request)
    }
}

/// A chain is a tower service too, so that tower-http's layers can wrap the rest of one.
impl Service<Request<RequestBody>> for Chain {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Infallibly;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        Infallibly(self.0.call(request))
    }
}

/// A step's response as a tower service's result (which cannot be an error), without
/// boxing the step's future a second time.
pub(crate) struct Infallibly(Responding);

impl Future for Infallibly {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}
