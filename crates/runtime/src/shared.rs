//! WASI 0.3 instances that serve several requests at once (`reuse.max_concurrent` > 1).
//!
//! A 0.3 handler is an async export: one instance can run many calls of it, each a task in the
//! store's event loop, interleaved where they wait (on a body, a backend, a timer). Serving
//! that way needs a task per instance that owns its store and takes requests as they come.
//! Wasmtime's own `wasmtime_wasi_http::handler::ProxyHandler` is that task, the one `wasmtime
//! serve` uses: workers that each own an instance, take requests from a queue while their
//! guest has room, and end when told. Tessera plugs its policy into it ([`Workers`]):
//! instances made in Tessera's stores (memory cap, capabilities, the engine's pool), the
//! `reuse` bounds, and the component's deadline.
//!
//! What differs from one request per instance (`invoke_p3.rs`), and the README says so:
//! - The requests on one instance share its fate. A trap fails every request in flight on it;
//!   a request past its deadline is answered 504 and its instance takes no new requests and is
//!   dropped once the others have answered or reached their own deadlines (a guest that loops
//!   blocks its whole event loop: then the instance is dropped at the deadline with all its
//!   requests).
//! - A request whose client goes away is not cancelled in the guest: its task runs on, to its
//!   end or its deadline, as other requests share the instance.
//! - An instance refused memory takes no new requests.
//! - Middleware steps (requests with a rest of the chain) keep one request per instance: the
//!   chain is the store's (`Host::set_next`).
//! - Idle workers hold pool slots until their `idle_timeout`; a request that finds the pool
//!   full cannot take their slots early as it can a spare's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::BodyExt as _;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, InstantiationError, Proxy, ProxyHandler, ShouldAccept,
    WorkerExpiration, WorkerState, WorkerStatus,
};

use tessera_manifest::{Limits, Reuse};

use crate::invoke::{GuestBody, Stream, describe_trap, instantiate};
use crate::spare::{Instances, Made};
use crate::{Host, InvokeError};

/// The workers of one component version whose instances take several requests at once.
#[derive(Clone)]
pub(crate) struct Shared {
    handler: ProxyHandler<Workers>,
}

impl Shared {
    /// For a WASI 0.3 component whose `reuse` allows more than one request at once.
    pub(crate) fn new(instances: Arc<Instances>, limits: &Limits, reuse: Reuse) -> Self {
        Self {
            handler: ProxyHandler::new(Workers {
                instances,
                limits: *limits,
                reuse,
            }),
        }
    }

    /// Serves `request` on an instance with room for it (a new one if none has), answering
    /// once the guest has sent its response head; `permit` (the component's concurrency) is
    /// held until the response body ends.
    pub(crate) async fn serve(
        &self,
        component: &str,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        permit: OwnedSemaphorePermit,
    ) -> Result<http::Response<GuestBody>, InvokeError> {
        let limits = &self.handler.state().limits;
        // The workers expire a request at its deadline too; this one also covers the wait
        // for an instance and a guest whose loop keeps the worker from looking.
        let answer = tokio::time::timeout(limits.timeout, self.handler.handle((), request)).await;
        let result = match answer {
            Ok(Ok(response)) => Ok(response.map(|body| GuestBody {
                inner: Stream::P3(body),
                task: None,
                failure: None,
                release: None,
                permit: Some(permit),
            })),
            Ok(Err(error)) => Err(failure(component, limits, &error)),
            Err(_) => Err(InvokeError::Timeout {
                component: component.to_string(),
                timeout: limits.timeout,
            }),
        };
        // Failing components take turns (`fair.rs`).
        self.handler
            .state()
            .instances
            .failures
            .note_outcome(&result);
        result
    }
}

/// What a request that got no response from a shared instance is told.
fn failure(component: &str, limits: &Limits, error: &wasmtime::Error) -> InvokeError {
    let component = component.to_string();
    if error.is::<ExpirationError>() {
        return InvokeError::Timeout {
            component,
            timeout: limits.timeout,
        };
    }
    if let Some(failed) = error.downcast_ref::<InstantiationError<()>>() {
        if failed.error.is::<wasmtime::PoolConcurrencyLimitError>() {
            return InvokeError::PoolFull { component };
        }
        return InvokeError::Trap {
            component,
            reason: format!(
                "no instance could be made: {}",
                describe_trap(&failed.error)
            ),
        };
    }
    if let Some(code) =
        error.downcast_ref::<wasmtime_wasi_http::p3::bindings::http::types::ErrorCode>()
    {
        return InvokeError::GuestError {
            component,
            code: format!("{code:?}"),
        };
    }
    if error.is::<wasmtime_wasi_http::handler::TrapOrPanicError>() {
        return InvokeError::Trap {
            component,
            reason: "the instance this request shared with others failed (a trap, or one of \
                     its requests ran past the deadline)"
                .into(),
        };
    }
    InvokeError::Trap {
        component,
        reason: describe_trap(error),
    }
}

/// Tessera's policy for the workers of one component version.
struct Workers {
    instances: Arc<Instances>,
    limits: Limits,
    reuse: Reuse,
}

impl HandlerState for Workers {
    type StoreData = Host;
    type WorkerExpiration = Expiry;
    type WorkerState = Bounds;

    async fn instantiate(&self) -> wasmtime::Result<Instance<Host, Expiry, Bounds>> {
        let mut store = self.instances.store(None);
        let refused = Arc::new(AtomicBool::new(false));
        store.data_mut().limiter.on_refusal(refused.clone());
        let made = tokio::time::timeout(
            self.limits.timeout,
            instantiate(&self.instances, &mut store, None),
        )
        .await
        .map_err(|_| wasmtime::format_err!("instantiation ran past the deadline"))??;
        let Made::P3(service) = made else {
            unreachable!("a WASI 0.3 component makes 0.3 instances")
        };
        Ok(Instance {
            store,
            proxy: Proxy::P3(service),
            view: <Host as WasiHttpView>::http,
            expiration: Expiry {
                timeout: self.limits.timeout,
                idle_timeout: self.reuse.idle_timeout,
                timer: None,
            },
            state: Bounds {
                instances: self.instances.clone(),
                reuse: self.reuse,
                timeout: self.limits.timeout,
                refused,
            },
        })
    }
}

/// How many requests an instance takes, and how long each may run.
struct Bounds {
    instances: Arc<Instances>,
    reuse: Reuse,
    timeout: Duration,
    /// Set by the instance's memory limiter when it refuses a growth.
    refused: Arc<AtomicBool>,
}

impl WorkerState for Bounds {
    type StoreData = Host;
    type RequestData = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.reuse.max_requests as usize || self.refused.load(Ordering::Relaxed) {
            ShouldAccept::Never
        } else if concurrent < self.reuse.max_concurrent as usize {
            ShouldAccept::Yes
        } else {
            ShouldAccept::No
        }
    }

    fn on_request_start(
        &self,
        _store: StoreContextMut<'_, Host>,
        (): (),
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        Box::pin(tokio::time::sleep(self.timeout))
    }

    fn drop(&self, store: Store<Host>, result: wasmtime::Result<()>) {
        if let Err(error) = result {
            tracing::debug!("a shared instance ended: {error:#}");
        }
        let release = self.instances.pool().release();
        drop(store);
        drop(release);
    }
}

/// When a worker ends: past the deadline of its most recent request (the requests before it
/// are past theirs too), or idle for `idle_timeout`.
struct Expiry {
    timeout: Duration,
    idle_timeout: Duration,
    /// The deadline being waited for, and its timer.
    timer: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
}

impl WorkerExpiration for Expiry {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        let deadline = match status {
            WorkerStatus::Idle => start + this.idle_timeout,
            WorkerStatus::Requests | WorkerStatus::PostReturn => start + this.timeout,
        };
        match &mut this.timer {
            Some((at, sleep)) if *at == deadline => sleep.as_mut().poll(cx),
            _ => {
                let mut sleep = Box::pin(tokio::time::sleep_until(deadline.into()));
                let poll = sleep.as_mut().poll(cx);
                this.timer = Some((deadline, sleep));
                poll
            }
        }
    }
}

/// A request body as the workers take it.
pub(crate) fn boxed<B>(request: http::Request<B>) -> http::Request<wasmtime_wasi_http::WasiBody>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    request.map(|body| body.map_err(Into::into).boxed_unsync())
}
