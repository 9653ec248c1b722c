//! The study's native Rust peer: `GET /api/matmul`, `/api/health` and `/api/compute` on axum,
//! answering exactly as `examples/matmul` and `examples/fastserve` do, with the same kernels
//! (`matmul-core`) compiled for the host. Also the native side of `bench/matmul.sh`.
//!
//!     study-axum [ADDR]        (default 127.0.0.1:3001; port 0 picks one)
//!
//! It prints `listening on <addr>` once it accepts connections.

use std::collections::HashMap;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use matmul_core::{Kernel, MAX_N, study_checksum};
use serde_json::json;

type Params = Query<HashMap<String, String>>;

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message, "status": 400 })),
    )
        .into_response()
}

async fn matmul(Query(params): Params) -> Response {
    let kernel = match params.get("kernel").map(String::as_str) {
        None => Kernel::Naive,
        Some(name) => match Kernel::from_name(name) {
            Some(kernel) => kernel,
            None => return bad_request(&format!("unknown kernel {name:?}")),
        },
    };
    let n = match params.get("n").map(|n| n.parse::<usize>()) {
        Some(Ok(n)) if (1..=MAX_N).contains(&n) => n,
        _ => return bad_request(&format!("n must be a number in 1..={MAX_N}")),
    };
    let start = Instant::now();
    let checksum = study_checksum(n, kernel) as u64;
    let millis = start.elapsed().as_micros() as f64 / 1000.0;
    Json(json!({ "n": n, "kernel": kernel.name(), "checksum": checksum, "millis": millis }))
        .into_response()
}

fn fib(n: u32) -> u64 {
    if n < 2 {
        u64::from(n)
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

async fn compute(Query(params): Params) -> Response {
    let n = match params.get("n").map(|n| n.parse::<u32>()) {
        None => 30,
        Some(Ok(n)) if n <= 40 => n,
        Some(_) => return bad_request("n must be a whole number in 0..=40"),
    };
    Json(json!({ "n": n, "fib": fib(n) })).into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3001".into());
    let app = Router::new()
        .route("/api/matmul", get(matmul))
        .route("/api/health", get(|| async { "ok" }))
        .route("/api/compute", get(compute));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
