//! The host state each instance's [`Store`](wasmtime::Store) carries: one resource table, one
//! context per capability, and the limiter that enforces the memory cap.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderName;
use wasmtime::ResourceLimiter;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::capabilities::Capabilities;
use crate::invoke::Next;
use crate::log::{GuestLog, LogTag};
use crate::trace::RequestTrace;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

/// Store data for one instance of one component: one request's, or with `reuse` several
/// requests' one after another.
pub struct Host {
    pub(crate) table: ResourceTable,
    /// Built on first use: most HTTP handlers never touch wasi:cli, wasi:random or
    /// wasi:clocks, and building a context (RNG seeding, clock and stdio objects) is a
    /// measurable share of a small request.
    wasi: Option<WasiCtx>,
    http: WasiHttpCtx,
    hooks: HttpHooks,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) caps: Arc<Capabilities>,
    /// Requests this store's instance has been given, the current one included (more than
    /// one only for a component with `reuse`).
    pub(crate) served: u32,
    /// Epoch ticks the guest has computed through for the current request, and the requests
    /// started in the process at the last of them (`fair.rs`).
    pub(crate) ticks: u32,
    pub(crate) requests_seen: u64,
    /// The request being served, for the guest's log lines.
    pub(crate) log_tag: Arc<Mutex<LogTag>>,
    /// The guest's span, when the request being served is traced: its capability calls'
    /// spans go under it.
    pub(crate) trace: Option<RequestTrace>,
}

/// Stores alive in this process: each holds an instance (or is about to), and so a slot of an
/// engine's pool.
static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// How many instances (stores) exist now, of every component, made ahead, idle, shared or
/// serving: the pool slots in use.
pub fn instances_alive() -> usize {
    ALIVE.load(Ordering::Relaxed)
}

impl Drop for Host {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Host {
    pub(crate) fn new(caps: Arc<Capabilities>, memory_cap: u64, next: Option<Next>) -> Self {
        ALIVE.fetch_add(1, Ordering::Relaxed);
        Self {
            table: ResourceTable::new(),
            wasi: None,
            http: WasiHttpCtx::new(),
            hooks: HttpHooks {
                caps: caps.clone(),
                next,
                next_apart: false,
                trace: None,
            },
            limiter: MemoryLimiter::new(memory_cap),
            caps,
            served: 0,
            ticks: 0,
            requests_seen: 0,
            log_tag: Arc::default(),
            trace: None,
        }
    }

    /// Sets the trace of the request this instance serves now (`None`: not traced), and
    /// returns the one it had.
    pub(crate) fn replace_trace(&mut self, trace: Option<RequestTrace>) -> Option<RequestTrace> {
        self.hooks.trace.clone_from(&trace);
        std::mem::replace(&mut self.trace, trace)
    }

    /// Gives a store made before its request the rest of its middleware chain.
    pub(crate) fn set_next(&mut self, next: Option<Next>) {
        self.hooks.next = next;
    }

    /// For a WASI 0.3 instance: the rest of its chain runs in a task of its own (see
    /// [`crate::apart`]).
    pub(crate) fn run_next_apart(&mut self) {
        self.hooks.next_apart = true;
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let ctx = self.wasi.get_or_insert_with(|| {
            WasiCtx::builder()
                .stdout(GuestLog::stdout(self.log_tag.clone(), &self.caps))
                .stderr(GuestLog::stderr(self.log_tag.clone(), &self.caps))
                .build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Links WASI 0.2, `wasi:http` and Tessera's capabilities for [`Host`].
///
/// `wasmtime_wasi` reaches the resource table of `wasi:io` through [`WasiView::ctx`], which
/// would build the lazily-created WASI context on the first stream write of every request;
/// `wasi:io` is linked again here (shadowing it) with a getter that borrows only the table.
pub(crate) fn add_to_linker(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    use wasmtime_wasi_io::bindings::wasi::io::{error, poll, streams};
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    linker.allow_shadowing(true);
    error::add_to_linker::<Host, TableOnly>(linker, |host| &mut host.table)?;
    poll::add_to_linker::<Host, TableOnly>(linker, |host| &mut host.table)?;
    streams::add_to_linker::<Host, TableOnly>(linker, |host| &mut host.table)?;
    linker.allow_shadowing(false);
    crate::capabilities::add_to_linker(linker)?;
    Ok(())
}

/// Links what [`add_to_linker`] links, and WASI 0.3 beside it (`wasi:http@0.3` and the
/// `wasi:cli`, `wasi:clocks`, `wasi:random`, `wasi:filesystem` and `wasi:sockets` it uses), for
/// the engine of WASI 0.3 components. Their toolchains still import WASI 0.2 for the
/// standard library (a Rust component built for wasm32-wasip2, say), so both are there.
///
/// It also provides the import of the `wasi:http/middleware` world: `wasi:http/handler`, which
/// for a middleware step is the rest of its route's chain ([`next_handler`]).
pub(crate) fn add_to_linker_p3(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    add_to_linker(linker)?;
    wasmtime_wasi::p3::add_to_linker(linker)?;
    wasmtime_wasi_http::p3::add_to_linker(linker)?;
    linker
        .instance("wasi:http/handler@0.3.0")?
        .func_wrap_concurrent("handle", |accessor, (request,)| {
            Box::pin(next_handler(accessor, request))
        })?;
    Ok(())
}

/// `wasi:http/handler.handle` as a middleware component imports it: the request goes to the
/// rest of the chain, in-process. It is sent as `wasi:http/client.send` sends a request, to
/// [`NEXT_AUTHORITY`], which the hooks route to the chain; so a component that is not a
/// middleware step (it has no rest of a chain) is refused the same way in both.
async fn next_handler(
    accessor: &wasmtime::component::Accessor<Host>,
    request: wasmtime::component::Resource<wasmtime_wasi_http::p3::Request>,
) -> wasmtime::Result<(
    Result<wasmtime::component::Resource<wasmtime_wasi_http::p3::Response>, P3ErrorCode>,
)> {
    use wasmtime_wasi_http::WasiHttp;
    use wasmtime_wasi_http::p3::bindings::http::client::HostWithStore;
    accessor.with(|mut store| -> wasmtime::Result<()> {
        let request = store.get().table.get_mut(&request)?;
        request.authority = Some(http::uri::Authority::from_static(NEXT_AUTHORITY));
        request.scheme = Some(http::uri::Scheme::HTTP);
        Ok(())
    })?;
    let http = accessor.with_getter::<WasiHttp>(<Host as WasiHttpView>::http);
    match <WasiHttp as HostWithStore<Host>>::send(&http, request).await {
        Ok(response) => Ok((Ok(response),)),
        Err(error) => Ok((Err(error.downcast()?),)),
    }
}

type P3ErrorCode = wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;

/// `wasi:io` needs nothing but the resource table.
struct TableOnly;

impl HasData for TableOnly {
    type Data<'a> = &'a mut ResourceTable;
}

/// How `wasi:http` behaves for guests.
struct HttpHooks {
    caps: Arc<Capabilities>,
    /// For a middleware step: the rest of the chain, until the guest calls it.
    next: Option<Next>,
    /// Whether `next` must run outside this instance's event loop (a WASI 0.3 instance).
    next_apart: bool,
    /// As [`Host::trace`]: outbound requests get a span and carry its `traceparent`.
    trace: Option<RequestTrace>,
}

/// The authority a middleware component sends its outgoing request to in order to pass the
/// request on to the next step of its route (`http://next.tessera.internal/<path>`). The host
/// routes it in-process; it never reaches the network. `.internal` is reserved for private
/// use (ICANN, 2024), so no public name can collide with it.
pub const NEXT_AUTHORITY: &str = "next.tessera.internal";

impl WasiHttpHooks for HttpHooks {
    // The default goes through `forbidden_header_filter`, which allocates an `Arc` for every
    // header of every request; the list is fixed, so check it directly.
    fn is_forbidden_header(&mut self, name: &HeaderName) -> bool {
        wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name)
    }

    // Outbound HTTP is a capability the manifest grants: a request to a host that no
    // `allowed_outbound_hosts` entry matches is refused with an error the guest can handle.
    fn send_request(
        &mut self,
        mut request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                )>,
            > + Send,
    > {
        if request.uri().host() == Some(NEXT_AUTHORITY) {
            let Some(next) = self.next.take() else {
                tracing::warn!(
                    component = %self.caps.component,
                    "refused a request to {NEXT_AUTHORITY}: only a middleware step may send one, once"
                );
                return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
            };
            let apart = self.next_apart;
            return Box::new(async move {
                let response = if apart {
                    crate::apart::run(next, request).await
                } else {
                    next(request).await
                };
                let done: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
                    Box::new(async { Ok(()) });
                Ok((response, done))
            });
        }
        let allowed = self.caps.allow_outbound(request.method(), request.uri());
        let (client, allowed) = match (&self.caps.outbound, allowed) {
            (Some(client), Some(allowed)) => (client.clone(), allowed),
            _ => return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) }),
        };
        let caps = self.caps.clone();
        let span = self
            .trace
            .as_ref()
            .map(|trace| outbound_span(trace, &caps, &mut request));
        Box::new(async move {
            // Observed by the grant it went through: the manifest bounds those, not the guest.
            let sent = client.send(request, options);
            let response = crate::capabilities::observed(
                &caps,
                None,
                "outbound_http",
                &allowed,
                "request",
                sent,
            )
            .await;
            if let Some(span) = span {
                match &response {
                    Ok(response) => {
                        let status = response.status();
                        span.set(KeyValue::new(
                            "http.response.status_code",
                            i64::from(status.as_u16()),
                        ));
                        span.end(status.is_server_error().then(|| status.to_string()));
                    }
                    Err(error) => span.end(Some(error.to_string())),
                }
            }
            // The pooled client drives the connection itself; nothing more to report.
            let done: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send> =
                Box::new(async { Ok(()) });
            Ok((response?, done))
        })
    }

    fn p2_error_from_hyper(&mut self, err: &hyper::Error) -> ErrorCode {
        tracing::debug!(component = %self.caps.component, "HTTP error: {err}");
        ErrorCode::HttpProtocolError
    }
}

/// The client span of an outbound request (HTTP semantic conventions), its `traceparent`
/// written into the request so that the server it goes to continues the trace.
fn outbound_span(
    trace: &RequestTrace,
    caps: &Capabilities,
    request: &mut http::Request<wasmtime_wasi_http::WasiBody>,
) -> RequestTrace {
    let uri = request.uri();
    let mut attributes = vec![
        KeyValue::new("tessera.component", caps.component.clone()),
        KeyValue::new("http.request.method", request.method().to_string()),
        KeyValue::new("server.address", uri.host().unwrap_or_default().to_string()),
        // Scheme, authority and path: a query may carry tokens.
        KeyValue::new(
            "url.full",
            format!(
                "{}://{}{}",
                uri.scheme_str().unwrap_or("http"),
                uri.authority().map_or("", |a| a.as_str()),
                uri.path()
            ),
        ),
    ];
    if let Some(port) = uri.port_u16() {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    let span = trace.child(request.method().to_string(), SpanKind::Client, attributes);
    span.inject(request.headers_mut());
    span
}

/// Enforces a component's memory cap across all linear memories of an instance, and remembers
/// a refused growth so a later trap can be explained.
pub(crate) struct MemoryLimiter {
    cap: usize,
    used: usize,
    /// The total an instance asked for when growth was refused.
    pub(crate) refused: Option<usize>,
    /// Also set on a refusal, for whoever decides whether the instance takes more requests.
    on_refusal: Option<Arc<AtomicBool>>,
}

/// Tables hold function references; no sane component needs more.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl MemoryLimiter {
    fn new(cap: u64) -> Self {
        Self {
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            used: 0,
            refused: None,
            on_refusal: None,
        }
    }

    /// The linear memory of the instance now, all memories together, in bytes. Linear memory
    /// never shrinks, so this is also its peak.
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    /// Sets `flag` when a growth is refused.
    pub(crate) fn on_refusal(&mut self, flag: Arc<AtomicBool>) {
        self.on_refusal = Some(flag);
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used - current.min(self.used) + desired;
        if total > self.cap {
            self.refused = Some(total);
            if let Some(flag) = &self.on_refusal {
                flag.store(true, Ordering::Relaxed);
            }
            return Ok(false);
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_every_memory_of_an_instance() {
        let mut limiter = MemoryLimiter::new(100);
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert!(!limiter.memory_growing(30, 50, None).unwrap());
        assert_eq!(limiter.refused, Some(110));
        assert!(limiter.memory_growing(60, 70, None).unwrap());
    }
}
