//! Guest stdout and stderr, turned into log events that name the component.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

/// A guest's stdout or stderr. Complete lines become `tessera::guest` log events with the
/// component's id (blank lines are dropped); a partial last line is logged when the stream is
/// dropped.
#[derive(Clone)]
pub(crate) struct GuestLog {
    component: Arc<str>,
    stream: Stream,
    /// Shared by the clones WASI makes of the stream, which all write one logical output.
    partial: Arc<Mutex<Vec<u8>>>,
}

/// The most a guest may write in one call; larger writes are split by the guest's bindings.
const WRITE_BUDGET: usize = 64 * 1024;
/// A line longer than this is logged in pieces rather than buffered without bound.
const MAX_LINE: usize = 16 * 1024;

impl GuestLog {
    pub(crate) fn stdout(component: Arc<str>) -> Self {
        Self::new(component, Stream::Stdout)
    }

    pub(crate) fn stderr(component: Arc<str>) -> Self {
        Self::new(component, Stream::Stderr)
    }

    fn new(component: Arc<str>, stream: Stream) -> Self {
        Self {
            component,
            stream,
            partial: Arc::default(),
        }
    }

    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\r', '\n']);
        // A blank line says nothing in a log of events (a Rust panic message starts with one).
        if line.trim().is_empty() {
            return;
        }
        match self.stream {
            Stream::Stdout => {
                tracing::info!(target: "tessera::guest", component = %self.component, "{line}");
            }
            Stream::Stderr => {
                tracing::warn!(target: "tessera::guest", component = %self.component, "{line}");
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
