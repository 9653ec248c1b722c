//! The SQLite backend: a bundled SQLite file, a small pool of connections, statements on
//! Tokio's blocking pool.
//!
//! The pool is a few lines here rather than `deadpool-sqlite`, which checks every connection
//! with a query on the blocking pool each time it is taken: a thread hop per request for a
//! check that cannot fail on a local file.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::{Value, ValueRef};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{RowSet, SqlColumn, SqlConnection, SqlDatabase, SqlError, SqlValue, TransactionStep};

/// A pool of connections to one SQLite file.
pub struct SqliteDatabase {
    path: PathBuf,
    /// A `std::sync::Mutex`: held only to push or pop, never across an await.
    idle: Arc<Mutex<Vec<rusqlite::Connection>>>,
    permits: Arc<Semaphore>,
}

impl SqliteDatabase {
    /// Opens (creating if needed) the database at `path`, in WAL mode, with at most
    /// `max_connections` connections.
    pub fn open(path: &Path, max_connections: u32) -> Result<Self, SqlError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                SqlError::Connection(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let first = connect(path)?;
        first
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_error)?;
        Ok(Self {
            path: path.to_path_buf(),
            idle: Arc::new(Mutex::new(vec![first])),
            permits: Arc::new(Semaphore::new(max_connections as usize)),
        })
    }
}

/// Opens one connection. `synchronous = FULL`: a commit is on disk when it returns.
fn connect(path: &Path) -> Result<rusqlite::Connection, SqlError> {
    let conn = rusqlite::Connection::open(path)
        .map_err(|e| SqlError::Connection(format!("cannot open {}: {e}", path.display())))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
    )
    .map_err(sql_error)?;
    Ok(conn)
}

#[async_trait]
impl SqlDatabase for SqliteDatabase {
    async fn connect(&self) -> Result<Box<dyn SqlConnection>, SqlError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let idle = self
            .idle
            .lock()
            .expect("never poisoned: no panics while held")
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let path = self.path.clone();
                tokio::task::spawn_blocking(move || connect(&path))
                    .await
                    .map_err(|e| SqlError::Connection(e.to_string()))??
            }
        };
        Ok(Box::new(SqliteConnection {
            conn: Some(conn),
            idle: self.idle.clone(),
            _permit: permit,
        }))
    }
}

struct SqliteConnection {
    /// `None` only while a statement runs on the blocking pool.
    conn: Option<rusqlite::Connection>,
    idle: Arc<Mutex<Vec<rusqlite::Connection>>>,
    _permit: OwnedSemaphorePermit,
}

impl SqliteConnection {
    async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, SqlError> + Send + 'static,
    ) -> Result<T, SqlError> {
        let mut conn = self
            .conn
            .take()
            .ok_or_else(|| SqlError::Connection("an earlier statement was abandoned".into()))?;
        let (conn, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut conn);
            (conn, out)
        })
        .await
        .map_err(|e| SqlError::Connection(e.to_string()))?;
        self.conn = Some(conn);
        out
    }
}

impl Drop for SqliteConnection {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A rollback in WAL mode only drops uncommitted pages: no disk wait, so it is done
        // here rather than on another thread.
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        self.idle
            .lock()
            .expect("never poisoned: no panics while held")
            .push(conn);
    }
}

#[async_trait]
impl SqlConnection for SqliteConnection {
    async fn execute(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<u64, SqlError> {
        let sql = sql.to_string();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
            let changed = stmt
                .execute(rusqlite::params_from_iter(
                    params.into_iter().map(to_sqlite),
                ))
                .map_err(sql_error)?;
            Ok(changed as u64)
        })
        .await
    }

    async fn query(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<RowSet, SqlError> {
        let sql = sql.to_string();
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
            let columns: Vec<SqlColumn> = stmt
                .columns()
                .iter()
                .map(|c| SqlColumn {
                    name: c.name().to_string(),
                    type_name: c.decl_type().unwrap_or_default().to_string(),
                })
                .collect();
            let width = columns.len();
            let mut rows = stmt
                .query(rusqlite::params_from_iter(
                    params.into_iter().map(to_sqlite),
                ))
                .map_err(sql_error)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(sql_error)? {
                let values = (0..width)
                    .map(|i| row.get_ref(i).map(from_sqlite).map_err(sql_error))
                    .collect::<Result<_, _>>()?;
                out.push(values);
            }
            Ok(RowSet { columns, rows: out })
        })
        .await
    }

    async fn transaction(&mut self, step: TransactionStep) -> Result<(), SqlError> {
        self.run(move |conn| conn.execute_batch(step.sql()).map_err(sql_error))
            .await
    }

    async fn begin_migration(&mut self) -> Result<(), SqlError> {
        // IMMEDIATE takes the write lock at once (waiting up to `busy_timeout` for another
        // host's), rather than at the first write, when two readers could deadlock.
        self.execute_script("BEGIN IMMEDIATE").await
    }

    async fn execute_script(&mut self, sql: &str) -> Result<(), SqlError> {
        let sql = sql.to_string();
        self.run(move |conn| conn.execute_batch(&sql).map_err(sql_error))
            .await
    }
}

fn to_sqlite(value: SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Integer(i),
        SqlValue::Real(f) => Value::Real(f),
        SqlValue::Text(s) => Value::Text(s),
        SqlValue::Blob(b) => Value::Blob(b),
        SqlValue::Boolean(b) => Value::Integer(i64::from(b)),
    }
}

fn from_sqlite(value: ValueRef<'_>) -> SqlValue {
    match value {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

fn sql_error(e: rusqlite::Error) -> SqlError {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => SqlError::Sql {
            code: Some(format!("{:?}", code.code)),
            message: message.unwrap_or_else(|| code.to_string()),
        },
        other => SqlError::Sql {
            code: None,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn typed_round_trip_errors_and_rollback_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("db.sqlite"), 2).unwrap();
        let mut conn = db.connect().await.unwrap();
        conn.execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, data BLOB)",
            vec![],
        )
        .await
        .unwrap();
        let inserted = conn
            .execute(
                "INSERT INTO t (id, name, score, data) VALUES (?1, ?2, ?3, ?4)",
                vec![
                    SqlValue::Integer(1),
                    SqlValue::Text("a'; DROP TABLE t; --".into()),
                    SqlValue::Real(1.5),
                    SqlValue::Blob(vec![0, 1]),
                ],
            )
            .await
            .unwrap();
        assert_eq!(inserted, 1);
        let rows = conn
            .query(
                "SELECT id, name, score, data FROM t WHERE id = ?1",
                vec![SqlValue::Integer(1)],
            )
            .await
            .unwrap();
        assert_eq!(rows.columns[1].type_name, "TEXT");
        assert_eq!(
            rows.rows,
            vec![vec![
                SqlValue::Integer(1),
                SqlValue::Text("a'; DROP TABLE t; --".into()),
                SqlValue::Real(1.5),
                SqlValue::Blob(vec![0, 1]),
            ]]
        );
        let err = conn
            .execute("INSERT INTO t (id, name) VALUES (1, 'x')", vec![])
            .await
            .unwrap_err();
        assert!(
            matches!(err, SqlError::Sql { code: Some(ref c), .. } if c == "ConstraintViolation"),
            "{err:?}"
        );

        conn.transaction(TransactionStep::Begin).await.unwrap();
        conn.execute("DELETE FROM t", vec![]).await.unwrap();
        drop(conn);
        let mut conn = db.connect().await.unwrap();
        let rows = conn.query("SELECT count(*) FROM t", vec![]).await.unwrap();
        assert_eq!(rows.rows, vec![vec![SqlValue::Integer(1)]]);
    }
}
