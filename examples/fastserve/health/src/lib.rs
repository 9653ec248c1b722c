//! FastServe's `GET /api/health`: `200 ok` (text/plain), for load balancers and the study's
//! smallest request.

use tessera_sdk::{Request, Response, Result};

fn handle(_request: Request) -> Result<Response> {
    Ok(Response::text("ok"))
}

tessera_sdk::http_component!(handle);
