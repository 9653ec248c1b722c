//! A test guest that drives each capability through the typed bindings of `tessera-guest`.
//! The first path segment picks the capability, arguments come in the query string, and an
//! error value from the host becomes a 403 (denied), 404 (no such store or database) or 500
//! response whose body is the error's debug form, so tests can see exactly what came back.
//!
//! - `GET /kv/get?store=S&key=K`, `PUT /kv/set?store=S&key=K[&ttl_ms=N]` (body = value),
//!   `DELETE /kv/delete?…`, `GET /kv/exists?…`, `POST /kv/incr?store=S&key=K&delta=N`,
//!   `GET /kv/list?store=S`, `POST /kv/batch?store=S` (set-many, get-many, delete-many)
//! - `GET /config?key=K`, `GET /config/all`
//! - `POST /sql/execute?db=D` and `POST /sql/query?db=D` with a JSON body
//!   `{"sql": "...", "params": [1, 2.5, "text", true, null, {"blob": [0, 1]}]}`;
//!   `POST /sql/tx?db=D&then=commit|rollback` with `{"statements": [{"sql":…,"params":…}]}`
//! - `GET /http?url=U`: sends a GET and returns the status and body it got.
//! - `GET /noop`: answers `noop` (the baseline for benchmarks); `GET /bench/get`: answers with
//!   the value of the key `bench-get` in the `default` store, so that with that value set to
//!   `noop\n` it differs from `/noop` by one KV get and nothing else; `GET /bench`: one KV get,
//!   one KV set and one SQL point query on the `default` store and database
//!   (bench/capabilities.sh).
//!
//! A leading `/denied` is ignored, so one build can be mounted twice: with grants and without.

use serde_json::{Value as Json, json};
use tessera_guest::tessera::host::{kv_expiry, sql};
use tessera_guest::wasi::config::store as config;
use tessera_guest::wasi::keyvalue::{atomics, batch, store};
use wstd::http::{Body, Error, Request, Response, StatusCode};

fn arg(request: &Request<Body>, name: &str) -> Option<String> {
    request
        .uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decoded(v))
}

/// `%XX` escapes decoded (a URL passed as a parameter keeps its own query that way).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn reply(status: StatusCode, body: impl Into<Body>) -> Result<Response<Body>, Error> {
    Ok(Response::builder().status(status).body(body.into())?)
}

fn json_reply(value: &Json) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Body::from(value.to_string()))?)
}

fn kv_error(e: &store::Error) -> Result<Response<Body>, Error> {
    let status = match e {
        store::Error::AccessDenied => StatusCode::FORBIDDEN,
        store::Error::NoSuchStore => StatusCode::NOT_FOUND,
        store::Error::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    reply(status, format!("{e:?}"))
}

fn sql_error(e: &sql::Error) -> Result<Response<Body>, Error> {
    let status = match e {
        sql::Error::AccessDenied => StatusCode::FORBIDDEN,
        sql::Error::NoSuchDatabase => StatusCode::NOT_FOUND,
        sql::Error::Sql(_) | sql::Error::Conversion(_) => StatusCode::BAD_REQUEST,
        sql::Error::Connection(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    reply(status, format!("{e:?}"))
}

#[wstd::http_server]
async fn main(mut request: Request<Body>) -> Result<Response<Body>, Error> {
    // Tests mount this component a second time under /denied with no grants.
    let path = request.uri().path();
    let path = path.strip_prefix("/denied").unwrap_or(path).to_string();
    let body = request.body_mut().contents().await?.to_vec();
    match path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path.trim_start_matches('/'), ""))
    {
        ("kv", op) => kv(&request, op, body),
        ("config", op) => variables(&request, op),
        ("sql", op) => database(&request, op, &body),
        ("http", _) => outbound(&request),
        ("noop", _) => reply(StatusCode::OK, "noop\n"),
        ("bench", "get") => bench_get(),
        ("bench", _) => bench(),
        _ => reply(StatusCode::NOT_FOUND, "unknown command\n"),
    }
}

fn kv(request: &Request<Body>, op: &str, body: Vec<u8>) -> Result<Response<Body>, Error> {
    let name = arg(request, "store").unwrap_or_else(|| "default".into());
    let key = arg(request, "key").unwrap_or_default();
    let bucket = match store::open(&name) {
        Ok(bucket) => bucket,
        Err(e) => return kv_error(&e),
    };
    let result: Result<Json, store::Error> = match op {
        "get" => bucket.get(&key).map(|v| match v {
            Some(v) => json!(String::from_utf8_lossy(&v)),
            None => Json::Null,
        }),
        "set" => match arg(request, "ttl_ms").and_then(|t| t.parse().ok()) {
            Some(ttl) => kv_expiry::set_with_ttl(&bucket, &key, &body, ttl).map(|()| json!("ok")),
            None => bucket.set(&key, &body).map(|()| json!("ok")),
        },
        "delete" => bucket.delete(&key).map(|()| json!("ok")),
        "exists" => bucket.exists(&key).map(|e| json!(e)),
        "incr" => {
            let delta = arg(request, "delta")
                .and_then(|d| d.parse().ok())
                .unwrap_or(1);
            atomics::increment(&bucket, &key, delta).map(|n| json!(n))
        }
        "list" => {
            let mut keys = Vec::new();
            let mut cursor = None;
            loop {
                match bucket.list_keys(cursor) {
                    Ok(page) => {
                        keys.extend(page.keys);
                        cursor = page.cursor;
                        if cursor.is_none() {
                            break Ok(json!(keys));
                        }
                    }
                    Err(e) => break Err(e),
                }
            }
        }
        "batch" => (|| {
            let pairs = vec![
                ("b1".to_string(), b"one".to_vec()),
                ("b2".to_string(), b"two".to_vec()),
            ];
            batch::set_many(&bucket, &pairs)?;
            let keys = vec!["b1".to_string(), "b2".to_string(), "missing".to_string()];
            let got = batch::get_many(&bucket, &keys)?;
            batch::delete_many(&bucket, &keys[..1])?;
            let after = bucket.exists("b1")?;
            Ok(json!({
                "got": got.into_iter().map(|v| v.map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))).collect::<Vec<_>>(),
                "b1_after_delete": after,
            }))
        })(),
        _ => return reply(StatusCode::NOT_FOUND, "unknown kv command\n"),
    };
    match result {
        Ok(Json::Null) => reply(StatusCode::NOT_FOUND, "no such key\n"),
        Ok(value) => json_reply(&value),
        Err(e) => kv_error(&e),
    }
}

fn variables(request: &Request<Body>, op: &str) -> Result<Response<Body>, Error> {
    let result = if op == "all" {
        config::get_all().map(|all| json!(all))
    } else {
        config::get(&arg(request, "key").unwrap_or_default()).map(|v| json!(v))
    };
    match result {
        Ok(value) => json_reply(&value),
        Err(e) => reply(StatusCode::FORBIDDEN, format!("{e:?}")),
    }
}

fn to_value(json: &Json) -> sql::Value {
    match json {
        Json::Null => sql::Value::Null,
        Json::Bool(b) => sql::Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => sql::Value::Integer(i),
            None => sql::Value::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => sql::Value::Text(s.clone()),
        Json::Object(o) => sql::Value::Blob(
            o.get("blob")
                .and_then(Json::as_array)
                .map(|bytes| {
                    bytes
                        .iter()
                        .filter_map(|b| b.as_u64().map(|b| b as u8))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Json::Array(_) => sql::Value::Text(json.to_string()),
    }
}

fn from_value(value: sql::Value) -> Json {
    match value {
        sql::Value::Null => Json::Null,
        sql::Value::Integer(i) => json!(i),
        sql::Value::Real(f) => json!(f),
        sql::Value::Text(s) => json!(s),
        sql::Value::Blob(b) => json!({ "blob": b }),
        sql::Value::Boolean(b) => json!(b),
    }
}

fn params(statement: &Json) -> Vec<sql::Value> {
    statement["params"]
        .as_array()
        .map(|p| p.iter().map(to_value).collect())
        .unwrap_or_default()
}

fn database(request: &Request<Body>, op: &str, body: &[u8]) -> Result<Response<Body>, Error> {
    let name = arg(request, "db").unwrap_or_else(|| "default".into());
    let input: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    let conn = match sql::Connection::open(&name) {
        Ok(conn) => conn,
        Err(e) => return sql_error(&e),
    };
    let sql_text = input["sql"].as_str().unwrap_or_default();
    let result = match op {
        "execute" => conn.execute(sql_text, &params(&input)).map(|n| json!({ "changed": n })),
        "query" => conn.query(sql_text, &params(&input)).map(|rows| {
            json!({
                "columns": rows.columns.iter().map(|c| json!({"name": c.name, "type": c.type_name})).collect::<Vec<_>>(),
                "rows": rows.rows.into_iter().map(|r| r.into_iter().map(from_value).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
        }),
        "tx" => (|| {
            conn.begin()?;
            let mut changed = 0;
            for statement in input["statements"].as_array().into_iter().flatten() {
                changed += conn.execute(statement["sql"].as_str().unwrap_or_default(), &params(statement))?;
            }
            match arg(request, "then").as_deref() {
                Some("commit") => conn.commit()?,
                Some("rollback") => conn.rollback()?,
                // Leave it open: dropping the connection must roll it back.
                _ => {}
            }
            Ok(json!({ "changed": changed }))
        })(),
        _ => return reply(StatusCode::NOT_FOUND, "unknown sql command\n"),
    };
    match result {
        Ok(value) => json_reply(&value),
        Err(e) => sql_error(&e),
    }
}

/// Sends a GET through `wasi:http/outgoing-handler` directly (not through wstd, which reports
/// a refused request as the body stream's "connection reset" rather than the host's code).
fn outbound(request: &Request<Body>) -> Result<Response<Body>, Error> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};

    let url = arg(request, "url").unwrap_or_default();
    let uri: wstd::http::Uri = url.parse()?;
    let outgoing = OutgoingRequest::new(Fields::new());
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        _ => Scheme::Http,
    };
    let set = outgoing
        .set_scheme(Some(&scheme))
        .and(outgoing.set_authority(uri.authority().map(|a| a.as_str())))
        .and(outgoing.set_path_with_query(uri.path_and_query().map(|p| p.as_str())));
    if set.is_err() {
        return reply(StatusCode::BAD_REQUEST, "bad url\n");
    }
    let body = outgoing.body().expect("a new request has a body");
    let pending = match outgoing_handler::handle(outgoing, None) {
        Ok(pending) => pending,
        Err(code) => return reply(StatusCode::BAD_GATEWAY, format!("{code:?}")),
    };
    OutgoingBody::finish(body, None).expect("an empty body finishes");
    pending.subscribe().block();
    let response = match pending.get().expect("ready").expect("read once") {
        Ok(response) => response,
        Err(code) => return reply(StatusCode::BAD_GATEWAY, format!("{code:?}")),
    };
    let status = response.status();
    let incoming = response.consume().expect("a response has a body");
    let stream = incoming.stream().expect("the body is read once");
    let mut text = Vec::new();
    while let Ok(chunk) = stream.blocking_read(64 * 1024) {
        text.extend(chunk);
    }
    json_reply(&json!({ "status": status, "body": String::from_utf8_lossy(&text) }))
}

/// One key-value get, one set and one SQL point query: the per-request work
/// bench/capabilities.sh measures. The table is created by the first call.
fn bench_get() -> Result<Response<Body>, Error> {
    let bucket = store::open("default").map_err(|e| Error::msg(format!("{e:?}")))?;
    match bucket.get("bench-get") {
        Ok(Some(value)) => reply(StatusCode::OK, value),
        Ok(None) => reply(StatusCode::NOT_FOUND, "set bench-get first\n"),
        Err(e) => kv_error(&e),
    }
}

fn bench() -> Result<Response<Body>, Error> {
    let bucket = store::open("default").map_err(|e| Error::msg(format!("{e:?}")))?;
    let seen = bucket
        .get("bench")
        .map_err(|e| Error::msg(format!("{e:?}")))?;
    bucket
        .set("bench", b"value")
        .map_err(|e| Error::msg(format!("{e:?}")))?;
    let db = sql::Connection::open("default").map_err(|e| Error::msg(format!("{e:?}")))?;
    let rows = match db.query(
        "SELECT v FROM bench WHERE id = $1",
        &[sql::Value::Integer(1)],
    ) {
        Ok(rows) => rows,
        Err(_) => db
            .execute(
                "CREATE TABLE IF NOT EXISTS bench (id BIGINT PRIMARY KEY, v TEXT)",
                &[],
            )
            .and_then(|_| db.execute("INSERT INTO bench (id, v) VALUES (1, 'one')", &[]))
            .and_then(|_| {
                db.query(
                    "SELECT v FROM bench WHERE id = $1",
                    &[sql::Value::Integer(1)],
                )
            })
            .map_err(|e| Error::msg(format!("{e:?}")))?,
    };
    reply(
        StatusCode::OK,
        format!("{} {}\n", seen.is_some(), rows.rows.len()),
    )
}
