//! SQL databases: the [`SqlDatabase`] trait, its backends (SQLite, PostgreSQL), the
//! `tessera:host/sql` host functions, and migrations applied before serving.

mod host;
pub mod migrate;
mod postgres;
mod sqlite;

use async_trait::async_trait;

pub use postgres::PostgresDatabase;
pub use sqlite::SqliteDatabase;

/// A value bound to a parameter or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
    /// A boolean.
    Boolean(bool),
}

/// A result column: name and the backend's type name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlColumn {
    /// The column's name.
    pub name: String,
    /// Its declared type, empty when the backend does not know it.
    pub type_name: String,
}

/// The rows of a query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowSet {
    /// The columns.
    pub columns: Vec<SqlColumn>,
    /// One value per column in each row.
    pub rows: Vec<Vec<SqlValue>>,
}

/// Why a statement failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SqlError {
    /// The database rejected it.
    #[error("{message}")]
    Sql {
        /// SQLSTATE (PostgreSQL) or the SQLite result code name.
        code: Option<String>,
        /// The database's message.
        message: String,
    },
    /// A value cannot be carried across the interface.
    #[error("{0}")]
    Conversion(String),
    /// The database is unreachable or the connection broke.
    #[error("{0}")]
    Connection(String),
}

/// A pool of connections to one database.
#[async_trait]
pub trait SqlDatabase: Send + Sync {
    /// Takes a connection from the pool (waiting for one if all are in use).
    async fn connect(&self) -> Result<Box<dyn SqlConnection>, SqlError>;
}

/// A pooled connection; dropping it returns it to the pool. A connection dropped inside a
/// transaction is rolled back before anyone else gets it.
#[async_trait]
pub trait SqlConnection: Send {
    /// Runs a statement; the number of rows changed.
    async fn execute(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<u64, SqlError>;
    /// Runs a query; its rows.
    async fn query(&mut self, sql: &str, params: Vec<SqlValue>) -> Result<RowSet, SqlError>;
    /// Runs `BEGIN`, `COMMIT` or `ROLLBACK`, and remembers whether a transaction is open.
    async fn transaction(&mut self, step: TransactionStep) -> Result<(), SqlError>;
    /// Begins a transaction that holds the database's migration lock until it ends (SQLite's
    /// write lock, or a PostgreSQL advisory lock), so that hosts migrating one database at
    /// once run one after the other. End it with [`SqlConnection::transaction`].
    async fn begin_migration(&mut self) -> Result<(), SqlError>;
    /// Runs a script of statements separated by `;` (a migration file), without parameters.
    async fn execute_script(&mut self, sql: &str) -> Result<(), SqlError>;
}

/// A transaction statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStep {
    /// `BEGIN`.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
}

impl TransactionStep {
    fn sql(self) -> &'static str {
        match self {
            Self::Begin => "BEGIN",
            Self::Commit => "COMMIT",
            Self::Rollback => "ROLLBACK",
        }
    }

    /// Whether a transaction is open after this step succeeds.
    fn opens(self) -> bool {
        self == Self::Begin
    }
}

/// The resource behind `tessera:host/sql.connection`.
pub struct Connection {
    pub(crate) inner: Box<dyn SqlConnection>,
    /// The database's name in the manifest.
    pub(crate) name: String,
}
