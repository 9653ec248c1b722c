//! examples/hello on WASI 0.3: the same headers and body, from an async handler that writes
//! its body from a task of its own, as WASI 0.3 components do.

use wasip3::http::types::{ErrorCode, Fields, Request, Response};
use wasip3::{wit_bindgen, wit_future, wit_stream};

struct Hello;

wasip3::http::service::export!(Hello);

const GREETING: &[u8] = b"Hello from Tessera!\n";

impl wasip3::exports::http::handler::Guest for Hello {
    async fn handle(_request: Request) -> Result<Response, ErrorCode> {
        let headers = Fields::from_list(&[
            ("content-type".into(), b"text/plain; charset=utf-8".to_vec()),
            (
                "content-length".into(),
                GREETING.len().to_string().into_bytes(),
            ),
        ])
        .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
        let (mut body, contents) = wit_stream::new();
        let (trailers_tx, trailers) = wit_future::new(|| Ok(None));
        drop(trailers_tx);
        let (response, _) = Response::new(headers, Some(contents), trailers);
        wit_bindgen::spawn_local(async move {
            body.write_all(GREETING.to_vec()).await;
        });
        Ok(response)
    }
}
