//! A read-through cache in front of a slow computation, using a key-value store with a time
//! to live.
//!
//! `GET /fib/:n` answers the n-th Fibonacci number. The first request computes it (slowly, on
//! purpose) and stores it for `ttl_ms` milliseconds (a variable from tessera.toml); requests
//! within that time read it from the store. `x-cache: hit` or `miss` says which happened.
//!
//! Build: `cargo build --release --target wasm32-wasip2 --target-dir target/wasm -p kv-cache`
//! Serve: `tessera up --manifest examples/kv-cache/tessera.toml`

use tessera_guest::tessera::host::kv_expiry;
use tessera_guest::wasi::config::store as config;
use tessera_guest::wasi::keyvalue::store;
use wstd::http::{Body, Error, Request, Response, StatusCode};

/// Deliberately exponential, so the cache makes a visible difference.
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    // The route is /fib/:n; the host passes the parameter in a header.
    let n: u64 = match request
        .headers()
        .get("tessera-param-n")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        Some(n) if n <= 40 => n,
        _ => {
            return Ok(Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Body::from("n must be a number from 0 to 40\n"))?);
        }
    };
    let ttl_ms: u64 = config::get("ttl_ms")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let bucket = store::open("default").map_err(|e| Error::msg(format!("{e:?}")))?;
    let key = format!("fib:{n}");
    let (value, cache) = match bucket.get(&key).map_err(|e| Error::msg(format!("{e:?}")))? {
        Some(bytes) => (String::from_utf8_lossy(&bytes).into_owned(), "hit"),
        None => {
            let value = fib(n).to_string();
            kv_expiry::set_with_ttl(&bucket, &key, value.as_bytes(), ttl_ms)
                .map_err(|e| Error::msg(format!("{e:?}")))?;
            (value, "miss")
        }
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .header("x-cache", cache)
        .body(Body::from(
            serde_json::json!({ "n": n, "fib": value }).to_string(),
        ))?)
}
