//! `tessera up`: load, bind, serve until SIGINT or SIGTERM; optionally the admin endpoint.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tessera::AppBuilder;
use tessera_dev::Builder;
use tessera_manifest::Handler;
use tessera_server::{AdminServer, AdminToken, LiveApp, Metrics, MetricsServer, Shutdown, Tls};

use crate::args::UpArgs;
use crate::commands::build;
use crate::commands::load::{builder, report_failure};
use crate::traces::Traces;

/// Serves the app; `started` is its builder if `main` already had it start the engine.
pub async fn run(args: UpArgs, started: Option<AppBuilder>) -> anyhow::Result<ExitCode> {
    if args.build
        && !build::build(
            &args.app.manifest,
            args.app.state_dir.as_deref(),
            &[],
            false,
        )
        .await
    {
        return Ok(ExitCode::FAILURE);
    }
    // Checked before the app loads: a bad certificate fails in milliseconds, not after the
    // components have compiled.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key)?),
        _ => None,
    };
    let metrics = args
        .metrics
        .map(|_| Metrics::sampling_guest_cpu(args.metrics_cpu_every));
    let traces = Traces::from_env(args.otlp_endpoint.as_deref())?;
    let mut builder = started
        .unwrap_or_else(|| builder(&args.app))
        .access_log(args.access_log);
    if let Some(metrics) = &metrics {
        builder = builder.metrics(metrics.clone());
    }
    if let Some(traces) = &traces {
        builder = builder.tracer(traces.tracer());
    }
    let app = match builder.build().await {
        Ok(app) => app,
        Err(error) => {
            report_failure(error)?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let state_dir = app.runtime_config().state_dir.clone();
    let live = app.live().clone();
    // Bound only now: a bad manifest or component never gets as far as opening a port.
    let listener = tessera_server::listen(args.listen).with_context(|| {
        format!(
            "cannot listen on {} (is another server using it? pick another with --listen)",
            args.listen
        )
    })?;
    let addr = listener.local_addr()?;
    let _watch = if args.watch {
        let builder = Builder::new(&state_dir, 1);
        let task = tessera_dev::watch(live.clone(), builder, build::print_progress)
            .context("cannot watch the components' files")?;
        Some(AbortOnDrop(task))
    } else {
        None
    };
    let _admin = match args.admin {
        Some(admin_addr) => {
            Some(start_admin(&live, admin_addr, args.admin_token, &state_dir).await?)
        }
        None => None,
    };
    let _metrics = match (args.metrics, metrics) {
        (Some(addr), Some(metrics)) => Some(start_metrics(metrics, addr).await?),
        _ => None,
    };
    for route in &live.manifest().routes {
        let methods = route.methods.as_ref().map_or_else(
            || "*".to_string(),
            |m| m.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","),
        );
        match &route.handler {
            Handler::Component(id) => {
                tracing::info!("route {} [{methods}] -> {id}", route.pattern);
            }
            Handler::Files(dir) => {
                tracing::info!(
                    "route {} [{methods}] -> files in {}",
                    route.pattern,
                    dir.display()
                );
            }
        }
    }
    let _reload = match &tls {
        Some(tls) => {
            tracing::info!(
                "serving https://{addr} (certificate {})",
                tls.cert_path().display()
            );
            Some(reload_on_hangup(tls.clone())?)
        }
        None => {
            tracing::info!("serving http://{addr}");
            None
        }
    };
    let shutdown = Shutdown::on_signals().context("cannot install signal handlers")?;
    let options = tessera::ServeOptions {
        grace: args.shutdown_grace,
        max_header_bytes: args.max_header_bytes,
        tls,
        header_read_timeout: args.header_read_timeout,
        max_connections: args.max_connections as usize,
        max_connections_per_ip: args.max_connections_per_ip as usize,
        max_h2_streams: args.max_h2_streams,
    };
    // A signal is a normal way to stop: exit 0 even if the grace period ran out (the server
    // logged which requests were cut off).
    app.serve_with(listener, shutdown, options).await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Re-reads the certificate and key on each SIGHUP (certificate renewal); a file that fails
/// leaves the certificate served so far in place.
fn reload_on_hangup(tls: Tls) -> anyhow::Result<AbortOnDrop> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup =
            signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
        Ok(AbortOnDrop(tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!(
                        "SIGHUP: TLS certificate re-read from {}",
                        tls.cert_path().display()
                    ),
                    Err(error) => tracing::error!(
                        "SIGHUP: {error}; still serving the certificate read before"
                    ),
                }
            }
        })))
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        Ok(AbortOnDrop(tokio::spawn(async {})))
    }
}

/// Binds the metrics endpoint and serves it on its own task (aborted when the guard drops).
async fn start_metrics(metrics: Arc<Metrics>, addr: SocketAddr) -> anyhow::Result<AbortOnDrop> {
    let server = MetricsServer::bind(metrics, addr).await.with_context(|| {
        format!(
            "cannot listen on {addr} for the metrics endpoint (pick another with --metrics ADDR)"
        )
    })?;
    tracing::info!("metrics: http://{}/metrics", server.local_addr()?);
    Ok(AbortOnDrop(tokio::spawn(server.run())))
}

/// Binds the admin endpoint and serves it on its own task (aborted when the guard drops).
async fn start_admin(
    live: &Arc<LiveApp>,
    addr: SocketAddr,
    token: Option<String>,
    state_dir: &Path,
) -> anyhow::Result<AbortOnDrop> {
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "the admin endpoint listens on {addr}, beyond this machine: anyone who has the token can replace components"
        );
    }
    let (token, told) = match token {
        Some(token) => (AdminToken::new(token), "the token given".to_string()),
        None => {
            let token = AdminToken::generate().context("cannot generate an admin token")?;
            let file = state_dir.join("admin-token");
            write_private(&file, token.expose())
                .with_context(|| format!("cannot write the admin token to {}", file.display()))?;
            (token, format!("token in {}", file.display()))
        }
    };
    let admin = AdminServer::bind(live.clone(), addr, token)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {addr} for the admin endpoint (pick another with --admin ADDR)"
            )
        })?;
    tracing::info!("admin endpoint: http://{} ({told})", admin.local_addr()?);
    Ok(AbortOnDrop(tokio::spawn(admin.run())))
}

/// Writes `contents` to `file`, readable and writable by the owner only.
fn write_private(file: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file)?.write_all(contents.as_bytes())
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
