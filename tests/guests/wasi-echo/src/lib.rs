//! A test guest built with the `wasi` crate (raw WASI 0.2 bindings).
//!
//! Each command is the last path segment, its arguments are in the query, so the guest works
//! behind any route prefix and also under `wasmtime serve`:
//!
//! | command      | does                                                              |
//! |--------------|-------------------------------------------------------------------|
//! | `info`       | JSON: method, path with query, scheme, authority, headers          |
//! | `echo`       | streams the request body back, and its trailers as trailers        |
//! | `count`      | reads the whole request body, then answers with its length        |
//! | `status`     | answers `?code=N`                                                 |
//! | `stream`     | streams `?bytes=N` bytes of a known pattern                        |
//! | `trailers`   | a body followed by trailers                                       |
//! | `sleep`      | waits `?ms=N`, then answers                                       |
//! | `spin`       | computes for `?ms=N` (50) on the monotonic clock, then answers     |
//! | `log`        | writes a line to stdout and one to stderr (and `?lines=N` more to stdout), then answers |
//! | `outbound`   | tries an outgoing request (to `?authority=`, else example.com)     |
//! | `loop`       | never returns                                                     |
//! | `grow`       | allocates `?mb=N` MiB                                             |
//! | `panic`      | panics                                                            |
//! | `stack`      | overflows its stack                                               |
//! | `no-response`| returns without a response                                        |
//! | `late-trap`  | sends a response head and part of the body, then traps            |

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

struct Echo;

wasi::http::proxy::export!(Echo);

fn query_arg(path: &str, name: &str) -> Option<u64> {
    let query = path.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

fn respond(out: ResponseOutparam, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .expect("test headers are valid");
    }
    fields
        .append("content-length", body.len().to_string().as_bytes())
        .expect("a length is a valid header");
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = outgoing.write().expect("stream");
    stream.write_all(body).expect("client reads");
    drop(stream);
    OutgoingBody::finish(outgoing, None).expect("finish");
}

fn method_text(method: Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    }
}

fn scheme_text(scheme: Option<Scheme>) -> String {
    match scheme {
        Some(Scheme::Http) => "http".into(),
        Some(Scheme::Https) => "https".into(),
        Some(Scheme::Other(s)) => s,
        None => String::new(),
    }
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let buffer = [depth; 64];
    std::hint::black_box(&buffer);
    recurse(depth + 1) + buffer[0]
}

impl wasi::exports::http::incoming_handler::Guest for Echo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let command = path
            .split('?')
            .next()
            .unwrap_or("")
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("")
            .to_string();
        match command.as_str() {
            "info" => {
                let headers: Vec<(String, String)> = request
                    .headers()
                    .entries()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
                    .collect();
                let info = serde_json::json!({
                    "toolchain": "wasi",
                    "method": method_text(request.method()),
                    "path_with_query": path,
                    "scheme": scheme_text(request.scheme()),
                    "authority": request.authority(),
                    "headers": headers,
                });
                respond(
                    out,
                    200,
                    &[("content-type", "application/json")],
                    info.to_string().as_bytes(),
                );
            }
            "echo" => echo(request, out),
            "visits" => {
                // How many requests this instance has served, this one included: 1 when
                // every request gets a fresh instance.
                static VISITS: AtomicU32 = AtomicU32::new(0);
                let visits = VISITS.fetch_add(1, Ordering::Relaxed) + 1;
                respond(out, 200, &[], format!("{visits}").as_bytes());
            }
            "count" => {
                // Reads the whole body before answering (unlike `echo`, which streams).
                let incoming = request.consume().expect("body is consumed once");
                let mut input = incoming.stream().expect("stream");
                let mut buffer = vec![0u8; 64 * 1024];
                let mut total = 0;
                let outcome = loop {
                    match std::io::Read::read(&mut input, &mut buffer) {
                        Ok(0) => break Ok(total),
                        Ok(n) => total += n,
                        Err(error) => break Err(error),
                    }
                };
                match outcome {
                    Ok(total) => respond(out, 200, &[], format!("{total}").as_bytes()),
                    Err(error) => {
                        respond(out, 500, &[], format!("body failed: {error}").as_bytes())
                    }
                }
            }
            "status" => {
                let code = query_arg(&path, "code").unwrap_or(200) as u16;
                respond(out, code, &[], format!("status {code}\n").as_bytes());
            }
            "stream" => {
                let total = query_arg(&path, "bytes").unwrap_or(0) as usize;
                let response = OutgoingResponse::new(Fields::new());
                let body = response.body().expect("body");
                ResponseOutparam::set(out, Ok(response));
                let mut stream = body.write().expect("stream");
                let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
                let mut sent = 0;
                while sent < total {
                    let n = (total - sent).min(chunk.len());
                    stream.write_all(&chunk[..n]).expect("client reads");
                    sent += n;
                }
                drop(stream);
                OutgoingBody::finish(body, None).expect("finish");
            }
            "trailers" => {
                // HTTP/1.1 carries only trailers that the head announces.
                let headers = Fields::from_list(&[("trailer".into(), b"x-trailer".to_vec())])
                    .expect("valid header");
                let response = OutgoingResponse::new(headers);
                let body = response.body().expect("body");
                ResponseOutparam::set(out, Ok(response));
                let mut stream = body.write().expect("stream");
                stream
                    .write_all(b"body before trailers\n")
                    .expect("client reads");
                drop(stream);
                let trailers = Fields::from_list(&[("x-trailer".into(), b"done".to_vec())])
                    .expect("valid trailer");
                OutgoingBody::finish(body, Some(trailers)).expect("finish");
            }
            "sleep" => {
                let ms = query_arg(&path, "ms").unwrap_or(100);
                wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, &[], format!("slept {ms}ms\n").as_bytes());
            }
            "spin" => {
                // Computes (never waits) until `ms` have passed on the monotonic clock.
                let ms = query_arg(&path, "ms").unwrap_or(50);
                let until = wasi::clocks::monotonic_clock::now() + ms * 1_000_000;
                let mut n = 0u64;
                while wasi::clocks::monotonic_clock::now() < until {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
                respond(out, 200, &[], format!("spun {ms}ms\n").as_bytes());
            }
            "log" => {
                println!("a line on stdout");
                eprintln!("a line on stderr");
                for n in 0..query_arg(&path, "lines").unwrap_or(0) {
                    println!("line {n}");
                }
                respond(out, 200, &[], b"logged\n");
            }
            "outbound" => {
                let request = OutgoingRequest::new(Fields::new());
                request.set_scheme(Some(&Scheme::Http)).expect("scheme");
                let authority = path
                    .split_once("authority=")
                    .map_or("example.com", |(_, rest)| {
                        rest.split('&').next().unwrap_or("")
                    });
                request.set_authority(Some(authority)).expect("authority");
                request.set_path_with_query(Some("/")).expect("path");
                let outcome = match wasi::http::outgoing_handler::handle(request, None) {
                    Err(code) => format!("refused: {code:?}"),
                    Ok(future) => {
                        future.subscribe().block();
                        match future.get() {
                            Some(Ok(Err(code))) => format!("refused: {code:?}"),
                            Some(Ok(Ok(_))) => "sent".to_string(),
                            other => format!("unexpected: {other:?}"),
                        }
                    }
                };
                respond(out, 200, &[], outcome.as_bytes());
            }
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mb = query_arg(&path, "mb").unwrap_or(1) as usize;
                let memory = vec![1u8; mb << 20];
                std::hint::black_box(&memory);
                respond(out, 200, &[], format!("grew {mb} MiB\n").as_bytes());
            }
            "panic" => panic!("the test asked for a panic"),
            "stack" => {
                let n = recurse(0);
                respond(out, 200, &[], format!("{n}").as_bytes());
            }
            "no-response" => drop(out),
            "late-trap" => {
                let response = OutgoingResponse::new(Fields::new());
                let body = response.body().expect("body");
                ResponseOutparam::set(out, Ok(response));
                let mut stream = body.write().expect("stream");
                stream.write_all(b"partial ").expect("client reads");
                stream.flush().expect("flush");
                // Yield, so the host sends the head before the trap.
                wasi::clocks::monotonic_clock::subscribe_duration(100_000_000).block();
                std::process::abort();
            }
            _ => respond(
                out,
                404,
                &[],
                format!("no command {command:?}\n").as_bytes(),
            ),
        }
    }
}

fn echo(request: IncomingRequest, out: ResponseOutparam) {
    let content_type = request
        .headers()
        .get("content-type")
        .into_iter()
        .next()
        .unwrap_or_else(|| b"application/octet-stream".to_vec());
    let incoming = request.consume().expect("body is consumed once");
    let fields = Fields::from_list(&[("content-type".into(), content_type)]).expect("valid");
    let response = OutgoingResponse::new(fields);
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(out, Ok(response));
    {
        let mut input = incoming.stream().expect("stream");
        let mut output = outgoing.write().expect("stream");
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = std::io::Read::read(&mut input, &mut buffer).expect("request body reads");
            if n == 0 {
                break;
            }
            output.write_all(&buffer[..n]).expect("client reads");
        }
    }
    let trailers = IncomingBody::finish(incoming);
    trailers.subscribe().block();
    let trailers = match trailers.get() {
        Some(Ok(Ok(Some(fields)))) => Some(fields.clone()),
        _ => None,
    };
    OutgoingBody::finish(outgoing, trailers).expect("finish");
}
