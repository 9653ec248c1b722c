//! A hello-world `wasi:http/proxy` component, built with the `wasi` crate's bindings.
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p hello`
//! Serve: `tessera up --manifest examples/hello/tessera.toml`

use std::io::Write as _;

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

wasi::http::proxy::export!(Hello);

const GREETING: &[u8] = b"Hello from Tessera!\n";

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let headers = Fields::from_list(&[
            ("content-type".into(), b"text/plain; charset=utf-8".to_vec()),
            (
                "content-length".into(),
                GREETING.len().to_string().into_bytes(),
            ),
        ])
        .expect("these headers are valid");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("a new response has a body");
        ResponseOutparam::set(response_out, Ok(response));
        let mut out = body.write().expect("the body is written once");
        out.write_all(GREETING).expect("the client is reading");
        drop(out);
        OutgoingBody::finish(body, None).expect("the body is complete");
    }
}
