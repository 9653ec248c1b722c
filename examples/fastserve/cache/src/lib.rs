//! FastServe's `GET /api/cache?key=<key>&ttl=<seconds>`: a read-through cache.
//!
//! The first call for a key simulates a slow lookup (a 100 ms wait on `wasi:clocks`), stores
//! the value it "found" in the key-value store for `ttl` seconds (default 60) and answers
//! `{"key", "value", "cached": false}` with `x-cache: miss`; later calls answer from the store
//! with `"cached": true` and `x-cache: hit` until the value expires. The value names the key
//! and when it was looked up, so a hit shows how old it is.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tessera_sdk::{Error, Request, Response, Result, kv};

/// How long the simulated lookup takes.
const LOOKUP: Duration = Duration::from_millis(100);
const DEFAULT_TTL: u64 = 60;
/// A day: a cache entry is not a database row.
const MAX_TTL: u64 = 86_400;
const MAX_KEY_BYTES: usize = 200;

#[expect(
    clippy::needless_pass_by_value,
    reason = "http_component! hands the request over"
)]
fn handle(request: Request) -> Result<Response> {
    let key = request
        .query_param("key")
        .filter(|key| !key.is_empty())
        .ok_or_else(|| Error::bad_request("give a key: ?key=<key>[&ttl=<seconds>]"))?;
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::bad_request(format!(
            "the key has {} bytes; at most {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    let ttl = match request.query_param("ttl") {
        None => DEFAULT_TTL,
        Some(text) => match text.parse::<u64>() {
            Ok(ttl) if (1..=MAX_TTL).contains(&ttl) => ttl,
            _ => {
                return Err(Error::bad_request(format!(
                    "ttl = {text:?} is not a whole number of seconds in 1..={MAX_TTL}"
                )));
            }
        },
    };
    let store = kv::Store::open("default")?;
    let stored = format!("fastserve:cache:{key}");
    if let Some(value) = store.get_text(&stored)? {
        return Ok(answer(&key, &value, true)?.with_header("x-cache", "hit"));
    }
    let value = slow_lookup(&key);
    store.set_with_ttl(&stored, value.as_bytes(), Duration::from_secs(ttl))?;
    Ok(answer(&key, &value, false)?.with_header("x-cache", "miss"))
}

/// What a slow backend would answer for `key`: waits [`LOOKUP`], then names the key and the
/// time (milliseconds since the Unix epoch).
fn slow_lookup(key: &str) -> String {
    wasip2::clocks::monotonic_clock::subscribe_duration(LOOKUP.as_nanos() as u64).block();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("value of {key}, looked up at {now}")
}

#[derive(Serialize)]
struct Answer<'a> {
    key: &'a str,
    value: &'a str,
    cached: bool,
}

fn answer(key: &str, value: &str, cached: bool) -> Result<Response> {
    Response::json(&Answer { key, value, cached })
}

tessera_sdk::http_component!(handle);
