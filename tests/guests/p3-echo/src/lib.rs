//! A WASI 0.3 HTTP handler for the end-to-end tests. It answers by the last segment of the
//! path, so it serves under any route prefix:
//!
//! - `POST .../echo`: the request body streamed back as it arrives.
//! - `GET .../big?bytes=N`: N bytes (`a`-`z` repeating), written from a task after `handle` returns.
//! - `GET .../kv?key=K[&value=V]`: sets K to V in the `default` key-value store, or reads it.
//! - `GET .../config?key=K`: variable K (`wasi:config/store`); 403 if it is not the component's.
//! - `GET .../sql?n=N`: inserts N into table `seen` of SQL database `default` (made if
//!   missing) and answers `count=C sum=S` over the table; 403 if the database is not granted.
//! - `GET .../fetch?port=P&path=/x`: `GET http://127.0.0.1:P/x` through `wasi:http/client`.
//! - `GET .../loop`: computes forever (the deadline stops it).
//! - `GET .../grow`: allocates 64 MiB (the memory cap stops it).
//! - `GET .../trap`: panics.
//! - `GET .../visits`: how many requests this instance has served, this one included (with a
//!   `content-length`).
//! - `GET .../nap?ms=N`: waits N ms (a timer, not computing), then answers `visits=V most=M`:
//!   V as for `visits`, M the most requests this instance has had in `nap` at once.
//! - anything else: `p3 <method> <path>`.

use std::sync::atomic::{AtomicU32, Ordering};

use http::{Response, StatusCode};
use tessera_guest::tessera::host::sql;
use tessera_guest::wasi::config::store as config;
use tessera_guest::wasi::keyvalue::store;
use wasip3::http::types::{ErrorCode, Request, Response as WasiResponse};
use wasip3::http_compat::{
    http_from_wasi_request, http_from_wasi_response, http_into_wasi_request,
    http_into_wasi_response,
};

wasip3::http::service::export!(Echo);

struct Echo;

/// Requests this instance has served (one, unless the instance is reused).
static VISITS: AtomicU32 = AtomicU32::new(0);

/// Requests in `nap` on this instance now, and the most there were at once.
static NAPPING: AtomicU32 = AtomicU32::new(0);
static MOST_NAPPING: AtomicU32 = AtomicU32::new(0);

impl wasip3::exports::http::handler::Guest for Echo {
    async fn handle(request: Request) -> Result<WasiResponse, ErrorCode> {
        let visits = VISITS.fetch_add(1, Ordering::Relaxed) + 1;
        let request = http_from_wasi_request(request)?;
        let query = request.uri().query().unwrap_or("").to_string();
        let last = request.uri().path().rsplit('/').next().unwrap_or("");
        match last {
            "echo" => http_into_wasi_response(Response::new(request.into_body())),
            "big" => {
                let bytes: usize = param(&query, "bytes")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let body: Vec<u8> = (0..bytes).map(|i| b'a' + (i % 26) as u8).collect();
                http_into_wasi_response(Response::new(String::from_utf8(body).expect("ascii")))
            }
            "kv" => http_into_wasi_response(kv(&query)),
            "config" => http_into_wasi_response(variable(&query)),
            "sql" => http_into_wasi_response(sql(&query)),
            "fetch" => http_into_wasi_response(fetch(&query).await),
            // With a content-length: a client (and hyper) knows the body is whole before the
            // guest's task writing it has returned.
            "visits" => {
                let text = visits.to_string();
                let response = Response::builder()
                    .header("content-length", text.len())
                    .body(text)
                    .map_err(|e| ErrorCode::InternalError(Some(e.to_string())))?;
                http_into_wasi_response(response)
            }
            "nap" => {
                let ms: u64 = param(&query, "ms")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(100);
                let now = NAPPING.fetch_add(1, Ordering::Relaxed) + 1;
                MOST_NAPPING.fetch_max(now, Ordering::Relaxed);
                wasip3::clocks::monotonic_clock::wait_for(ms * 1_000_000).await;
                NAPPING.fetch_sub(1, Ordering::Relaxed);
                let most = MOST_NAPPING.load(Ordering::Relaxed);
                http_into_wasi_response(Response::new(format!("visits={visits} most={most}")))
            }
            "loop" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let block = vec![1u8; 64 << 20];
                let text = format!("grew to {} bytes", std::hint::black_box(block).len());
                http_into_wasi_response(Response::new(text))
            }
            "trap" => panic!("the guest was asked to trap"),
            _ => {
                let text = format!("p3 {} {}", request.method(), request.uri().path());
                http_into_wasi_response(Response::new(text))
            }
        }
    }
}

/// `GET http://127.0.0.1:<port><path>` through `wasi:http/client`, answered as
/// `upstream <status>` with the upstream's status, or 502 naming the error.
async fn fetch(query: &str) -> Response<String> {
    let target = format!(
        "http://127.0.0.1:{}{}",
        param(query, "port").unwrap_or("80"),
        param(query, "path").unwrap_or("/")
    );
    let outgoing = http::Request::get(target)
        .body(String::new())
        .map_err(|e| ErrorCode::InternalError(Some(e.to_string())))
        .and_then(http_into_wasi_request);
    let sent = match outgoing {
        Ok(outgoing) => wasip3::http::client::send(outgoing).await,
        Err(code) => Err(code),
    };
    match sent.and_then(http_from_wasi_response) {
        Ok(upstream) => {
            let status = upstream.status();
            let mut response = Response::new(format!("upstream {}", status.as_u16()));
            *response.status_mut() = status;
            response
        }
        Err(code) => {
            let mut response = Response::new(format!("{code:?}"));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }
    }
}

fn kv(query: &str) -> Response<String> {
    let Some(key) = param(query, "key") else {
        return reply(StatusCode::BAD_REQUEST, "key= is required".into());
    };
    let bucket = match store::open("default") {
        Ok(bucket) => bucket,
        Err(e) => return reply(StatusCode::FORBIDDEN, format!("{e:?}")),
    };
    match param(query, "value") {
        Some(value) => match bucket.set(key, value.as_bytes()) {
            Ok(()) => reply(StatusCode::OK, "stored".into()),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}")),
        },
        None => match bucket.get(key) {
            Ok(Some(value)) => reply(StatusCode::OK, String::from_utf8_lossy(&value).into()),
            Ok(None) => reply(StatusCode::NOT_FOUND, "no such key".into()),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}")),
        },
    }
}

fn reply(status: StatusCode, text: String) -> Response<String> {
    let mut response = Response::new(text);
    *response.status_mut() = status;
    response
}

fn variable(query: &str) -> Response<String> {
    match config::get(param(query, "key").unwrap_or("")) {
        Ok(Some(value)) => reply(StatusCode::OK, value),
        Ok(None) => reply(StatusCode::NOT_FOUND, "no value".into()),
        Err(e) => reply(StatusCode::FORBIDDEN, format!("{e:?}")),
    }
}

fn sql(query: &str) -> Response<String> {
    let n: i64 = param(query, "n").and_then(|n| n.parse().ok()).unwrap_or(0);
    let result = sql::Connection::open("default").and_then(|db| {
        db.execute("CREATE TABLE IF NOT EXISTS seen (n INTEGER NOT NULL)", &[])?;
        db.execute("INSERT INTO seen (n) VALUES (?)", &[sql::Value::Integer(n)])?;
        db.query("SELECT COUNT(*), SUM(n) FROM seen", &[])
    });
    match result {
        Ok(rows) => match rows.rows.first().map(Vec::as_slice) {
            Some([sql::Value::Integer(count), sql::Value::Integer(sum)]) => {
                reply(StatusCode::OK, format!("count={count} sum={sum}"))
            }
            other => reply(StatusCode::INTERNAL_SERVER_ERROR, format!("{other:?}")),
        },
        Err(sql::Error::AccessDenied) => reply(StatusCode::FORBIDDEN, "access denied".into()),
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}")),
    }
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}
