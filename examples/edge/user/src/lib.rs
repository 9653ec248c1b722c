//! Edge: `GET /api/user/:id`, a two-tier read. The key-value store (an edge cache, 300 s TTL)
//! answers first, with `x-cache: hit`; on a miss the SQL database (the origin) answers and the
//! user is cached, with `x-cache: miss`. An unknown id is a 404 (not cached: a user created
//! later is found at once); an id that is not a number is a 400.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tessera_sdk::sql::{Database, Value};
use tessera_sdk::{Error, Request, Response, Result, kv};

/// How long a user stays in the edge cache.
const TTL: Duration = Duration::from_secs(300);

#[derive(Serialize, Deserialize)]
struct User {
    id: i64,
    name: String,
    email: String,
    country: String,
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "http_component! hands the request over"
)]
fn handle(request: Request) -> Result<Response> {
    let id: i64 = request.param("id")?;
    let cache = kv::Store::open("default")?;
    let key = format!("edge:user:{id}");
    if let Some(user) = cache.get_json::<User>(&key)? {
        return Ok(Response::json(&user)?.with_header("x-cache", "hit"));
    }
    let db = Database::open("default")?;
    let rows = db.query(
        "SELECT id, name, email, country FROM users WHERE id = $1",
        &[Value::Integer(id)],
    )?;
    let Some(row) = rows.iter().next() else {
        return Err(Error::not_found(format!("there is no user {id}")));
    };
    let user = User {
        id: row.get("id")?,
        name: row.get("name")?,
        email: row.get("email")?,
        country: row.get("country")?,
    };
    cache.set_with_ttl(&key, &serde_json::to_vec(&user)?, TTL)?;
    Ok(Response::json(&user)?.with_header("x-cache", "miss"))
}

tessera_sdk::http_component!(handle);
