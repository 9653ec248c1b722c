//! The response a handler returns, and how it is written to the host.

use std::io::Write;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde::Serialize;
use wasip2::http::types::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasip2::io::streams::OutputStream;

use crate::{Error, Result};

/// A function that writes a streamed body.
type Streamer = Box<dyn FnOnce(&mut BodyWriter) -> std::io::Result<()>>;

/// An HTTP response.
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
}

enum Body {
    Full(Vec<u8>),
    Stream(Streamer),
}

impl Response {
    /// An empty response with this status.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Body::Full(Vec::new()),
        }
    }

    /// `200` with a plain-text body.
    pub fn text(text: impl Into<String>) -> Self {
        Self::bytes("text/plain; charset=utf-8", text.into().into_bytes())
    }

    /// `200` with `value` serialised as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self> {
        Ok(Self::bytes("application/json", serde_json::to_vec(value)?))
    }

    /// `200` with this body and content type.
    pub fn bytes(content_type: &str, body: Vec<u8>) -> Self {
        let mut response = Self::new(StatusCode::OK);
        response.body = Body::Full(body);
        response.with_header(CONTENT_TYPE, content_type)
    }

    /// `200` with a body that `write` produces as it goes (sent in chunks, with no
    /// `Content-Length`): for bodies too large to hold, or produced slowly.
    pub fn stream(
        content_type: &str,
        write: impl FnOnce(&mut BodyWriter) -> std::io::Result<()> + 'static,
    ) -> Self {
        let mut response = Self::new(StatusCode::OK);
        response.body = Body::Stream(Box::new(write));
        response.with_header(CONTENT_TYPE, content_type)
    }

    /// A redirect (`303 See Other` for `StatusCode::SEE_OTHER`, and so on) to `location`.
    pub fn redirect(status: StatusCode, location: &str) -> Self {
        Self::new(status).with_header(LOCATION, location)
    }

    /// This response with another status.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// This response with a header added. A value that is not a valid header value is
    /// dropped (and so is the header), rather than failing the response.
    #[must_use]
    pub fn with_header<N>(mut self, name: N, value: &str) -> Self
    where
        N: TryInto<HeaderName>,
    {
        if let (Ok(name), Ok(value)) = (name.try_into(), HeaderValue::try_from(value)) {
            self.headers.append(name, value);
        }
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body, if it is not streamed.
    pub fn body(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Full(bytes) => Some(bytes),
            Body::Stream(_) => None,
        }
    }

    /// Sends the response through `out`.
    pub(crate) fn send(mut self, out: ResponseOutparam) {
        if let Body::Full(bytes) = &self.body {
            let length = HeaderValue::from(bytes.len());
            self.headers.insert(CONTENT_LENGTH, length);
        }
        let fields = Fields::new();
        for (name, value) in &self.headers {
            // The host refuses headers it manages itself (`connection`, `keep-alive`, ...);
            // skip those, keep the rest.
            let _ = fields.append(name.as_str(), value.as_bytes());
        }
        let response = OutgoingResponse::new(fields);
        let _ = response.set_status_code(self.status.as_u16());
        let body = response.body().expect("a new response has a body");
        ResponseOutparam::set(out, Ok(response));
        let mut writer = BodyWriter {
            stream: body.write().expect("a new body has a stream"),
        };
        let written = match self.body {
            Body::Full(bytes) => writer.write_all(&bytes),
            Body::Stream(write) => write(&mut writer),
        };
        drop(writer);
        match written {
            // Finishing tells the client the body is complete; not finishing (on an error)
            // makes the host cut the response off, so a client never mistakes a truncated
            // body for a whole one.
            Ok(()) => {
                let _ = OutgoingBody::finish(body, None);
            }
            Err(error) => eprintln!("the response body failed midway: {error}"),
        }
    }
}

impl From<Error> for Response {
    fn from(error: Error) -> Self {
        Self::bytes("application/json", error.to_json().into_bytes()).with_status(error.status())
    }
}

/// Where a streamed body is written ([`Response::stream`]). Each `write` waits until the
/// host can take more, so a slow client slows the writer instead of filling memory.
pub struct BodyWriter {
    stream: OutputStream,
}

impl Write for BodyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Write::write(&mut self.stream, buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Write::flush(&mut self.stream)
    }
}
