//! The runtime configuration: which backend serves each key-value store and SQL database,
//! where embedded data lives, and secrets. It is kept apart from `tessera.toml` so the same
//! application runs on embedded storage on a laptop and on Redis and PostgreSQL in production.
//!
//! ```toml
//! state_dir = "/var/lib/myapp"          # default: .tessera next to the manifest
//!
//! [key_value_store.default]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//!
//! [sql_database.default]
//! type = "postgres"
//! url = "postgres://app@127.0.0.1/app"
//! max_connections = 16
//!
//! [secrets]
//! api_token = "..."
//! ```
//!
//! Without a file, the store `default` and the database `default` exist and are embedded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Diagnostic, Lines, ManifestError};
use crate::validate::{manifest_dir, parse_raw};

/// The name every application has a key-value store and a SQL database under.
pub const DEFAULT_NAME: &str = "default";

/// Where each store and database lives.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The file it came from, if any.
    pub file: Option<PathBuf>,
    /// Where embedded backends keep their files.
    pub state_dir: PathBuf,
    /// Key-value stores by name; always has [`DEFAULT_NAME`].
    pub key_value_stores: BTreeMap<String, KvBackend>,
    /// SQL databases by name; always has [`DEFAULT_NAME`].
    pub sql_databases: BTreeMap<String, SqlBackend>,
    /// Secrets by name, for `{{ secret.<name> }}` variables (the environment's
    /// `TESSERA_SECRET_<NAME>` takes precedence).
    pub secrets: BTreeMap<String, String>,
}

/// A key-value store's backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvBackend {
    /// An SQLite file on local disk; an acknowledged write is on disk (fsync) before the call
    /// returns.
    Embedded {
        /// The database file.
        path: PathBuf,
    },
    /// A Redis server.
    Redis {
        /// `redis://[user:password@]host[:port][/db]`.
        url: String,
        /// Prepended to every key, so several stores can share one server.
        prefix: String,
    },
}

/// A SQL database's backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlBackend {
    /// A bundled SQLite database file.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// Connections kept in the pool.
        max_connections: u32,
    },
    /// A PostgreSQL server.
    Postgres {
        /// `postgres://user[:password]@host[:port]/database` (or a key=value string).
        url: String,
        /// Connections kept in the pool.
        max_connections: u32,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    state_dir: Option<String>,
    #[serde(default)]
    key_value_store: BTreeMap<String, Spanned<RawBackend>>,
    #[serde(default)]
    sql_database: BTreeMap<String, Spanned<RawBackend>>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    path: Option<String>,
    url: Option<Spanned<String>>,
    prefix: Option<String>,
    max_connections: Option<Spanned<i64>>,
}

impl RuntimeConfig {
    /// The configuration with no file: embedded `default` store and database under
    /// `state_dir`.
    pub fn embedded(state_dir: PathBuf) -> Self {
        let mut config = Self {
            file: None,
            state_dir,
            key_value_stores: BTreeMap::new(),
            sql_databases: BTreeMap::new(),
            secrets: BTreeMap::new(),
        };
        config.add_defaults();
        config
    }

    /// Reads a runtime configuration file. Relative paths in it are resolved against its
    /// directory. `state_dir` (from the command line or environment) overrides the file's.
    pub fn load(file: &Path, state_dir: Option<PathBuf>) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            ManifestError::single(Diagnostic::new(
                file,
                "",
                format!("the runtime configuration cannot be read: {e}"),
                "correct the path given to --runtime-config (or TESSERA_RUNTIME_CONFIG)",
            ))
        })?;
        Self::parse(&text, file, state_dir)
    }

    /// Validates runtime configuration text; `file` names it in messages.
    pub fn parse(
        text: &str,
        file: &Path,
        state_dir: Option<PathBuf>,
    ) -> Result<Self, ManifestError> {
        let raw: RawRuntimeConfig = parse_raw(text, file)?;
        let dir = manifest_dir(file);
        let lines = Lines::new(text);
        let mut diagnostics = Vec::new();
        let state_dir = state_dir
            .or_else(|| raw.state_dir.as_ref().map(|d| dir.join(d)))
            .unwrap_or_else(|| dir.join(".tessera"));
        let mut config = Self {
            file: Some(file.to_path_buf()),
            state_dir,
            key_value_stores: BTreeMap::new(),
            sql_databases: BTreeMap::new(),
            secrets: raw.secrets,
        };
        for (name, backend) in &raw.key_value_store {
            let key = format!("key_value_store.{name}");
            let line = Some(lines.line_of(backend.span().start));
            let b = backend.get_ref();
            let kind = b.kind.get_ref().as_str();
            let parsed = match kind {
                "embedded" => {
                    let path = b.path.as_ref().map_or_else(
                        || config.state_dir.join("kv").join(format!("{name}.sqlite")),
                        |p| dir.join(p),
                    );
                    Ok(KvBackend::Embedded { path })
                }
                "redis" => required_url(b, "redis://127.0.0.1:6379").map(|url| KvBackend::Redis {
                    url,
                    prefix: b.prefix.clone().unwrap_or_default(),
                }),
                other => unknown(
                    other,
                    "a key-value backend",
                    "\"embedded\" or type = \"redis\"",
                ),
            };
            let at = Diagnostic::new(file, key, "", "").at_line(line);
            keep(
                &mut config.key_value_stores,
                name,
                parsed,
                at,
                &mut diagnostics,
            );
        }
        for (name, backend) in &raw.sql_database {
            let key = format!("sql_database.{name}");
            let line = Some(lines.line_of(backend.span().start));
            let b = backend.get_ref();
            let max_connections = match b.max_connections.as_ref().map(|m| *m.get_ref()) {
                None => Ok(DEFAULT_MAX_CONNECTIONS),
                Some(n) => u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or((
                        format!("max_connections = {n} is outside 1..=1024"),
                        "keep between 1 and 1024 connections in the pool".to_string(),
                    )),
            };
            let parsed =
                max_connections.and_then(|max_connections| match b.kind.get_ref().as_str() {
                    "sqlite" => {
                        let path = b.path.as_ref().map_or_else(
                            || config.state_dir.join("sql").join(format!("{name}.sqlite")),
                            |p| dir.join(p),
                        );
                        Ok(SqlBackend::Sqlite {
                            path,
                            max_connections,
                        })
                    }
                    "postgres" => required_url(b, "postgres://user@127.0.0.1/db").map(|url| {
                        SqlBackend::Postgres {
                            url,
                            max_connections,
                        }
                    }),
                    other => unknown(other, "a SQL backend", "\"sqlite\" or type = \"postgres\""),
                });
            let at = Diagnostic::new(file, key, "", "").at_line(line);
            keep(
                &mut config.sql_databases,
                name,
                parsed,
                at,
                &mut diagnostics,
            );
        }
        if !diagnostics.is_empty() {
            return Err(ManifestError { diagnostics });
        }
        config.add_defaults();
        Ok(config)
    }

    fn add_defaults(&mut self) {
        let kv = self.state_dir.join("kv").join("default.sqlite");
        self.key_value_stores
            .entry(DEFAULT_NAME.to_string())
            .or_insert(KvBackend::Embedded { path: kv });
        let sql = self.state_dir.join("sql").join("default.sqlite");
        self.sql_databases
            .entry(DEFAULT_NAME.to_string())
            .or_insert(SqlBackend::Sqlite {
                path: sql,
                max_connections: DEFAULT_MAX_CONNECTIONS,
            });
    }

    /// How messages name where a store or database would be defined.
    pub fn describe(&self) -> String {
        match &self.file {
            Some(file) => format!("the runtime configuration {}", file.display()),
            None => "a runtime configuration (--runtime-config <file>)".to_string(),
        }
    }
}

/// Pool size when the configuration does not set one.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// A backend type that is not one of `types`.
fn unknown<T>(kind: &str, what: &str, types: &str) -> Result<T, (String, String)> {
    Err((
        format!("\"{kind}\" is not {what}"),
        format!("use type = {types}"),
    ))
}

/// Keeps a parsed backend under `name`, or reports its problem at `at` (a diagnostic with the
/// file, key and line, whose problem and fix are filled in).
fn keep<T>(
    backends: &mut BTreeMap<String, T>,
    name: &str,
    parsed: Result<T, (String, String)>,
    mut at: Diagnostic,
    diagnostics: &mut Vec<Diagnostic>,
) {
    match parsed {
        Ok(backend) => {
            backends.insert(name.to_string(), backend);
        }
        Err((problem, fix)) => {
            (at.problem, at.fix) = (problem, fix);
            diagnostics.push(at);
        }
    }
}

fn required_url(backend: &RawBackend, example: &str) -> Result<String, (String, String)> {
    match &backend.url {
        Some(url) if !url.get_ref().trim().is_empty() => Ok(url.get_ref().clone()),
        _ => Err((
            format!("a {} backend needs a url", backend.kind.get_ref()),
            format!("add url = \"{example}\""),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuntimeConfig, ManifestError> {
        RuntimeConfig::parse(text, Path::new("/app/runtime.toml"), None)
    }

    #[test]
    fn defaults_are_embedded_under_the_state_dir() {
        let config = parse("").unwrap();
        assert_eq!(config.state_dir, Path::new("/app/.tessera"));
        assert_eq!(
            config.key_value_stores["default"],
            KvBackend::Embedded {
                path: "/app/.tessera/kv/default.sqlite".into()
            }
        );
        assert!(matches!(
            config.sql_databases["default"],
            SqlBackend::Sqlite {
                max_connections: 8,
                ..
            }
        ));
    }

    #[test]
    fn backends_and_overrides() {
        let config = parse(
            "state_dir = \"data\"\n\
             [key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\nprefix = \"app:\"\n\
             [key_value_store.local]\ntype = \"embedded\"\n\
             [sql_database.main]\ntype = \"postgres\"\nurl = \"postgres://u@h/d\"\nmax_connections = 4\n",
        )
        .unwrap();
        assert_eq!(
            config.key_value_stores["default"],
            KvBackend::Redis {
                url: "redis://127.0.0.1:6379".into(),
                prefix: "app:".into()
            }
        );
        assert_eq!(
            config.key_value_stores["local"],
            KvBackend::Embedded {
                path: "/app/data/kv/local.sqlite".into()
            }
        );
        assert_eq!(
            config.sql_databases["main"],
            SqlBackend::Postgres {
                url: "postgres://u@h/d".into(),
                max_connections: 4
            }
        );
        assert!(config.sql_databases.contains_key("default"));
    }

    #[test]
    fn errors_name_key_line_and_fix() {
        let err = parse("[key_value_store.cache]\ntype = \"memcached\"\n\n[sql_database.main]\ntype = \"postgres\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "runtime.toml:1: `key_value_store.cache`: \"memcached\" is not a key-value backend"
            ),
            "{err}"
        );
        assert!(
            err.contains("runtime.toml:4: `sql_database.main`: a postgres backend needs a url"),
            "{err}"
        );
        let err = parse("[key_value_store.cache]\ntype = \"redis\"\nurl = \"x\"\nport = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`key_value_store.cache.port`: unknown key"),
            "{err}"
        );
    }
}
