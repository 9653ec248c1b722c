//! Whether the current worker thread has requests waiting: it decides where the work a
//! request leaves behind is done.
//!
//! After a response, the host drops the request's store (which resets its pool slot) and
//! makes the component's next instance (`spare.rs`). When the worker would otherwise go idle
//! until the next request, doing both in a task of their own, after the response has been
//! written, takes them off the client's wait: at one connection, p50 63–70 µs instead of
//! 82–97 µs with both done before the response. When requests are waiting, there is no idle
//! time to move the work into, and the task, and a spare made on one thread and taken on
//! another, only cost: at 32 connections, dropping at once and letting the next request make
//! its own instance served a median 9 % more requests (−4 to +22 % over eight pairs of runs)
//! for up to 3.7 µs less user CPU each (docs/performance.md, "Busy workers").
//!
//! The signal is Tokio's park hook: a worker thread parks when it has nothing to do. A thread
//! that has started a second request since it last parked went from one request to the next
//! without idling, so it is busy. Counting requests rather than instances keeps a middleware
//! chain, several instances for one request, on the idle path. Without the hook (an embedder
//! that does not install [`on_worker_park`]) every worker counts as idle, as before.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Set once [`on_worker_park`] has run: the counts below mean something.
static HOOKED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Requests this thread has started since it last parked.
    static STARTED: Cell<u32> = const { Cell::new(0) };
}

/// For `tokio::runtime::Builder::on_thread_park`: the worker thread calling it is going idle.
pub fn on_worker_park() {
    if !HOOKED.load(Ordering::Relaxed) {
        HOOKED.store(true, Ordering::Relaxed);
    }
    STARTED.with(|started| started.set(0));
}

/// Requests started in this process, on any thread (`fair.rs`).
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// A request (not a middleware step inside one) is starting on this thread.
pub(crate) fn request_started() {
    STARTED.with(|started| started.set(started.get().saturating_add(1)));
    REQUESTS.fetch_add(1, Ordering::Relaxed);
}

/// Requests started in this process so far.
pub(crate) fn requests_started() -> u64 {
    REQUESTS.load(Ordering::Relaxed)
}

/// Whether this thread has started another request since it last parked.
pub(crate) fn worker_is_busy() -> bool {
    HOOKED.load(Ordering::Relaxed) && STARTED.with(Cell::get) >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_request_without_a_park_is_busy() {
        // The park resets the count, whatever ran on this thread before.
        on_worker_park();
        request_started();
        assert!(!worker_is_busy(), "one request since the park");
        request_started();
        assert!(worker_is_busy(), "two requests since the park");
        on_worker_park();
        assert!(!worker_is_busy(), "the park resets the count");
        request_started();
        assert!(!worker_is_busy());
    }
}
