//! Write Tessera HTTP components in Rust.
//!
//! A handler is a plain function from a [`Request`] to a [`Result`]`<`[`Response`]`>`;
//! [`http_component!`] exports it as an ordinary `wasi:http/proxy` component, which runs
//! under `tessera up` and unchanged under `wasmtime serve`. Build with
//! `cargo build --release --target wasm32-wasip2` (a `cdylib` crate).
//!
//! ```no_run
//! use serde::Deserialize;
//! use tessera_sdk::{Request, Response, Result, Error};
//!
//! #[derive(Deserialize)]
//! struct Greeting { name: String }
//!
//! fn handle(mut request: Request) -> Result<Response> {
//!     match request.method().as_str() {
//!         // A route `/hello/:name`: the parameter, typed.
//!         "GET" => Ok(Response::text(format!("Hello, {}!", request.param::<String>("name")?))),
//!         // JSON in (a bad body is a 400 or 415) and out.
//!         "POST" => {
//!             let greeting: Greeting = request.json()?;
//!             Response::json(&serde_json::json!({ "hello": greeting.name }))
//!         }
//!         _ => Err(Error::new(http::StatusCode::METHOD_NOT_ALLOWED, "GET or POST")),
//!     }
//! }
//!
//! tessera_sdk::http_component!(handle);
//! ```
//!
//! An [`Error`] becomes a response with its status and a JSON body
//! `{"error": "...", "status": N}`; a panic becomes the host's 500.
//!
//! # Layout
//! - `request`, `response`, `error`: [`Request`], [`Response`] and [`Error`], the
//!   request/response abstraction.
//! - `router`: [`Router`], an optional in-guest router for components serving several paths.
//! - [`kv`], [`sql`], [`variables`], [`outbound`]: the capabilities a manifest grants.

mod error;
pub mod kv;
pub mod outbound;
mod request;
mod response;
mod router;
pub mod sql;
pub mod variables;

pub use error::{Error, Result};
pub use http::{self, HeaderMap, Method, StatusCode};
pub use request::{BodyReader, Request};
pub use response::{BodyWriter, Response};
pub use router::Router;

#[doc(hidden)]
pub use wasip2 as __wasip2;

/// Runs `handler` for one incoming request. Used by [`http_component!`].
#[doc(hidden)]
pub fn __serve(
    incoming: wasip2::http::types::IncomingRequest,
    out: wasip2::http::types::ResponseOutparam,
    handler: impl FnOnce(Request) -> Result<Response>,
) {
    let response = match Request::from_incoming(incoming) {
        Ok(request) => handler(request).unwrap_or_else(Response::from),
        Err(error) => Response::from(error),
    };
    response.send(out);
}

/// Exports `handler` (a `fn(Request) -> Result<Response>`) as the component's
/// `wasi:http/incoming-handler`.
#[macro_export]
macro_rules! http_component {
    ($handler:path) => {
        struct __TesseraComponent;

        impl $crate::__wasip2::exports::http::incoming_handler::Guest for __TesseraComponent {
            fn handle(
                request: $crate::__wasip2::http::types::IncomingRequest,
                out: $crate::__wasip2::http::types::ResponseOutparam,
            ) {
                $crate::__serve(request, out, $handler);
            }
        }

        $crate::__wasip2::http::proxy::export!(__TesseraComponent);
    };
}
