//! `wasi:keyvalue` (store, atomics, batch) and `tessera:host/kv-expiry` for guests.

use std::time::Duration;

use wasmtime::component::Resource;

use super::{Bucket, KvError};
use crate::Host;
use crate::capabilities::bindings::tessera::host::kv_expiry;
use crate::capabilities::bindings::wasi::keyvalue::store::{Error, KeyResponse};
use crate::capabilities::bindings::wasi::keyvalue::{atomics, batch, store};
use crate::capabilities::{Capabilities, Denial, observed};
use crate::trace::RequestTrace;

type Outcome<T> = wasmtime::Result<Result<T, Error>>;

fn other(e: KvError) -> Error {
    Error::Other(e.0)
}

impl Host {
    fn bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<&Bucket> {
        Ok(self.table.get(bucket)?)
    }
}

/// `call` on `bucket`'s store, told to the component's observer (in `caps`) as `operation`.
/// Not a method: a `&Host` held across the await would make the future not `Send`.
async fn on_store<T>(
    caps: &Capabilities,
    trace: Option<&RequestTrace>,
    bucket: &Bucket,
    operation: &'static str,
    call: impl Future<Output = Result<T, KvError>>,
) -> Result<T, Error> {
    observed(caps, trace, "key_value", &bucket.name, operation, call)
        .await
        .map_err(other)
}

impl store::Host for Host {
    async fn open(&mut self, identifier: String) -> Outcome<Resource<Bucket>> {
        match self.caps.key_value_store(&identifier) {
            Ok(store) => Ok(Ok(self.table.push(Bucket {
                store,
                name: identifier,
            })?)),
            Err(Denial::Unknown) => Ok(Err(Error::NoSuchStore)),
            Err(Denial::NotGranted) => Ok(Err(Error::AccessDenied)),
        }
    }
}

impl store::HostBucket for Host {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Outcome<Option<Vec<u8>>> {
        let bucket = self.bucket(&bucket)?;
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "get",
            bucket.store.get(&key),
        )
        .await)
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Outcome<()> {
        let bucket = self.bucket(&bucket)?;
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "set",
            bucket.store.set(&key, &value, None),
        )
        .await)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Outcome<()> {
        let bucket = self.bucket(&bucket)?;
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "delete",
            bucket.store.delete(&key),
        )
        .await)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Outcome<bool> {
        let bucket = self.bucket(&bucket)?;
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "exists",
            bucket.store.exists(&key),
        )
        .await)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Outcome<KeyResponse> {
        let bucket = self.bucket(&bucket)?;
        Ok(observed(
            &self.caps,
            self.trace.as_ref(),
            "key_value",
            &bucket.name,
            "list_keys",
            bucket.store.list_keys(cursor.unwrap_or(0)),
        )
        .await
        .map(|(keys, cursor)| KeyResponse { keys, cursor })
        .map_err(other))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for Host {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Outcome<u64> {
        let bucket = self.bucket(&bucket)?;
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "increment",
            bucket.store.increment(&key, delta),
        )
        .await)
    }
}

impl batch::Host for Host {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Outcome<Vec<Option<(String, Vec<u8>)>>> {
        let bucket = self.bucket(&bucket)?;
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "get_many",
            bucket.store.get_many(&keys),
        )
        .await
        .map(|values| {
            keys.into_iter()
                .zip(values)
                .map(|(key, value)| value.map(|v| (key, v)))
                .collect()
        }))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Outcome<()> {
        let bucket = self.bucket(&bucket)?;
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "set_many",
            bucket.store.set_many(&key_values),
        )
        .await)
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Outcome<()> {
        let bucket = self.bucket(&bucket)?;
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "delete_many",
            bucket.store.delete_many(&keys),
        )
        .await)
    }
}

impl kv_expiry::Host for Host {
    async fn set_with_ttl(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    ) -> Outcome<()> {
        if ttl_ms == 0 {
            return Ok(Err(Error::Other(
                "a time to live of 0 ms would expire the value at once; use delete".into(),
            )));
        }
        let bucket = self.bucket(&bucket)?;
        let ttl = Some(Duration::from_millis(ttl_ms));
        Ok(on_store(
            &self.caps,
            self.trace.as_ref(),
            bucket,
            "set",
            bucket.store.set(&key, &value, ttl),
        )
        .await)
    }
}
