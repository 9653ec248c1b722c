//! Edge: event ingestion and its summary.
//!
//! - `POST /api/analytics` with `{"type", "name", "timestamp", "properties"}`: the manifest's
//!   `json_schema` step has checked the body (415, 400 or 422 otherwise), so this only stores
//!   it, durably (the SQL database commits to disk before the 201 `{"id"}`).
//! - `GET /api/analytics/summary[?since=<ms since the epoch>]`: counts per type and name of
//!   the events at or after `since` (default: all), most frequent first.

use serde::{Deserialize, Serialize};
use tessera_sdk::sql::{Database, Value};
use tessera_sdk::{Error, Method, Request, Response, Result, StatusCode};

/// An event, as the schema admits it.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    /// Milliseconds since the Unix epoch.
    timestamp: i64,
    #[serde(default)]
    properties: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Count {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    count: i64,
}

#[derive(Serialize)]
struct Summary {
    since: i64,
    total: i64,
    counts: Vec<Count>,
}

fn handle(mut request: Request) -> Result<Response> {
    let db = Database::open("default")?;
    match *request.method() {
        Method::POST => {
            let event: Event = request.json()?;
            // A random id: portable across SQLite and PostgreSQL, which share no syntax
            // for an auto-incrementing column.
            let id = format!(
                "{:016x}{:016x}",
                wasip2::random::random::get_random_u64(),
                wasip2::random::random::get_random_u64()
            );
            db.execute(
                "INSERT INTO events (id, type, name, ts, properties) VALUES ($1, $2, $3, $4, $5)",
                &[
                    Value::Text(id.clone()),
                    Value::Text(event.kind),
                    Value::Text(event.name),
                    Value::Integer(event.timestamp),
                    Value::Text(serde_json::Value::Object(event.properties).to_string()),
                ],
            )?;
            Ok(Response::json(&serde_json::json!({ "id": id }))?.with_status(StatusCode::CREATED))
        }
        _ => {
            let since = match request.query_param("since") {
                None => 0,
                Some(text) => text.parse::<i64>().map_err(|_| {
                    Error::bad_request(format!(
                        "since = {text:?} is not a time: give milliseconds since the Unix epoch"
                    ))
                })?,
            };
            let rows = db.query(
                "SELECT type, name, count(*) AS n FROM events WHERE ts >= $1 \
                 GROUP BY type, name ORDER BY n DESC, type, name",
                &[Value::Integer(since)],
            )?;
            let counts = rows
                .iter()
                .map(|row| {
                    Ok(Count {
                        kind: row.get("type")?,
                        name: row.get("name")?,
                        count: row.get("n")?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let total = counts.iter().map(|c| c.count).sum();
            Response::json(&Summary {
                since,
                total,
                counts,
            })
        }
    }
}

tessera_sdk::http_component!(handle);
