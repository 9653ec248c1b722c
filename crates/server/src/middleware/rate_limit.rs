//! `type = "rate_limit"`: a token bucket (GCRA) per client IP or per authenticated subject;
//! 429 with `Retry-After` and the `RateLimit-*` headers of the IETF draft.
//!
//! The buckets are in this process (governor's keyed limiter), or, with `store = "<name>"`,
//! in that Redis store, shared by every node that uses it: one atomic script per request
//! ([`KvStore::take_token`]). If the store fails, requests are admitted (a warning says so at
//! most every 10 s): a rate limit should not turn a Redis outage into an outage of the routes
//! it guards.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use http::Request;
use tessera_manifest::{RateKey, RateLimitSpec};
use tessera_runtime::capabilities::kv::{Gcra, KvStore};

use super::RequestBody;
use super::gate::{Gate, Verdict};
use super::identity::Identity;
use crate::warn_every::WarnEvery;
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
    /// The step's name in the manifest: the buckets of two steps sharing a store differ.
    name: String,
    key: RateKey,
    rule: Gcra,
    buckets: Buckets,
}

/// Where a limit keeps its buckets.
enum Buckets {
    /// In this process; idle clients are forgotten every [`SWEEP_EVERY`] checks.
    Local { limiter: Limiter, checks: AtomicU32 },
    /// In the key-value store named by the `store` setting, once the backends are open.
    Shared {
        store: String,
        opened: OnceLock<Arc<dyn KvStore>>,
        warn: WarnEvery,
    },
}

impl RateLimit {
    pub(crate) fn build(name: &str, spec: &RateLimitSpec) -> Self {
        let interval = spec.per / spec.requests;
        let buckets = match &spec.store {
            Some(store) => Buckets::Shared {
                store: store.name.clone(),
                opened: OnceLock::new(),
                warn: WarnEvery::new(),
            },
            None => {
                let burst = NonZeroU32::new(spec.burst).expect("the manifest checked burst >= 1");
                let quota = Quota::with_period(interval)
                    .expect("the manifest checked the period is not zero")
                    .allow_burst(burst);
                Buckets::Local {
                    limiter: RateLimiter::keyed(quota),
                    checks: AtomicU32::new(0),
                }
            }
        };
        Self {
            name: name.to_string(),
            key: spec.key,
            rule: Gcra {
                interval,
                burst: spec.burst,
            },
            buckets,
        }
    }

    /// Whether the buckets are in a store shared with other nodes (then [`Self::admit_shared`]
    /// decides, not [`Gate::admit`]).
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self.buckets, Buckets::Shared { .. })
    }

    /// Takes the store named by the `store` setting from `open`.
    pub(crate) fn share(&self, open: impl Fn(&str) -> Option<Arc<dyn KvStore>>) {
        if let Buckets::Shared { store, opened, .. } = &self.buckets
            && let Some(store) = open(store)
        {
            let _ = opened.set(store);
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

    fn refusal(&self, wait: Duration) -> Rejection {
        Rejection::TooManyRequests {
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            limit: self.rule.burst,
        }
    }

    /// The verdict of the shared buckets.
    pub(crate) async fn admit_shared(&self, request: &mut Request<RequestBody>) -> Verdict {
        let Buckets::Shared {
            store: store_name,
            opened,
            warn,
        } = &self.buckets
        else {
            return self.admit(request);
        };
        let (Some(key), Some(store)) = (self.key_of(request), opened.get()) else {
            return Ok(None);
        };
        let bucket = match &key {
            Key::Ip(ip) => format!("ratelimit:{}:ip:{ip}", self.name),
            Key::Subject(subject) => format!("ratelimit:{}:subject:{subject}", self.name),
        };
        match store.take_token(&bucket, self.rule).await {
            Ok(None) => Ok(None),
            Ok(Some(wait)) => Err(self.refusal(wait)),
            Err(error) => {
                if warn.due() {
                    tracing::warn!(
                        "rate limit {}: key-value store \"{store_name}\" failed ({error}); admitting requests until it answers",
                        self.name
                    );
                }
                Ok(None)
            }
        }
    }
}

impl Gate for RateLimit {
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        let Buckets::Local { limiter, checks } = &self.buckets else {
            // Shared buckets are asked in `admit_shared`, which waits for the store.
            return Ok(None);
        };
        let Some(key) = self.key_of(request) else {
            // No address (an in-process caller) or no identity: nothing to count by.
            return Ok(None);
        };
        if checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
        }
        match limiter.check_key(&key) {
            Ok(_) => Ok(None),
            Err(not_until) => {
                Err(self.refusal(not_until.wait_time_from(DefaultClock::default().now())))
            }
        }
    }
}
