//! Migrations: the `.sql` files of a `[sql_database.<name>] migrations` folder, applied in
//! version order, each once per database, before the host serves.
//!
//! Every database records what it was given in a table, `tessera_migrations` (version, name,
//! SHA-256 of the file, time applied). A start-up applies the files it does not list, all in
//! one transaction with their records: either every pending file is applied or none is, and a
//! failing file leaves the database as it was. The transaction holds the database's migration
//! lock ([`super::SqlConnection::begin_migration`]), so two hosts starting at once on one PostgreSQL
//! apply them once: the second waits, then finds them recorded. `tessera check` runs the same
//! transaction and rolls it back ([`Mode::Try`]), so a file that fails is refused before any
//! host applies it.
//!
//! As in Flyway and sqlx, an applied file must not change (its checksum is compared), an
//! applied version must not disappear, and a new file must sort after every applied one.
//! Versions above every local file are tolerated (a newer release of the app applied them;
//! an older one may still run during a rolling update) and logged.

use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest as _, Sha256};
use tessera_manifest::Migration;

use super::{SqlDatabase, SqlError, SqlValue, TransactionStep};

/// What to do with the pending migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply them and commit.
    Apply,
    /// Apply them and roll back: whether they would apply (`tessera check`).
    Try,
}

/// What a run found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The migrations applied now (or, in [`Mode::Try`], that would be), by name.
    pub applied: Vec<String>,
    /// How many were already applied.
    pub already: usize,
    /// Migrations the database has that are newer than every file here, by name.
    pub newer: Vec<String>,
    /// How long the run took.
    pub elapsed: Duration,
}

/// Why migrations were not applied. Nothing was: the transaction was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// A file cannot be read.
    #[error("cannot read {name}.sql: {source}")]
    Read {
        /// The migration's name.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// A pending file failed; none of the pending files was applied.
    #[error("{name}.sql failed: {}", one_line(&error.to_string()))]
    Failed {
        /// The migration's name.
        name: String,
        /// The database's error.
        error: SqlError,
    },
    /// An applied file is not what was applied.
    #[error(
        "{name}.sql was changed after it was applied (the database has {applied}, the file is {now})"
    )]
    Changed {
        /// The migration's name.
        name: String,
        /// The SHA-256 recorded when it was applied.
        applied: String,
        /// The file's SHA-256 now.
        now: String,
    },
    /// An applied version has no file any more.
    #[error("migration {name} was applied to this database, but no file has version {version}")]
    Missing {
        /// Its version.
        version: i64,
        /// Its name, as recorded.
        name: String,
    },
    /// A pending file sorts before one already applied.
    #[error("{name}.sql is not applied, but {newest}, a later version, is")]
    OutOfOrder {
        /// The pending migration.
        name: String,
        /// The newest applied migration.
        newest: String,
    },
    /// The database failed outside a migration file (connecting, locking, the records).
    #[error("{0}")]
    Database(#[from] SqlError),
}

impl MigrationError {
    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            Self::Read { .. } => "check that the file is readable",
            Self::Failed { .. } => {
                "correct the file and start again; nothing was applied (pending migrations run \
                 in one transaction, so a file must not contain BEGIN or COMMIT)"
            }
            Self::Changed { .. } => {
                "restore the file as it was applied, and put the change in a new migration \
                 with a higher version"
            }
            Self::Missing { .. } => {
                "restore the file: an applied migration stays in the folder for as long as \
                 the database exists"
            }
            Self::OutOfOrder { .. } => {
                "give the new file a version above every applied one (rename it)"
            }
            Self::Database(_) => "check that the database is reachable and writable",
        }
    }
}

/// A database's message on one line: SQLite's quote the statement, line breaks included.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A migration with its text and checksum.
struct Loaded<'a> {
    migration: &'a Migration,
    sql: String,
    checksum: String,
}

/// Brings `db` up to date with `migrations` (sorted by version, as the manifest gives them).
pub async fn migrate(
    db: &dyn SqlDatabase,
    migrations: &[Migration],
    mode: Mode,
) -> Result<Outcome, MigrationError> {
    let start = Instant::now();
    let loaded = load(migrations)?;
    let mut conn = db.connect().await?;
    conn.begin_migration().await?;
    let result = async {
        let mut outcome = pending(&mut *conn, &loaded).await?;
        for migration in &loaded {
            if !outcome.applied.contains(&migration.migration.name) {
                continue;
            }
            conn.execute_script(&migration.sql)
                .await
                .map_err(|error| MigrationError::Failed {
                    name: migration.migration.name.clone(),
                    error,
                })?;
            conn.execute(
                "INSERT INTO tessera_migrations (version, name, checksum, applied_at) \
                 VALUES ($1, $2, $3, $4)",
                vec![
                    SqlValue::Integer(migration.migration.version),
                    SqlValue::Text(migration.migration.name.clone()),
                    SqlValue::Text(migration.checksum.clone()),
                    SqlValue::Text(
                        humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
                    ),
                ],
            )
            .await?;
        }
        outcome.elapsed = start.elapsed();
        Ok::<_, MigrationError>(outcome)
    }
    .await;
    let end = match (&result, mode) {
        (Ok(_), Mode::Apply) => TransactionStep::Commit,
        _ => TransactionStep::Rollback,
    };
    let ended = conn.transaction(end).await;
    let outcome = result?;
    ended?;
    Ok(outcome)
}

fn load(migrations: &[Migration]) -> Result<Vec<Loaded<'_>>, MigrationError> {
    migrations
        .iter()
        .map(|migration| {
            let bytes = std::fs::read(&migration.path).map_err(|source| MigrationError::Read {
                name: migration.name.clone(),
                source,
            })?;
            let sql = String::from_utf8(bytes.clone()).map_err(|_| MigrationError::Read {
                name: migration.name.clone(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8"),
            })?;
            Ok(Loaded {
                migration,
                sql,
                checksum: hex(&Sha256::digest(&bytes)),
            })
        })
        .collect()
}

/// Reads what the database has, checks it against the files, and names the pending ones.
async fn pending(
    conn: &mut dyn super::SqlConnection,
    loaded: &[Loaded<'_>],
) -> Result<Outcome, MigrationError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tessera_migrations (version BIGINT PRIMARY KEY, \
         name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)",
        Vec::new(),
    )
    .await?;
    let recorded = conn
        .query(
            "SELECT version, name, checksum FROM tessera_migrations ORDER BY version",
            Vec::new(),
        )
        .await?;
    let newest_local = loaded.last().map_or(i64::MIN, |m| m.migration.version);
    let mut outcome = Outcome::default();
    let mut newest_applied: Option<(i64, String)> = None;
    for row in &recorded.rows {
        let [
            SqlValue::Integer(version),
            SqlValue::Text(name),
            SqlValue::Text(checksum),
        ] = row.as_slice()
        else {
            return Err(SqlError::Conversion(format!(
                "tessera_migrations has an unexpected row: {row:?}"
            ))
            .into());
        };
        match loaded.iter().find(|m| m.migration.version == *version) {
            Some(file) if file.checksum != *checksum => {
                return Err(MigrationError::Changed {
                    name: file.migration.name.clone(),
                    applied: checksum.clone(),
                    now: file.checksum.clone(),
                });
            }
            Some(_) => outcome.already += 1,
            None if *version > newest_local => outcome.newer.push(name.clone()),
            None => {
                return Err(MigrationError::Missing {
                    version: *version,
                    name: name.clone(),
                });
            }
        }
        newest_applied = Some((*version, name.clone()));
    }
    for file in loaded {
        let applied = recorded
            .rows
            .iter()
            .any(|row| row.first() == Some(&SqlValue::Integer(file.migration.version)));
        if applied {
            continue;
        }
        if let Some((version, name)) = &newest_applied
            && *version > file.migration.version
        {
            return Err(MigrationError::OutOfOrder {
                name: file.migration.name.clone(),
                newest: name.clone(),
            });
        }
        outcome.applied.push(file.migration.name.clone());
    }
    Ok(outcome)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::capabilities::sql::SqliteDatabase;

    fn write(dir: &Path, name: &str, sql: &str) -> Migration {
        let path = dir.join(format!("{name}.sql"));
        std::fs::write(&path, sql).unwrap();
        Migration {
            version: name.split('_').next().unwrap().parse().unwrap(),
            name: name.into(),
            path,
        }
    }

    async fn count(db: &SqliteDatabase, sql: &str) -> i64 {
        let rows = db
            .connect()
            .await
            .unwrap()
            .query(sql, vec![])
            .await
            .unwrap();
        match rows.rows[0][0] {
            SqlValue::Integer(n) => n,
            ref other => panic!("{other:?}"),
        }
    }

    /// A fresh SQLite database in a directory of its own, and the migration files `(name, sql)`
    /// written next to it.
    fn database<const N: usize>(
        files: [(&str, &str); N],
    ) -> (tempfile::TempDir, SqliteDatabase, [Migration; N]) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDatabase::open(&dir.path().join("db.sqlite"), 2).unwrap();
        let migrations = files.map(|(name, sql)| write(dir.path(), name, sql));
        (dir, db, migrations)
    }

    #[tokio::test]
    async fn applies_once_in_order_and_checks_what_was_applied() {
        const ROWS: &str =
            "INSERT INTO q (id, t) VALUES (1, 'a');\nINSERT INTO q (id, t) VALUES (2, 'b');";
        let (dir, db, [one, two]) = database([
            (
                "1_schema",
                "CREATE TABLE q (id INTEGER PRIMARY KEY, t TEXT NOT NULL);",
            ),
            ("2_rows", ROWS),
        ]);
        let both = [one.clone(), two.clone()];

        // Tried only: nothing stays.
        let tried = migrate(&db, &both, Mode::Try).await.unwrap();
        assert_eq!(tried.applied, ["1_schema", "2_rows"]);
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM sqlite_master WHERE name = 'tessera_migrations'"
            )
            .await,
            0,
            "a try is rolled back, bookkeeping table included"
        );

        let first = migrate(&db, std::slice::from_ref(&one), Mode::Apply)
            .await
            .unwrap();
        assert_eq!(first.applied, ["1_schema"]);
        let second = migrate(&db, &both, Mode::Apply).await.unwrap();
        assert_eq!(
            (second.applied.as_slice(), second.already),
            (&["2_rows".to_string()][..], 1)
        );
        let again = migrate(&db, &both, Mode::Apply).await.unwrap();
        assert_eq!((again.applied.len(), again.already), (0, 2));
        assert_eq!(
            count(&db, "SELECT count(*) FROM q").await,
            2,
            "never applied twice"
        );

        // A changed file, a missing one, and one slipped in before an applied version.
        std::fs::write(&two.path, "INSERT INTO q (id, t) VALUES (3, 'c');").unwrap();
        let changed = migrate(&db, &both, Mode::Apply).await.unwrap_err();
        assert!(
            matches!(changed, MigrationError::Changed { ref name, .. } if name == "2_rows"),
            "{changed}"
        );
        let missing = migrate(&db, std::slice::from_ref(&two), Mode::Apply)
            .await
            .unwrap_err();
        assert!(
            matches!(missing, MigrationError::Missing { version: 1, .. }),
            "{missing}"
        );
        std::fs::write(&two.path, ROWS).unwrap();
        let late = write(dir.path(), "0_late", "SELECT 1;");
        let out_of_order = migrate(&db, &[late, one.clone(), two.clone()], Mode::Apply)
            .await
            .unwrap_err();
        assert!(
            matches!(out_of_order, MigrationError::OutOfOrder { .. }),
            "{out_of_order}"
        );

        // An older release sees the newer version and carries on.
        let older = migrate(&db, &[one], Mode::Apply).await.unwrap();
        assert_eq!(older.newer, ["2_rows"]);
    }

    #[tokio::test]
    async fn a_failing_file_applies_nothing() {
        let (_dir, db, [good, bad]) = database([
            ("1_schema", "CREATE TABLE q (id INTEGER PRIMARY KEY);"),
            (
                "2_bad",
                "INSERT INTO q (id) VALUES (1);\nINSERT INTO nope VALUES (1);",
            ),
        ]);
        let error = migrate(&db, &[good.clone(), bad], Mode::Apply)
            .await
            .unwrap_err();
        assert!(
            matches!(error, MigrationError::Failed { ref name, .. } if name == "2_bad"),
            "{error}"
        );
        assert!(error.to_string().contains("no such table: nope"), "{error}");
        // Not even the good file, nor the bookkeeping table's rows.
        assert_eq!(
            count(&db, "SELECT count(*) FROM sqlite_master WHERE name = 'q'").await,
            0
        );
        assert_eq!(
            migrate(&db, &[good], Mode::Apply).await.unwrap().applied,
            ["1_schema"]
        );
    }
}
