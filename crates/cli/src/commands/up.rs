//! `tessera up`: load, bind, serve until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tessera_runtime::{EngineSettings, EpochTicker};
use tessera_server::{Server, Shutdown};

use crate::args::UpArgs;
use crate::commands::load::load;

pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    let Some(loaded) = load(&args.app).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let _ticker = EpochTicker::start(
        loaded.loader.engine().clone(),
        EngineSettings::default().epoch_tick,
    );
    let app = Arc::new(loaded.app.with_access_log(args.access_log));
    let server = Server::bind(app, args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server using it? pick another with --listen)",
                args.listen
            )
        })?
        .with_grace(args.shutdown_grace);
    let addr = server.local_addr()?;
    for route in &loaded.manifest.routes {
        let methods = route.methods.as_ref().map_or_else(
            || "*".to_string(),
            |m| m.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","),
        );
        tracing::info!("route {} [{methods}] -> {}", route.pattern, route.component);
    }
    tracing::info!("serving http://{addr}");
    let shutdown = Shutdown::on_signals().context("cannot install signal handlers")?;
    // A signal is a normal way to stop: exit 0 even if the grace period ran out (the server
    // logged which requests were cut off).
    server.run(shutdown).await;
    Ok(ExitCode::SUCCESS)
}
