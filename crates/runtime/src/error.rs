//! Errors of loading a component and of serving a request with one.

use std::path::PathBuf;
use std::time::Duration;

/// Why a component could not be loaded. Each variant has a [`fix`](LoadError::fix).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The engine could not be configured.
    #[error("the WebAssembly engine could not start: {0}")]
    Engine(String),
    /// The file could not be read.
    #[error("{} cannot be read: {source}", path.display())]
    Read {
        /// The component file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not WebAssembly at all.
    #[error("{} is not a WebAssembly file", path.display())]
    NotWasm {
        /// The component file.
        path: PathBuf,
    },
    /// The file is a core module, not a component.
    #[error("{} is a core WebAssembly module, not a component", path.display())]
    CoreModule {
        /// The component file.
        path: PathBuf,
    },
    /// Wasmtime rejected or could not compile the component.
    #[error("{} does not compile: {reason}", path.display())]
    Compile {
        /// The component file.
        path: PathBuf,
        /// Wasmtime's explanation.
        reason: String,
    },
    /// The component imports something the host does not provide.
    #[error("{} imports `{import}`, which Tessera does not provide to it", path.display())]
    MissingImport {
        /// The component file.
        path: PathBuf,
        /// The unsatisfied import.
        import: String,
    },
    /// The component does not export `wasi:http/incoming-handler`.
    #[error("{} does not export `wasi:http/incoming-handler`: {reason}", path.display())]
    NotHttp {
        /// The component file.
        path: PathBuf,
        /// Wasmtime's explanation.
        reason: String,
    },
    /// A WASI 0.2 component was given `reuse.max_concurrent` > 1.
    #[error(
        "{} is a WASI 0.2 component, which takes one request at a time on an instance, and \
         component \"{component}\" has reuse.max_concurrent = {max_concurrent}",
        path.display()
    )]
    OneAtATime {
        /// The component file.
        path: PathBuf,
        /// The component id.
        component: String,
        /// What the manifest asked for.
        max_concurrent: u32,
    },
    /// A trial instance could not be created within the component's limits.
    #[error("{} cannot be instantiated: {reason}", path.display())]
    Instantiate {
        /// The component file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

impl LoadError {
    /// What the user should do about it.
    pub fn fix(&self) -> String {
        match self {
            Self::Engine(_) => "check the host's virtual memory limits (ulimit -v); the \
                                pooling allocator reserves address space for every instance"
                .into(),
            Self::Read { .. } => "check the path and the file's permissions".into(),
            Self::NotWasm { .. } => {
                "point `source` at the .wasm component your build produced".into()
            }
            Self::CoreModule { .. } => "build a component: `cargo build --target wasm32-wasip2` \
                                        for Rust, or wrap the module with `wasm-tools component new`"
                .into(),
            Self::Compile { .. } => {
                "rebuild the component with a toolchain that targets WASI 0.2 components".into()
            }
            Self::MissingImport { .. } => "Tessera provides WASI 0.2 (wasi:http, io, clocks, \
                                           random, cli, filesystem, sockets): remove the use of \
                                           this interface from the component"
                .into(),
            Self::NotHttp { .. } => "export the wasi:http/proxy world: in Rust use \
                                     `wasi::http::proxy::export!`, wstd's `#[wstd::http_server]`, \
                                     or wit-bindgen with the proxy world"
                .into(),
            Self::OneAtATime { component, .. } => format!(
                "set `max_concurrent = 1` in `[component.{component}] reuse` (concurrent \
                 requests then get instances of their own), or build the component for WASI 0.3 \
                 (`tessera new rust NAME --wasi 0.3`)"
            ),
            Self::Instantiate { .. } => {
                "raise `limits.memory` for this component, or make its initial memory smaller"
                    .into()
            }
        }
    }
}

/// Why a request could not be served by its component. The server maps each kind to one
/// status code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// The component is at its `max_concurrency`.
    #[error("component \"{component}\" is at its limit of {limit} concurrent instances")]
    Busy {
        /// The component id.
        component: String,
        /// Its `max_concurrency`.
        limit: u32,
    },
    /// Every instance slot of the engine's pool is in use (`--max-instances`).
    #[error(
        "no instance slot free for component \"{component}\": the server's pool is full (raise --max-instances)"
    )]
    PoolFull {
        /// The component id.
        component: String,
    },
    /// The request cannot be handed to a guest (for example, it has no authority).
    #[error("the request cannot be given to component \"{component}\": {reason}")]
    BadRequest {
        /// The component id.
        component: String,
        /// What is wrong with the request.
        reason: String,
    },
    /// The guest ran past its deadline.
    #[error("component \"{component}\" did not finish within its {} deadline", humantime::format_duration(*timeout))]
    Timeout {
        /// The component id.
        component: String,
        /// Its deadline.
        timeout: Duration,
    },
    /// The guest tried to grow its memory past the cap and then failed.
    #[error(
        "component \"{component}\" exceeded its memory cap of {} (it asked for {})",
        bytesize::ByteSize(*cap).display().iec(),
        bytesize::ByteSize(*wanted).display().iec()
    )]
    MemoryCap {
        /// The component id.
        component: String,
        /// The cap, in bytes.
        cap: u64,
        /// What it asked for, in bytes.
        wanted: u64,
    },
    /// The guest trapped (panicked, overflowed its stack, hit `unreachable`, ...).
    #[error("component \"{component}\" crashed: {reason}")]
    Trap {
        /// The component id.
        component: String,
        /// Wasmtime's description, with the guest backtrace when there is one.
        reason: String,
    },
    /// The guest returned without setting a response.
    #[error("component \"{component}\" returned without sending a response")]
    NoResponse {
        /// The component id.
        component: String,
    },
    /// The guest answered with a `wasi:http` error code instead of a response.
    #[error("component \"{component}\" answered with the error {code}")]
    GuestError {
        /// The component id.
        component: String,
        /// The error code, as text.
        code: String,
    },
}

impl InvokeError {
    /// The id of the component involved.
    pub fn component(&self) -> &str {
        match self {
            Self::Busy { component, .. }
            | Self::PoolFull { component }
            | Self::BadRequest { component, .. }
            | Self::Timeout { component, .. }
            | Self::MemoryCap { component, .. }
            | Self::Trap { component, .. }
            | Self::NoResponse { component }
            | Self::GuestError { component, .. } => component,
        }
    }
}
