//! A test guest whose bindings wit-bindgen generates directly from the WIT in `wit/`
//! (Tessera's `http-component` world, which is `wasi:http/proxy`).
//!
//! Commands are the last path segment (arguments in the query), as in the `wasi-echo` guest:
//! `info`, `echo` (body and trailers streamed back), `status?code=N`, `stream?bytes=N`,
//! `trailers`.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "tessera:host/http-component",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use wasi::io::streams::{OutputStream, StreamError};

struct Component;

export!(Component);

fn query_arg(path: &str, name: &str) -> Option<u64> {
    path.split_once('?')?
        .1
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// `blocking-write-and-flush` takes at most 4096 bytes at a time.
fn write_all(stream: &OutputStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let n = bytes.len().min(4096);
        stream
            .blocking_write_and_flush(&bytes[..n])
            .expect("client reads");
        bytes = &bytes[n..];
    }
}

fn respond(out: ResponseOutparam, status: u16, headers: Vec<(String, Vec<u8>)>, body: &[u8]) {
    let response = OutgoingResponse::new(Fields::from_list(&headers).expect("valid headers"));
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(out, Ok(response));
    {
        let stream = outgoing.write().expect("stream");
        write_all(&stream, body);
    }
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

impl Guest for Component {
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
                let scheme = match request.scheme() {
                    Some(Scheme::Http) => "http".to_string(),
                    Some(Scheme::Https) => "https".to_string(),
                    Some(Scheme::Other(s)) => s,
                    None => String::new(),
                };
                let info = serde_json::json!({
                    "toolchain": "wit-bindgen",
                    "method": method_text(request.method()),
                    "path_with_query": path,
                    "scheme": scheme,
                    "authority": request.authority(),
                    "headers": headers,
                });
                let json = vec![("content-type".to_string(), b"application/json".to_vec())];
                respond(out, 200, json, info.to_string().as_bytes());
            }
            "echo" => echo(request, out),
            "status" => {
                let code = query_arg(&path, "code").unwrap_or(200) as u16;
                respond(out, code, Vec::new(), format!("status {code}\n").as_bytes());
            }
            "stream" => {
                let total = query_arg(&path, "bytes").unwrap_or(0) as usize;
                let response = OutgoingResponse::new(Fields::new());
                let outgoing = response.body().expect("body");
                ResponseOutparam::set(out, Ok(response));
                {
                    let stream = outgoing.write().expect("stream");
                    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
                    let mut sent = 0;
                    while sent < total {
                        let n = (total - sent).min(chunk.len());
                        write_all(&stream, &chunk[..n]);
                        sent += n;
                    }
                }
                OutgoingBody::finish(outgoing, None).expect("finish");
            }
            "trailers" => {
                // HTTP/1.1 carries only trailers that the head announces.
                let headers = Fields::from_list(&[("trailer".into(), b"x-trailer".to_vec())])
                    .expect("valid header");
                let response = OutgoingResponse::new(headers);
                let outgoing = response.body().expect("body");
                ResponseOutparam::set(out, Ok(response));
                {
                    let stream = outgoing.write().expect("stream");
                    write_all(&stream, b"body before trailers\n");
                }
                let trailers = Fields::from_list(&[("x-trailer".into(), b"done".to_vec())])
                    .expect("valid trailer");
                OutgoingBody::finish(outgoing, Some(trailers)).expect("finish");
            }
            _ => respond(
                out,
                404,
                Vec::new(),
                format!("no command {command:?}\n").as_bytes(),
            ),
        }
    }
}

fn echo(request: IncomingRequest, out: ResponseOutparam) {
    let headers: Vec<(String, Vec<u8>)> = request
        .headers()
        .get("content-type")
        .into_iter()
        .map(|v| ("content-type".to_string(), v))
        .collect();
    let incoming = request.consume().expect("body is consumed once");
    let response = OutgoingResponse::new(Fields::from_list(&headers).expect("valid"));
    let outgoing = response.body().expect("body");
    ResponseOutparam::set(out, Ok(response));
    {
        let input = incoming.stream().expect("stream");
        let output = outgoing.write().expect("stream");
        loop {
            match input.blocking_read(64 * 1024) {
                Ok(chunk) => write_all(&output, &chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    panic!("read failed: {}", e.to_debug_string())
                }
            }
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
