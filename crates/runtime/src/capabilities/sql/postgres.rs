//! The PostgreSQL backend: `tokio-postgres` connections pooled by `deadpool-postgres`, with
//! prepared statements cached per connection.
//!
//! Parameters are converted to the type the server expects for each placeholder (an
//! `integer` bound to an `int4` column is sent as `int4`), so a guest need not know the
//! exact column types; a value that does not fit is a conversion error, not a wrong write.

use async_trait::async_trait;
use bytes::BytesMut;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::capabilities::error_chain;

use super::{RowSet, SqlColumn, SqlConnection, SqlDatabase, SqlError, SqlValue, TransactionStep};

/// The most a new connection, or the check of a pooled one, may take. With the server down or
/// unreachable, a request fails in this time instead of waiting for the operating system's
/// TCP timeouts, up to the component's deadline. (Waiting for a free connection is bounded by
/// the deadline alone: a busy pool is not a failure.)
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool of connections to one PostgreSQL database.
pub struct PostgresDatabase {
    pool: Pool,
}

impl PostgresDatabase {
    /// Builds the pool and checks that the server answers.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, SqlError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| SqlError::Connection(format!("bad PostgreSQL url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                // `Fast` only checks that the connection is open; transactions left open are
                // rolled back when a connection is dropped (see `PostgresConnection`).
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections as usize)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| SqlError::Connection(e.to_string()))?;
        let db = Self { pool };
        let probe = tokio::time::timeout(Duration::from_secs(10), db.pool.get())
            .await
            .map_err(|_| SqlError::Connection("PostgreSQL did not answer within 10s".into()))?;
        drop(probe.map_err(|e| {
            SqlError::Connection(format!("cannot connect to PostgreSQL: {}", error_chain(&e)))
        })?);
        Ok(db)
    }
}

#[async_trait]
impl SqlDatabase for PostgresDatabase {
    async fn connect(&self) -> Result<Box<dyn SqlConnection>, SqlError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| SqlError::Connection(error_chain(&e)))?;
        Ok(Box::new(PostgresConnection {
            client: Some(client),
            in_transaction: false,
        }))
    }
}

struct PostgresConnection {
    client: Option<Object>,
    in_transaction: bool,
}

impl PostgresConnection {
    fn client(&self) -> &Object {
        self.client.as_ref().expect("present until dropped")
    }

    async fn prepare(&self, sql: &str) -> Result<tokio_postgres::Statement, SqlError> {
        self.client().prepare_cached(sql).await.map_err(pg_error)
    }
}

impl Drop for PostgresConnection {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if !self.in_transaction {
            return;
        }
        // Roll back before the connection goes back to the pool. Without a runtime to do it
        // on, the connection is taken out of the pool and closed instead.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

#[async_trait]
impl SqlConnection for PostgresConnection {
    async fn execute(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<u64, SqlError> {
        let stmt = self.prepare(sql).await?;
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.client().execute(&stmt, &refs).await.map_err(pg_error)
    }

    async fn query(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<RowSet, SqlError> {
        let stmt = self.prepare(sql).await?;
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let rows = self.client().query(&stmt, &refs).await.map_err(pg_error)?;
        let columns: Vec<SqlColumn> = stmt
            .columns()
            .iter()
            .map(|c| SqlColumn {
                name: c.name().to_string(),
                type_name: c.type_().name().to_string(),
            })
            .collect();
        let rows = rows
            .iter()
            .map(|row| {
                (0..columns.len())
                    .map(|i| column_value(row, i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        Ok(RowSet { columns, rows })
    }

    async fn transaction(&mut self, step: TransactionStep) -> Result<(), SqlError> {
        self.client()
            .batch_execute(step.sql())
            .await
            .map_err(pg_error)?;
        self.in_transaction = step.opens();
        Ok(())
    }

    async fn begin_migration(&mut self) -> Result<(), SqlError> {
        self.transaction(TransactionStep::Begin).await?;
        // Released when the transaction ends, however it ends.
        self.client()
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn execute_script(&mut self, sql: &str) -> Result<(), SqlError> {
        self.client().batch_execute(sql).await.map_err(pg_error)
    }
}

/// The advisory lock key hosts take while migrating a database: "tessera" in ASCII.
const MIGRATION_LOCK: i64 = 0x0074_6573_7365_7261;

/// A parameter, converted to the type the server inferred for its placeholder.
#[derive(Debug)]
struct Param<'a>(&'a SqlValue);

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = |what: &str| -> Box<dyn std::error::Error + Sync + Send> {
            format!("a {what} cannot be bound to a parameter of type {ty}").into()
        };
        match self.0 {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Integer(i) => match *ty {
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT8 => i.to_sql(ty, out),
                Type::OID => u32::try_from(*i)?.to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(mismatch("integer")),
            },
            SqlValue::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => Err(mismatch("real")),
            },
            SqlValue::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.to_sql(ty, out)
                }
                _ => Err(mismatch("text value")),
            },
            SqlValue::Blob(b) if *ty == Type::BYTEA => b.to_sql(ty, out),
            SqlValue::Blob(_) => Err(mismatch("blob")),
            SqlValue::Boolean(b) if *ty == Type::BOOL => b.to_sql(ty, out),
            SqlValue::Boolean(_) => Err(mismatch("boolean")),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn column_value(row: &tokio_postgres::Row, i: usize) -> Result<SqlValue, SqlError> {
    let ty = row.columns()[i].type_().clone();
    let value = match ty {
        Type::BOOL => cell::<bool>(row, i)?.map(SqlValue::Boolean),
        Type::INT2 => cell::<i16>(row, i)?.map(|v| SqlValue::Integer(v.into())),
        Type::INT4 => cell::<i32>(row, i)?.map(|v| SqlValue::Integer(v.into())),
        Type::INT8 => cell::<i64>(row, i)?.map(SqlValue::Integer),
        Type::OID => cell::<u32>(row, i)?.map(|v| SqlValue::Integer(v.into())),
        Type::FLOAT4 => cell::<f32>(row, i)?.map(|v| SqlValue::Real(v.into())),
        Type::FLOAT8 => cell::<f64>(row, i)?.map(SqlValue::Real),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            cell::<String>(row, i)?.map(SqlValue::Text)
        }
        Type::BYTEA => cell::<Vec<u8>>(row, i)?.map(SqlValue::Blob),
        other => {
            let name = row.columns()[i].name();
            return Err(SqlError::Conversion(format!(
                "column \"{name}\" has type {other}, which tessera:sql does not carry; cast it in the query, e.g. {name}::text"
            )));
        }
    };
    Ok(value.unwrap_or(SqlValue::Null))
}

/// Cell `i` of `row` as a `T`; SQL NULL as `None`.
fn cell<'r, T: FromSql<'r>>(row: &'r tokio_postgres::Row, i: usize) -> Result<Option<T>, SqlError> {
    row.try_get::<_, Option<T>>(i)
        .map_err(|e| SqlError::Conversion(error_chain(&e)))
}

#[expect(clippy::needless_pass_by_value, reason = "passed to map_err by name")]
fn pg_error(e: tokio_postgres::Error) -> SqlError {
    if let Some(db) = e.as_db_error() {
        // Class 08 (connection exception) and 57P01–57P03 (the server shutting down, crashed
        // or starting): the database is unavailable, not the statement wrong.
        let code = db.code().code();
        if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03") {
            return SqlError::Connection(format!("{} ({code})", db.message()));
        }
        return SqlError::Sql {
            code: Some(db.code().code().to_string()),
            message: db.message().to_string(),
        };
    }
    let text = error_chain(&e);
    // A parameter that `Param::to_sql` refused is reported as "error serializing parameter".
    if text.contains("serializing parameter") {
        SqlError::Conversion(text)
    } else {
        SqlError::Connection(text)
    }
}
