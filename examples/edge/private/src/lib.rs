//! Edge: `/api/private/...`, behind the manifest's `jwt` middleware: only a request with a
//! valid token reaches this component, which answers with the subject and claims the
//! middleware verified (`tessera-auth-subject`, `tessera-auth-claims`).

use serde_json::json;
use tessera_sdk::{Error, Request, Response, Result};

#[expect(
    clippy::needless_pass_by_value,
    reason = "http_component! hands the request over"
)]
fn handle(request: Request) -> Result<Response> {
    let subject = request
        .subject()
        .ok_or_else(|| Error::internal("no subject: the route must run the jwt middleware"))?
        .to_string();
    Response::json(&json!({
        "subject": subject,
        "path": request.path(),
        "claims": request.claims(),
    }))
}

tessera_sdk::http_component!(handle);
