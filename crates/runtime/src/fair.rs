//! Long-running guests give way to short requests.
//!
//! A guest yields to the executor at every epoch tick (10 ms) it computes through, so it does
//! not hold a worker thread. That alone is not enough: a yielded guest is polled again as soon
//! as the tasks queued before it have run, so a few guests computing to their deadline take
//! nearly all of the workers' time, in 10 ms slices, and every short request on the server
//! waits behind those slices. Measured with `bench/neighbours.sh` (2 cores, a route whose
//! guest loops until its 1 s deadline, `max_concurrency = 4`, loaded at 32 connections): a
//! hello route on the same server kept 1 % of its throughput.
//!
//! So a guest that has computed through [`FREE_TICKS`] ticks counts as long-running, and
//! while the server is serving other requests (another request started during its last tick),
//! its next slice waits for a turn: long-running guests together get one slice in
//! [`LONG_SHARE`] of the workers' ticks. When no other request comes, long-running guests run
//! at full speed. A long computation on a busy server therefore takes longer, and its
//! deadline (wall-clock time) may end it sooner: that is the price of the short requests'
//! latency, and what `bench/neighbours.sh` measures.
//!
//! Failing guests take turns too. A request that fails (a trap, its memory cap, its deadline)
//! is short as often as not, and a route whose requests all fail at once is a cheap way to
//! keep a server busy: each is an instance made, a trap and a 500 with its log line, about
//! twice the CPU of a hello, so at equal load the routes that work kept only a third of their
//! throughput. A component whose recent requests mostly failed ([`Failures`]) therefore waits
//! for a turn before each request, from the same slices, while the worker is busy with other
//! requests; its first success and a few more bring it back to full speed, and a replaced
//! component starts with a clean record.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::UpdateDeadline;

use crate::InvokeError;

/// Ticks a request's guest computes through before it counts as long-running: a short one
/// may cross one tick by chance.
const FREE_TICKS: u32 = 2;

/// Long-running guests together get at most one tick in this many of the workers' ticks
/// while the workers are busy with other requests.
const LONG_SHARE: u64 = 8;

/// The epoch tick, in nanoseconds (0 until a ticker starts: then no guest waits).
static TICK_NANOS: AtomicU64 = AtomicU64::new(0);

/// When the next long-running slice may start, in nanoseconds since [`base`].
static NEXT_SLICE: AtomicU64 = AtomicU64::new(0);

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Told by the epoch ticker how long a tick is.
pub(crate) fn set_tick(tick: Duration) {
    TICK_NANOS.store(
        u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    base();
}

/// What a guest that reached its epoch deadline does next, having computed through `ticks`
/// ticks for its current request, when `seen` requests had started in the process at its
/// previous tick (updated): go on after a yield, or after waiting for its turn.
pub(crate) fn at_deadline(ticks: u32, seen: &mut u64) -> UpdateDeadline {
    let started = crate::busy::requests_started();
    let others = started != *seen;
    *seen = started;
    if ticks <= FREE_TICKS || !others {
        return UpdateDeadline::Yield(1);
    }
    match turn(Duration::MAX) {
        Ok(Some(wait)) => UpdateDeadline::YieldCustom(1, Box::pin(tokio::time::sleep(wait))),
        Ok(None) | Err(TooFar) => UpdateDeadline::Yield(1),
    }
}

/// A component's record of recent failures: a moving average over about its last eight
/// requests, in 1/1024ths.
#[derive(Default)]
pub(crate) struct Failures(AtomicU32);

/// The weight of the newest request in the average: 1/8.
const FAILURE_WEIGHT: u32 = 1024 / 8;

impl Failures {
    /// Notes how a request to the component ended. Neither a full instance pool (the
    /// server's capacity) nor an error code the guest answered with is the guest failing.
    pub(crate) fn note_outcome<T>(&self, outcome: &Result<T, InvokeError>) {
        self.note(matches!(
            outcome,
            Err(error) if !matches!(
                error,
                InvokeError::PoolFull { .. } | InvokeError::GuestError { .. }
            )
        ));
    }

    /// Notes whether a request to the component failed.
    fn note(&self, failed: bool) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |average| {
                Some(average - average / 8 + if failed { FAILURE_WEIGHT } else { 0 })
            });
    }

    /// Whether most of the component's recent requests failed (six in a row do it; one in two
    /// keeps it so until the next success).
    pub(crate) fn failing(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 512
    }
}

/// Before a request to a failing component: how long it waits for its turn, while the worker
/// is busy with other requests (`None`: it goes at once), or [`TooFar`] if its turn would come
/// after `deadline`.
pub(crate) fn failing_turn(
    failures: &Failures,
    deadline: Duration,
) -> Result<Option<Duration>, TooFar> {
    if failures.failing() && crate::busy::worker_is_busy() {
        turn(deadline)
    } else {
        Ok(None)
    }
}

/// The next slice starts too late: none was reserved.
#[derive(Debug, PartialEq)]
pub(crate) struct TooFar;

/// Reserves the next long-running slice if it starts within `limit`: how long until it starts,
/// if not at once. A slice further off is not reserved, so a request that gives up on it does
/// not push every later one back.
fn turn(limit: Duration) -> Result<Option<Duration>, TooFar> {
    let tick = TICK_NANOS.load(Ordering::Relaxed);
    if tick == 0 {
        return Ok(None);
    }
    let limit = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
    let workers = tokio::runtime::Handle::try_current()
        .map_or(1, |handle| handle.metrics().num_workers())
        .max(1) as u64;
    let spacing = tick.saturating_mul(LONG_SHARE) / workers;
    let now = u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut next = NEXT_SLICE.load(Ordering::Relaxed);
    loop {
        let slice = next.max(now);
        if slice - now >= limit {
            return Err(TooFar);
        }
        match NEXT_SLICE.compare_exchange_weak(
            next,
            slice.saturating_add(spacing),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Ok((slice > now).then(|| Duration::from_nanos(slice - now))),
            Err(current) => next = current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_spaced_by_the_share() {
        set_tick(Duration::from_millis(10));
        // Outside a runtime: one worker, so slices are LONG_SHARE ticks apart.
        let first = turn(Duration::MAX).expect("no limit");
        let second = turn(Duration::MAX)
            .expect("no limit")
            .expect("the second waits");
        let third = turn(Duration::MAX)
            .expect("no limit")
            .expect("the third waits longer");
        assert!(first.is_none_or(|wait| wait <= Duration::from_millis(80)));
        assert!(second > Duration::from_millis(70), "{second:?}");
        assert!(third > second + Duration::from_millis(70), "{third:?}");
        // A turn too far off is refused without being reserved: the next comes one spacing
        // after the third, not two.
        assert_eq!(turn(Duration::from_millis(1)), Err(TooFar));
        let fourth = turn(Duration::MAX)
            .expect("no limit")
            .expect("the fourth waits longer still");
        assert!(fourth > third + Duration::from_millis(70), "{fourth:?}");
        assert!(fourth < third + Duration::from_millis(150), "{fourth:?}");
    }

    #[test]
    fn mostly_failing_is_failing() {
        let failures = Failures::default();
        for _ in 0..5 {
            failures.note(true);
        }
        assert!(!failures.failing(), "five failures in a row are not yet");
        failures.note(true);
        assert!(failures.failing(), "six are");
        // Every other request failing keeps it failing; successes alone bring it back.
        for _ in 0..20 {
            failures.note(false);
            failures.note(true);
        }
        assert!(failures.failing());
        failures.note(false);
        assert!(!failures.failing(), "a success after one failure in two");
    }
}
