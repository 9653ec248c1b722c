//! Pool slots on their way back.
//!
//! A finished request's store is dropped after its response has been written (`invoke.rs`,
//! `after_response`), so for a moment the client has its answer while the instance still
//! holds its pool slot. A client that sends its next request at once, to a pool with no other
//! free slot (`--max-instances 1`, or every other slot busy), would be told the pool is full
//! by an instance that has finished. So a request that finds the pool full waits for a store
//! that is being dropped, and tries again. When none is on its way back, it takes the slot of
//! a waiting spare (`spare.rs`) or, without one, is answered 503.
//!
//! The request path pays one atomic increment and one decrement per deferred drop; the
//! [`Notify`] is only touched while a request is waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// How many times a request that found the pool full waits for a release and tries again.
/// One is enough for a client on its own; a few more give a request competing with others
/// for the freed slots a fair chance before it is turned away.
pub(crate) const RETRIES: usize = 4;

/// The stores of one engine being dropped after their responses, and the requests waiting
/// for their slots.
#[derive(Debug, Default)]
pub(crate) struct Releases {
    pending: AtomicUsize,
    waiting: AtomicUsize,
    notify: Notify,
}

impl Releases {
    /// Marks one store as on its way back; drop the returned guard after the store.
    pub(crate) fn begin(self: &Arc<Self>) -> Release {
        self.pending.fetch_add(1, Ordering::SeqCst);
        Release(self.clone())
    }

    /// Waits until a store that is being dropped has been dropped. Returns `false` at once if
    /// none is, i.e. the pool is full of instances still in use.
    pub(crate) async fn wait(&self) -> bool {
        // Created before `pending` is read: a `Notified` receives every `notify_waiters` that
        // comes after its creation, so a release between the read and the await is not lost.
        let released = self.notify.notified();
        let _waiting = Waiting::new(self);
        if self.pending.load(Ordering::SeqCst) == 0 {
            return false;
        }
        released.await;
        true
    }
}

/// One store being dropped; dropping this says it is gone and its slot is free.
pub(crate) struct Release(Arc<Releases>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
        // Sequentially consistent with `wait`: either the waiter reads `pending` after this
        // decrement (and sees the slot free or waits for another release), or this reads
        // `waiting` after the waiter counted itself, and wakes it.
        if self.0.waiting.load(Ordering::SeqCst) > 0 {
            self.0.notify.notify_waiters();
        }
    }
}

/// A request counted as waiting for as long as it waits, even if it is cancelled.
struct Waiting<'a>(&'a Releases);

impl<'a> Waiting<'a> {
    fn new(releases: &'a Releases) -> Self {
        releases.waiting.fetch_add(1, Ordering::SeqCst);
        Self(releases)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn nothing_pending_means_no_wait() {
        let releases = Arc::new(Releases::default());
        assert!(!releases.wait().await);
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_a_release_ends() {
        let releases = Arc::new(Releases::default());
        let release = releases.begin();
        let waiter = tokio::spawn({
            let releases = releases.clone();
            async move { releases.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "the waiter must wait for the release"
        );
        drop(release);
        let woke = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter wakes")
            .expect("task");
        assert!(woke);
        assert_eq!(releases.waiting.load(Ordering::SeqCst), 0);
        assert!(!releases.wait().await, "nothing is pending any more");
    }

    #[tokio::test]
    async fn a_cancelled_waiter_is_no_longer_counted() {
        let releases = Arc::new(Releases::default());
        let _release = releases.begin();
        let waited = tokio::time::timeout(Duration::from_millis(20), releases.wait()).await;
        assert!(waited.is_err(), "still pending: the wait times out");
        assert_eq!(releases.waiting.load(Ordering::SeqCst), 0);
    }
}
