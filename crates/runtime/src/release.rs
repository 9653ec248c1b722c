//! Pool slots on their way back.
//!
//! An instance holds its pool slot until its store is dropped, and that comes after the
//! client may have its whole answer: the last bytes of a body with a `content-length` can
//! leave before the guest has returned from its handler, and the store itself is dropped
//! after the response has been written (`invoke.rs`, `after_response`). A client that sends
//! its next request at once, to a pool with no other free slot (`--max-instances 1`, or every
//! other slot busy), would be told the pool is full by an instance that has answered. So from
//! the moment a guest's response head is out until its store is gone, the slot counts as on
//! its way back, and a request that finds the pool full, with no spare to take a slot from
//! (`spare.rs`), waits for one of those and tries again. The wait is short
//! ([`WAIT`]): a slot held by a long streaming response does not keep a request from its 503
//! for longer.
//!
//! The request path pays one atomic increment and one decrement per response; the
//! [`Notify`] is only touched while a request is waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long a request that found the pool full waits for a slot on its way back, each time.
/// An instance that has answered gives its slot back within microseconds on an idle machine
/// and a few milliseconds on a loaded one; a longer wait only delays the 503 of a request
/// that finds the pool full of long responses.
pub(crate) const WAIT: Duration = Duration::from_millis(100);

/// How many times a request that found the pool full waits for a release and tries again.
/// One is enough for a client on its own; a few more give a request competing with others
/// for the freed slots a fair chance before it is turned away.
pub(crate) const RETRIES: usize = 4;

/// The stores of one engine being dropped after their responses, and the requests waiting
/// for their slots.
#[derive(Debug, Default)]
pub(crate) struct Releases {
    pending: AtomicUsize,
    /// How many releases have ended, ever: a request compares it with what it read before
    /// its failed try, so a slot that came back in between is not missed.
    ended: AtomicUsize,
    waiting: AtomicUsize,
    notify: Notify,
}

impl Releases {
    /// Marks one store as on its way back; drop the returned guard after the store.
    pub(crate) fn begin(self: &Arc<Self>) -> Release {
        self.pending.fetch_add(1, Ordering::SeqCst);
        Release(self.clone())
    }

    /// How many releases have ended so far.
    pub(crate) fn ended(&self) -> usize {
        self.ended.load(Ordering::SeqCst)
    }

    /// Waits until a slot on its way back is free, for at most [`WAIT`], and returns whether
    /// one is, counting one freed since [`ended`](Self::ended) returned `since`. Returns
    /// `false` at once if none has been freed since and none is on its way, i.e. the pool is
    /// full of instances still computing their answers.
    pub(crate) async fn wait(&self, since: usize) -> bool {
        // Created before `pending` is read: a `Notified` receives every `notify_waiters` that
        // comes after its creation, so a release between the read and the await is not lost.
        let released = self.notify.notified();
        let _waiting = Waiting::new(self);
        // `pending` first: a release counts itself ended before it stops being pending, so
        // reading no release pending means reading every end before it.
        let pending = self.pending.load(Ordering::SeqCst);
        if self.ended.load(Ordering::SeqCst) != since {
            return true;
        }
        if pending == 0 {
            return false;
        }
        tokio::time::timeout(WAIT, released).await.is_ok()
    }
}

/// One store being dropped; dropping this says it is gone and its slot is free.
pub(crate) struct Release(Arc<Releases>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::SeqCst);
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
        assert!(!releases.wait(releases.ended()).await);
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_a_release_ends() {
        let releases = Arc::new(Releases::default());
        let release = releases.begin();
        let waiter = tokio::spawn({
            let releases = releases.clone();
            async move { releases.wait(0).await }
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
        assert!(!releases.wait(1).await, "nothing is pending any more");
        assert!(releases.wait(0).await, "one came back since 0");
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_the_wait() {
        let releases = Arc::new(Releases::default());
        let _release = releases.begin();
        let started = std::time::Instant::now();
        assert!(!releases.wait(0).await, "nothing came back");
        assert!(started.elapsed() >= WAIT);
        assert_eq!(releases.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_is_no_longer_counted() {
        let releases = Arc::new(Releases::default());
        let _release = releases.begin();
        let waited = tokio::time::timeout(Duration::from_millis(20), releases.wait(0)).await;
        assert!(waited.is_err(), "still pending: the wait times out");
        assert_eq!(releases.waiting.load(Ordering::SeqCst), 0);
    }
}
