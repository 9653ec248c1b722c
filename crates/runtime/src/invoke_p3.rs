//! Serving one request with a WASI 0.3 component (`wasi:http/handler@0.3`).
//!
//! The shape is the 0.2 path's (`invoke.rs`): an instance per request (made ahead of it, or
//! with `reuse` one that served before; never two requests at once on one instance), the
//! call a future polled by the request's own task until the response head is out and then by
//! the response body, the deadline around the whole of it, and the store dropped after the
//! response. What differs is the call: a 0.3 handler is an async export, run inside the
//! store's event loop (`run_concurrent`), and it returns its response rather than setting an
//! out-parameter. Its body is a stream the guest may go on writing, from a task of its own,
//! after `handle` has returned; so the event loop runs until the guest has no task left, and
//! the response body reads the stream meanwhile.

use std::future::poll_fn;

use bytes::Bytes;
use http_body::Body;
use tokio::sync::{OwnedSemaphorePermit, oneshot};
use wasmtime::AsContextMut as _;
use wasmtime_wasi_http::p3::bindings::Service;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::invoke::{GuestTask, Stream, measured};
use crate::{GuestBody, Host, HttpComponent, InvokeError, Next};

/// What the guest answered: a response, or the error code its handler returned.
type Answer =
    Result<http::Response<WasiBody>, wasmtime_wasi_http::p3::bindings::http::types::ErrorCode>;

impl HttpComponent {
    pub(crate) async fn invoke_p3<B>(
        &self,
        request: http::Request<B>,
        next: Option<Next>,
        permit: OwnedSemaphorePermit,
    ) -> Result<http::Response<GuestBody>, InvokeError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        if let (Some(shared), None) = (&self.shared, &next) {
            let request = crate::shared::boxed(request);
            return shared.serve(&self.id, request, permit).await;
        }
        let (call, mut store, ready) = self.begin(&request, next, permit);
        let (sender, receiver) = oneshot::channel::<Answer>();
        let usage = call.usage();
        let task: GuestTask = Box::pin(async move {
            let run = async {
                let made = call.instance(&mut store, ready).await?;
                serve(&mut store, made.p3(), request, sender).await?;
                Ok(made)
            };
            let outcome = tokio::time::timeout(call.timeout(), run).await;
            call.end(outcome, store)
        });
        self.respond(measured(task, usage), receiver, Stream::P3)
            .await
    }
}

/// Calls the guest's handler on `request` inside the store's event loop, sends its answer,
/// and keeps the loop running until the guest has no task left (one writing the response
/// body, say). A trap ends it with the trap.
async fn serve<B>(
    store: &mut wasmtime::Store<Host>,
    service: &Service,
    request: http::Request<B>,
    sender: oneshot::Sender<Answer>,
) -> wasmtime::Result<()>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let (request, request_io) = {
        let http = store.data_mut().http();
        wasmtime_wasi_http::p3::Request::from_http(&mut *http.hooks, request)
    };
    store
        .as_context_mut()
        .run_concurrent(async move |accessor| {
            let answer = match service.handle(accessor, request).await? {
                Ok(response) => Ok(accessor.with(|mut store| {
                    response.into_http_with_getter(
                        &mut store,
                        request_io,
                        <Host as WasiHttpView>::http,
                    )
                })?),
                Err(code) => Err(code),
            };
            // The receiver is gone only if the request was cancelled, and then so is this.
            let _ = sender.send(answer);
            poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
            Ok(())
        })
        .await?
}
