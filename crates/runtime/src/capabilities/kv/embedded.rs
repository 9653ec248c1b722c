//! The embedded key-value store: one SQLite file per store, no setup.
//!
//! Writes are durable when acknowledged: the database is in WAL mode with
//! `synchronous = FULL`, so a commit is fsynced before `set` returns, and a `kill -9` (or a
//! power cut) right after loses nothing acknowledged.
//!
//! Reads run on the calling task, writes on Tokio's blocking pool. An indexed point read
//! served from SQLite's page cache takes a few microseconds, less than the hop to another
//! thread would; a commit waits for the disk and must not hold up a runtime worker.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{KvError, KvStore, PAGE, parse_counter};

/// Read connections per store. WAL lets readers run beside the writer and each other.
const READERS: usize = 4;

/// Expired rows are removed once every this many writes.
const SWEEP_EVERY: u64 = 1024;

/// A key-value store in an SQLite file.
pub struct EmbeddedKv {
    path: PathBuf,
    /// This is a `std::sync::Mutex` and not a Tokio mutex because no await happens while it
    /// is held; SQLite allows one writer at a time anyway.
    writer: Arc<Mutex<Connection>>,
    readers: Vec<Mutex<Connection>>,
    writes: AtomicU64,
}

impl EmbeddedKv {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, KvError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| KvError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let open = |path: &Path| -> Result<Connection, KvError> {
            let conn = Connection::open(path)
                .map_err(|e| KvError(format!("cannot open {}: {e}", path.display())))?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA busy_timeout = 5000;",
            )
            .map_err(|e| KvError(format!("cannot configure {}: {e}", path.display())))?;
            Ok(conn)
        };
        let writer = open(path)?;
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS kv (
                     key TEXT PRIMARY KEY NOT NULL,
                     value BLOB NOT NULL,
                     expires_at INTEGER
                 ) WITHOUT ROWID;",
            )
            .map_err(|e| {
                KvError(format!(
                    "cannot create the table in {}: {e}",
                    path.display()
                ))
            })?;
        let readers = (0..READERS)
            .map(|_| open(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Arc::new(Mutex::new(writer)),
            readers,
            writes: AtomicU64::new(0),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a free read connection, waiting for the first one if all are busy.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, KvError> {
        let guard = self
            .readers
            .iter()
            .find_map(|r| r.try_lock().ok())
            .unwrap_or_else(|| {
                self.readers[0]
                    .lock()
                    .expect("a reader never panics while held")
            });
        f(&guard).map_err(sql_error)
    }

    /// Runs `f` in one transaction on the writer, on the blocking pool.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, i64) -> Result<T, KvError> + Send + 'static,
    ) -> Result<T, KvError> {
        let writer = self.writer.clone();
        let sweep = self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1;
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().expect("the writer never panics while held");
            let tx = conn.transaction().map_err(sql_error)?;
            let now = now_ms();
            let out = f(&tx, now)?;
            if sweep {
                tx.execute("DELETE FROM kv WHERE expires_at <= ?1", [now])
                    .map_err(sql_error)?;
            }
            tx.commit().map_err(sql_error)?;
            Ok(out)
        })
        .await
        .map_err(|e| KvError(format!("the write did not finish: {e}")))?
    }
}

#[expect(clippy::needless_pass_by_value, reason = "passed to map_err by name")]
fn sql_error(e: rusqlite::Error) -> KvError {
    KvError(format!("embedded store: {e}"))
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn expiry(ttl: Option<Duration>, now: i64) -> Option<i64> {
    ttl.map(|ttl| now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)))
}

// Statements as constants: `prepare_cached` looks them up by text, so no request builds one.
// `?2` is always the current time in milliseconds; expired rows are never returned.
const GET: &str = "SELECT value FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
const EXISTS: &str = "SELECT 1 FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
const GET_WITH_EXPIRY: &str = "SELECT value, expires_at FROM kv
     WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)";
const LIST: &str = "SELECT key FROM kv WHERE expires_at IS NULL OR expires_at > ?2
     ORDER BY key LIMIT ?1 OFFSET ?3";

#[async_trait]
impl KvStore for EmbeddedKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.read(|conn| {
            conn.prepare_cached(GET)?
                .query_row(params![key, now_ms()], |row| row.get(0))
                .optional()
        })
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let (key, value) = (key.to_string(), value.to_vec());
        self.write(move |tx, now| {
            upsert(tx, &key, &value, expiry(ttl, now))?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        let key = key.to_string();
        self.write(move |tx, _| {
            tx.execute("DELETE FROM kv WHERE key = ?1", [key])
                .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.read(|conn| conn.prepare_cached(EXISTS)?.exists(params![key, now_ms()]))
    }

    async fn list_keys(&self, cursor: u64) -> Result<(Vec<String>, Option<u64>), KvError> {
        let offset = i64::try_from(cursor).unwrap_or(i64::MAX);
        let keys: Vec<String> = self.read(|conn| {
            let mut stmt = conn.prepare_cached(LIST)?;
            let rows = stmt.query_map(params![PAGE as i64, now_ms(), offset], |row| row.get(0))?;
            rows.collect()
        })?;
        let next = (keys.len() == PAGE).then(|| cursor + PAGE as u64);
        Ok((keys, next))
    }

    async fn increment(&self, key: &str, delta: u64) -> Result<u64, KvError> {
        let key = key.to_string();
        self.write(move |tx, now| {
            let current: Option<(Vec<u8>, Option<i64>)> = tx
                .query_row(GET_WITH_EXPIRY, params![key, now], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
                .map_err(sql_error)?;
            let (old, expires_at) = match current {
                Some((value, expires_at)) => (parse_counter(&key, &value)?, expires_at),
                None => (0, None),
            };
            let new = old
                .checked_add(delta)
                .ok_or_else(|| KvError(format!("the counter \"{key}\" would overflow")))?;
            upsert(tx, &key, new.to_string().as_bytes(), expires_at)?;
            Ok(new)
        })
        .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(GET)?;
            let now = now_ms();
            keys.iter()
                .map(|key| {
                    stmt.query_row(params![key, now], |row| row.get(0))
                        .optional()
                })
                .collect()
        })
    }

    async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        let pairs = pairs.to_vec();
        self.write(move |tx, _| {
            for (key, value) in &pairs {
                upsert(tx, key, value, None)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        let keys = keys.to_vec();
        self.write(move |tx, _| {
            let mut stmt = tx
                .prepare_cached("DELETE FROM kv WHERE key = ?1")
                .map_err(sql_error)?;
            for key in &keys {
                stmt.execute([key]).map_err(sql_error)?;
            }
            Ok(())
        })
        .await
    }
}

fn upsert(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    value: &[u8],
    expires_at: Option<i64>,
) -> Result<(), KvError> {
    tx.prepare_cached(
        "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
    )
    .and_then(|mut stmt| stmt.execute(params![key, value, expires_at]))
    .map_err(sql_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn set_get_expire_count_list() {
        let dir = tempfile::tempdir().unwrap();
        let kv = EmbeddedKv::open(&dir.path().join("kv/s.sqlite")).unwrap();
        assert_eq!(kv.get("a").await.unwrap(), None);
        kv.set("a", b"1", None).await.unwrap();
        kv.set("b", b"2", Some(Duration::from_millis(50)))
            .await
            .unwrap();
        assert_eq!(kv.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert!(kv.exists("b").await.unwrap());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(!kv.exists("b").await.unwrap());
        assert_eq!(kv.get("b").await.unwrap(), None);
        assert_eq!(kv.increment("a", 41).await.unwrap(), 42);
        assert_eq!(kv.increment("n", 2).await.unwrap(), 2);
        assert_eq!(
            kv.list_keys(0).await.unwrap(),
            (vec!["a".into(), "n".into()], None)
        );
        kv.set("s", b"text", None).await.unwrap();
        assert!(
            kv.increment("s", 1)
                .await
                .unwrap_err()
                .0
                .contains("not a decimal counter")
        );
        kv.delete_many(&["a".into(), "s".into()]).await.unwrap();
        assert_eq!(
            kv.get_many(&["a".into(), "n".into()]).await.unwrap(),
            vec![None, Some(b"2".to_vec())]
        );
    }

    #[tokio::test]
    async fn list_keys_pages() {
        let dir = tempfile::tempdir().unwrap();
        let kv = EmbeddedKv::open(&dir.path().join("s.sqlite")).unwrap();
        let pairs: Vec<_> = (0..PAGE + 5)
            .map(|i| (format!("k{i:05}"), vec![1]))
            .collect();
        kv.set_many(&pairs).await.unwrap();
        let (first, next) = kv.list_keys(0).await.unwrap();
        assert_eq!(first.len(), PAGE);
        let (rest, end) = kv.list_keys(next.unwrap()).await.unwrap();
        assert_eq!(rest.len(), 5);
        assert_eq!(end, None);
    }
}
