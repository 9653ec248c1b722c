//! [`WarnEvery`]: at most one warning of a kind every 10 s, so that a flood (of refused
//! connections, of failing store calls) does not flood the log too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The least time between two warnings of one kind.
const WARN_EVERY: Duration = Duration::from_secs(10);

pub(crate) struct WarnEvery {
    started: Instant,
    /// Seconds after `started` of the last warning, plus one (0: none yet).
    warned_at: AtomicU64,
}

impl WarnEvery {
    pub(crate) fn new() -> Self {
        Self::starting(Instant::now())
    }

    /// Counting from `started` (no warning before it is due).
    pub(crate) fn starting(started: Instant) -> Self {
        Self {
            started,
            warned_at: AtomicU64::new(0),
        }
    }

    /// Whether a warning may be logged now; if so, the next may not for 10 s.
    pub(crate) fn due(&self) -> bool {
        self.due_at(Instant::now())
    }

    /// Whether a warning may be logged at `now`; if so, the next may not for 10 s.
    pub(crate) fn due_at(&self, now: Instant) -> bool {
        let now = now.saturating_duration_since(self.started).as_secs() + 1;
        let last = self.warned_at.load(Ordering::Relaxed);
        (last == 0 || now >= last + WARN_EVERY.as_secs())
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_is_due_and_the_next_waits() {
        let warn = WarnEvery::new();
        assert!(warn.due());
        assert!(!warn.due());
    }
}
