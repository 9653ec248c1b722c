//! The Redis key-value store: one multiplexed connection per store, shared by every request
//! and re-established by `ConnectionManager` if it drops.
//!
//! Every call has [`CALL_TIMEOUT`]: while Redis is down, `ConnectionManager` keeps
//! reconnecting with a growing delay, and a call made meanwhile would wait for it, up to the
//! component's deadline (measured: 4.4–5 s of a 5 s deadline per request). It fails in a second
//! instead, with an error the guest sees, and the next call after Redis is back succeeds.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Gcra, KvError, KvStore, PAGE};

/// The most a key-value call waits for Redis, reconnection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// A key-value store on a Redis server; every key is prefixed with the configured prefix.
pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
    gcra: redis::Script,
}

/// One step of GCRA (the generic cell rate algorithm) on the bucket `KEYS[1]`, which holds the
/// bucket's theoretical arrival time (TAT) in microseconds of Redis's clock: the time at
/// which it would be empty again. `ARGV[1]` is the interval between requests and `ARGV[2]`
/// the burst tolerance (interval × (burst − 1)), both in microseconds. A request is admitted
/// unless the TAT lies more than the tolerance ahead of now; admitting one moves the TAT an
/// interval on. Returns 0 if admitted, else the microseconds until a request would be.
///
/// Redis runs a script atomically, and its clock is the only one: the nodes' clocks never
/// enter. The key expires when the bucket is full again, so idle clients cost nothing.
const GCRA: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
if tat - now > tolerance then
  return tat - now - tolerance
end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
return 0
";

impl RedisKv {
    /// Connects to `url`; fails if the server does not answer.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, KvError> {
        let client =
            redis::Client::open(url).map_err(|e| KvError(format!("bad Redis url: {e}")))?;
        // Reconnection keeps trying, at most a second apart, each attempt bounded by the call
        // timeout (calls themselves are bounded in `run`).
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_max_delay(CALL_TIMEOUT);
        let connect = ConnectionManager::new_with_config(client, config);
        let conn = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| KvError("Redis did not answer within 10s".into()))?
            .map_err(|e| KvError(format!("cannot connect to Redis: {e}")))?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            gcra: redis::Script::new(GCRA),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, KvError> {
        let mut conn = self.conn.clone();
        bounded(cmd.query_async(&mut conn)).await
    }
}

#[async_trait]
impl KvStore for RedisKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.run(redis::cmd("GET").arg(self.key(key))).await
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX")
                .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        }
        self.run(&cmd).await
    }

    async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.run::<i64>(redis::cmd("DEL").arg(self.key(key)))
            .await
            .map(drop)
    }

    async fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.run(redis::cmd("EXISTS").arg(self.key(key))).await
    }

    async fn list_keys(&self, cursor: u64) -> Result<(Vec<String>, Option<u64>), KvError> {
        // SCAN's cursor is Redis's own; 0 starts and ends an iteration, as in wasi:keyvalue.
        let (next, keys): (u64, Vec<String>) = self
            .run(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{}*", escape_glob(&self.prefix)))
                    .arg("COUNT")
                    .arg(PAGE),
            )
            .await?;
        let keys = keys
            .into_iter()
            .map(|k| k[self.prefix.len()..].to_string())
            .collect();
        Ok((keys, (next != 0).then_some(next)))
    }

    async fn increment(&self, key: &str, delta: u64) -> Result<u64, KvError> {
        let delta = i64::try_from(delta)
            .map_err(|_| KvError("Redis counters hold at most 2^63-1".into()))?;
        let value: i64 = self
            .run(redis::cmd("INCRBY").arg(self.key(key)).arg(delta))
            .await?;
        u64::try_from(value).map_err(|_| KvError(format!("the counter \"{key}\" is negative")))
    }

    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        self.run(&cmd).await
    }

    async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("MSET");
        for (key, value) in pairs {
            cmd.arg(self.key(key)).arg(value.as_slice());
        }
        self.run(&cmd).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("DEL");
        for key in keys {
            cmd.arg(self.key(key));
        }
        self.run::<i64>(&cmd).await.map(drop)
    }

    async fn take_token(&self, key: &str, rule: Gcra) -> Result<Option<Duration>, KvError> {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let interval = micros(rule.interval).max(1);
        let tolerance = interval.saturating_mul(u64::from(rule.burst.saturating_sub(1)));
        let mut conn = self.conn.clone();
        let mut call = self.gcra.key(self.key(key));
        call.arg(interval).arg(tolerance);
        let wait: u64 = bounded(call.invoke_async(&mut conn)).await?;
        Ok((wait > 0).then(|| Duration::from_micros(wait)))
    }
}

/// `call`, given at most [`CALL_TIMEOUT`].
async fn bounded<T>(call: impl Future<Output = redis::RedisResult<T>>) -> Result<T, KvError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(|e| KvError(format!("Redis: {e}"))),
        Err(_) => Err(KvError(format!(
            "Redis did not answer within {}s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

/// Escapes Redis glob characters so a prefix matches literally.
fn escape_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
