//! The domain map in Redis; the only module that talks to Redis.
//!
//! Key layout (documented in README, editable with plain `redis-cli`): one string key per
//! host, `vitrine:domain:<normalised host>` -> `<shard>/<site-id>/site.xml`.
//!
//! Every request does one `GET` over a single multiplexed connection (redis-rs
//! `ConnectionManager`): concurrent lookups are pipelined on it, no connection is opened per
//! request, and a remap in Redis is visible on the very next request. Each lookup has a
//! deadline, because a paused Redis would otherwise hold requests until the TCP timeout, and
//! the manager reconnects in the background after a dropped connection.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;

use super::MapError;

/// Prefix of every domain key.
pub const KEY_PREFIX: &str = "vitrine:domain:";

/// Handle on the Redis domain map; cheap to clone (one shared connection).
#[derive(Clone)]
pub struct RedisMap {
    conn: ConnectionManager,
    url: String,
    deadline: Duration,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> MapError {
    MapError::Unavailable {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

impl RedisMap {
    /// Connects to `url` (`redis://host:port/db`). Fails if Redis cannot be reached now.
    pub async fn connect(url: &str, deadline: Duration) -> Result<RedisMap, MapError> {
        let client = redis::Client::open(url)
            .map_err(|e| MapError::Invalid(format!("redis URL {url:?}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(deadline))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| unavailable(&format!("connecting to {url}"), e))?;
        Ok(RedisMap {
            conn,
            url: url.to_owned(),
            deadline,
        })
    }

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(host: &str) -> String {
        format!("{KEY_PREFIX}{host}")
    }

    /// Looks up one host, within the deadline.
    pub async fn get(&self, host: &str) -> Result<Option<String>, MapError> {
        let mut conn = self.conn.clone();
        let key = Self::key(host);
        match tokio::time::timeout(self.deadline, conn.get::<_, Option<String>>(&key)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(unavailable(&format!("GET {key}"), e)),
            Err(_) => Err(unavailable(
                &format!("GET {key}"),
                format!("no answer within {:?}", self.deadline),
            )),
        }
    }

    /// Maps `host` to `path`.
    pub async fn set(&self, host: &str, path: &str) -> Result<(), MapError> {
        let mut conn = self.conn.clone();
        conn.set::<_, _, ()>(Self::key(host), path)
            .await
            .map_err(|e| unavailable("SET", e))
    }

    /// Removes `host`; returns whether it existed.
    pub async fn remove(&self, host: &str) -> Result<bool, MapError> {
        let mut conn = self.conn.clone();
        let n: u64 = conn
            .del(Self::key(host))
            .await
            .map_err(|e| unavailable("DEL", e))?;
        Ok(n > 0)
    }

    /// Sets many entries in one pipelined round trip.
    pub async fn set_many(&self, entries: &[(String, String)]) -> Result<(), MapError> {
        let mut conn = self.conn.clone();
        for chunk in entries.chunks(1000) {
            let mut pipe = redis::pipe();
            for (host, path) in chunk {
                pipe.set(Self::key(host), path).ignore();
            }
            pipe.query_async::<()>(&mut conn)
                .await
                .map_err(|e| unavailable("pipelined SET", e))?;
        }
        Ok(())
    }

    /// Every entry, sorted by host (SCAN, so Redis is never blocked by a big KEYS).
    pub async fn list(&self) -> Result<Vec<(String, String)>, MapError> {
        let mut conn = self.conn.clone();
        let mut keys: Vec<String> = Vec::new();
        {
            let mut iter = conn
                .scan_match::<_, String>(format!("{KEY_PREFIX}*"))
                .await
                .map_err(|e| unavailable("SCAN", e))?;
            while let Some(k) = iter.next_item().await {
                keys.push(k.map_err(|e| unavailable("SCAN", e))?);
            }
        }
        keys.sort();
        let mut out = Vec::with_capacity(keys.len());
        let mut conn = self.conn.clone();
        for chunk in keys.chunks(1000) {
            let values: Vec<Option<String>> =
                conn.mget(chunk).await.map_err(|e| unavailable("MGET", e))?;
            for (k, v) in chunk.iter().zip(values) {
                if let Some(v) = v {
                    out.push((k[KEY_PREFIX.len()..].to_owned(), v));
                }
            }
        }
        Ok(out)
    }
}
