//! `tessera:host/sql` for guests.

use wasmtime::component::Resource;

use super::{Connection, SqlError, SqlValue, TransactionStep};
use crate::Host;
use crate::capabilities::bindings::tessera::host::sql::{
    self, Column, Error, RowSet, SqlError as WitSqlError, Value,
};
use crate::capabilities::{Denial, observed};

type Outcome<T> = wasmtime::Result<Result<T, Error>>;

fn to_wit(e: SqlError) -> Error {
    match e {
        SqlError::Sql { code, message } => Error::Sql(WitSqlError { code, message }),
        SqlError::Conversion(m) => Error::Conversion(m),
        SqlError::Connection(m) => Error::Connection(m),
    }
}

fn from_wit(v: Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Boolean(b) => SqlValue::Boolean(b),
    }
}

fn into_wit(v: SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Integer(i),
        SqlValue::Real(f) => Value::Real(f),
        SqlValue::Text(s) => Value::Text(s),
        SqlValue::Blob(b) => Value::Blob(b),
        SqlValue::Boolean(b) => Value::Boolean(b),
    }
}

impl Host {
    fn sql_connection(&mut self, conn: &Resource<Connection>) -> wasmtime::Result<&mut Connection> {
        Ok(self.table.get_mut(conn)?)
    }

    async fn transaction_step(
        &mut self,
        conn: Resource<Connection>,
        step: TransactionStep,
    ) -> Outcome<()> {
        let (caps, trace) = (self.caps.clone(), self.trace.clone());
        let conn = self.sql_connection(&conn)?;
        let operation = match step {
            TransactionStep::Begin => "begin",
            TransactionStep::Commit => "commit",
            TransactionStep::Rollback => "rollback",
        };
        let done = conn.inner.transaction(step);
        Ok(
            observed(&caps, trace.as_ref(), "sql", &conn.name, operation, done)
                .await
                .map_err(to_wit),
        )
    }
}

impl sql::Host for Host {}

impl sql::HostConnection for Host {
    async fn open(&mut self, name: String) -> Outcome<Resource<Connection>> {
        let db = match self.caps.sql_database(&name) {
            Ok(db) => db,
            Err(Denial::Unknown) => return Ok(Err(Error::NoSuchDatabase)),
            Err(Denial::NotGranted) => return Ok(Err(Error::AccessDenied)),
        };
        match observed(
            &self.caps,
            self.trace.as_ref(),
            "sql",
            &name,
            "connect",
            db.connect(),
        )
        .await
        {
            Ok(inner) => Ok(Ok(self.table.push(Connection { inner, name })?)),
            Err(e) => {
                tracing::warn!(component = %self.caps.component, database = %name, "SQL connection failed: {e}");
                Ok(Err(to_wit(e)))
            }
        }
    }

    async fn execute(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        params: Vec<Value>,
    ) -> Outcome<u64> {
        let (caps, trace) = (self.caps.clone(), self.trace.clone());
        let conn = self.sql_connection(&conn)?;
        let params = params.into_iter().map(from_wit).collect();
        let done = conn.inner.execute(&statement, params);
        Ok(
            observed(&caps, trace.as_ref(), "sql", &conn.name, "execute", done)
                .await
                .map_err(to_wit),
        )
    }

    async fn query(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        params: Vec<Value>,
    ) -> Outcome<RowSet> {
        let (caps, trace) = (self.caps.clone(), self.trace.clone());
        let conn = self.sql_connection(&conn)?;
        let params = params.into_iter().map(from_wit).collect();
        let done = conn.inner.query(&statement, params);
        Ok(
            observed(&caps, trace.as_ref(), "sql", &conn.name, "query", done)
                .await
                .map(|rows| RowSet {
                    columns: rows
                        .columns
                        .into_iter()
                        .map(|c| Column {
                            name: c.name,
                            type_name: c.type_name,
                        })
                        .collect(),
                    rows: rows
                        .rows
                        .into_iter()
                        .map(|row| row.into_iter().map(into_wit).collect())
                        .collect(),
                })
                .map_err(to_wit),
        )
    }

    async fn begin(&mut self, conn: Resource<Connection>) -> Outcome<()> {
        self.transaction_step(conn, TransactionStep::Begin).await
    }

    async fn commit(&mut self, conn: Resource<Connection>) -> Outcome<()> {
        self.transaction_step(conn, TransactionStep::Commit).await
    }

    async fn rollback(&mut self, conn: Resource<Connection>) -> Outcome<()> {
        self.transaction_step(conn, TransactionStep::Rollback).await
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
