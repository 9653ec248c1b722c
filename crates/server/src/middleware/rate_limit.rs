//! `type = "rate_limit"`: a token bucket (governor's GCRA) per client IP or per authenticated
//! subject; 429 with `Retry-After` and the `RateLimit-*` headers of the IETF draft.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::Request;
use tessera_manifest::{RateKey, RateLimitSpec};

use super::RequestBody;
use super::gate::{Gate, Verdict};
use super::identity::Identity;
use crate::{ClientAddr, Rejection};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Subject(Arc<str>),
}

type Limiter = RateLimiter<
    Key,
    DefaultKeyedStateStore<Key>,
    DefaultClock,
    NoOpMiddleware<<DefaultClock as Clock>::Instant>,
>;

/// Forget idle clients after this many checks, so the table does not grow without bound.
const SWEEP_EVERY: u32 = 4096;

pub(crate) struct RateLimit {
    limiter: Limiter,
    key: RateKey,
    burst: u32,
    checks: AtomicU32,
}

impl RateLimit {
    pub(crate) fn build(spec: &RateLimitSpec) -> Self {
        let period = spec.per / spec.requests;
        let burst = NonZeroU32::new(spec.burst).expect("the manifest checked burst >= 1");
        let quota = Quota::with_period(period)
            .expect("the manifest checked the period is not zero")
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            key: spec.key,
            burst: spec.burst,
            checks: AtomicU32::new(0),
        }
    }

    fn key_of(&self, request: &Request<RequestBody>) -> Option<Key> {
        match self.key {
            RateKey::Ip => request
                .extensions()
                .get::<ClientAddr>()
                .map(|addr| Key::Ip(addr.0.ip())),
            RateKey::Subject => request
                .extensions()
                .get::<Identity>()
                .map(|identity| Key::Subject(identity.subject().clone())),
        }
    }
}

impl Gate for RateLimit {
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        let Some(key) = self.key_of(request) else {
            // No address (an in-process caller) or no identity: nothing to count by.
            return Ok(None);
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&key) {
            Ok(_) => Ok(None),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Err(Rejection::TooManyRequests {
                    retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                    limit: self.burst,
                })
            }
        }
    }
}
