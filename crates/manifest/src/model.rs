//! The validated manifest: what the host loads and serves.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Grants, MiddlewareSpec, RoutePattern, SqlDatabaseSpec};

/// A validated `tessera.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file, as the user named it (used in messages).
    pub file: PathBuf,
    /// The directory relative paths in the manifest are resolved against.
    pub dir: PathBuf,
    /// The routes, in file order.
    pub routes: Vec<Route>,
    /// The components, by id.
    pub components: BTreeMap<String, ComponentSpec>,
    /// The named middleware, by name.
    pub middleware: BTreeMap<String, MiddlewareSpec>,
    /// What the application asks of its SQL databases (`[sql_database.<name>]`), by name.
    pub sql_databases: BTreeMap<String, SqlDatabaseSpec>,
}

/// One `[[route]]`.
#[derive(Debug, Clone)]
pub struct Route {
    /// The 0-based position of the route in the file, for messages (`route[2]`).
    pub index: usize,
    /// The parsed path pattern.
    pub pattern: RoutePattern,
    /// What answers it.
    pub handler: Handler,
    /// The methods it accepts; `None` accepts every method.
    pub methods: Option<Vec<http::Method>>,
    /// The middleware it runs through, in order: `[app] middleware`, then its own (each
    /// name once).
    pub middleware: Vec<String>,
}

/// What answers a route's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// The component with this id.
    Component(String),
    /// The static files in this folder (`files = "web"`), resolved against the manifest's
    /// directory. The route ends in `/...`; the rest of the path names the file.
    Files(PathBuf),
}

impl Route {
    /// The id of the component that serves this route, if a component does.
    pub fn component(&self) -> Option<&str> {
        match &self.handler {
            Handler::Component(id) => Some(id),
            Handler::Files(_) => None,
        }
    }

    /// Whether this route accepts `method`. A route that accepts GET also accepts HEAD.
    pub fn allows(&self, method: &http::Method) -> bool {
        match &self.methods {
            None => true,
            Some(methods) => {
                methods.contains(method)
                    || (*method == http::Method::HEAD && methods.contains(&http::Method::GET))
            }
        }
    }
}

/// One `[component.<id>]`.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// The id (the table name).
    pub id: String,
    /// The `.wasm` file, resolved against the manifest's directory.
    pub source: PathBuf,
    /// The line of the `source` key, for messages about the file.
    pub source_line: Option<usize>,
    /// Per-instance limits.
    pub limits: Limits,
    /// What it may use besides computing.
    pub grants: Grants,
    /// How `tessera build` makes `source`, if the manifest says.
    pub build: Option<crate::BuildSpec>,
}

/// Limits applied to every instance of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap per instance, in bytes.
    pub memory: u64,
    /// Deadline per request.
    pub timeout: Duration,
    /// Instances at once; further requests wait in the queue, or get 503 when it is full.
    pub max_concurrency: u32,
    /// Requests that may wait for an instance while `max_concurrency` are running (each at
    /// most until its deadline); 0, the default, refuses them at once.
    pub max_queue: u32,
    /// Whether an instance may serve more than one request (`[component.<id>] reuse`); `None`
    /// (the default) gives every request a fresh instance.
    pub reuse: Option<Reuse>,
}

/// `[component.<id>] reuse = { max_requests, max_concurrent, idle_timeout }`: an instance
/// serves request after request, keeping its globals and memory, until one of the bounds ends
/// it. An instance that trapped, ran past its deadline, hit its memory cap or was cancelled
/// is never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Requests one instance serves before it is dropped.
    pub max_requests: u32,
    /// Requests one instance serves at once. A WASI 0.2 component handles one at a time.
    pub max_concurrent: u32,
    /// How long an instance may wait for its next request before it is dropped.
    pub idle_timeout: Duration,
}

impl Reuse {
    /// 128 requests per instance.
    pub const DEFAULT_MAX_REQUESTS: u32 = 128;
    /// One request at a time per instance.
    pub const DEFAULT_MAX_CONCURRENT: u32 = 1;
    /// One second idle.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(1);
}

impl Default for Reuse {
    fn default() -> Self {
        Self {
            max_requests: Self::DEFAULT_MAX_REQUESTS,
            max_concurrent: Self::DEFAULT_MAX_CONCURRENT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl Limits {
    /// 128 MiB of linear memory per instance.
    pub const DEFAULT_MEMORY: u64 = 128 * 1024 * 1024;
    /// 30 seconds per request.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// 100 instances of one component at once.
    pub const DEFAULT_MAX_CONCURRENCY: u32 = 100;
    /// The largest memory a 32-bit WebAssembly memory can have: 4 GiB.
    pub const MAX_MEMORY: u64 = 4 * 1024 * 1024 * 1024;
    /// One WebAssembly page.
    pub const MIN_MEMORY: u64 = 64 * 1024;
    /// The longest deadline a route may ask for.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: Self::DEFAULT_MEMORY,
            timeout: Self::DEFAULT_TIMEOUT,
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            max_queue: 0,
            reuse: None,
        }
    }
}
