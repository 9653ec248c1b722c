//! The response body type: a guest's streaming body, or a small body the host wrote itself.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use tessera_runtime::{BodyError, GuestBody};

/// Every response the server sends has this body. An enum rather than a boxed body, so the
/// request path allocates nothing for it.
#[derive(Debug)]
pub enum ResponseBody {
    /// Streamed from a guest.
    Guest(GuestBody),
    /// Written by the host (errors, rejections).
    Host(Full<Bytes>),
    /// Transformed by a middleware step (compression).
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

/// What polling a body of `Bytes` for its next frame gives, for a body that fails with `E`.
pub(crate) type NextFrame<E> = Poll<Option<Result<Frame<Bytes>, E>>>;

/// Any error a response body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Default for ResponseBody {
    /// An empty body (CORS preflight answers).
    fn default() -> Self {
        Self::Host(Full::default())
    }
}

impl ResponseBody {
    /// A host-written body.
    pub fn host(bytes: impl Into<Bytes>) -> Self {
        Self::Host(Full::new(bytes.into()))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> NextFrame<BoxError> {
        match self.get_mut() {
            Self::Guest(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(|e: BodyError| Box::new(e) as BoxError))),
            Self::Boxed(body) => Pin::new(body).poll_frame(cx),
            Self::Host(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(|never| match never {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Guest(body) => body.is_end_stream(),
            Self::Host(body) => body.is_end_stream(),
            Self::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Guest(body) => body.size_hint(),
            Self::Host(body) => body.size_hint(),
            Self::Boxed(body) => body.size_hint(),
        }
    }
}

/// A response body that holds `T` until it ends (a body is dropped when it ends): for what
/// measures a request to its last byte (metrics, the request's span).
pub(crate) struct Holding<T> {
    inner: ResponseBody,
    #[allow(dead_code, reason = "held for its Drop")]
    held: T,
}

impl<T: Send + Unpin + 'static> Holding<T> {
    /// `response` with its body holding `held`.
    pub(crate) fn wrap(
        response: http::Response<ResponseBody>,
        held: T,
    ) -> http::Response<ResponseBody> {
        response.map(|inner| ResponseBody::Boxed(Holding { inner, held }.boxed_unsync()))
    }
}

impl<T: Unpin> Body for Holding<T> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> NextFrame<BoxError> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
