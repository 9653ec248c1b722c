//! Key-value stores: the [`KvStore`] trait, its backends, and the `wasi:keyvalue` and
//! `tessera:host/kv-expiry` host functions.
//!
//! Values are bytes. [`KvStore::increment`] keeps counters as decimal ASCII (what Redis's
//! `INCRBY` does), so a counter reads the same from every backend.

mod embedded;
mod host;
mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use embedded::{EmbeddedKv, OpenError};
pub use redis::RedisKv;

/// Keys returned by one `list-keys` call.
pub const PAGE: usize = 1000;

/// A failure of the backend, passed to the guest as `error.other`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KvError(pub String);

/// One key-value store. Every method is one round trip to the backend (for the embedded
/// store, a read of its in-memory rows or one SQLite transaction).
#[async_trait]
pub trait KvStore: Send + Sync {
    /// The value of `key`, unless absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Sets `key`; with a `ttl` the value expires after it, without one it never does.
    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError>;
    /// Removes `key`; removing an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<(), KvError>;
    /// Whether `key` holds an unexpired value.
    async fn exists(&self, key: &str) -> Result<bool, KvError>;
    /// One page of keys from `cursor` (0 for the first) and the cursor of the next page.
    async fn list_keys(&self, cursor: u64) -> Result<(Vec<String>, Option<u64>), KvError>;
    /// Adds `delta` to the decimal counter at `key` (absent counts as 0), atomically.
    async fn increment(&self, key: &str, delta: u64) -> Result<u64, KvError>;
    /// The values of several keys, in order.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError>;
    /// Sets several keys at once (atomically where the backend can).
    async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), KvError>;
    /// Removes several keys.
    async fn delete_many(&self, keys: &[String]) -> Result<(), KvError>;

    /// One request against the rate-limit bucket `key`, kept by `rule`, atomically for every
    /// process that shares the store: `None` if it is admitted, else how long until one would
    /// be. Only a store shared between processes has buckets worth sharing; the others refuse.
    async fn take_token(&self, key: &str, rule: Gcra) -> Result<Option<Duration>, KvError> {
        let _ = (key, rule);
        Err(KvError(
            "this store is private to the process: shared rate limits need Redis".into(),
        ))
    }
}

/// A rate-limit bucket's rule (GCRA): one request per `interval`, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// The time one request uses up.
    pub interval: Duration,
    /// How many requests may come at once after a quiet spell (at least 1).
    pub burst: u32,
}

/// An open bucket: the resource behind `wasi:keyvalue/store.bucket`.
pub struct Bucket {
    pub(crate) store: Arc<dyn KvStore>,
    /// The store's name in the manifest.
    pub(crate) name: String,
}

/// Parses a counter written by [`KvStore::increment`] (or by the guest as decimal text).
pub(crate) fn parse_counter(key: &str, value: &[u8]) -> Result<u64, KvError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| KvError(format!("the value of \"{key}\" is not a decimal counter")))
}
