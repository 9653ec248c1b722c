//! Host capabilities a component can be granted: key-value stores, SQL databases, outbound
//! HTTP and variables.
//!
//! [`Backends`] opens every store and database the application's grants name, once, at
//! start-up (a Redis or PostgreSQL that does not answer fails `tessera up` before it binds).
//! Each component gets a [`Capabilities`] holding only what it was granted; every request's
//! [`Host`] borrows it. Every capability interface is linked for every
//! component, so a component that asks for something it was not granted gets an error value
//! (`access-denied`, `no-such-store`, `HTTP-request-denied`, `none`), never a link error or a
//! trap, and the host logs which component asked for what.

pub(crate) mod bindings;
mod config;
pub mod kv;
mod outbound;
pub mod sql;

use crate::log::LogBudget;
use crate::trace::RequestTrace;
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tessera_manifest::{
    HostPattern, KvBackend, ResolvedGrants, ResolvedVariable, RuntimeConfig, SqlBackend,
    SqlDatabaseSpec,
};
use wasmtime::component::{HasSelf, Linker};

use crate::Host;
use kv::{EmbeddedKv, KvStore, RedisKv};
pub use outbound::OutboundClient;
use sql::{PostgresDatabase, SqlDatabase, SqliteDatabase};

/// Why a store or database was not handed to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denial {
    /// No store or database has that name.
    Unknown,
    /// It exists, but this component was not granted it.
    NotGranted,
}

/// The two kinds of storage a component can be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// A key-value store (`wasi:keyvalue`).
    KeyValue,
    /// A SQL database (`tessera:host/sql`).
    Sql,
}

impl StoreKind {
    /// How messages name one: "key-value store", "SQL database".
    pub fn what(self) -> &'static str {
        match self {
            Self::KeyValue => "key-value store",
            Self::Sql => "SQL database",
        }
    }

    /// The runtime configuration's table for one: `key_value_store`, `sql_database`.
    pub fn section(self) -> &'static str {
        match self {
            Self::KeyValue => "key_value_store",
            Self::Sql => "sql_database",
        }
    }

    /// The component's grant that lists them: `key_value_stores`, `sql_databases`.
    pub fn grant(self) -> &'static str {
        match self {
            Self::KeyValue => "key_value_stores",
            Self::Sql => "sql_databases",
        }
    }
}

/// Why a store or database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BackendFailure {
    /// Another host holds this embedded store.
    #[error(transparent)]
    InUse(kv::OpenError),
    /// A networked server (Redis, PostgreSQL) did not answer or refused.
    #[error("{0}")]
    Unreachable(String),
    /// A local file or directory cannot be created or read.
    #[error("{0}")]
    Local(String),
}

/// A store or database that could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
#[error("cannot open {} \"{name}\" ({backend}): {reason}", kind.what())]
pub struct BackendError {
    /// Which kind.
    pub kind: StoreKind,
    /// Its name.
    pub name: String,
    /// The backend and where it is, with any password removed.
    pub backend: String,
    /// Why.
    pub reason: BackendFailure,
}

impl BackendError {
    /// What to do about it.
    pub fn fix(&self) -> String {
        match self.reason {
            BackendFailure::InUse(_) => {
                "stop the other host, or give this one its own --state-dir; to \
                share data between hosts, use a Redis store"
                    .into()
            }
            BackendFailure::Unreachable(_) => format!(
                "start the server, or correct its url under [{}.{}] in the runtime configuration",
                self.kind.section(),
                self.name
            ),
            BackendFailure::Local(_) => {
                "check that the state directory is writable (--state-dir or TESSERA_STATE_DIR)"
                    .into()
            }
        }
    }
}

/// Why [`Backends::open`] is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To serve requests: every backend is opened and held.
    Serve,
    /// To check the application (`tessera check`), possibly beside a host serving it:
    /// networked backends are reached as for serving, but an embedded key-value store is
    /// only probed, since only one host may hold it ([`EmbeddedKv`]). The capabilities
    /// then lack those stores; they are for loading components, never for serving.
    Check,
}

/// Every store and database the application uses, open, and the outbound HTTP client.
pub struct Backends {
    kv: BTreeMap<String, Arc<dyn KvStore>>,
    sql: BTreeMap<String, Arc<dyn SqlDatabase>>,
    defined_kv: Arc<BTreeSet<String>>,
    defined_sql: Arc<BTreeSet<String>>,
    outbound: OutboundClient,
    observer: Option<Arc<dyn CallObserver>>,
}

/// One key-value, SQL or outbound HTTP call a guest made, as a [`CallObserver`] is told of it.
#[derive(Debug)]
pub struct Call<'a> {
    /// The component that made it.
    pub component: &'a str,
    /// `key_value`, `sql` or `outbound_http`.
    pub capability: &'static str,
    /// The store or database by its name in the manifest; for outbound HTTP, the
    /// `allowed_outbound_hosts` entry that let the request through.
    pub name: &'a str,
    /// What was asked: `get`, `set`, `execute`, `query`, `begin`, ...; `request` for HTTP.
    pub operation: &'static str,
    /// Whether the backend did it (a missing key is a success, and so is any HTTP response,
    /// whatever its status; a backend or connection error is not).
    pub ok: bool,
    /// How long the backend took (for HTTP: until the response head).
    pub elapsed: Duration,
}

/// Told of every key-value, SQL and outbound HTTP call a guest makes (for metrics).
pub trait CallObserver: Send + Sync + 'static {
    /// One call, done.
    fn observe(&self, call: &Call<'_>);
}

/// Runs a backend `call`: in a client span of the request's `trace`, if it is traced, and
/// told to the component's observer, if any.
pub(crate) async fn observed<T, E: fmt::Display>(
    caps: &Capabilities,
    trace: Option<&RequestTrace>,
    capability: &'static str,
    name: &str,
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    if caps.observer.is_none() && trace.is_none() {
        return call.await;
    }
    let span = trace.map(|trace| {
        trace.child(
            format!("{operation} {name}"),
            SpanKind::Client,
            vec![
                KeyValue::new("tessera.component", caps.component.clone()),
                KeyValue::new("tessera.capability", capability),
                KeyValue::new("db.namespace", name.to_string()),
                KeyValue::new("db.operation.name", operation),
            ],
        )
    });
    let started = std::time::Instant::now();
    let result = call.await;
    if let Some(observer) = &caps.observer {
        observer.observe(&Call {
            component: &caps.component,
            capability,
            name,
            operation,
            ok: result.is_ok(),
            elapsed: started.elapsed(),
        });
    }
    if let Some(span) = span {
        span.end(result.as_ref().err().map(ToString::to_string));
    }
    result
}

impl Backends {
    /// Opens the stores and databases that some component is granted, and the key-value
    /// stores in `host_kv` (those the host itself uses: shared rate limits); the others are
    /// not touched (no file is created, no server contacted).
    pub async fn open(
        runtime: &RuntimeConfig,
        grants: &BTreeMap<String, ResolvedGrants>,
        host_kv: &BTreeSet<String>,
        purpose: Purpose,
    ) -> Result<Self, Vec<BackendError>> {
        let used_kv: BTreeSet<&String> = grants
            .values()
            .flat_map(|g| &g.key_value_stores)
            .chain(host_kv)
            .collect();
        let used_sql: BTreeSet<&String> = grants.values().flat_map(|g| &g.sql_databases).collect();
        let mut errors = Vec::new();
        let mut kv = BTreeMap::new();
        for name in used_kv {
            let backend = &runtime.key_value_stores[name];
            let embedded = |e: kv::OpenError| match e {
                kv::OpenError::InUse { .. } => BackendFailure::InUse(e),
                kv::OpenError::Unusable(e) => BackendFailure::Local(e.0),
            };
            let opened: Result<Option<Arc<dyn KvStore>>, BackendFailure> = match backend {
                KvBackend::Embedded { path } if purpose == Purpose::Check => {
                    EmbeddedKv::probe(path).map(|()| None).map_err(embedded)
                }
                KvBackend::Embedded { path } => EmbeddedKv::open(path)
                    .map(|s| Some(Arc::new(s) as _))
                    .map_err(embedded),
                KvBackend::Redis { url, prefix } => RedisKv::connect(url, prefix)
                    .await
                    .map(|s| Some(Arc::new(s) as _))
                    .map_err(|e| BackendFailure::Unreachable(e.0)),
            };
            match opened {
                Ok(store) => {
                    tracing::info!("key-value store {name}: {}", describe_kv(backend));
                    kv.extend(store.map(|store| (name.clone(), store)));
                }
                Err(reason) => errors.push(BackendError {
                    kind: StoreKind::KeyValue,
                    name: name.clone(),
                    backend: describe_kv(backend),
                    reason,
                }),
            }
        }
        let mut sql = BTreeMap::new();
        for name in used_sql {
            let backend = &runtime.sql_databases[name];
            let opened: Result<Arc<dyn SqlDatabase>, BackendFailure> = match backend {
                SqlBackend::Sqlite {
                    path,
                    max_connections,
                } => SqliteDatabase::open(path, *max_connections)
                    .map(|d| Arc::new(d) as _)
                    .map_err(|e| BackendFailure::Local(e.to_string())),
                SqlBackend::Postgres {
                    url,
                    max_connections,
                } => PostgresDatabase::connect(url, *max_connections)
                    .await
                    .map(|d| Arc::new(d) as _)
                    .map_err(|e| BackendFailure::Unreachable(e.to_string())),
            };
            match opened {
                Ok(db) => {
                    tracing::info!("SQL database {name}: {}", describe_sql(backend));
                    sql.insert(name.clone(), db);
                }
                Err(reason) => errors.push(BackendError {
                    kind: StoreKind::Sql,
                    name: name.clone(),
                    backend: describe_sql(backend),
                    reason,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            kv,
            sql,
            defined_kv: Arc::new(runtime.key_value_stores.keys().cloned().collect()),
            defined_sql: Arc::new(runtime.sql_databases.keys().cloned().collect()),
            outbound: OutboundClient::new(),
            observer: None,
        })
    }

    /// The open key-value store `name` (a granted one, or one of `host_kv`).
    pub fn key_value(&self, name: &str) -> Option<Arc<dyn KvStore>> {
        self.kv.get(name).cloned()
    }

    /// Tells `observer` of every key-value and SQL call of the components given capabilities
    /// from now on.
    pub fn observe(&mut self, observer: Arc<dyn CallObserver>) {
        self.observer = Some(observer);
    }

    /// Applies each database's migrations ([`sql::migrate`]), or in [`Mode::Try`] checks that
    /// they would apply; logs what each did. Returns the databases whose migrations failed.
    ///
    /// [`Mode::Try`]: sql::migrate::Mode::Try
    pub async fn migrate(
        &self,
        databases: &BTreeMap<String, SqlDatabaseSpec>,
        mode: sql::migrate::Mode,
    ) -> Vec<(String, sql::migrate::MigrationError)> {
        let mut failed = Vec::new();
        for (name, spec) in databases {
            if spec.migrations.is_empty() {
                continue;
            }
            let Some(db) = self.sql.get(name) else {
                // Only a database no component is granted is not open, and the manifest
                // refuses migrations for one.
                continue;
            };
            match sql::migrate::migrate(db.as_ref(), &spec.migrations, mode).await {
                Ok(outcome) => log_migrations(name, &outcome, mode),
                Err(error) => failed.push((name.clone(), error)),
            }
        }
        failed
    }

    /// What `component` may use, given its resolved grants.
    pub fn capabilities(&self, component: &str, grants: &ResolvedGrants) -> Arc<Capabilities> {
        Arc::new(Capabilities {
            component: component.into(),
            // Every granted store is open unless only checking (see `Purpose::Check`).
            kv: grants
                .key_value_stores
                .iter()
                .filter_map(|name| Some((name.clone(), self.kv.get(name)?.clone())))
                .collect(),
            sql: grants
                .sql_databases
                .iter()
                .map(|name| (name.clone(), self.sql[name].clone()))
                .collect(),
            defined_kv: self.defined_kv.clone(),
            defined_sql: self.defined_sql.clone(),
            allowed_outbound_hosts: grants.allowed_outbound_hosts.clone(),
            variables: grants.variables.clone(),
            outbound: Some(self.outbound.clone()),
            log_budget: Arc::default(),
            observer: self.observer.clone(),
        })
    }
}

fn log_migrations(name: &str, outcome: &sql::migrate::Outcome, mode: sql::migrate::Mode) {
    let millis = outcome.elapsed.as_millis();
    let total = outcome.already + outcome.applied.len();
    if !outcome.newer.is_empty() {
        tracing::warn!(
            "SQL database {name} has migrations newer than this application's: {} (a newer \
             release applied them)",
            outcome.newer.join(", ")
        );
    }
    match (outcome.applied.is_empty(), mode) {
        (true, _) => tracing::info!("SQL database {name}: migrations up to date ({total})"),
        (false, sql::migrate::Mode::Apply) => tracing::info!(
            "SQL database {name}: applied {} ({} of {total} migrations) in {millis} ms",
            outcome.applied.join(", "),
            outcome.applied.len()
        ),
        (false, sql::migrate::Mode::Try) => tracing::info!(
            "SQL database {name}: {} would apply cleanly (tried and rolled back in {millis} ms)",
            outcome.applied.join(", ")
        ),
    }
}

fn describe_kv(backend: &KvBackend) -> String {
    match backend {
        KvBackend::Embedded { path } => format!("embedded at {}", path.display()),
        KvBackend::Redis { url, .. } => format!("redis at {}", redact(url)),
    }
}

fn describe_sql(backend: &SqlBackend) -> String {
    match backend {
        SqlBackend::Sqlite { path, .. } => format!("sqlite at {}", path.display()),
        SqlBackend::Postgres { url, .. } => format!("postgres at {}", redact(url)),
    }
}

/// A connection URL with its password replaced, for logs and messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // A key=value connection string: drop any password=... pair.
        return url
            .split_whitespace()
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// An error and its sources on one line, for messages from client libraries that keep the
/// useful part (refused, timed out, bad password) in a source.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Many errors (deadpool's, tokio-postgres') print their source in their own message
        // as well as returning it: say it once.
        let next = s.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// What one component may use.
pub struct Capabilities {
    pub(crate) component: Arc<str>,
    kv: Vec<(String, Arc<dyn KvStore>)>,
    sql: Vec<(String, Arc<dyn SqlDatabase>)>,
    defined_kv: Arc<BTreeSet<String>>,
    defined_sql: Arc<BTreeSet<String>>,
    pub(crate) allowed_outbound_hosts: Vec<HostPattern>,
    pub(crate) variables: Vec<ResolvedVariable>,
    pub(crate) outbound: Option<OutboundClient>,
    /// The lines the component's guests may still log (`log.rs`).
    pub(crate) log_budget: Arc<LogBudget>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capabilities")
            .field("component", &self.component)
            .field("kv", &self.kv.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("sql", &self.sql.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("allowed_outbound_hosts", &self.allowed_outbound_hosts)
            .field("variables", &self.variables)
            .finish_non_exhaustive()
    }
}

impl Capabilities {
    /// Nothing granted: what a component with no grants, or a trial instance, gets.
    pub fn none(component: &str) -> Arc<Self> {
        Arc::new(Self {
            component: component.into(),
            kv: Vec::new(),
            sql: Vec::new(),
            defined_kv: Arc::default(),
            defined_sql: Arc::default(),
            allowed_outbound_hosts: Vec::new(),
            variables: Vec::new(),
            outbound: None,
            log_budget: Arc::default(),
            observer: None,
        })
    }

    /// Whether every store and database granted answers: a key-value lookup on each store,
    /// a connection to each database. The error names the first that does not.
    pub async fn probe(&self) -> Result<(), String> {
        for (name, store) in &self.kv {
            store
                .exists("tessera:readyz")
                .await
                .map_err(|e| format!("key-value store \"{name}\": {e}"))?;
        }
        for (name, db) in &self.sql {
            db.connect()
                .await
                .map_err(|e| format!("SQL database \"{name}\": {e}"))?;
        }
        Ok(())
    }

    /// Guest log lines of the component dropped so far, over its budget.
    pub fn log_lines_dropped(&self) -> u64 {
        self.log_budget.dropped()
    }

    pub(crate) fn key_value_store(&self, name: &str) -> Result<Arc<dyn KvStore>, Denial> {
        if let Some((_, store)) = self.kv.iter().find(|(n, _)| n == name) {
            return Ok(store.clone());
        }
        Err(self.deny(StoreKind::KeyValue, name, &self.defined_kv))
    }

    pub(crate) fn sql_database(&self, name: &str) -> Result<Arc<dyn SqlDatabase>, Denial> {
        if let Some((_, db)) = self.sql.iter().find(|(n, _)| n == name) {
            return Ok(db.clone());
        }
        Err(self.deny(StoreKind::Sql, name, &self.defined_sql))
    }

    fn deny(&self, kind: StoreKind, name: &str, defined: &BTreeSet<String>) -> Denial {
        let (what, grant) = (kind.what(), kind.grant());
        if defined.contains(name) {
            tracing::warn!(
                component = %self.component,
                "{what} \"{name}\" refused: it is not in the component's {grant} grant"
            );
            Denial::NotGranted
        } else {
            tracing::warn!(
                component = %self.component,
                "{what} \"{name}\" refused: no {what} has that name"
            );
            Denial::Unknown
        }
    }
}

/// Links every capability interface for [`Host`].
pub(crate) fn add_to_linker(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    use bindings::tessera::host::{kv_expiry, sql};
    use bindings::wasi::config::store as config;
    use bindings::wasi::keyvalue::{atomics, batch, store};
    store::add_to_linker::<Host, HasSelf<Host>>(linker, |host| host)?;
    atomics::add_to_linker::<Host, HasSelf<Host>>(linker, |host| host)?;
    batch::add_to_linker::<Host, HasSelf<Host>>(linker, |host| host)?;
    kv_expiry::add_to_linker::<Host, HasSelf<Host>>(linker, |host| host)?;
    sql::add_to_linker::<Host, HasSelf<Host>>(linker, |host| host)?;
    config::add_to_linker::<Host, HasSelf<Host>>(linker, |host| host)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("redis://:pw@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("host=h password=pw user=u"),
            "host=h password=*** user=u"
        );
    }

    #[test]
    fn a_source_the_message_already_gives_is_said_once() {
        #[derive(Debug)]
        struct Wrapped(std::io::Error, bool);
        impl fmt::Display for Wrapped {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.1 {
                    write!(f, "error connecting to server: {}", self.0)
                } else {
                    write!(f, "error connecting to server")
                }
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let expected = "error connecting to server: refused";
        assert_eq!(error_chain(&Wrapped(refused(), true)), expected);
        assert_eq!(error_chain(&Wrapped(refused(), false)), expected);
    }
}
