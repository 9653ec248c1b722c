//! The rest of a middleware chain, called apart from the WASI 0.3 step that calls it.
//!
//! A WASI 0.2 middleware step calls the rest of its chain inline: the call is a future its
//! host function awaits. A WASI 0.3 step cannot: its instance runs inside its store's event
//! loop (`run_concurrent`), and a WASI 0.3 component further down the chain runs inside an
//! event loop of its own, which Wasmtime does not allow to be polled from within another
//! ("Recursive `StoreContextMut::run_concurrent` calls not supported"). So for a 0.3 step the
//! call runs in a task of its own. The response body needs nothing more: a [`Next`] returns a
//! body that is driven by a task of its own already (the server's `Relayed`, in
//! `middleware/wasm.rs`, which exists for the same reason on the 0.2 side).

use wasmtime_wasi_http::WasiBody;

use crate::Next;

/// Calls `next` with `request` in a task of its own and returns its response. If that task
/// panics (and says so in the log), the step sees a plain 500, as a client would.
pub(crate) async fn run(next: Next, request: http::Request<WasiBody>) -> http::Response<WasiBody> {
    tokio::spawn(next(request)).await.unwrap_or_else(|_| {
        use http_body_util::BodyExt as _;
        let mut failed = http::Response::new(
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *failed.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        failed
    })
}
