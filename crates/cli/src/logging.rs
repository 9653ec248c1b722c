//! Log output: human-readable lines on stderr, filtered by `TESSERA_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `TESSERA_LOG` takes `tracing` directives
/// (`info`, `tessera::access=info,warn`, `off`); the default is `info`.
pub fn init() {
    let filter = EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .init();
}
