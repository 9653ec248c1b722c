//! An axum application that embeds Tessera: its own native routes, a Tessera application
//! (`tessera.toml` beside this crate) mounted under `/wasm` as a tower service, and an
//! endpoint that replaces one of that application's components while it serves, through the
//! library's [`tessera::App::replace`].
//!
//!     cargo run -p embed-axum -- [ADDR [MANIFEST]]     (default 127.0.0.1:3000)
//!
//!     curl localhost:3000/                      native: the routes
//!     curl localhost:3000/wasm/hello            Wasm: the hello component
//!     curl -X PUT --data-binary @new.wasm localhost:3000/admin/components/hello
//!
//! The replacement endpoint has no authentication: it is an example on loopback. A real
//! application would put it behind its own auth, as `tessera up --admin` does with a token.

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".into());
    let manifest = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/tessera.toml").into());

    // Everything `tessera up` loads: a bad manifest or component stops here, before a port.
    let wasm = tessera::App::builder().manifest(manifest).build().await?;

    let app = Router::new()
        .route(
            "/",
            get(|| async {
                "native axum routes: /, /native/sum/{a}/{b}; Wasm under /wasm (/wasm/hello)\n"
            }),
        )
        .route("/native/sum/{a}/{b}", get(sum))
        .route("/admin/components/{id}", put(replace))
        .with_state(wasm.clone())
        // The Tessera application, its routes relative to /wasm.
        .nest_service("/wasm", wasm.service())
        // Per-IP rate limits in the Tessera app key on the client's address.
        .layer(middleware::from_fn(client_addr));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

async fn sum(Path((a, b)): Path<(i64, i64)>) -> Json<serde_json::Value> {
    Json(json!({ "sum": a.saturating_add(b) }))
}

/// `PUT /admin/components/{id}` with a `.wasm` body: replaces the component while the app
/// serves; the old version keeps serving if the new one does not load.
async fn replace(
    State(wasm): State<tessera::App>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    match wasm.replace(&id, Some(body.to_vec())).await {
        Ok(replaced) => Json(json!({
            "id": replaced.id,
            "digest": replaced.digest,
            "previous": replaced.previous,
            "millis": replaced.elapsed.as_millis() as u64,
        }))
        .into_response(),
        Err(error) => {
            let status = match error {
                tessera::ReplaceError::Unknown(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            (
                status,
                Json(json!({ "error": error.to_string(), "fix": error.fix() })),
            )
                .into_response()
        }
    }
}

/// Copies axum's connection info into the extension Tessera reads the client's address from.
async fn client_addr(mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        request.extensions_mut().insert(tessera::ClientAddr(addr));
    }
    next.run(request).await
}
