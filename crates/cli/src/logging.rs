//! Log output on stderr, filtered by `TESSERA_LOG`: readable lines, or one JSON object per
//! line (`--log-format json`).

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

/// Installs the subscriber. `TESSERA_LOG` takes `tracing` directives
/// (`info`, `tessera::access=info,warn`, `off`); the default is `info`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .compact()
            .init(),
        // Fields at the top level of each object (`"component":"api"`), beside `timestamp`,
        // `level`, `target` and `message`, as log collectors expect.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}
