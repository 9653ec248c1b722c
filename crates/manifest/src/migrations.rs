//! `[sql_database.<name>]`: what the application needs of a SQL database besides its backend,
//! which the runtime configuration picks. Today that is its schema: a folder of migrations
//! that the host applies, in order and once, before it serves.
//!
//! ```toml
//! [sql_database.default]
//! migrations = "migrations"   # 0001_schema.sql, 0002_seed.sql, ...
//! ```

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::raw::RawSqlDatabase;
use crate::validate::Checker;

/// What the application asks of one SQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlDatabaseSpec {
    /// The database's name, as components are granted it.
    pub name: String,
    /// Its migrations, in the order they apply (by version); empty without a folder.
    pub migrations: Vec<Migration>,
    /// The folder they come from, resolved against the manifest's directory.
    pub migrations_dir: Option<PathBuf>,
    /// The line of the `migrations` key, for messages.
    pub line: Option<usize>,
}

/// One migration file: `<version>_<description>.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The number the file name starts with; migrations apply in increasing order. A 64-bit
    /// signed integer, as databases store it.
    pub version: i64,
    /// The file name without `.sql`, e.g. `0002_quotes`.
    pub name: String,
    /// The file.
    pub path: PathBuf,
}

/// The file name pattern, for messages.
const PATTERN: &str = "<version>_<description>.sql, e.g. 0001_create_quotes.sql";

/// The version and name of a migration file, if `file_name` follows the pattern.
fn parse_file_name(file_name: &str) -> Option<(i64, String)> {
    let stem = file_name.strip_suffix(".sql")?;
    let (digits, description) = stem.split_once('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || description.is_empty() {
        return None;
    }
    Some((digits.parse().ok()?, stem.to_string()))
}

pub(crate) fn check_sql_database(
    checker: &mut Checker<'_>,
    name: &str,
    raw: &Spanned<RawSqlDatabase>,
    dir: &Path,
    granted: bool,
) -> Option<SqlDatabaseSpec> {
    let key = format!("sql_database.{name}");
    let before = checker.diagnostics.len();
    if !granted {
        let line = checker.line(raw);
        checker.report(
            &key,
            line,
            format!("no component is granted SQL database \"{name}\""),
            format!(
                "add \"{name}\" to the sql_databases of the components that use it, or remove \
                 [sql_database.{name}]"
            ),
        );
    }
    let mut spec = SqlDatabaseSpec {
        name: name.to_string(),
        migrations: Vec::new(),
        migrations_dir: None,
        line: None,
    };
    if let Some(folder) = &raw.get_ref().migrations {
        let line = checker.line(folder);
        let key = format!("{key}.migrations");
        let path = dir.join(folder.get_ref());
        spec.line = line;
        match read_migrations(&path) {
            Ok(migrations) => spec.migrations = migrations,
            Err((problem, fix)) => checker.report(&key, line, problem, fix),
        }
        spec.migrations_dir = Some(path);
    }
    (checker.diagnostics.len() == before).then_some(spec)
}

/// The `.sql` files of `dir`, in version order. Other files (a README) are left alone.
fn read_migrations(dir: &Path) -> Result<Vec<Migration>, (String, String)> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        let problem = if dir.exists() {
            format!("{} cannot be read as a folder: {e}", dir.display())
        } else {
            format!("{} does not exist", dir.display())
        };
        (
            problem,
            "name the folder of migration files, relative to the manifest".to_string(),
        )
    })?;
    let mut migrations: Vec<Migration> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            (
                format!("{} cannot be listed: {e}", dir.display()),
                "check the folder's permissions".to_string(),
            )
        })?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if !file_name.ends_with(".sql") {
            continue;
        }
        let Some((version, name)) = parse_file_name(&file_name) else {
            return Err((
                format!("{file_name} in {} is not named {PATTERN}", dir.display()),
                "rename it: the number before `_` orders the migrations".to_string(),
            ));
        };
        if let Some(other) = migrations.iter().find(|m| m.version == version) {
            return Err((
                format!(
                    "{file_name} and {}.sql in {} have the same version {version}",
                    other.name,
                    dir.display()
                ),
                "give each migration its own version number".to_string(),
            ));
        }
        migrations.push(Migration {
            version,
            name,
            path: entry.path(),
        });
    }
    migrations.sort_by_key(|m| m.version);
    Ok(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("0001_create.sql"),
            Some((1, "0001_create".into()))
        );
        assert_eq!(
            parse_file_name("20_seed_quotes.sql"),
            Some((20, "20_seed_quotes".into()))
        );
        for bad in [
            "create.sql",
            "0001.sql",
            "0001_.sql",
            "x1_a.sql",
            "_a.sql",
            "1_a.txt",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn migrations_are_ordered_by_version_not_by_name() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["10_c.sql", "2_b.sql", "001_a.sql", "README.md"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let names: Vec<String> = read_migrations(dir.path())
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["001_a", "2_b", "10_c"]);
    }

    #[test]
    fn duplicate_versions_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1_a.sql"), "").unwrap();
        std::fs::write(dir.path().join("01_b.sql"), "").unwrap();
        let (problem, _) = read_migrations(dir.path()).unwrap_err();
        assert!(problem.contains("have the same version 1"), "{problem}");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("schema.sql"), "").unwrap();
        let (problem, _) = read_migrations(dir.path()).unwrap_err();
        assert!(problem.starts_with("schema.sql in "), "{problem}");
    }
}
