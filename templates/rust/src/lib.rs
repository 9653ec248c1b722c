//! {{name}}: a Tessera HTTP component written with tessera-sdk.

use serde::Deserialize;
use tessera_sdk::{Request, Response, Result, Router};

/// What `POST /echo` accepts.
#[derive(Deserialize)]
struct Echo {
    message: String,
}

fn handle(request: Request) -> Result<Response> {
    Router::new()
        .get("/{{name}}", |_| Ok(Response::text("Hello from {{name}}!\n")))
        .get("/{{name}}/hello/:who", |r| {
            let who: String = r.param("who")?;
            Ok(Response::text(format!("Hello, {who}!\n")))
        })
        .post("/{{name}}/echo", |mut r| {
            let echo: Echo = r.json()?;
            Response::json(&serde_json::json!({ "echo": echo.message }))
        })
        .handle(request)
}

tessera_sdk::http_component!(handle);
