//! The embedded key-value store: one SQLite file per store, no setup, with every live row
//! also kept in memory.
//!
//! Writes are durable when acknowledged: the database is in WAL mode with
//! `synchronous = FULL`, so a commit is fsynced before `set` returns, and a `kill -9` (or a
//! power cut) right after loses nothing acknowledged. Writes run on Tokio's blocking pool: a
//! commit waits for the disk and must not hold up a runtime worker.
//!
//! Reads are served from the in-memory copy, which is loaded when the store opens and
//! updated after each commit (so a read never sees a write before it is durable). Why: a
//! point read through SQLite, cheap in a loop, cost about 15 µs per request in the server,
//! where each read runs cold — three system calls (lock and unlock on the WAL index, a stat
//! of the WAL file) and cache misses through SQLite's pager. From memory a read takes well
//! under a microsecond. The cost is memory: the whole store stays resident, as in Redis, so
//! the embedded store suits caches, sessions and counters; big data belongs in Redis or SQL.
//!
//! The copy is only right while this process is the store's only writer, so opening takes an
//! exclusive lock on `<file>.lock` beside the database (not on the database file itself:
//! closing any other descriptor of that file would drop SQLite's own POSIX locks). A second
//! host on the same state directory fails to start with a message saying so; `tessera check`
//! uses [`EmbeddedKv::probe`], which takes no lock and loads nothing.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::{KvError, KvStore, PAGE, parse_counter};

/// Why an embedded store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another host holds it (one host per embedded store: its rows are in that host's memory).
    #[error("{} is in use by another Tessera host (it holds {})", path.display(), lock.display())]
    InUse {
        /// The store's file.
        path: PathBuf,
        /// The lock file the other host holds.
        lock: PathBuf,
    },
    /// The file or its directory cannot be created or read.
    #[error("{0}")]
    Unusable(#[from] KvError),
}

/// Expired rows are removed (from disk and memory) once every this many writes.
const SWEEP_EVERY: u64 = 1024;

/// A key-value store in an SQLite file, mirrored in memory.
pub struct EmbeddedKv {
    path: PathBuf,
    /// Every row, expired ones included until the next sweep (reads skip them).
    rows: Arc<RwLock<BTreeMap<String, Row>>>,
    /// The one connection, used only for writes. This is a `std::sync::Mutex` and not a
    /// Tokio mutex because no await happens while it is held. Holding it also makes a
    /// write's read of `rows` (an increment's old value) and its update of `rows` one step.
    writer: Arc<Mutex<Connection>>,
    writes: AtomicU64,
    /// Held open for the exclusive lock; the lock goes with the descriptor.
    _lock: File,
}

#[derive(Clone)]
struct Row {
    value: Vec<u8>,
    /// Milliseconds since the Unix epoch; `None` never expires.
    expires_at: Option<i64>,
}

impl Row {
    fn live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// One change a write makes, applied to the database and then, once committed, to memory.
enum Change {
    Put {
        key: String,
        value: Vec<u8>,
        expires_at: Option<i64>,
    },
    Delete(String),
}

impl EmbeddedKv {
    /// Opens (creating if needed) the store at `path`, takes its lock and loads its rows.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let lock = lock(path)?;
        let conn = connect(path)?;
        let rows = load(&conn, now_ms())
            .map_err(|e| KvError(format!("cannot read {}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            rows: Arc::new(RwLock::new(rows)),
            writer: Arc::new(Mutex::new(conn)),
            writes: AtomicU64::new(0),
            _lock: lock,
        })
    }

    /// Checks that the store at `path` can be opened (creating it if needed) without taking
    /// its lock or loading it, for `tessera check` beside a running host.
    pub fn probe(path: &Path) -> Result<(), OpenError> {
        Ok(connect(path).map(drop)?)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The live value of `key`.
    fn lookup(&self, key: &str, now: i64) -> Option<Vec<u8>> {
        let rows = self.rows.read().expect("no panic while rows are held");
        rows.get(key)
            .filter(|row| row.live(now))
            .map(|row| row.value.clone())
    }

    /// Commits the changes `f` computes, then applies them to memory, on the blocking pool.
    /// `f` sees the current rows and the time.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&BTreeMap<String, Row>, i64) -> Result<(T, Vec<Change>), KvError>
        + Send
        + 'static,
    ) -> Result<T, KvError> {
        let (writer, rows) = (self.writer.clone(), self.rows.clone());
        let sweep = self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1;
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().expect("no panic while the writer is held");
            let now = now_ms();
            let (out, changes) = f(&rows.read().expect("no panic while rows are held"), now)?;
            let tx = conn.transaction().map_err(sql_error)?;
            for change in &changes {
                match change {
                    Change::Put {
                        key,
                        value,
                        expires_at,
                    } => tx
                        .prepare_cached(UPSERT)
                        .and_then(|mut s| s.execute(params![key, value, expires_at])),
                    Change::Delete(key) => tx
                        .prepare_cached("DELETE FROM kv WHERE key = ?1")
                        .and_then(|mut s| s.execute([key])),
                }
                .map_err(sql_error)?;
            }
            if sweep {
                tx.execute("DELETE FROM kv WHERE expires_at <= ?1", [now])
                    .map_err(sql_error)?;
            }
            tx.commit().map_err(sql_error)?;
            let mut rows = rows.write().expect("no panic while rows are held");
            for change in changes {
                match change {
                    Change::Put {
                        key,
                        value,
                        expires_at,
                    } => rows.insert(key, Row { value, expires_at }),
                    Change::Delete(key) => rows.remove(&key),
                };
            }
            if sweep {
                rows.retain(|_, row| row.live(now));
            }
            Ok(out)
        })
        .await
        .map_err(|e| KvError(format!("the write did not finish: {e}")))?
    }
}

/// Takes the exclusive lock beside the database at `path`.
fn lock(path: &Path) -> Result<File, OpenError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| KvError(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| KvError(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(OpenError::InUse {
            path: path.to_path_buf(),
            lock: lock_path,
        }),
        Err(TryLockError::Error(e)) => {
            Err(KvError(format!("cannot lock {}: {e}", lock_path.display())).into())
        }
    }
}

/// Opens the database at `path`, creating the directory, the file and the table if needed.
fn connect(path: &Path) -> Result<Connection, KvError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| KvError(format!("cannot create {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path)
        .map_err(|e| KvError(format!("cannot open {}: {e}", path.display())))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA busy_timeout = 5000;
         CREATE TABLE IF NOT EXISTS kv (
             key TEXT PRIMARY KEY NOT NULL,
             value BLOB NOT NULL,
             expires_at INTEGER
         ) WITHOUT ROWID;",
    )
    .map_err(|e| KvError(format!("cannot set up {}: {e}", path.display())))?;
    Ok(conn)
}

/// Every row that has not expired by `now`.
fn load(conn: &Connection, now: i64) -> rusqlite::Result<BTreeMap<String, Row>> {
    let mut stmt = conn.prepare(
        "SELECT key, value, expires_at FROM kv WHERE expires_at IS NULL OR expires_at > ?1",
    )?;
    let rows = stmt.query_map([now], |row| {
        Ok((
            row.get(0)?,
            Row {
                value: row.get(1)?,
                expires_at: row.get(2)?,
            },
        ))
    })?;
    rows.collect()
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

const UPSERT: &str = "INSERT INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

#[async_trait]
impl KvStore for EmbeddedKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.lookup(key, now_ms()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let (key, value) = (key.to_string(), value.to_vec());
        self.write(move |_, now| {
            let expires_at = expiry(ttl, now);
            Ok((
                (),
                vec![Change::Put {
                    key,
                    value,
                    expires_at,
                }],
            ))
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        let key = key.to_string();
        self.write(move |_, _| Ok(((), vec![Change::Delete(key)])))
            .await
    }

    async fn exists(&self, key: &str) -> Result<bool, KvError> {
        let now = now_ms();
        let rows = self.rows.read().expect("no panic while rows are held");
        Ok(rows.get(key).is_some_and(|row| row.live(now)))
    }

    async fn list_keys(&self, cursor: u64) -> Result<(Vec<String>, Option<u64>), KvError> {
        let now = now_ms();
        let keys: Vec<String> = {
            let rows = self.rows.read().expect("no panic while rows are held");
            rows.iter()
                .filter(|(_, row)| row.live(now))
                .skip(usize::try_from(cursor).unwrap_or(usize::MAX))
                .take(PAGE)
                .map(|(key, _)| key.clone())
                .collect()
        };
        let next = (keys.len() == PAGE).then(|| cursor + PAGE as u64);
        Ok((keys, next))
    }

    async fn increment(&self, key: &str, delta: u64) -> Result<u64, KvError> {
        let key = key.to_string();
        self.write(move |rows, now| {
            // The counter keeps its expiry, as Redis's INCRBY does.
            let (old, expires_at) = match rows.get(&key).filter(|row| row.live(now)) {
                Some(row) => (parse_counter(&key, &row.value)?, row.expires_at),
                None => (0, None),
            };
            let new = old
                .checked_add(delta)
                .ok_or_else(|| KvError(format!("the counter \"{key}\" would overflow")))?;
            let value = new.to_string().into_bytes();
            Ok((
                new,
                vec![Change::Put {
                    key,
                    value,
                    expires_at,
                }],
            ))
        })
        .await
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let now = now_ms();
        Ok(keys.iter().map(|key| self.lookup(key, now)).collect())
    }

    async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        let changes = pairs
            .iter()
            .map(|(key, value)| Change::Put {
                key: key.clone(),
                value: value.clone(),
                expires_at: None,
            })
            .collect();
        self.write(move |_, _| Ok(((), changes))).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        let changes = keys.iter().cloned().map(Change::Delete).collect();
        self.write(move |_, _| Ok(((), changes))).await
    }
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

    #[tokio::test]
    async fn reopening_loads_what_was_committed_and_not_what_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        {
            let kv = EmbeddedKv::open(&path).unwrap();
            kv.set("kept", b"v", None).await.unwrap();
            kv.set("later", b"w", Some(Duration::from_secs(3600)))
                .await
                .unwrap();
            kv.set("brief", b"x", Some(Duration::from_millis(30)))
                .await
                .unwrap();
            kv.set("gone", b"y", None).await.unwrap();
            kv.delete("gone").await.unwrap();
            assert!(
                kv.increment("later", 1)
                    .await
                    .unwrap_err()
                    .0
                    .contains("counter")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let kv = EmbeddedKv::open(&path).unwrap();
        assert_eq!(kv.get("kept").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(kv.get("later").await.unwrap().as_deref(), Some(&b"w"[..]));
        assert_eq!(kv.get("gone").await.unwrap(), None);
        assert_eq!(
            kv.rows.read().unwrap().len(),
            2,
            "the expired row is not loaded"
        );
    }

    #[tokio::test]
    async fn a_store_opens_once_at_a_time_but_check_can_probe_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv/s.sqlite");
        let first = EmbeddedKv::open(&path).unwrap();
        let err = EmbeddedKv::open(&path)
            .err()
            .expect("the second open fails");
        assert!(matches!(err, OpenError::InUse { .. }), "{err}");
        assert!(
            err.to_string().contains("in use by another Tessera host"),
            "{err}"
        );
        EmbeddedKv::probe(&path).unwrap();
        first.set("a", b"1", None).await.unwrap();
        drop(first);
        let second = EmbeddedKv::open(&path).unwrap();
        assert_eq!(second.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
    }

    #[tokio::test]
    async fn a_failed_increment_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let kv = EmbeddedKv::open(&dir.path().join("s.sqlite")).unwrap();
        kv.set("n", &u64::MAX.to_string().into_bytes(), None)
            .await
            .unwrap();
        assert!(
            kv.increment("n", 1)
                .await
                .unwrap_err()
                .0
                .contains("overflow")
        );
        assert_eq!(
            kv.get("n").await.unwrap(),
            Some(u64::MAX.to_string().into_bytes())
        );
    }
}
