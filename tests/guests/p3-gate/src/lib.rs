//! A WASI 0.3 middleware step for the end-to-end tests, on the `wasi:http/middleware` world:
//! it exports `wasi:http/handler` and imports it, the import being the rest of the route's
//! chain.
//!
//! A request without an `x-tenant` header is answered 403 here. Any other goes on with an
//! `x-tenant-id` header holding the tenant, and its response comes back with
//! `x-gate-served: p3`, its body streamed through.

wit_bindgen::generate!({
    path: "../../../wit/p3",
    world: "tessera:p3/middleware",
    generate_all,
});

use exports::wasi::http::handler::Guest;
use wasi::http::handler as next;
use wasi::http::types::{ErrorCode, Fields, Request, Response};

struct Gate;

export!(Gate);

impl Guest for Gate {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let headers = request.get_headers();
        let Some(tenant) = headers.get("x-tenant").into_iter().next() else {
            let (trailers_tx, trailers) = wit_future::new(|| Ok(None));
            drop(trailers_tx);
            let (refused, _) = Response::new(Fields::new(), None, trailers);
            let _ = refused.set_status_code(403);
            return Ok(refused);
        };

        // Requests and their headers are immutable once made: pass on a new one with the
        // same method, target and body, and one header more.
        let forwarded_headers = headers.clone();
        forwarded_headers
            .set("x-tenant-id", &[tenant])
            .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
        let method = request.get_method();
        let target = request.get_path_with_query();
        let (_done, done) = wit_future::new(|| Ok(()));
        let (body, trailers) = Request::consume_body(request, done);
        let (forwarded, _) = Request::new(forwarded_headers, Some(body), trailers, None);
        let _ = forwarded.set_method(&method);
        let _ = forwarded.set_path_with_query(target.as_deref());

        let response = next::handle(forwarded).await?;

        let marked_headers = response.get_headers().clone();
        let _ = marked_headers.set("x-gate-served", &[b"p3".to_vec()]);
        let status = response.get_status_code();
        let (_done, done) = wit_future::new(|| Ok(()));
        let (body, trailers) = Response::consume_body(response, done);
        let (marked, _) = Response::new(marked_headers, Some(body), trailers);
        let _ = marked.set_status_code(status);
        Ok(marked)
    }
}
