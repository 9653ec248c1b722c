//! Measures the host's CPU cost per request without a network: loads the app from a
//! manifest with the library's builder and serves synthetic requests through its service,
//! in a loop on one thread.
//!
//! `cargo run --release -p tessera --example per_request -- MANIFEST [COUNT [PATH [NAME:VALUE]...]]`
//! e.g. `... -- examples/hello/tessera.toml 200000`, or with a route's middleware:
//! `... -- app.toml 100000 /api/orders "authorization:Bearer ey..."`.
//! Under callgrind, pass a small count: the instruction count per request is what matters.

use std::path::PathBuf;
use std::time::Instant;

use http_body_util::{BodyExt, Empty};
use tower::Service as _;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let manifest = PathBuf::from(args.next().expect("usage: per_request <manifest> [count]"));
    let count: usize = args.next().map_or(100_000, |n| n.parse().expect("a count"));
    let path = args.next().unwrap_or_else(|| "/".into());
    let headers: Vec<(String, String)> = args
        .map(|h| {
            let (name, value) = h.split_once(':').expect("headers as NAME:VALUE");
            (name.to_string(), value.trim().to_string())
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // A small pool: callgrind cannot reserve address space for a thousand 4 GiB memories.
        let max_instances = std::env::var("MAX_INSTANCES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8);
        // Loaded as `tessera up` loads it, with the embedded backends in a scratch directory.
        let app = tessera::App::builder()
            .manifest(&manifest)
            .max_instances(max_instances)
            .state_dir(std::env::temp_dir().join("tessera-per-request"))
            .build()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let service = app.service();
        let serve = |mut service: tessera::AppService| {
            let (path, headers) = (&path, &headers);
            async move {
                let mut request = http::Request::get(path.as_str())
                    .header("host", "127.0.0.1:3000")
                    .header("user-agent", "per_request");
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let request = request.body(Empty::<bytes::Bytes>::new()).unwrap();
                let Ok(response) = service.call(request).await;
                // Let the runtime run what the request left behind (the deferred store drop),
                // as a server's connection task does when it waits for the next request.
                tokio::task::yield_now().await;
                assert!(response.status().is_success(), "{:?}", response.status());
                response
                    .into_body()
                    .collect()
                    .await
                    .unwrap()
                    .to_bytes()
                    .len()
            }
        };
        for _ in 0..1000.min(count) {
            serve(service.clone()).await;
        }
        let started = Instant::now();
        for _ in 0..count {
            serve(service.clone()).await;
        }
        let elapsed = started.elapsed();
        println!(
            "{count} requests in {:.2?}: {:.2} µs per request",
            elapsed,
            elapsed.as_secs_f64() * 1e6 / count as f64
        );
    });
}
