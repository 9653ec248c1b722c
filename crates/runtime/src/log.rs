//! Guest stdout and stderr, turned into log events that name the component, the route and
//! the request id of the request being served; at most [`LINES_PER_SECOND`] per component,
//! so that a noisy guest cannot flood the log (the lines over are counted, and said).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// The lines a component's guests may log per second, all instances together, after a burst
/// of 200.
pub const LINES_PER_SECOND: f64 = 100.0;
const BURST: f64 = 200.0;

/// The header a `request_id` middleware step sets by default; a guest line carries its value.
const REQUEST_ID_HEADER: &str = "x-request-id";
/// The header the server sets to the route pattern a request matched.
const ROUTE_HEADER: &str = "tessera-route";

/// Which request an instance is serving, for its log lines (one instance serves several one
/// after another with `reuse`). Header values, not strings: setting it on every request clones
/// two reference-counted buffers and allocates nothing; the text is read only when a line is
/// logged.
#[derive(Debug, Default)]
pub(crate) struct LogTag {
    route: Option<http::HeaderValue>,
    request_id: Option<http::HeaderValue>,
}

impl LogTag {
    /// The route and request id from the headers of the request about to be served.
    pub(crate) fn set(&mut self, headers: &http::HeaderMap) {
        self.route = headers.get(ROUTE_HEADER).cloned();
        self.request_id = headers.get(REQUEST_ID_HEADER).cloned();
    }
}

fn text(value: Option<&http::HeaderValue>) -> Option<&str> {
    value.and_then(|v| v.to_str().ok())
}

/// A component's log budget: a token bucket of lines, shared by all its instances.
#[derive(Debug)]
pub struct LogBudget {
    bucket: Mutex<(f64, Instant)>,
    dropped: AtomicU64,
    /// Lines dropped since the last warning about them.
    unreported: AtomicU64,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self {
            bucket: Mutex::new((BURST, Instant::now())),
            dropped: AtomicU64::new(0),
            unreported: AtomicU64::new(0),
        }
    }
}

impl LogBudget {
    /// Lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Takes one line's token; false (and the line counted as dropped) when there is none.
    fn take(&self) -> bool {
        let Ok(mut bucket) = self.bucket.lock() else {
            return true;
        };
        let (tokens, last) = &mut *bucket;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * LINES_PER_SECOND).min(BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.unreported.fetch_add(1, Ordering::Relaxed);
            false
        }
    }
}

/// A guest's stdout or stderr. Complete lines become `tessera::guest` log events with the
/// component's id, the route and the request id (blank lines are dropped); a partial last
/// line is logged when the stream is dropped.
#[derive(Clone)]
pub(crate) struct GuestLog {
    component: Arc<str>,
    stream: Stream,
    /// Shared by the clones WASI makes of the stream, which all write one logical output.
    partial: Arc<Mutex<Vec<u8>>>,
    tag: Arc<Mutex<LogTag>>,
    budget: Arc<LogBudget>,
}

/// The most a guest may write in one call; larger writes are split by the guest's bindings.
const WRITE_BUDGET: usize = 64 * 1024;
/// A line longer than this is logged in pieces rather than buffered without bound.
const MAX_LINE: usize = 16 * 1024;

impl GuestLog {
    pub(crate) fn stdout(tag: Arc<Mutex<LogTag>>, caps: &crate::Capabilities) -> Self {
        Self::new(Stream::Stdout, tag, caps)
    }

    pub(crate) fn stderr(tag: Arc<Mutex<LogTag>>, caps: &crate::Capabilities) -> Self {
        Self::new(Stream::Stderr, tag, caps)
    }

    fn new(stream: Stream, tag: Arc<Mutex<LogTag>>, caps: &crate::Capabilities) -> Self {
        Self {
            component: caps.component.clone(),
            stream,
            partial: Arc::default(),
            tag,
            budget: caps.log_budget.clone(),
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\r', '\n']);
        // A blank line says nothing in a log of events (a Rust panic message starts with one).
        if line.trim().is_empty() {
            return;
        }
        if !self.budget.take() {
            return;
        }
        let unreported = self.budget.unreported.swap(0, Ordering::Relaxed);
        if unreported > 0 {
            tracing::warn!(
                target: "tessera::guest",
                component = %self.component,
                dropped = unreported,
                "{unreported} guest log lines dropped: over {LINES_PER_SECOND} lines per second"
            );
        }
        let tag = self.tag.lock();
        let (route, request_id) = match &tag {
            Ok(tag) => (text(tag.route.as_ref()), text(tag.request_id.as_ref())),
            Err(_) => (None, None),
        };
        let component = &*self.component;
        match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "tessera::guest", component, route, request_id, "{line}");
            }
            Stream::Stderr => {
                tracing::warn!(target: "tessera::guest", component, route, request_id, "{line}");
            }
        }
    }

    fn write_bytes(&self, mut bytes: &[u8]) {
        let mut partial = self
            .partial
            .lock()
            .expect("no code panics while holding it");
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            partial.extend_from_slice(&bytes[..end]);
            self.emit(&partial);
            partial.clear();
            bytes = &bytes[end + 1..];
        }
        partial.extend_from_slice(bytes);
        if partial.len() > MAX_LINE {
            self.emit(&partial);
            partial.clear();
        }
    }
}

impl Drop for GuestLog {
    fn drop(&mut self) {
        // The last clone flushes what is left of an unterminated line.
        if Arc::strong_count(&self.partial) == 1 {
            let partial = std::mem::take(&mut *self.partial.lock().expect("not poisoned"));
            if !partial.is_empty() {
                self.emit(&partial);
            }
        }
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestLog {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_lets_a_burst_through_then_counts_what_it_drops() {
        let budget = LogBudget::default();
        let passed = (0..1000).filter(|_| budget.take()).count();
        // The burst, and what refilled while the loop ran (well under a second).
        assert!((200..260).contains(&passed), "{passed}");
        assert_eq!(budget.dropped(), 1000 - passed as u64);
    }
}
