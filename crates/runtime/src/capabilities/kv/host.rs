//! `wasi:keyvalue` (store, atomics, batch) and `tessera:host/kv-expiry` for guests.

use std::time::Duration;

use wasmtime::component::Resource;

use super::{Bucket, KvError, KvStore};
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

/// A guest's call on one open bucket, with what observes it.
struct OnBucket<'a> {
    caps: &'a Capabilities,
    trace: Option<&'a RequestTrace>,
    bucket: &'a Bucket,
}

impl Host {
    /// The bucket behind the guest's handle, ready for a call.
    fn on_bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<OnBucket<'_>> {
        Ok(OnBucket {
            caps: &self.caps,
            trace: self.trace.as_ref(),
            bucket: self.table.get(bucket)?,
        })
    }
}

impl OnBucket<'_> {
    /// The bucket's store.
    fn store(&self) -> &dyn KvStore {
        &*self.bucket.store
    }

    /// `call` on the bucket's store, told to the component's observer as `operation`.
    /// Holds no `&Host` across the await: that would make the future not `Send`.
    async fn run<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, KvError>>,
    ) -> Result<T, Error> {
        observed(
            self.caps,
            self.trace,
            "key_value",
            &self.bucket.name,
            operation,
            call,
        )
        .await
        .map_err(other)
    }
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
        let on = self.on_bucket(&bucket)?;
        Ok(on.run("get", on.store().get(&key)).await)
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Outcome<()> {
        let on = self.on_bucket(&bucket)?;
        Ok(on.run("set", on.store().set(&key, &value, None)).await)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Outcome<()> {
        let on = self.on_bucket(&bucket)?;
        Ok(on.run("delete", on.store().delete(&key)).await)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Outcome<bool> {
        let on = self.on_bucket(&bucket)?;
        Ok(on.run("exists", on.store().exists(&key)).await)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Outcome<KeyResponse> {
        let on = self.on_bucket(&bucket)?;
        Ok(on
            .run("list_keys", on.store().list_keys(cursor.unwrap_or(0)))
            .await
            .map(|(keys, cursor)| KeyResponse { keys, cursor }))
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
        let on = self.on_bucket(&bucket)?;
        Ok(on.run("increment", on.store().increment(&key, delta)).await)
    }
}

impl batch::Host for Host {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Outcome<Vec<Option<(String, Vec<u8>)>>> {
        let on = self.on_bucket(&bucket)?;
        Ok(on
            .run("get_many", on.store().get_many(&keys))
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
        let on = self.on_bucket(&bucket)?;
        Ok(on.run("set_many", on.store().set_many(&key_values)).await)
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Outcome<()> {
        let on = self.on_bucket(&bucket)?;
        Ok(on.run("delete_many", on.store().delete_many(&keys)).await)
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
        let on = self.on_bucket(&bucket)?;
        let ttl = Some(Duration::from_millis(ttl_ms));
        Ok(on.run("set", on.store().set(&key, &value, ttl)).await)
    }
}
