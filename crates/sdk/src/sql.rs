//! SQL databases (`tessera:host/sql`), as granted by the manifest's `sql_databases`:
//! parameterised statements with typed values, never string-built SQL.

use tessera_guest::tessera::host::sql;

pub use tessera_guest::tessera::host::sql::{Column, Value};

use crate::{Error, Result};

/// An open SQL database.
///
/// ```no_run
/// use tessera_sdk::sql::{Database, Value};
/// # fn main() -> tessera_sdk::Result<()> {
/// let db = Database::open("default")?;
/// db.execute("INSERT INTO notes (body) VALUES ($1)", &[Value::Text("hi".into())])?;
/// for row in db.query("SELECT id, body FROM notes", &[])?.iter() {
///     let (id, body): (i64, String) = (row.get("id")?, row.get("body")?);
/// }
/// # Ok(()) }
/// ```
pub struct Database {
    name: String,
    connection: sql::Connection,
}

impl Database {
    /// Opens database `name`. One the component was not granted is a 500 that says so.
    pub fn open(name: &str) -> Result<Self> {
        let connection = sql::Connection::open(name).map_err(|e| error(name, &e))?;
        Ok(Self {
            name: name.to_string(),
            connection,
        })
    }

    /// Runs a statement; the number of rows it changed. Placeholders `$1`, `$2`, ... (on
    /// SQLite and PostgreSQL alike) take `params` in order.
    pub fn execute(&self, statement: &str, params: &[Value]) -> Result<u64> {
        self.connection
            .execute(statement, params)
            .map_err(|e| error(&self.name, &e))
    }

    /// Runs a query; its rows. Placeholders as for [`Database::execute`].
    pub fn query(&self, statement: &str, params: &[Value]) -> Result<Rows> {
        let set = self
            .connection
            .query(statement, params)
            .map_err(|e| error(&self.name, &e))?;
        Ok(Rows {
            columns: set.columns,
            rows: set.rows,
        })
    }

    /// Runs `work` in a transaction: committed if it returns `Ok`, rolled back otherwise.
    pub fn transaction<T>(&self, work: impl FnOnce(&Self) -> Result<T>) -> Result<T> {
        self.connection.begin().map_err(|e| error(&self.name, &e))?;
        match work(self) {
            Ok(value) => {
                self.connection
                    .commit()
                    .map_err(|e| error(&self.name, &e))?;
                Ok(value)
            }
            Err(failure) => {
                let _ = self.connection.rollback();
                Err(failure)
            }
        }
    }
}

/// A query's result.
pub struct Rows {
    columns: Vec<Column>,
    rows: Vec<Vec<Value>>,
}

impl Rows {
    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row {
            columns: &self.columns,
            values,
        })
    }
}

/// One row.
pub struct Row<'a> {
    columns: &'a [Column],
    values: &'a [Value],
}

impl Row<'_> {
    /// Column `name`'s value converted to `T` (`i64`, `f64`, `String`, `Vec<u8>`, `bool`, or
    /// `Option` of one for nullable columns). A missing column or wrong type is a 500.
    pub fn get<T: FromValue>(&self, name: &str) -> Result<T> {
        let index = self
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| Error::internal(format!("no column {name:?} in the result")))?;
        T::from_value(&self.values[index]).ok_or_else(|| {
            Error::internal(format!(
                "column {name:?} is not a {}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// The raw values, in column order.
    pub fn values(&self) -> &[Value] {
        self.values
    }
}

/// A Rust type a SQL value converts to.
pub trait FromValue: Sized {
    /// The converted value, or `None` if the types do not fit.
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Real(r) => Some(*r),
            #[allow(clippy::cast_precision_loss, reason = "SQL integers read as reals")]
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Boolean(b) => Some(*b),
            Value::Integer(i) => Some(*i != 0),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

fn error(name: &str, error: &sql::Error) -> Error {
    match error {
        sql::Error::NoSuchDatabase => {
            Error::internal(format!("SQL database {name:?} does not exist"))
        }
        sql::Error::AccessDenied => Error::internal(format!(
            "SQL database {name:?} is not granted to this component (add it to sql_databases in tessera.toml)"
        )),
        sql::Error::Sql(e) => Error::internal(format!(
            "SQL error{}: {}",
            e.code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(),
            e.message
        )),
        sql::Error::Conversion(m) => Error::internal(format!("SQL value conversion: {m}")),
        sql::Error::Connection(m) => {
            Error::unavailable(format!("SQL database {name:?} is unavailable: {m}"))
        }
    }
}
