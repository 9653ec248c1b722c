//! A test guest for live replacement. It reads the whole request body, then answers with
//! [`VERSION`]. The tests make new versions by rewriting the marker's digits in the `.wasm`
//! (the string sits whole in a data segment), so twenty distinct components cost one build.

use http_body_util::BodyExt as _;
use wstd::http::{Body, Error, Request, Response};

/// Patched by the tests: `tessera-version:` then two digits.
static VERSION: &str = "tessera-version:00";

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    // Reading the body first lets a test hold a request in flight (by sending its body
    // slowly) across a replacement.
    let received = request
        .into_body()
        .into_boxed_body()
        .collect()
        .await?
        .to_bytes()
        .len();
    Ok(Response::builder()
        .header("x-received", received.to_string())
        .body(Body::from(std::hint::black_box(VERSION)))?)
}
