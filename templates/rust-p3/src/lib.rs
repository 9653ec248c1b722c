//! {{name}}: a Tessera HTTP component on WASI 0.3 (`wasi:http/handler@0.3.0`), with an async
//! handler. Requests and responses are `http` crate types; bodies stream.

use http::{Method, Response, StatusCode};
use http_body_util::BodyExt as _;
use serde::Deserialize;
use wasip3::http::types::{ErrorCode, Request, Response as WasiResponse};
use wasip3::http_compat::{http_from_wasi_request, http_into_wasi_response};

wasip3::http::service::export!(Component);

struct Component;

/// What `POST /{{name}}/echo` accepts.
#[derive(Deserialize)]
struct Echo {
    message: String,
}

impl wasip3::exports::http::handler::Guest for Component {
    async fn handle(request: Request) -> Result<WasiResponse, ErrorCode> {
        let request = http_from_wasi_request(request)?;
        let path = request.uri().path().to_string();
        let response = match (request.method().clone(), path.as_str()) {
            (Method::GET, "/{{name}}") => text(StatusCode::OK, "Hello from {{name}}!\n".into()),
            (Method::GET, path) if path.starts_with("/{{name}}/hello/") => {
                let who = &path["/{{name}}/hello/".len()..];
                text(StatusCode::OK, format!("Hello, {who}!\n"))
            }
            (Method::POST, "/{{name}}/echo") => {
                // The body arrives as a stream; this handler wants all of it.
                let body = request
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| ErrorCode::InternalError(Some(e.to_string())))?
                    .to_bytes();
                match serde_json::from_slice::<Echo>(&body) {
                    Ok(echo) => json(serde_json::json!({ "echo": echo.message })),
                    Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
                }
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
        };
        http_into_wasi_response(response)
    }
}

fn text(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

fn json(value: serde_json::Value) -> Response<String> {
    let mut response = text(StatusCode::OK, value.to_string());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
