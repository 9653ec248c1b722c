//! Serving one request: a fresh store and instance (or with `reuse`, one that has served
//! before), the `wasi:http/incoming-handler` call, and a response body that keeps driving the
//! guest while it streams.
//!
//! No task is spawned per request. The guest's call is a future that the request's own task
//! polls: first until the guest sets its response, then from inside the response body, so a
//! guest that writes its body after sending the head keeps running exactly as long as the
//! client reads. (`wasmtime serve` spawns a task per request; here that would cost a
//! scheduler round trip and an allocation on every request.) The one task there may be comes
//! after the response, on an idle worker only: it drops the store and makes the next instance
//! (`after_response`, `busy.rs`).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use tessera_manifest::Limits;

use crate::release::Release;
use crate::spare::{Instances, Made, Pre};
use crate::{GuestUsage, Host, HttpComponent, InvokeError, RequestTrace};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

/// What polling a body of `Bytes` for its next frame gives, for a body that fails with `E`.
type NextFrame<E> = Poll<Option<Result<Frame<Bytes>, E>>>;

pub(crate) type GuestTask = Pin<Box<dyn Future<Output = Result<(), InvokeError>> + Send>>;

/// The rest of a route's chain, as a middleware component reaches it: called at most once,
/// with the request the guest sent to [`NEXT_AUTHORITY`](crate::NEXT_AUTHORITY).
///
/// The response's body must be driven by a task of its own (as the server's is), not by the
/// step reading it: a component behind a WASI 0.3 step must not run inside the step's event
/// loop (`apart.rs`).
pub type Next = Box<
    dyn FnOnce(
            http::Request<wasmtime_wasi_http::WasiBody>,
        )
            -> Pin<Box<dyn Future<Output = http::Response<wasmtime_wasi_http::WasiBody>> + Send>>
        + Send,
>;

/// What came first: the guest's response head (`R`, from its channel), or the end of its
/// call.
pub(crate) enum Head<R> {
    Sent(R),
    Finished(Result<(), InvokeError>),
}

/// Polls the guest until it sends its response head or finishes. The guest goes first: the
/// response usually arrives during that poll, and looking at the channel second saves a
/// wake-up.
pub(crate) async fn head<R: Future + Unpin>(
    task: &mut GuestTask,
    receiver: &mut R,
) -> Head<R::Output> {
    poll_fn(|cx| {
        if let Poll::Ready(result) = task.as_mut().poll(cx) {
            return Poll::Ready(Head::Finished(result));
        }
        match Pin::new(&mut *receiver).poll(cx) {
            Poll::Ready(sent) => Poll::Ready(Head::Sent(sent)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// What a request's task holds besides its store: what it needs to make its instance and,
/// once the call is over, to settle it. The 0.2 and the 0.3 path share it.
pub(crate) struct Call {
    instances: Arc<Instances>,
    component: Arc<str>,
    limits: Limits,
    usage: Option<Arc<GuestUsage>>,
    trace: Option<RequestTrace>,
    permit: OwnedSemaphorePermit,
}

impl Call {
    /// The request's instance: the one made ahead of it (`ready`), or one made now; traced.
    pub(crate) async fn instance(
        &self,
        store: &mut Store<Host>,
        ready: Option<Made>,
    ) -> wasmtime::Result<Made> {
        traced(
            &self.instances,
            store,
            ready,
            self.trace.as_ref(),
            &self.component,
        )
        .await
    }

    /// The deadline the whole call runs within.
    pub(crate) fn timeout(&self) -> std::time::Duration {
        self.limits.timeout
    }

    /// Ends the call with its `outcome`: notes the instance's memory, settles the result, ends
    /// the guest's span and hands the store on ([`after_call`]).
    pub(crate) fn end(
        self,
        outcome: Result<wasmtime::Result<Made>, tokio::time::error::Elapsed>,
        mut store: Store<Host>,
    ) -> Result<(), InvokeError> {
        note_memory(self.usage.as_deref(), &store);
        let result = settle(outcome, &store, &self.component, &self.limits);
        end_guest_span(&mut store, result.as_ref().err());
        after_call(store, self.instances, self.permit, result)
    }

    /// The request's CPU time and memory record, if it asked for one.
    pub(crate) fn usage(&self) -> Option<Arc<GuestUsage>> {
        self.usage.clone()
    }
}

impl HttpComponent {
    /// Serves `request` with a fresh instance of this component (or, with `reuse`, one that
    /// served earlier requests well).
    ///
    /// Returns once the guest has sent its response head; the body streams from the guest as
    /// it is polled. Errors before the head are returned; errors after it end the body with
    /// an error (and are logged), so a client never mistakes a truncated body for a whole one.
    pub async fn handle<B>(
        &self,
        request: http::Request<B>,
    ) -> Result<http::Response<GuestBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        self.invoke(request, None).await
    }

    /// Serves `request` as a middleware step: an outgoing request the guest sends to
    /// [`NEXT_AUTHORITY`](crate::NEXT_AUTHORITY) goes to `next` (the rest of the route's
    /// chain), in-process, and its response comes back as the outgoing request's response.
    /// The component's deadline covers the whole call, `next` included.
    pub async fn handle_with_next<B>(
        &self,
        request: http::Request<B>,
        next: Next,
    ) -> Result<http::Response<GuestBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        self.invoke(request, Some(next)).await
    }

    async fn invoke<B>(
        &self,
        request: http::Request<B>,
        next: Option<Next>,
    ) -> Result<http::Response<GuestBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        if next.is_none() {
            // The last component of the route: one per request, whatever middleware ran.
            crate::busy::request_started();
        }
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => self.wait_for_instance().await?,
        };
        match crate::fair::failing_turn(&self.instances.failures, self.limits.timeout) {
            Ok(None) => {}
            Ok(Some(wait)) => tokio::time::sleep(wait).await,
            // A turn further off than the deadline is as good as no instance.
            Err(crate::fair::TooFar) => {
                return Err(InvokeError::Busy {
                    component: self.id.to_string(),
                    limit: self.limits.max_concurrency,
                });
            }
        }
        if let Pre::P3(..) = self.instances.pre {
            return self.invoke_p3(request, next, permit).await;
        }

        let (call, mut store, ready) = self.begin(&request, next, permit);
        let (sender, receiver) = oneshot::channel();
        let (request, outparam) = {
            let mut http = store.data_mut().http();
            // The server makes a TLS request's URI absolute with `https` (HTTP/2 says it).
            let scheme = match request.uri().scheme() {
                Some(scheme) if *scheme == http::uri::Scheme::HTTPS => Scheme::Https,
                _ => Scheme::Http,
            };
            let request = http.new_incoming_request(scheme, request).map_err(|e| {
                InvokeError::BadRequest {
                    component: self.id.to_string(),
                    reason: format!("{e:#}"),
                }
            })?;
            let outparam = http
                .new_response_outparam(sender)
                .expect("a fresh resource table has room for one entry");
            (request, outparam)
        };

        let usage = call.usage();
        let task: GuestTask = Box::pin(async move {
            let run = async {
                let made = call.instance(&mut store, ready).await?;
                made.p2()
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, request, outparam)
                    .await?;
                Ok::<_, wasmtime::Error>(made)
            };
            let outcome = tokio::time::timeout(call.timeout(), run).await;
            call.end(outcome, store)
        });
        self.respond(measured(task, usage), receiver, Stream::P2)
            .await
    }

    /// Starts serving `request`: the store (with the instance made ahead of it, if any), and
    /// what its task needs besides.
    pub(crate) fn begin<B>(
        &self,
        request: &http::Request<B>,
        next: Option<Next>,
        permit: OwnedSemaphorePermit,
    ) -> (Call, Store<Host>, Option<Made>) {
        let (store, ready) = self.instances.for_request(next);
        if let Ok(mut tag) = store.data().log_tag.lock() {
            tag.set(request.headers());
        }
        let call = Call {
            instances: self.instances.clone(),
            component: self.id.clone(),
            limits: self.limits,
            usage: request.extensions().get::<Arc<GuestUsage>>().cloned(),
            trace: request.extensions().get::<RequestTrace>().cloned(),
            permit,
        };
        (call, store, ready)
    }

    /// Polls the guest's `task` until its answer comes on `receiver`, and returns it as the
    /// response ([`HttpComponent::answer`]); an error if the call ended without one.
    pub(crate) async fn respond<T, E: std::fmt::Debug>(
        &self,
        mut task: GuestTask,
        mut receiver: oneshot::Receiver<Result<http::Response<T>, E>>,
        stream: fn(T) -> Stream,
    ) -> Result<http::Response<GuestBody>, InvokeError> {
        let (answer, task) = match head(&mut task, &mut receiver).await {
            Head::Finished(Err(error)) => return Err(error),
            Head::Finished(Ok(())) => match receiver.try_recv() {
                Ok(answer) => (answer, None),
                Err(_) => return Err(self.no_response()),
            },
            Head::Sent(Ok(answer)) => (answer, Some(task)),
            // The guest's call ended, or it dropped its response-outparam, before it answered:
            // let it finish to learn whether it crashed.
            Head::Sent(Err(_)) => {
                task.await?;
                return Err(self.no_response());
            }
        };
        self.answer(answer, task, stream)
    }

    /// The guest's answer as the response to send: its head, and a body that reads what the
    /// guest writes (and polls the guest's `task` while it still runs), or the error code the
    /// guest answered with.
    fn answer<T, E: std::fmt::Debug>(
        &self,
        answer: Result<http::Response<T>, E>,
        task: Option<GuestTask>,
        stream: fn(T) -> Stream,
    ) -> Result<http::Response<GuestBody>, InvokeError> {
        // The client may have the whole response, and send its next request, before the guest
        // has returned from its handler and its store is gone: from the head on, the
        // instance's slot counts as on its way back (`release.rs`).
        let release = task.is_some().then(|| self.instances.pool().release());
        match answer {
            Ok(response) => Ok(response.map(|inner| GuestBody {
                inner: stream(inner),
                task,
                failure: None,
                release,
                permit: None,
            })),
            Err(code) => Err(InvokeError::GuestError {
                component: self.id.to_string(),
                code: format!("{code:?}"),
            }),
        }
    }

    /// A permit for a request that found `max_concurrency` instances running: a place in the
    /// queue, if `max_queue` has one, and the permit once a running request ends, if that is
    /// before the request's deadline. A waiting request costs no instance and no CPU, so a
    /// burst on a slow component waits instead of turning into a storm of 503s and retries.
    async fn wait_for_instance(&self) -> Result<OwnedSemaphorePermit, InvokeError> {
        let busy = || InvokeError::Busy {
            component: self.id.to_string(),
            limit: self.limits.max_concurrency,
        };
        let max = self.limits.max_queue;
        if self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
            return Err(busy());
        }
        // Out of the queue however the wait ends, a client that went away (the request's
        // future dropped) included.
        let _place = Queued(&self.queued);
        let waited =
            tokio::time::timeout(self.limits.timeout, self.permits.clone().acquire_owned()).await;
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }

    pub(crate) fn no_response(&self) -> InvokeError {
        InvokeError::NoResponse {
            component: self.id.to_string(),
        }
    }
}

/// A request's place in a component's queue, given up when dropped.
struct Queued<'c>(&'c AtomicU32);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The guest's call, timed into `usage` if the request asked for its CPU time (`usage.rs`).
pub(crate) fn measured(task: GuestTask, usage: Option<Arc<GuestUsage>>) -> GuestTask {
    match usage {
        Some(usage) if usage.measures_cpu() => crate::usage::timed(task, usage),
        _ => task,
    }
}

/// Notes the instance's memory, its peak, in `usage` if the request asked for it.
pub(crate) fn note_memory(usage: Option<&GuestUsage>, store: &Store<Host>) {
    if let Some(usage) = usage {
        usage.note_memory(store.data().limiter.used());
    }
}

/// What a guest's call came to, as the request's error if it failed: past its deadline,
/// refused an instance by a full pool, refused memory, or trapped.
pub(crate) fn settle<T>(
    outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    store: &Store<Host>,
    component: &str,
    limits: &Limits,
) -> Result<T, InvokeError> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Err(_) => Err(InvokeError::Timeout {
            component: component.to_string(),
            timeout: limits.timeout,
        }),
        // The engine's instance pool (shared by every component, sized by `--max-instances`)
        // is full: as much a capacity problem as a component at its own cap, so the client is
        // told to retry.
        Ok(Err(error)) if error.is::<wasmtime::PoolConcurrencyLimitError>() => {
            Err(InvokeError::PoolFull {
                component: component.to_string(),
            })
        }
        Ok(Err(error)) => Err(match store.data().limiter.refused {
            Some(wanted) => InvokeError::MemoryCap {
                component: component.to_string(),
                cap: limits.memory,
                wanted: wanted as u64,
            },
            None => InvokeError::Trap {
                component: component.to_string(),
                reason: describe_trap(&error),
            },
        }),
    }
}

/// After a guest's call: releases the component's concurrency permit, so that a client sending
/// its next request at once is not turned away by an instance that has finished; keeps the
/// instance for another request if it served well and the component has `reuse`; otherwise
/// lets its store go (`after_response`).
pub(crate) fn after_call(
    store: Store<Host>,
    instances: Arc<Instances>,
    permit: OwnedSemaphorePermit,
    result: Result<Made, InvokeError>,
) -> Result<(), InvokeError> {
    drop(permit);
    instances.failures.note_outcome(&result);
    // Only an instance whose call returned is kept: a trap, a deadline or a cancellation
    // (the call's future dropped, and this never reached) leaves it unusable.
    let (store, result) = match result {
        Ok(made) => (instances.keep(store, made).err(), Ok(())),
        Err(error) => (Some(store), Err(error)),
    };
    if let Some(store) = store {
        after_response(store, instances);
    }
    result
}

/// A trap, said in one line with the guest's backtrace when Wasmtime recorded one.
pub(crate) fn describe_trap(error: &wasmtime::Error) -> String {
    let mut text = match error.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{error:#}"),
    };
    if let Some(trace) = error.downcast_ref::<wasmtime::WasmBacktrace>() {
        let frames: Vec<String> = trace
            .frames()
            .iter()
            .take(8)
            .map(|frame| {
                frame.func_name().map_or_else(
                    || format!("func[{}]", frame.func_index()),
                    // `{:#}` leaves out the hash suffix of Rust symbols.
                    |name| format!("{:#}", rustc_demangle::demangle(name)),
                )
            })
            .collect();
        if !frames.is_empty() {
            text.push_str(" at ");
            text.push_str(&frames.join(" <- "));
        }
    }
    text
}

/// The instance that was `ready` for the request, or else a new one in `store`. When the pool
/// is full, makes room (drops a waiting spare, or waits briefly for a slot on its way back:
/// `Pool::make_room` in `spare.rs`) and tries again, a few times at most.
///
/// Trying again in the same store is sound: a full pool is found before anything is
/// allocated (Wasmtime counts the component instance first, and gives the count back when
/// instantiation fails).
pub(crate) async fn instantiate(
    instances: &Instances,
    store: &mut Store<Host>,
    ready: Option<Made>,
) -> wasmtime::Result<Made> {
    if let Some(made) = ready {
        return Ok(made);
    }
    let mut retries = crate::release::RETRIES;
    loop {
        // Read before trying: a slot given back between the failed try and `make_room` is
        // seen as given back, not missed.
        let released = instances.pool().released();
        match instances.pre.instantiate(&mut *store).await {
            Err(error)
                if error.is::<wasmtime::PoolConcurrencyLimitError>()
                    && retries > 0
                    && instances.pool().make_room(released).await =>
            {
                retries -= 1;
            }
            made => return made,
        }
    }
}

/// [`instantiate`], in an `instantiate` span when the request is traced and an instance is
/// made for it; then gives the store the trace its guest's calls go under: a `guest` span,
/// ended by [`end_guest_span`]. An instance made ahead of the request, or kept from an earlier
/// one, cost the request nothing: no span, and `tessera.instance.ready` on the guest's.
pub(crate) async fn traced(
    instances: &Instances,
    store: &mut Store<Host>,
    ready: Option<Made>,
    trace: Option<&RequestTrace>,
    component: &Arc<str>,
) -> wasmtime::Result<Made> {
    // Untraced, the store holds no trace: `end_guest_span` took the last request's.
    let Some(trace) = trace else {
        return instantiate(instances, store, ready).await;
    };
    let attributes = |ready: bool| {
        vec![
            KeyValue::new("tessera.component", component.clone()),
            KeyValue::new("tessera.instance.ready", ready),
        ]
    };
    let was_ready = ready.is_some();
    let made = if was_ready {
        instantiate(instances, store, ready).await
    } else {
        let span = trace.child("instantiate", SpanKind::Internal, attributes(false));
        let made = instantiate(instances, store, None).await;
        span.end(made.as_ref().err().map(|e| format!("{e:#}")));
        made
    };
    let guest = trace.child(
        format!("guest {component}"),
        SpanKind::Internal,
        attributes(was_ready),
    );
    store.data_mut().replace_trace(Some(guest));
    made
}

/// Ends the span of the guest's call, if the request is traced, as failed with `error`.
pub(crate) fn end_guest_span(store: &mut Store<Host>, error: Option<&InvokeError>) {
    if let Some(guest) = store.data_mut().replace_trace(None) {
        guest.end(error.map(ToString::to_string));
    }
}

/// Drops a finished request's store, and makes the component's next instance, after the
/// response has been written rather than before; or, on a busy worker, drops it at once.
///
/// Dropping a store returns its instance to the pool, which resets the slot's memory and
/// tables; making the next instance is the other half of the host's work on a small request
/// (see `spare.rs`). A client would otherwise wait for both. Spawned from a worker, this lands
/// in Tokio's LIFO slot, which wakes no other thread, and runs as soon as the connection's
/// task yields, i.e. after it has written the response. Until then the instance still holds
/// its pool slot; a request that finds the pool full meanwhile waits for it (`release.rs`,
/// [`instantiate`]). A worker with requests waiting has no idle time to move the work into
/// (`busy.rs`): there the store is dropped now, and the next request makes its own instance.
pub(crate) fn after_response(store: Store<Host>, instances: Arc<Instances>) {
    if crate::busy::worker_is_busy() {
        drop(store);
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            let release = instances.pool().release();
            drop(runtime.spawn(async move {
                drop(store);
                drop(release);
                instances.refill().await;
            }));
        }
        Err(_) => drop(store),
    }
}

/// A response body produced by a guest. While the guest is still running it is polled here,
/// so it can keep writing; it is cancelled if the body is dropped (the client went away).
pub struct GuestBody {
    pub(crate) inner: Stream,
    pub(crate) task: Option<GuestTask>,
    pub(crate) failure: Option<InvokeError>,
    /// Declared after `task`: dropped after it, i.e. after the store.
    pub(crate) release: Option<Release>,
    /// The component's concurrency permit, when the guest's call does not hold it: a request
    /// served by an instance shared with others (`shared.rs`) holds it until its body ends.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

/// The body a guest writes: through a WASI 0.2 `outgoing-body`, or a WASI 0.3 stream.
pub(crate) enum Stream {
    P2(HyperOutgoingBody),
    P3(wasmtime_wasi_http::WasiBody),
}

impl Stream {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> NextFrame<wasmtime_wasi_http::Error> {
        match self {
            Self::P2(body) => Pin::new(body).poll_frame(cx),
            Self::P3(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Self::P2(body) => body.size_hint(),
            Self::P3(body) => body.size_hint(),
        }
    }
}

/// Why a guest's response body ended early.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The guest failed while writing the body.
    #[error(transparent)]
    Guest(InvokeError),
    /// The body stream itself failed.
    #[error("response body failed: {0:?}")]
    Stream(wasmtime_wasi_http::Error),
}

impl Body for GuestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> NextFrame<BodyError> {
        let this = self.get_mut();
        if let Some(task) = &mut this.task
            && let Poll::Ready(result) = task.as_mut().poll(cx)
        {
            this.task = None;
            // The finished task has handed its store on (`after_response`, `keep`).
            this.release = None;
            if let Err(error) = result {
                tracing::error!(
                    component = error.component(),
                    "response body cut short: {error}"
                );
                this.failure = Some(error);
            }
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(None) => {
                this.permit = None;
                if let Some(error) = this.failure.take() {
                    return Poll::Ready(Some(Err(BodyError::Guest(error))));
                }
                this.finish_apart();
                Poll::Ready(None)
            }
            Poll::Ready(Some(frame)) => Poll::Ready(Some(frame.map_err(BodyError::Stream))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl GuestBody {
    /// The guest finished its body but keeps running (work after the response, or only the
    /// return from its handler): lets it finish on its own, within its deadline, its slot
    /// still counted as on its way back. Its instance is then kept for reuse if its call
    /// returned well.
    fn finish_apart(&mut self) {
        let Some(task) = self.task.take() else {
            return;
        };
        let release = self.release.take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        drop(runtime.spawn(async move {
            if let Err(error) = task.await {
                tracing::error!(component = error.component(), "after its response: {error}");
            }
            drop(release);
        }));
    }
}

/// hyper drops a body whose declared length it has written without polling it for its end,
/// so the end of a response is not always seen in `poll_frame`: the guest's call still
/// finishes (and its instance can be reused) rather than being cancelled with the body.
impl Drop for GuestBody {
    fn drop(&mut self) {
        self.finish_apart();
    }
}

impl std::fmt::Debug for GuestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestBody")
            .field("running", &self.task.is_some())
            .finish_non_exhaustive()
    }
}
