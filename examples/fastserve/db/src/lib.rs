//! FastServe's `GET /api/db`: a random quotation from the `quotes` table, or with `?id=<n>`
//! that one (404 if there is none; 400 if `id` is not a number), as
//! `{"id", "quote", "author", "source"}`.
//!
//! The table and its 1000 rows are not created here: Tessera applies the migrations in
//! `examples/fastserve/migrations` before it serves (the manifest's
//! `[sql_database.default] migrations`). The statements run unchanged on SQLite and
//! PostgreSQL.

use serde::Serialize;
use tessera_sdk::sql::{Database, Rows, Value};
use tessera_sdk::{Error, Request, Response, Result};

const COLUMNS: &str = "SELECT id, quote, author, source FROM quotes";

#[expect(
    clippy::needless_pass_by_value,
    reason = "http_component! hands the request over"
)]
fn handle(request: Request) -> Result<Response> {
    let db = Database::open("default")?;
    let rows = match request.query_param("id") {
        Some(text) => {
            let id: i64 = text.parse().map_err(|_| {
                Error::bad_request(format!("id = {text:?} is not a number: use ?id=<1..=1000>"))
            })?;
            let rows = db.query(&format!("{COLUMNS} WHERE id = $1"), &[Value::Integer(id)])?;
            if rows.is_empty() {
                return Err(Error::not_found(format!("there is no quote {id}")));
            }
            rows
        }
        None => {
            let count: i64 = db
                .query("SELECT count(*) AS n FROM quotes", &[])?
                .iter()
                .next()
                .map(|row| row.get("n"))
                .transpose()?
                .unwrap_or(0);
            if count == 0 {
                return Err(Error::internal("the quotes table is empty"));
            }
            let offset = wasip2::random::random::get_random_u64() % count as u64;
            db.query(
                &format!("{COLUMNS} ORDER BY id LIMIT 1 OFFSET $1"),
                &[Value::Integer(offset as i64)],
            )?
        }
    };
    quote(&rows)
}

#[derive(Serialize)]
struct Quote {
    id: i64,
    quote: String,
    author: String,
    source: String,
}

fn quote(rows: &Rows) -> Result<Response> {
    let row = rows
        .iter()
        .next()
        .ok_or_else(|| Error::internal("the quote vanished between two queries"))?;
    Response::json(&Quote {
        id: row.get("id")?,
        quote: row.get("quote")?,
        author: row.get("author")?,
        source: row.get("source")?,
    })
}

tessera_sdk::http_component!(handle);
