//! Command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tessera::ServeOptions;

/// Tessera: serve web backends built from WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// How log events are written to stderr: `text` (one readable line each) or `json` (one
    /// JSON object per line, for a log collector).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "TESSERA_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest and every component, then serve the application.
    Up(Box<UpArgs>),
    /// Check the manifest and every component (compile, link, try an instance); serve nothing.
    Check(AppArgs),
    /// Build the components that have a [component.<id>.build] section, skipping those whose
    /// inputs did not change.
    Build(BuildArgs),
    /// Start a component from a template (rust, python, js) and add it to the manifest
    /// (created if it does not exist).
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The template: rust (tessera-sdk), python (componentize-py) or js (ComponentizeJS).
    pub template: String,

    /// The component's name: its id in the manifest, its directory (beside the manifest) and
    /// its routes (/<name> and /<name>/...).
    pub name: String,

    /// The WASI version to build against: 0.2, or 0.3 (async handler; rust template only).
    #[arg(long, default_value = "0.2")]
    pub wasi: String,

    /// The application manifest to add it to.
    #[arg(long, short, default_value = "tessera.toml", env = "TESSERA_MANIFEST")]
    pub manifest: PathBuf,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The application manifest.
    #[arg(long, short, default_value = "tessera.toml", env = "TESSERA_MANIFEST")]
    pub manifest: PathBuf,

    /// Where build records are kept [default: .tessera next to the manifest].
    #[arg(long, env = "TESSERA_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Build even components whose inputs did not change.
    #[arg(long)]
    pub force: bool,

    /// Build only these components [default: all with a build section].
    pub components: Vec<String>,
}

/// Which application, and how to load it.
#[derive(Debug, Args)]
pub struct AppArgs {
    /// The application manifest.
    #[arg(long, short, default_value = "tessera.toml", env = "TESSERA_MANIFEST")]
    pub manifest: PathBuf,

    /// Where compiled components are cached [default: $XDG_CACHE_HOME/tessera or
    /// ~/.cache/tessera; env TESSERA_CACHE_DIR].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,

    /// Compile every component afresh and cache nothing.
    #[arg(long, conflicts_with = "cache_dir", env = "TESSERA_NO_CACHE")]
    pub no_cache: bool,

    /// The runtime configuration: backends for key-value stores and SQL databases, and
    /// secrets [default: the `default` store and database, embedded under the state dir].
    #[arg(long, env = "TESSERA_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,

    /// Where embedded stores and databases keep their files [default: .tessera next to the
    /// manifest, or the runtime configuration's state_dir].
    #[arg(long, env = "TESSERA_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Instances that may exist at once across all components (the instance pool's size).
    #[arg(long, default_value_t = 1000, env = "TESSERA_MAX_INSTANCES")]
    pub max_instances: u32,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub app: AppArgs,

    /// The address to listen on; port 0 picks a free port.
    #[arg(long, short, default_value = "127.0.0.1:3000", env = "TESSERA_LISTEN")]
    pub listen: SocketAddr,

    /// Serve HTTPS with this PEM certificate chain (leaf first), HTTP/2 and HTTP/1.1 by ALPN.
    /// Re-read with the key on SIGHUP; connections already open keep theirs.
    #[arg(long, value_name = "FILE", env = "TESSERA_TLS_CERT")]
    #[arg(requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", env = "TESSERA_TLS_KEY")]
    #[arg(requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// How long in-flight requests may run on after SIGINT or SIGTERM.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, env = "TESSERA_SHUTDOWN_GRACE")]
    pub shutdown_grace: Duration,

    /// The largest request head (request line and headers) a client may send, from 8KiB to
    /// 1MiB; a larger one gets 431.
    #[arg(long, default_value = "64KiB", value_parser = header_bytes, env = "TESSERA_MAX_HEADER_BYTES")]
    pub max_header_bytes: usize,

    /// How long a client may take to send a request's head (and the next one on a kept-alive
    /// connection, and to open a connection with its first bytes); slower connections are
    /// closed (slowloris).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, env = "TESSERA_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Duration,

    /// The most connections open at once; more are closed as they arrive.
    #[arg(long, default_value_t = ServeOptions::DEFAULT_MAX_CONNECTIONS as u32, value_parser = clap::value_parser!(u32).range(1..), env = "TESSERA_MAX_CONNECTIONS")]
    pub max_connections: u32,

    /// The most connections open at once from one client address (0: no limit). Behind a
    /// proxy or load balancer, every connection comes from its address.
    #[arg(long, default_value_t = ServeOptions::DEFAULT_MAX_CONNECTIONS_PER_IP as u32, env = "TESSERA_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: u32,

    /// The most requests in progress at once on one HTTP/2 connection.
    #[arg(long = "max-h2-streams", default_value_t = ServeOptions::DEFAULT_MAX_H2_STREAMS, value_parser = clap::value_parser!(u32).range(1..), env = "TESSERA_MAX_H2_STREAMS")]
    pub max_h2_streams: u32,

    /// Log one line per request at info level (target tessera::access).
    #[arg(long, env = "TESSERA_ACCESS_LOG")]
    pub access_log: bool,

    /// Serve Prometheus metrics (`GET /metrics`) on this address; `--metrics` alone means
    /// 127.0.0.1:9464. Off unless given.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:9464", env = "TESSERA_METRICS")]
    pub metrics: Option<SocketAddr>,

    /// Measure the guest CPU time of one request in N, chosen at random, and count each
    /// measure N times in tessera_guest_cpu_seconds (its count and sum then estimate every
    /// request's). Its clock reads are system calls, the largest part of what metrics cost.
    #[arg(
        long = "metrics-cpu-every",
        value_name = "N",
        default_value = "1",
        env = "TESSERA_METRICS_CPU_EVERY"
    )]
    pub metrics_cpu_every: std::num::NonZeroU32,

    /// Export OpenTelemetry traces over OTLP/HTTP (protobuf) to this base URL (e.g.
    /// http://127.0.0.1:4318; /v1/traces is appended). OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    /// OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER and the other OTEL_* variables are honoured.
    /// Off unless given.
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Serve the admin endpoint (list components, replace one from a new .wasm) on this
    /// address; `--admin` alone means 127.0.0.1:7373. Off unless given.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:7373", env = "TESSERA_ADMIN")]
    pub admin: Option<SocketAddr>,

    /// Run `tessera build` first.
    #[arg(long)]
    pub build: bool,

    /// Rebuild a component when a file its `build.watch` globs match changes (or reload it
    /// when its `source` changes, for a component without a build section), and replace it in
    /// the running server.
    #[arg(long)]
    pub watch: bool,

    /// The admin endpoint's bearer token [default: a random one, written to
    /// <state dir>/admin-token, readable by the owner only].
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

/// A size such as `64KiB` or `65536`, within what `--max-header-bytes` allows.
fn header_bytes(text: &str) -> Result<usize, String> {
    let bytes = text
        .trim()
        .parse::<bytesize::ByteSize>()
        .map_err(|_| format!("`{text}` is not a size: write it like 64KiB or 65536"))?
        .0;
    let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    if (8 * 1024..=1024 * 1024).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(format!("{text} is outside 8KiB..=1MiB"))
    }
}
