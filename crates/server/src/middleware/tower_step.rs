//! [`TowerStep`]: a tower service (a tower-http layer around the rest of a chain) as a step.

use std::convert::Infallible;
use std::sync::Mutex;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::{Service, ServiceExt as _};

use super::{RequestBody, Responding, Step};
use crate::ResponseBody;

/// `Service::call` takes `&mut self`, so a shared service is either cloned per request (what
/// `oneshot` on a clone does) or locked. A clone of a tower-http service copies its settings
/// (for `cors`, vectors of header values: allocations on every request), so the step keeps a
/// few clones, each behind a mutex held only while `call` builds the response future (it
/// awaits nothing). A request takes the first free one and waits only if all are in use.
pub(crate) struct TowerStep<S> {
    services: Box<[Mutex<S>]>,
}

impl<S: Clone> TowerStep<S> {
    pub(crate) fn new(service: S) -> Self {
        let clones = std::thread::available_parallelism().map_or(4, |n| n.get().clamp(2, 16));
        Self {
            services: (0..clones).map(|_| Mutex::new(service.clone())).collect(),
        }
    }
}

impl<S> Step for TowerStep<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let mut service = self
            .services
            .iter()
            .find_map(|s| s.try_lock().ok())
            .unwrap_or_else(|| self.services[0].lock().expect("call does not panic"));
        // tower-http's services are ready when the rest of the chain is, and a `Chain` always
        // is; should one not be, a clone is driven to readiness as tower requires.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let future = match service.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => service.call(request),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                let service = service.clone();
                return Box::pin(async move {
                    match service.oneshot(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                });
            }
        };
        drop(service);
        Box::pin(async move {
            match future.await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
    }
}
