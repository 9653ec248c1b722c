//! Instances made ahead of their request.
//!
//! Every request gets a fresh instance, never one that served another request. Creating it
//! (a store, a pool slot, the component's imports and core instances) is about half of what a
//! small request costs the host. When a request has been answered, the host makes the
//! component's next instance right away, in the time the client takes to send its next
//! request, and the next request starts with it. The CPU spent per request is the same; what
//! changes is that instantiating is no longer on the path between a request arriving and its
//! response leaving. Under load there is no idle time to hide it in, and requests that find
//! no spare ready instantiate their own, as before.
//!
//! A spare has run nothing but the component's instantiation: no guest export has been
//! called and it has seen no request. It belongs to one version of one component and is
//! dropped with it (a live replacement starts without one).
//!
//! Spares hold pool slots while they wait, so an engine-wide budget bounds them: at most one
//! per component, and at most [`Pool::for_slots`] of the pool in all. A request that finds the
//! pool full makes room ([`Pool::make_room`]): it drops another component's spare to take its
//! slot; when there is none, it waits briefly for a slot on its way back (`release.rs`); only
//! when none comes either is it answered 503. A spare never turns a request
//! away.
//!
//! With `reuse` (opt-in per component), an instance that served a request well is kept here
//! too, idle, for the next request: it counts against the same budget and is dropped the same
//! way when the pool is full, when its `idle_timeout` passes (`sweep`), after `max_requests`,
//! and with its component version. An instance that trapped, ran past its deadline, was
//! refused memory or was cancelled never comes back here (`invoke.rs`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use wasmtime::{Engine, Store};
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p3::bindings::{Service, ServicePre};

use tessera_manifest::{Limits, Reuse};

use crate::fair::Failures;
use crate::release::{Release, Releases};
use crate::{Capabilities, Host, Next};

/// The engine's instance pool as the components share it: how many spares may exist at once,
/// the stores on their way back to it, and every component version loaded on it.
pub(crate) struct Pool {
    spare_limit: usize,
    spares_held: AtomicUsize,
    releases: Arc<Releases>,
    components: Mutex<Vec<Weak<Instances>>>,
}

impl Pool {
    /// For a pool of `slots`. Spares may take a quarter of it: they never crowd out running
    /// requests on a small pool, and one server with many components keeps most of them warm.
    pub(crate) fn for_slots(slots: u32) -> Self {
        Self {
            spare_limit: slots as usize / 4,
            spares_held: AtomicUsize::new(0),
            releases: Arc::default(),
            components: Mutex::new(Vec::new()),
        }
    }

    /// Marks a finished request's store as on its way back to the pool; drop the guard after
    /// the store.
    pub(crate) fn release(&self) -> Release {
        self.releases.begin()
    }

    /// Called when the pool is full: drops a waiting spare, or else waits (briefly) for a
    /// slot on its way back. Returns whether a slot was freed (and trying again may succeed).
    /// The spare goes first: it costs the work of making it again, where waiting costs the
    /// client time.
    ///
    /// `released` is [`Pool::released`] from before the try that found the pool full.
    pub(crate) async fn make_room(&self, released: usize) -> bool {
        self.evict_a_spare() || self.releases.wait(released).await
    }

    /// How many slots on their way back have been given back so far.
    pub(crate) fn released(&self) -> usize {
        self.releases.ended()
    }

    /// Lists a newly loaded component version (and forgets those that are gone).
    fn register(&self, instances: &Arc<Instances>) {
        if let Ok(mut components) = self.components.lock() {
            components.retain(|component| component.strong_count() > 0);
            components.push(Arc::downgrade(instances));
        }
    }

    /// Drops one waiting spare, of any component, so that a request can have its pool slot.
    /// Returns whether there was one. It looks at every component: only for a full pool.
    fn evict_a_spare(&self) -> bool {
        let components: Vec<Arc<Instances>> = match self.components.lock() {
            Ok(components) => components.iter().filter_map(Weak::upgrade).collect(),
            Err(_) => return false,
        };
        components.iter().any(|instances| {
            // Taken out under the lock, dropped (and its slot reset) after it.
            let spare = instances
                .spare
                .lock()
                .ok()
                .and_then(|mut spare| spare.take());
            let idle = || instances.idle.lock().ok().and_then(|mut idle| idle.pop());
            spare.is_some() || idle().is_some()
        })
    }

    fn claim(self: &Arc<Self>) -> Option<Claim> {
        let held = self.spares_held.fetch_add(1, Ordering::Relaxed);
        let claim = Claim(self.clone());
        (held < self.spare_limit).then_some(claim)
    }
}

/// One spare's place in the pool's budget, given back when dropped.
struct Claim(Arc<Pool>);

impl Drop for Claim {
    fn drop(&mut self) {
        self.0.spares_held.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A store with an instance of the component in it, waiting for a request.
struct Spare {
    store: Store<Host>,
    proxy: Made,
    _claim: Claim,
}

/// An instance that has served a request and waits for the next (`reuse`).
struct Idle {
    store: Store<Host>,
    proxy: Made,
    since: Instant,
    _claim: Claim,
}

/// A component linked and ready to instantiate, with the pool of the engine it was compiled
/// for.
pub(crate) enum Pre {
    /// A WASI 0.2 component (`wasi:http/incoming-handler@0.2`).
    P2(ProxyPre<Host>, Arc<Pool>),
    /// A WASI 0.3 component (`wasi:http/handler@0.3`).
    P3(ServicePre<Host>, Arc<Pool>),
}

impl Pre {
    fn engine(&self) -> &Engine {
        match self {
            Self::P2(pre, _) => pre.engine(),
            Self::P3(pre, _) => pre.engine(),
        }
    }

    fn pool(&self) -> &Arc<Pool> {
        match self {
            Self::P2(_, pool) | Self::P3(_, pool) => pool,
        }
    }

    /// Makes one instance in `store`.
    pub(crate) async fn instantiate(&self, store: &mut Store<Host>) -> wasmtime::Result<Made> {
        Ok(match self {
            Self::P2(pre, _) => Made::P2(pre.instantiate_async(store).await?),
            Self::P3(pre, _) => Made::P3(pre.instantiate_async(store).await?),
        })
    }

    /// Makes one instance in `store` and drops it with the store: the load-time trial.
    pub(crate) async fn try_instance(&self, store: &mut Store<Host>) -> wasmtime::Result<()> {
        self.instantiate(store).await.map(drop)
    }
}

/// An instance, of either kind.
pub(crate) enum Made {
    P2(Proxy),
    P3(Service),
}

impl Made {
    /// The WASI 0.2 instance a 0.2 component makes.
    pub(crate) fn p2(&self) -> &Proxy {
        match self {
            Self::P2(proxy) => proxy,
            Self::P3(_) => unreachable!("a WASI 0.2 component makes 0.2 instances"),
        }
    }

    /// The WASI 0.3 instance a 0.3 component makes.
    pub(crate) fn p3(&self) -> &Service {
        match self {
            Self::P3(service) => service,
            Self::P2(_) => unreachable!("a WASI 0.3 component makes 0.3 instances"),
        }
    }
}

/// What a component needs to make its instances, the slot its spare waits in, and with
/// `reuse` the instances that wait to serve again.
pub(crate) struct Instances {
    pub(crate) pre: Pre,
    caps: Arc<Capabilities>,
    memory: u64,
    timeout: Duration,
    reuse: Option<Reuse>,
    spare: Mutex<Option<Spare>>,
    filling: AtomicBool,
    /// Last in, first out: the most recently used instance has the warmest caches.
    idle: Mutex<Vec<Idle>>,
    sweeping: AtomicBool,
    /// How the component's recent requests ended (`fair.rs`).
    pub(crate) failures: Failures,
}

impl Instances {
    /// The instances of one component version, listed in `pool` so that a request of another
    /// component can take its spare's slot when the pool is full.
    pub(crate) fn new(pre: Pre, caps: Arc<Capabilities>, limits: &Limits) -> Arc<Self> {
        let instances = Arc::new(Self {
            pre,
            caps,
            memory: limits.memory,
            timeout: limits.timeout,
            reuse: limits.reuse,
            spare: Mutex::new(None),
            filling: AtomicBool::new(false),
            idle: Mutex::new(Vec::new()),
            sweeping: AtomicBool::new(false),
            failures: Failures::default(),
        });
        instances.pool().register(&instances);
        instances
    }

    /// A new store for one instance of the component, with its memory cap and epoch
    /// settings; `next` is the rest of a middleware chain.
    pub(crate) fn store(&self, next: Option<Next>) -> Store<Host> {
        let mut store = Store::new(
            self.pre.engine(),
            Host::new(self.caps.clone(), self.memory, next),
        );
        if let Pre::P3(..) = self.pre {
            store.data_mut().run_next_apart();
        }
        store.limiter(|host| &mut host.limiter);
        // Yield to the scheduler at every epoch tick, so a guest computing for a long time
        // (or a start function that never returns) does not hold a worker thread, and let a
        // long-running one wait its turn while other requests are served (`fair.rs`); the
        // deadline itself is a timer around the call. Not `set_epoch_deadline(u64::MAX)`: the
        // deadline is added to the current epoch, which overflows once the server has been
        // running.
        store.epoch_deadline_callback(|mut store| {
            let host = store.data_mut();
            host.ticks = host.ticks.saturating_add(1);
            Ok(crate::fair::at_deadline(
                host.ticks,
                &mut host.requests_seen,
            ))
        });
        store.set_epoch_deadline(1);
        store
    }

    /// What the component was granted.
    pub(crate) fn caps(&self) -> &Capabilities {
        &self.caps
    }

    /// The pool of the engine the component was compiled for.
    pub(crate) fn pool(&self) -> &Arc<Pool> {
        self.pre.pool()
    }

    /// A store for a request, with `next` the rest of its chain: the store of an instance
    /// waiting for a request (one made after the previous request, or with `reuse` one that
    /// served it) and that instance, if there is one; otherwise a new store, for an instance
    /// to be made in.
    pub(crate) fn for_request(&self, next: Option<Next>) -> (Store<Host>, Option<Made>) {
        let (mut store, ready) = match self.take() {
            Some((store, made)) => (store, Some(made)),
            None => (self.store(None), None),
        };
        store.data_mut().set_next(next);
        store.data_mut().served += 1;
        store.data_mut().ticks = 0;
        store.data_mut().requests_seen = crate::busy::requests_started();
        (store, ready)
    }

    /// Instances waiting for a request: the spare (0 or 1) and, with `reuse`, the idle ones.
    pub(crate) fn ready(&self) -> usize {
        let spare = self
            .spare
            .lock()
            .map_or(0, |spare| usize::from(spare.is_some()));
        spare + self.idle.lock().map_or(0, |idle| idle.len())
    }

    /// An instance waiting for a request, made ready for it: an idle one that has served
    /// before (with `reuse`), else the spare.
    fn take(&self) -> Option<(Store<Host>, Made)> {
        let (mut store, proxy) = match self.take_idle() {
            Some(idle) => idle,
            None => {
                let Spare { store, proxy, .. } = self.spare.lock().ok()?.take()?;
                (store, proxy)
            }
        };
        // Counted from now, not from when the instance was made or last served: the first
        // epoch check in the guest would otherwise find its deadline long passed and yield
        // for nothing.
        store.set_epoch_deadline(1);
        Some((store, proxy))
    }

    fn take_idle(&self) -> Option<(Store<Host>, Made)> {
        let reuse = self.reuse?;
        let mut idle = self.idle.lock().ok()?;
        while let Some(Idle {
            store,
            proxy,
            since,
            ..
        }) = idle.pop()
        {
            if since.elapsed() < reuse.idle_timeout {
                return Some((store, proxy));
            }
            // Past its idle timeout (the sweep has not come by yet): so are all below it.
            idle.clear();
        }
        None
    }

    /// After a request its instance served well: keeps the instance for the next request if
    /// the component has `reuse`, its `max_requests` are not used up, it was never refused
    /// memory, and the pool's budget allows. Otherwise gives the store back, to be dropped.
    pub(crate) fn keep(
        self: &Arc<Self>,
        mut store: Store<Host>,
        proxy: Made,
    ) -> Result<(), Store<Host>> {
        let Some(reuse) = self.reuse else {
            return Err(store);
        };
        let host = store.data();
        if host.served >= reuse.max_requests || host.limiter.refused.is_some() {
            return Err(store);
        }
        let Some(claim) = self.pool().claim() else {
            return Err(store);
        };
        // A middleware step's unused rest of the chain is not kept waiting with it.
        store.data_mut().set_next(None);
        match self.idle.lock() {
            Ok(mut idle) => idle.push(Idle {
                store,
                proxy,
                since: Instant::now(),
                _claim: claim,
            }),
            Err(_) => return Err(store),
        }
        self.sweep(reuse.idle_timeout);
        Ok(())
    }

    /// Drops idle instances once they have waited `idle_timeout`: one task per component
    /// while it has idle instances, waking every `idle_timeout`, so that reuse costs no timer
    /// per request. It holds the component weakly: a replaced version's instances go with it.
    fn sweep(self: &Arc<Self>, idle_timeout: Duration) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Release);
            return;
        };
        let instances = Arc::downgrade(self);
        drop(runtime.spawn(async move {
            loop {
                tokio::time::sleep(idle_timeout).await;
                let Some(instances) = instances.upgrade() else {
                    return;
                };
                let Ok(mut idle) = instances.idle.lock() else {
                    return;
                };
                // Oldest first: the expired ones are at the bottom.
                let expired = idle
                    .iter()
                    .take_while(|i| i.since.elapsed() >= idle_timeout)
                    .count();
                let dropped: Vec<Idle> = idle.drain(..expired).collect();
                let empty = idle.is_empty();
                drop(idle);
                drop(dropped);
                if empty {
                    instances.sweeping.store(false, Ordering::Release);
                    // An instance kept since the check started a sweep of its own or found
                    // this one still running; make sure one runs.
                    let refilled = instances.idle.lock().is_ok_and(|idle| !idle.is_empty());
                    if !refilled || instances.sweeping.swap(true, Ordering::AcqRel) {
                        return;
                    }
                }
            }
        }));
    }

    /// Makes the next spare if the slot is empty and the budget allows. Failures (the pool
    /// is full, say) leave the slot empty: the next request instantiates its own and reports
    /// them. Instantiating is bounded by the component's timeout, as on a request.
    pub(crate) async fn refill(&self) {
        if self.filling.swap(true, Ordering::Acquire) {
            return;
        }
        if self.spare.lock().is_ok_and(|spare| spare.is_none())
            && let Some(claim) = self.pool().claim()
        {
            let mut store = self.store(None);
            let made = tokio::time::timeout(self.timeout, self.pre.instantiate(&mut store));
            if let Ok(Ok(proxy)) = made.await
                && let Ok(mut spare) = self.spare.lock()
            {
                *spare = Some(Spare {
                    store,
                    proxy,
                    _claim: claim,
                });
            }
        }
        self.filling.store(false, Ordering::Release);
    }
}
