//! Tessera's WebAssembly runtime: the Wasmtime engine, the compile cache, loading components,
//! and serving one request with a fresh, limited instance.
//!
//! # Layout
//! - `engine`: engine configuration (pooling allocator, epochs) and the epoch ticker.
//! - `cache`: the on-disk compile cache.
//! - `component`: loading and checking a component at start-up.
//! - `invoke`: the per-request path and the streaming response body.
//! - `invoke_p3`: the same for WASI 0.3 components.
//! - `shared`: WASI 0.3 instances that serve several requests at once (`reuse.max_concurrent`).
//! - `spare`: making each component's next instance before its request arrives.
//! - `release`: pool slots on their way back, after a response is written.
//! - `apart`: the rest of a WASI 0.3 middleware step's chain, run in a task of its own.
//! - `busy`: whether a worker has requests waiting, which decides when a store is dropped.
//! - `trace`: the spans a request's guests and their capability calls make (OpenTelemetry).
//! - `usage`: the CPU time and memory a request's guests used, for metrics.
//! - `host`: the store data: WASI contexts, hooks and the memory limiter.
//! - `log`: guest stdout and stderr as log events.
//! - `capabilities`: key-value, SQL, outbound HTTP and variables, with their backends.
//! - `error`: load and request errors.

mod apart;
mod busy;
mod cache;
pub mod capabilities;
mod component;
mod engine;
mod error;
mod fair;
mod host;
mod invoke;
mod invoke_p3;
mod log;
mod release;
mod shared;
mod spare;
mod trace;
mod usage;

pub use busy::on_worker_park;
pub use cache::{CacheOutcome, CompileCache};
pub use capabilities::{
    BackendError, BackendFailure, Backends, Call, CallObserver, Capabilities, Purpose, StoreKind,
};
pub use component::{ComponentLoader, Engines, HttpComponent, LoadReport};
pub use engine::{
    EngineSettings, EpochTicker, new_engine, new_engine_p3, new_engine_unpooled,
    new_engine_unpooled_p3,
};
pub use error::{InvokeError, LoadError};
pub use host::{Host, NEXT_AUTHORITY, instances_alive};
pub use invoke::{BodyError, GuestBody, Next};
pub use log::LINES_PER_SECOND;
pub use trace::RequestTrace;
pub use usage::{GuestUsage, page_size, process_cpu, thread_cpu};
pub use wasmtime::Engine;
/// The error type request bodies handed to a guest must convert into.
pub use wasmtime_wasi_http::Error as HttpError;
pub use wasmtime_wasi_http::WasiBody;
