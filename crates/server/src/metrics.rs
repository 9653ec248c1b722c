//! Prometheus metrics (`tessera up --metrics ADDR`): per route and component, what requests
//! came, how they ended and how long they took, and what their guests used; the process's
//! memory, CPU and file descriptors. docs/observability.md lists every series.
//!
//! Labels are bounded by the manifest: route patterns (never paths), component ids, the
//! standard methods (others are `other`) and status classes. Requests no route matched count
//! under `route=""`.
//!
//! Each route keeps the handles of its series ([`RouteMeter`]), so a request looks nothing up
//! by label; and a request writes only its worker's shard of the route's figures, which a
//! scrape (or a full shard) folds into the series, so two workers do not fight over one
//! cache line on every request.
//!
//! A request's guest CPU time costs two reads of the thread's CPU clock per poll of its guest,
//! system calls that on some virtual machines cost more than the rest of the metrics together
//! (docs/performance.md, "What metrics cost"). [`Metrics::sampling_guest_cpu`] measures it on
//! one request in N, chosen at random, and records each measure N times, so that the
//! histogram's count and sum still estimate all requests'.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder as _, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tessera_runtime::{CacheOutcome, Call, CallObserver, GuestUsage};

use crate::middleware::RejectedBy;
use crate::{LiveApp, ResponseBody};

const REQUESTS: &str = "tessera_requests_total";
const IN_FLIGHT: &str = "tessera_requests_in_flight";
const DURATION: &str = "tessera_request_duration_seconds";
const GUEST_CPU: &str = "tessera_guest_cpu_seconds";
const GUEST_MEMORY: &str = "tessera_guest_memory_peak_bytes";
/// A gauge: the `metrics` crate's counters count in whole numbers, and a CPU time in whole
/// seconds says little.
const PROCESS_CPU: &str = "tessera_process_cpu_seconds";
const PROCESS_RSS: &str = "tessera_process_resident_memory_bytes";
const PROCESS_FDS: &str = "tessera_process_open_fds";
const LOADS: &str = "tessera_component_loads_total";
const REPLACEMENTS: &str = "tessera_replacements_total";
const COMPONENT_IN_FLIGHT: &str = "tessera_component_in_flight";
const COMPONENT_QUEUED: &str = "tessera_component_queued";
const INSTANCES_READY: &str = "tessera_instances_ready";
const INSTANCES_ALIVE: &str = "tessera_instances_alive";
const LOG_DROPPED: &str = "tessera_guest_log_lines_dropped_total";
const REJECTIONS: &str = "tessera_middleware_rejections_total";
const CALLS: &str = "tessera_capability_calls_total";
const CALL_DURATION: &str = "tessera_capability_call_duration_seconds";

/// Every metric the server keeps: a Prometheus recorder of its own (not the `metrics`
/// crate's global one, which an application embedding Tessera may use for itself).
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    process_cpu: Gauge,
    process_rss: Gauge,
    process_fds: Gauge,
    instances_alive: Gauge,
    /// The app whose components' gauges a scrape reads.
    live: Mutex<Weak<LiveApp>>,
    /// Guest CPU time is measured on one request in this many.
    cpu_every: u32,
    /// Every route's meter, whose workers' pending figures a scrape folds in.
    meters: Mutex<Vec<Weak<RouteMeter>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Seconds: 100 µs to about 13 s, doubling.
fn seconds() -> Vec<f64> {
    (0..18).map(|i| 0.0001 * 2f64.powi(i)).collect()
}

/// Bytes: 64 KiB to 4 GiB, doubling.
fn bytes() -> Vec<f64> {
    (0..17).map(|i| 65_536.0 * 2f64.powi(i)).collect()
}

/// What kind of series a name is, and for a histogram its buckets.
enum Kind {
    Counter,
    Gauge,
    Histogram(fn() -> Vec<f64>),
}

/// Every series: its name, kind, unit and help text, in the order of docs/observability.md.
const SERIES: &[(&str, Kind, Option<Unit>, &str)] = &[
    (
        REQUESTS,
        Kind::Counter,
        None,
        "Requests answered, by route pattern, component, method and status class",
    ),
    (
        IN_FLIGHT,
        Kind::Gauge,
        None,
        "Requests received whose response has not ended yet",
    ),
    (
        DURATION,
        Kind::Histogram(seconds),
        Some(Unit::Seconds),
        "Time from a request's arrival to the end of its response body",
    ),
    (
        GUEST_CPU,
        Kind::Histogram(seconds),
        Some(Unit::Seconds),
        "Thread CPU time spent polling the request's guests (the component and wasm \
         middleware steps): instantiation, guest code and the host calls it makes",
    ),
    (
        GUEST_MEMORY,
        Kind::Histogram(bytes),
        Some(Unit::Bytes),
        "The largest linear memory an instance serving the request had",
    ),
    (
        REJECTIONS,
        Kind::Counter,
        None,
        "Requests a middleware step answered itself, refusing them, by route, step (its \
         name in the manifest) and status code",
    ),
    (
        CALLS,
        Kind::Counter,
        None,
        "Key-value, SQL and outbound HTTP calls guests made, by component, capability, store, \
         database or allowed_outbound_hosts entry, operation and result (ok, error: the \
         backend or connection failed)",
    ),
    (
        CALL_DURATION,
        Kind::Histogram(seconds),
        Some(Unit::Seconds),
        "How long the backend took for a guest's key-value, SQL or outbound HTTP call (HTTP: \
         until the response head)",
    ),
    (
        COMPONENT_IN_FLIGHT,
        Kind::Gauge,
        None,
        "Requests a component is serving now (its max_concurrency bounds it)",
    ),
    (
        COMPONENT_QUEUED,
        Kind::Gauge,
        None,
        "Requests waiting for one of a component's instances (its max_queue bounds it)",
    ),
    (
        INSTANCES_READY,
        Kind::Gauge,
        None,
        "Instances of a component waiting for a request: made ahead, or idle with reuse",
    ),
    (
        INSTANCES_ALIVE,
        Kind::Gauge,
        None,
        "Instances alive in the process, of every component: the pool slots in use",
    ),
    (
        LOADS,
        Kind::Counter,
        None,
        "Component versions loaded, at start-up and by live replacements, by whether the \
         compile cache had them (cache=hit, compiled, uncached)",
    ),
    (
        REPLACEMENTS,
        Kind::Counter,
        None,
        "Live replacements by component and result (ok, failed: the old version serves on)",
    ),
    (
        LOG_DROPPED,
        Kind::Counter,
        None,
        "Lines a component's guests wrote to stdout or stderr past its log budget, dropped",
    ),
    (
        PROCESS_CPU,
        Kind::Gauge,
        Some(Unit::Seconds),
        "CPU time of the whole process, user and system",
    ),
    (
        PROCESS_RSS,
        Kind::Gauge,
        Some(Unit::Bytes),
        "Resident set size of the process",
    ),
    (PROCESS_FDS, Kind::Gauge, None, "Open file descriptors"),
];

impl Metrics {
    /// A recorder with every series described, none recorded yet; every request's guest CPU
    /// time measured.
    pub fn new() -> Arc<Self> {
        Self::sampling_guest_cpu(NonZeroU32::MIN)
    }

    /// Metrics that measure the guest CPU time of one request in `one_in`, chosen at random,
    /// and record each measure `one_in` times in `tessera_guest_cpu_seconds`: its count and
    /// sum estimate every request's, at `1/one_in` of the clock reads' cost. Everything else
    /// is still recorded for every request.
    pub fn sampling_guest_cpu(one_in: NonZeroU32) -> Arc<Self> {
        let mut builder = PrometheusBuilder::new();
        for (name, kind, _, _) in SERIES {
            if let Kind::Histogram(buckets) = kind {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full((*name).to_string()), &buckets())
                    .expect("buckets are not empty");
            }
        }
        let recorder = builder.build_recorder();
        for (name, kind, unit, help) in SERIES {
            let (name, help) = (KeyName::from_const_str(name), (*help).into());
            match kind {
                Kind::Counter => recorder.describe_counter(name, *unit, help),
                Kind::Gauge => recorder.describe_gauge(name, *unit, help),
                Kind::Histogram(_) => recorder.describe_histogram(name, *unit, help),
            }
        }
        let unlabelled = |name: &'static str| Key::from_static_name(name);
        let process_cpu = recorder.register_gauge(&unlabelled(PROCESS_CPU), &METADATA);
        let process_rss = recorder.register_gauge(&unlabelled(PROCESS_RSS), &METADATA);
        let process_fds = recorder.register_gauge(&unlabelled(PROCESS_FDS), &METADATA);
        let instances_alive = recorder.register_gauge(&unlabelled(INSTANCES_ALIVE), &METADATA);
        Arc::new(Self {
            handle: recorder.handle(),
            recorder,
            process_cpu,
            process_rss,
            process_fds,
            instances_alive,
            cpu_every: one_in.get(),
            live: Mutex::new(Weak::new()),
            meters: Mutex::new(Vec::new()),
        })
    }

    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(name, value)| Label::new(*name, value.to_string()))
            .collect();
        Key::from_parts(name, labels)
    }

    /// The series of one route (pattern and what serves it: a component id, or `files`).
    pub(crate) fn route(self: &Arc<Self>, route: &str, component: &str) -> Arc<RouteMeter> {
        let labels = [("route", route), ("component", component)];
        let recorder = &self.recorder;
        let meter = Arc::new(RouteMeter {
            in_flight: recorder.register_gauge(&Self::key(IN_FLIGHT, &labels), &METADATA),
            duration: recorder.register_histogram(&Self::key(DURATION, &labels), &METADATA),
            guest_cpu: recorder.register_histogram(&Self::key(GUEST_CPU, &labels), &METADATA),
            guest_memory: recorder.register_histogram(&Self::key(GUEST_MEMORY, &labels), &METADATA),
            counts: Default::default(),
            pending: Default::default(),
            route: route.to_string(),
            component: component.to_string(),
            metrics: self.clone(),
        });
        if let Ok(mut meters) = self.meters.lock() {
            meters.retain(|meter| meter.strong_count() > 0);
            meters.push(Arc::downgrade(&meter));
        }
        meter
    }

    fn requests(
        &self,
        route: &str,
        component: &str,
        method: &Method,
        status: StatusCode,
    ) -> Counter {
        self.requests_labelled(route, component, method_label(method), status_class(status))
    }

    fn requests_labelled(
        &self,
        route: &str,
        component: &str,
        method: &str,
        class: &str,
    ) -> Counter {
        let labels = [
            ("route", route),
            ("component", component),
            ("method", method),
            ("status", class),
        ];
        self.recorder
            .register_counter(&Self::key(REQUESTS, &labels), &METADATA)
    }

    /// Counts a component version loaded, by what the compile cache did.
    pub fn loaded(&self, component: &str, cache: CacheOutcome) {
        let cache = match cache {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Compiled => "compiled",
            CacheOutcome::CompiledUncached => "uncached",
        };
        let key = Self::key(LOADS, &[("component", component), ("cache", cache)]);
        self.recorder.register_counter(&key, &METADATA).increment(1);
    }

    /// Counts a live replacement of `component` that succeeded or failed.
    pub(crate) fn replaced(&self, component: &str, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        let key = Self::key(
            REPLACEMENTS,
            &[("component", component), ("result", result)],
        );
        self.recorder.register_counter(&key, &METADATA).increment(1);
    }

    /// Reads the components of `live` on each scrape: requests in flight and instances ready.
    pub fn watch(&self, live: &Arc<LiveApp>) {
        if let Ok(mut watched) = self.live.lock() {
            *watched = Arc::downgrade(live);
        }
    }

    /// Counts a request no route matched.
    pub(crate) fn unrouted(&self, method: &Method, status: StatusCode) {
        self.requests("", "", method, status).increment(1);
    }

    /// Every series in the Prometheus text format (0.0.4), the process's figures read now.
    pub fn encode(&self) -> String {
        let meters: Vec<_> = self
            .meters
            .lock()
            .map(|meters| meters.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        for meter in meters {
            meter.fold_all();
        }
        self.process_cpu
            .set(tessera_runtime::process_cpu().as_secs_f64());
        if let Some(rss) = resident_bytes() {
            self.process_rss.set(rss as f64);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.process_fds.set(fds.count() as f64);
        }
        self.instances_alive
            .set(tessera_runtime::instances_alive() as f64);
        let live = self.live.lock().ok().and_then(|live| live.upgrade());
        if let Some(live) = live {
            for (id, component) in live.current().components() {
                let labels = [("component", id.as_str())];
                let gauge = |name| {
                    self.recorder
                        .register_gauge(&Self::key(name, &labels), &METADATA)
                };
                gauge(COMPONENT_IN_FLIGHT).set(component.in_flight() as f64);
                gauge(COMPONENT_QUEUED).set(f64::from(component.queued()));
                gauge(INSTANCES_READY).set(component.ready() as f64);
                self.recorder
                    .register_counter(&Self::key(LOG_DROPPED, &labels), &METADATA)
                    .absolute(component.log_lines_dropped());
            }
        }
        self.handle.render()
    }

    /// Folds recorded histogram observations into their buckets, as a scrape does: run
    /// periodically so that memory stays flat between scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// Where a series was registered from: not used by the Prometheus recorder.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

impl CallObserver for Metrics {
    fn observe(&self, call: &Call<'_>) {
        let labels = [
            ("component", call.component),
            ("capability", call.capability),
            ("name", call.name),
        ];
        self.recorder
            .register_histogram(&Self::key(CALL_DURATION, &labels), &METADATA)
            .record(call.elapsed);
        let labels = [
            ("component", call.component),
            ("capability", call.capability),
            ("name", call.name),
            ("operation", call.operation),
            ("result", if call.ok { "ok" } else { "error" }),
        ];
        self.recorder
            .register_counter(&Self::key(CALLS, &labels), &METADATA)
            .increment(1);
    }
}

/// The methods that get a label of their own.
pub(crate) const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

pub(crate) fn method_index(method: &Method) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method.as_str())
        .unwrap_or(METHODS.len())
}

fn method_label(method: &Method) -> &'static str {
    method_name(method_index(method))
}

/// The label of the method at `index` of [`METHODS`]; past the end, `other`.
fn method_name(index: usize) -> &'static str {
    METHODS.get(index).copied().unwrap_or("other")
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn status_index(status: StatusCode) -> usize {
    (status.as_u16() / 100).clamp(1, 5) as usize - 1
}

fn status_class(status: StatusCode) -> &'static str {
    CLASSES[status_index(status)]
}

/// One route's series, held so that a request bumps them without a lookup.
pub(crate) struct RouteMeter {
    route: String,
    component: String,
    in_flight: Gauge,
    duration: Histogram,
    guest_cpu: Histogram,
    guest_memory: Histogram,
    /// Request counters by method and status class, made on first use.
    counts: [[OnceLock<Counter>; CLASSES.len()]; METHODS.len() + 1],
    /// What the workers measured and the series do not have yet, one shard per worker.
    pending: [Mutex<Pending>; SHARDS],
    metrics: Arc<Metrics>,
}

/// Shards of a route's pending figures: a worker writes its own, so two workers never write
/// one cache line on every request (which cost about 1.5 µs a request on two cores with the
/// series' own atomics; docs/performance.md, "What metrics cost").
const SHARDS: usize = 8;

/// Observations a shard holds before it folds them into the series itself.
const FOLD_AT: usize = 256;

/// One shard of a route's figures not yet in its series; folded when it is full, when the
/// metrics are encoded (a scrape), and when the route's meter is dropped.
#[derive(Default)]
struct Pending {
    /// Requests started less those ended.
    in_flight: i64,
    duration: Vec<f64>,
    /// Of the requests whose guest CPU time was measured; each is recorded
    /// [`Metrics::sampling_guest_cpu`]'s N times.
    guest_cpu: Vec<f64>,
    guest_memory: Vec<f64>,
    counts: [[u64; CLASSES.len()]; METHODS.len() + 1],
}

/// This thread's shard.
fn shard() -> usize {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
    }
    SHARD.with(|shard| {
        shard.get().unwrap_or_else(|| {
            let next = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(Some(next));
            next
        })
    })
}

impl RouteMeter {
    /// A request has arrived: counts it in flight, and returns what measures it, with the
    /// usage its guests add to (to put in the request's extensions).
    pub(crate) fn start(self: &Arc<Self>) -> (Meter, Arc<GuestUsage>) {
        self.with_shard(|pending| pending.in_flight += 1);
        let every = self.metrics.cpu_every;
        let usage = Arc::new(if every == 1 || fastrand::u32(..every) == 0 {
            GuestUsage::default()
        } else {
            GuestUsage::memory_only()
        });
        let meter = Meter {
            route: self.clone(),
            started: Instant::now(),
            usage: usage.clone(),
        };
        (meter, usage)
    }

    /// Counts a request that step `step` refused with `status`.
    fn rejected(&self, step: &str, status: StatusCode) {
        let labels = [
            ("route", self.route.as_str()),
            ("step", step),
            ("status", status.as_str()),
        ];
        self.metrics
            .recorder
            .register_counter(&Metrics::key(REJECTIONS, &labels), &METADATA)
            .increment(1);
    }

    fn count(&self, method: &Method, status: StatusCode) {
        self.with_shard(|pending| {
            pending.counts[method_index(method)][status_index(status)] += 1;
        });
    }

    /// Runs `f` on this thread's shard, and folds the shard if it is full.
    fn with_shard(&self, f: impl FnOnce(&mut Pending)) {
        let mut pending = self.pending[shard()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut pending);
        if pending.duration.len() >= FOLD_AT {
            self.fold(&mut pending);
        }
    }

    /// Every shard into the series.
    fn fold_all(&self) {
        for pending in &self.pending {
            let mut pending = pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.fold(&mut pending);
        }
    }

    /// `pending` into the series, emptied.
    fn fold(&self, pending: &mut Pending) {
        if pending.in_flight != 0 {
            self.in_flight.increment(pending.in_flight as f64);
            pending.in_flight = 0;
        }
        for seconds in pending.duration.drain(..) {
            self.duration.record(seconds);
        }
        let weight = self.metrics.cpu_every as usize;
        for seconds in pending.guest_cpu.drain(..) {
            self.guest_cpu.record_many(seconds, weight);
        }
        for bytes in pending.guest_memory.drain(..) {
            self.guest_memory.record(bytes);
        }
        for (m, row) in pending.counts.iter_mut().enumerate() {
            for (c, n) in row.iter_mut().enumerate() {
                if *n > 0 {
                    self.counter(m, c).increment(*n);
                    *n = 0;
                }
            }
        }
    }

    /// The request counter of method `m` and status class `c` (indices), made on first use.
    fn counter(&self, m: usize, c: usize) -> &Counter {
        self.counts[m][c].get_or_init(|| {
            self.metrics
                .requests_labelled(&self.route, &self.component, method_name(m), CLASSES[c])
        })
    }
}

impl Drop for RouteMeter {
    /// A route replaced or gone leaves nothing unrecorded.
    fn drop(&mut self) {
        self.fold_all();
    }
}

/// One request being measured: recorded when its response body ends or is dropped.
pub(crate) struct Meter {
    route: Arc<RouteMeter>,
    started: Instant,
    usage: Arc<GuestUsage>,
}

impl Meter {
    /// Counts the response by its status; measures the rest (duration, CPU, memory) when the
    /// meter is dropped, which the response body does when it ends.
    pub(crate) fn count(self, method: &Method, response: &http::Response<ResponseBody>) -> Self {
        self.route.count(method, response.status());
        if let Some(RejectedBy(step)) = response.extensions().get::<RejectedBy>() {
            self.route.rejected(step, response.status());
        }
        self
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let duration = self.started.elapsed().as_secs_f64();
        let cpu = self
            .usage
            .measures_cpu()
            .then(|| self.usage.cpu().as_secs_f64());
        let peak = self.usage.peak_memory();
        self.route.with_shard(|pending| {
            pending.in_flight -= 1;
            pending.duration.push(duration);
            pending.guest_cpu.extend(cpu);
            // Routes to static files have no guest.
            if peak > 0 {
                pending.guest_memory.push(peak as f64);
            }
        });
    }
}

/// Resident memory from `/proc/self/statm` (its second field, in pages).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * tessera_runtime::page_size())
}

/// Serves `GET /metrics` on its own listener until the task running it is dropped.
pub struct MetricsServer {
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
}

impl MetricsServer {
    /// Binds `addr`.
    pub async fn bind(metrics: Arc<Metrics>, addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            listener: tokio::net::TcpListener::bind(addr).await?,
            metrics,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers scrapes until the task running it is dropped; folds histogram observations
    /// into their buckets every few seconds meanwhile ([`Metrics::upkeep`]).
    pub async fn run(self) {
        let metrics = self.metrics;
        let upkeep = metrics.clone();
        let _upkeep = crate::side::AbortOnDrop(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                upkeep.upkeep();
            }
        }));
        crate::side::serve(self.listener, "metrics", move |request| {
            let metrics = metrics.clone();
            async move {
                let live = metrics.live.lock().ok().and_then(|live| live.upgrade());
                let (method, path) = (request.method(), request.uri().path());
                match crate::health::answer(live.as_deref(), method, path).await {
                    Some(response) => response.map(ResponseBody::Host),
                    None => answer(&metrics, &request),
                }
            }
        })
        .await;
    }
}

fn answer<B>(metrics: &Metrics, request: &http::Request<B>) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(ResponseBody::default());
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => {
            *response.body_mut() = ResponseBody::host(metrics.encode());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
        }
        (_, "/metrics") => *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED,
        _ => {
            *response.body_mut() = ResponseBody::host(
                "not found: GET /metrics, /healthz and /readyz are served here\n",
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    }

    /// Requests measured on several threads, one of them past a shard's fold, and the route's
    /// meter dropped before the scrape (as a replaced route's is): nothing is lost.
    #[test]
    fn every_worker_shard_is_counted_and_a_dropped_route_keeps_its_figures() {
        let metrics = Metrics::new();
        let route = metrics.route("/echo/...", "echo");
        let ok = || {
            http::Response::builder()
                .status(200)
                .body(ResponseBody::default())
                .expect("a response")
        };
        let per_thread = [3, FOLD_AT + 5, 40];
        std::thread::scope(|scope| {
            for n in per_thread {
                let route = &route;
                scope.spawn(move || {
                    for _ in 0..n {
                        let (meter, _usage) = route.start();
                        drop(meter.count(&Method::GET, &ok()));
                    }
                });
            }
        });
        let (open, _usage) = route.start();
        let text = metrics.encode();
        let total: usize = per_thread.iter().sum();
        let labels = "route=\"/echo/...\",component=\"echo\"";
        assert_eq!(
            value(&text, &format!("{IN_FLIGHT}{{{labels}}}")),
            Some(1.0),
            "{text}"
        );
        drop(open);
        drop(route);
        let text = metrics.encode();
        assert_eq!(
            value(
                &text,
                &format!("{REQUESTS}{{{labels},method=\"GET\",status=\"2xx\"}}")
            ),
            Some(total as f64),
            "{text}"
        );
        assert_eq!(
            value(&text, &format!("{DURATION}_count{{{labels}}}")),
            Some(total as f64 + 1.0),
            "{text}"
        );
        assert_eq!(
            value(&text, &format!("{IN_FLIGHT}{{{labels}}}")),
            Some(0.0),
            "{text}"
        );
    }

    /// One request in four measured, each measure recorded four times: the CPU histogram's
    /// count is a multiple of four near the requests', every other figure exact.
    #[test]
    fn sampled_guest_cpu_is_recorded_with_its_weight() {
        let metrics = Metrics::sampling_guest_cpu(NonZeroU32::new(4).expect("not zero"));
        let route = metrics.route("/echo/...", "echo");
        let requests = 4000;
        let mut measured = 0;
        for _ in 0..requests {
            let (meter, usage) = route.start();
            measured += usize::from(usage.measures_cpu());
            drop(meter);
        }
        let text = metrics.encode();
        let labels = "route=\"/echo/...\",component=\"echo\"";
        let count = |name| value(&text, &format!("{name}_count{{{labels}}}"));
        assert_eq!(count(DURATION), Some(requests as f64), "{text}");
        assert_eq!(count(GUEST_CPU), Some(4.0 * measured as f64), "{text}");
        // A binomial count of 4000 draws at 1/4: 1000 ± 27.
        assert!((850..=1150).contains(&measured), "{measured} of {requests}");
    }
}
