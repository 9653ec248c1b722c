//! Key-value stores (`wasi:keyvalue` plus Tessera's expiry), as granted by the manifest's
//! `key_value_stores`.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tessera_guest::tessera::host::kv_expiry;
use tessera_guest::wasi::keyvalue::{atomics, batch, store};

use crate::{Error, Result};

/// A key and its value.
pub type Entry = (String, Vec<u8>);

/// An open key-value store.
///
/// ```no_run
/// use std::time::Duration;
/// # fn main() -> tessera_sdk::Result<()> {
/// let cache = tessera_sdk::kv::Store::open("default")?;
/// cache.set_with_ttl("greeting", b"hello", Duration::from_secs(60))?;
/// assert_eq!(cache.get("greeting")?, Some(b"hello".to_vec()));
/// # Ok(()) }
/// ```
pub struct Store {
    name: String,
    bucket: store::Bucket,
}

impl Store {
    /// Opens store `name`. A store the component was not granted is a 500 that says so.
    pub fn open(name: &str) -> Result<Self> {
        let bucket = store::open(name).map_err(|e| error(name, &e))?;
        Ok(Self {
            name: name.to_string(),
            bucket,
        })
    }

    /// The value of `key`, if set and not expired.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.bucket.get(key).map_err(|e| error(&self.name, &e))
    }

    /// The value of `key` as UTF-8 text.
    pub fn get_text(&self, key: &str) -> Result<Option<String>> {
        self.get(key)?
            .map(|bytes| {
                String::from_utf8(bytes)
                    .map_err(|_| Error::internal(format!("value of {key:?} is not UTF-8")))
            })
            .transpose()
    }

    /// The value of `key` deserialised from JSON.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.get(key)?
            .map(|bytes| {
                serde_json::from_slice(&bytes).map_err(|e| {
                    Error::internal(format!("value of {key:?} is not the JSON expected: {e}"))
                })
            })
            .transpose()
    }

    /// Sets `key`, with no expiry.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.bucket
            .set(key, value)
            .map_err(|e| error(&self.name, &e))
    }

    /// Sets `key` to `value` serialised as JSON.
    pub fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<()> {
        self.set(key, &serde_json::to_vec(value)?)
    }

    /// Sets `key`; after `ttl` it reads as absent.
    pub fn set_with_ttl(&self, key: &str, value: &[u8], ttl: Duration) -> Result<()> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        kv_expiry::set_with_ttl(&self.bucket, key, value, millis).map_err(|e| error(&self.name, &e))
    }

    /// Removes `key` (absent keys are fine).
    pub fn delete(&self, key: &str) -> Result<()> {
        self.bucket.delete(key).map_err(|e| error(&self.name, &e))
    }

    /// Whether `key` is set and not expired.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.bucket.exists(key).map_err(|e| error(&self.name, &e))
    }

    /// Every key.
    pub fn keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .bucket
                .list_keys(cursor)
                .map_err(|e| error(&self.name, &e))?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    /// Adds `delta` to the number stored at `key` (absent counts as 0), atomically; returns
    /// the new value.
    pub fn increment(&self, key: &str, delta: u64) -> Result<u64> {
        atomics::increment(&self.bucket, key, delta).map_err(|e| error(&self.name, &e))
    }

    /// The values of several keys at once: for each key, the key and its value if set.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Entry>>> {
        batch::get_many(&self.bucket, keys).map_err(|e| error(&self.name, &e))
    }

    /// Sets several keys at once.
    pub fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<()> {
        batch::set_many(&self.bucket, entries).map_err(|e| error(&self.name, &e))
    }
}

fn error(name: &str, error: &store::Error) -> Error {
    Error::internal(match error {
        store::Error::NoSuchStore => format!("key-value store {name:?} does not exist"),
        store::Error::AccessDenied => format!(
            "key-value store {name:?} is not granted to this component \
             (add it to key_value_stores in tessera.toml)"
        ),
        store::Error::Other(message) => format!("key-value store {name:?}: {message}"),
    })
}
