//! Notes kept in a SQL table, with parameterised statements and typed rows.
//!
//! - `POST /notes` with the note's text as the body: stores it, answers `{"id": N}` (201).
//! - `GET /notes`: every note, newest first.
//! - `GET /notes/:id`: one note, or 404.
//!
//! The table is created on first use. The same component runs on SQLite (the default) and on
//! PostgreSQL: the statements use `$1` placeholders and portable types.
//!
//! Build: `cargo build --release --target wasm32-wasip2 --target-dir target/wasm -p notes`
//! Serve: `tessera up --manifest examples/notes/tessera.toml`

use serde_json::{Value as Json, json};
use tessera_guest::tessera::host::sql::{Connection, Error as SqlError, Value};
use wstd::http::{Body, Error, Method, Request, Response, StatusCode};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS notes (id BIGINT PRIMARY KEY, body TEXT NOT NULL)";

fn fail(e: SqlError) -> Error {
    Error::msg(format!("database: {e:?}"))
}

fn json_response(status: StatusCode, value: &Json) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(value.to_string()))?)
}

fn note(row: &[Value]) -> Json {
    match row {
        [Value::Integer(id), Value::Text(body)] => json!({ "id": id, "body": body }),
        other => json!({ "unexpected": format!("{other:?}") }),
    }
}

#[wstd::http_server]
async fn main(mut request: Request<Body>) -> Result<Response<Body>, Error> {
    let db = Connection::open("default").map_err(fail)?;
    db.execute(SCHEMA, &[]).map_err(fail)?;
    let id = request
        .headers()
        .get("tessera-param-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match (request.method().clone(), id) {
        (Method::POST, None) => {
            let text = request.body_mut().str_contents().await?.to_string();
            // Next id and insert in one transaction, so concurrent posts never collide.
            db.begin().map_err(fail)?;
            let next = db
                .query("SELECT COALESCE(MAX(id), 0) + 1 FROM notes", &[])
                .map_err(fail)?;
            let id = match next.rows.first().and_then(|r| r.first()) {
                Some(Value::Integer(id)) => *id,
                other => return Err(Error::msg(format!("unexpected id {other:?}"))),
            };
            db.execute(
                "INSERT INTO notes (id, body) VALUES ($1, $2)",
                &[Value::Integer(id), Value::Text(text)],
            )
            .map_err(fail)?;
            db.commit().map_err(fail)?;
            json_response(StatusCode::CREATED, &json!({ "id": id }))
        }
        (Method::GET, None) => {
            let rows = db
                .query("SELECT id, body FROM notes ORDER BY id DESC", &[])
                .map_err(fail)?;
            let notes: Vec<Json> = rows.rows.iter().map(|r| note(r)).collect();
            json_response(StatusCode::OK, &json!(notes))
        }
        (Method::GET, Some(id)) => {
            let Ok(id) = id.parse::<i64>() else {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({ "error": "id is a number" }),
                );
            };
            let rows = db
                .query(
                    "SELECT id, body FROM notes WHERE id = $1",
                    &[Value::Integer(id)],
                )
                .map_err(fail)?;
            match rows.rows.first() {
                Some(row) => json_response(StatusCode::OK, &note(row)),
                None => json_response(StatusCode::NOT_FOUND, &json!({ "error": "no such note" })),
            }
        }
        _ => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({ "error": "use GET or POST /notes, GET /notes/:id" }),
        ),
    }
}
