//! `body_limit` (413), `header_limit` (431) and `request_timeout` (408): limits on what a
//! client sends, enforced before or while the component reads it.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http::header::CONTENT_LENGTH;
use http_body::{Body, SizeHint};
use http_body_util::BodyExt;
use tessera_runtime::HttpError;
use tokio::time::Sleep;

use super::RequestBody;
use super::gate::{BodyFault, Gate, Verdict, Watch};
use crate::Rejection;
use crate::body::NextFrame;

/// `type = "body_limit"`: a declared length over the limit is refused at once; a streamed
/// body is cut off where it crosses the limit.
pub(crate) struct BodyLimit {
    pub(crate) max: u64,
}

impl Gate for BodyLimit {
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max) {
            return Err(Rejection::PayloadTooLarge { limit: self.max });
        }
        if request.body().is_end_stream() || declared.is_some() {
            // hyper ends a body at its declared length, which is within the limit.
            return Ok(None);
        }
        let watch = Watch::default();
        let body = std::mem::take(request.body_mut());
        *request.body_mut() = WatchedBody {
            inner: body,
            remaining: Some((self.max, self.max)),
            deadline: None,
            watch: watch.clone(),
        }
        .boxed_unsync();
        Ok(Some(watch))
    }
}

/// `type = "request_timeout"`: the whole body must arrive within the timeout.
pub(crate) struct RequestTimeout {
    pub(crate) timeout: Duration,
}

impl Gate for RequestTimeout {
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        if request.body().is_end_stream() {
            return Ok(None);
        }
        let watch = Watch::default();
        let body = std::mem::take(request.body_mut());
        *request.body_mut() = WatchedBody {
            inner: body,
            remaining: None,
            deadline: Some((Box::pin(tokio::time::sleep(self.timeout)), self.timeout)),
            watch: watch.clone(),
        }
        .boxed_unsync();
        Ok(Some(watch))
    }
}

/// `type = "header_limit"`.
pub(crate) struct HeaderLimit {
    pub(crate) max_count: Option<usize>,
    pub(crate) max_size: Option<u64>,
}

impl Gate for HeaderLimit {
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        let headers = request.headers();
        if let Some(max) = self.max_count
            && headers.len() > max
        {
            return Err(Rejection::HeadersTooLarge {
                message: format!(
                    "the request has {} header fields; at most {max} are accepted",
                    headers.len()
                ),
            });
        }
        if let Some(max) = self.max_size {
            let size: u64 = headers
                .iter()
                .map(|(name, value)| (name.as_str().len() + value.len()) as u64)
                .sum();
            if size > max {
                return Err(Rejection::HeadersTooLarge {
                    message: format!(
                        "the request's headers take {size} bytes; at most {max} are accepted"
                    ),
                });
            }
        }
        Ok(None)
    }
}

/// A request body with a size limit and/or a deadline. When it breaks one, it ends with an
/// error (so the reader stops) and says why through its [`Watch`].
struct WatchedBody {
    inner: RequestBody,
    /// Bytes still allowed, and the limit.
    remaining: Option<(u64, u64)>,
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    watch: Watch,
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> NextFrame<HttpError> {
        let this = self.get_mut();
        if let Some((sleep, timeout)) = &mut this.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            this.watch.report(BodyFault::TooSlow(*timeout));
            return Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)));
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => return Poll::Pending,
        };
        if let (Some((remaining, limit)), Some(Ok(frame))) = (&mut this.remaining, &frame)
            && let Some(data) = frame.data_ref()
        {
            match remaining.checked_sub(data.len() as u64) {
                Some(left) => *remaining = left,
                None => {
                    let limit = *limit;
                    this.watch.report(BodyFault::TooLarge(limit));
                    return Poll::Ready(Some(Err(HttpError::HttpRequestBodySize(Some(limit)))));
                }
            }
        }
        if frame.is_none() {
            this.deadline = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
