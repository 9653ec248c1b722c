//! A test guest built with `wstd`: an async `wasi:http/proxy` server.
//!
//! Commands are the last path segment (arguments in the query), as in the `wasi-echo` guest:
//! `info`, `echo` (body and trailers streamed back), `status?code=N`, `stream?bytes=N`,
//! `trailers`.

use std::convert::Infallible;

use futures_lite::stream;
use http_body_util::StreamBody;
use wstd::http::body::{Bytes, Frame};
use wstd::http::{Body, Error, HeaderMap, Request, Response, StatusCode};

fn query_arg(request: &Request<Body>, name: &str) -> Option<u64> {
    request
        .uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let command = request
        .uri()
        .path()
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_string();
    match command.as_str() {
        "info" => {
            let headers: Vec<(String, String)> = request
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let info = serde_json::json!({
                "toolchain": "wstd",
                "method": request.method().as_str(),
                "path_with_query": request.uri().path_and_query().map(|p| p.as_str()),
                "scheme": request.uri().scheme_str(),
                "authority": request.uri().authority().map(|a| a.as_str()),
                "headers": headers,
            });
            Ok(Response::builder()
                .header("content-type", "application/json")
                .body(Body::from(info.to_string()))?)
        }
        "echo" => {
            let content_type = request.headers().get("content-type").cloned();
            let body = request.into_body().into_boxed_body();
            let mut response = Response::builder();
            if let Some(content_type) = content_type {
                response = response.header("content-type", content_type);
            }
            Ok(response.body(Body::from_http_body(body))?)
        }
        "status" => {
            let code = query_arg(&request, "code").unwrap_or(200) as u16;
            Ok(Response::builder()
                .status(StatusCode::from_u16(code)?)
                .body(Body::from(format!("status {code}\n")))?)
        }
        "stream" => {
            let total = query_arg(&request, "bytes").unwrap_or(0) as usize;
            let chunk: Bytes = (0..65536u32)
                .map(|i| (i % 251) as u8)
                .collect::<Vec<_>>()
                .into();
            let chunks = stream::unfold(0usize, move |sent| {
                let chunk = chunk.clone();
                async move {
                    (sent < total).then(|| {
                        let n = (total - sent).min(chunk.len());
                        (Ok::<_, Infallible>(chunk.slice(..n)), sent + n)
                    })
                }
            });
            Ok(Response::new(Body::from_try_stream(chunks)))
        }
        "trailers" => {
            let mut trailers = HeaderMap::new();
            trailers.insert("x-trailer", "done".parse()?);
            let frames = stream::iter([
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"body before trailers\n"))),
                Ok(Frame::trailers(trailers)),
            ]);
            // HTTP/1.1 carries only trailers that the head announces.
            Ok(Response::builder()
                .header("trailer", "x-trailer")
                .body(Body::from_http_body(StreamBody::new(frames)))?)
        }
        _ => Ok(Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from(format!("no command {command:?}\n")))?),
    }
}
