//! An OTLP/HTTP trace receiver for benchmarks (bench/observability.sh): listens on the
//! address given (default 127.0.0.1:4318), decodes every export, and on SIGTERM or SIGINT
//! prints `spans <n> exports <m>` and exits.

use tessera_test_support::otlp::OtlpReceiver;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4318".into());
    let receiver = OtlpReceiver::counting_on(&addr).await;
    println!("listening on {}", receiver.endpoint());
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let exports = receiver.exports();
    println!("spans {} exports {}", exports.spans, exports.requests);
}
