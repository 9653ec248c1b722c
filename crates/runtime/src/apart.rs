//! The rest of a middleware chain, run apart from the step that calls it.
//!
//! A WASI 0.2 middleware step calls the rest of its chain inline: the call is a future its
//! host function awaits, and the response body it returns is polled by whoever reads the
//! step's body. A WASI 0.3 step cannot: its instance runs inside its store's event loop
//! (`run_concurrent`), and a WASI 0.3 component further down the chain runs inside an event
//! loop of its own, which Wasmtime does not allow to be polled from within another. So for a
//! 0.3 step the rest of the chain, and its response body, are driven by a task of their own,
//! and the body is relayed to the step through a small channel. This costs the step one task
//! and a channel hop per frame; a 0.2 step pays nothing for it.

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use tokio::sync::{mpsc, oneshot};
use wasmtime_wasi_http::WasiBody;

use crate::Next;

/// Frames in flight between the task and the step: enough to keep both busy, few enough that
/// a step that stops reading holds back the component behind it.
const RELAYED_FRAMES: usize = 4;

/// Calls `next` with `request` in a task of its own and returns its response, whose body the
/// task goes on reading for as long as this body is read. Dropping the body stops the task,
/// which drops the rest of the chain's body (and so cancels a guest still writing it).
pub(crate) async fn run(next: Next, request: http::Request<WasiBody>) -> http::Response<WasiBody> {
    let (head_tx, head_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (parts, mut body) = next(request).await.into_parts();
        let (frames_tx, frames_rx) = mpsc::channel(RELAYED_FRAMES);
        let relayed = http::Response::from_parts(parts, Relay(frames_rx).boxed_unsync());
        if head_tx.send(relayed).is_err() {
            return;
        }
        while let Some(frame) = body.frame().await {
            if frames_tx.send(frame).await.is_err() {
                return;
            }
        }
    });
    head_rx.await.unwrap_or_else(|_| {
        // The task ended without a response: the rest of the chain panicked (and said so in
        // the log). The step sees a plain 500, as a client would.
        let mut failed = http::Response::new(
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *failed.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        failed
    })
}

/// A body read from the task's channel.
struct Relay(mpsc::Receiver<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>);

impl Body for Relay {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx)
    }
}
