//! A middleware component (`type = "wasm"` in `[middleware.<name>]`).
//!
//! It admits a request only if its `x-tenant` header names one of the tenants in the
//! `tenants` variable (comma-separated); any other request is answered here with 403 and
//! never reaches the route's component. An admitted request is passed on to the next step by
//! sending it to `http://next.tessera.internal` with the same path and query, plus an
//! `x-tenant-id` header; the response that comes back gets an `x-tenant-served` header on
//! its way to the client.
//!
//! It is an ordinary `wasi:http/proxy` component: under `wasmtime serve` the pass-on request
//! would simply fail, because only Tessera routes that authority.

use tessera_guest::wasi::config::store as config;
use wstd::http::{Body, Client, Error, HeaderValue, Request, Response, StatusCode};

/// Where a middleware component sends a request to pass it on.
const NEXT: &str = "http://next.tessera.internal";

/// Headers a component may not set on an outgoing request (the host sets them).
const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let tenants = config::get("tenants").ok().flatten().unwrap_or_default();
    let tenant = request
        .headers()
        .get("x-tenant")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| tenants.split(',').any(|known| known.trim() == t));
    let Some(tenant) = tenant else {
        return Ok(Response::builder()
            .status(StatusCode::FORBIDDEN)
            .header("content-type", "application/json")
            .body(Body::from("{\"error\":\"unknown tenant\"}"))?);
    };

    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = format!("{NEXT}{path}").parse()?;
    for name in HOP_BY_HOP {
        parts.headers.remove(*name);
    }
    let tenant = HeaderValue::from_str(&tenant)?;
    parts.headers.insert("x-tenant-id", tenant.clone());

    let mut response = Client::new().send(Request::from_parts(parts, body)).await?;
    response.headers_mut().insert("x-tenant-served", tenant);
    Ok(response)
}
