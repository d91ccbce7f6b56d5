//! The certificate store's keys in Redis, shared by every publisher (the layout is in
//! README, "Certificates in Redis"):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `vitrine:cert:<host>` | string | one certificate entry (JSON: PEM chain, sealed key, dates) |
//! | `vitrine:acme:account` | string | the ACME account's credentials, sealed |
//! | `vitrine:acme:token:<token>` | string, 1 h TTL | an HTTP-01 key authorisation |
//! | `vitrine:acme:lock:<name>` | string, TTL | who holds an order (or the account creation) |
//! | `vitrine:acme:queue` | sorted set | hosts to order, scored by when (ms since the epoch) |
//! | `vitrine:acme:renew` | sorted set | hosts with a certificate, scored by when to renew |
//! | `vitrine:acme:ari` | sorted set | hosts whose CA offers renewal information, scored by when to ask again |
//! | `vitrine:acme:status:<host>` | hash | attempts, last error, next attempt |
//! | `vitrine:acme:orders:<hour>` | counter, 2 h TTL | orders started in that hour, all publishers |
//!
//! Certificate entries are read with the map's cached `GET` (client tracking), so a hot
//! host's certificate costs no round trip and a renewed one reaches every publisher with
//! Redis's invalidation. What is stored is opaque here: sealing and parsing are the TLS
//! room's (`crate::tls`).

use std::time::Duration;

use redis::AsyncCommands;

use super::{unavailable, RedisMap};
use crate::map::MapError;

/// Prefix of certificate entries.
pub const CERT_PREFIX: &str = "vitrine:cert:";
/// The sealed ACME account.
pub const ACCOUNT_KEY: &str = "vitrine:acme:account";
/// Prefix of HTTP-01 tokens.
pub const TOKEN_PREFIX: &str = "vitrine:acme:token:";
/// Prefix of locks.
pub const LOCK_PREFIX: &str = "vitrine:acme:lock:";
/// Hosts waiting for an order.
pub const QUEUE_KEY: &str = "vitrine:acme:queue";
/// Hosts with a certificate, by renewal time.
pub const RENEW_KEY: &str = "vitrine:acme:renew";
/// Sorted set: hosts whose CA offers renewal information (ARI), scored by when to ask again.
pub const ARI_KEY: &str = "vitrine:acme:ari";
/// Prefix of per-host order status.
pub const STATUS_PREFIX: &str = "vitrine:acme:status:";
/// Prefix of the hourly order counters.
pub const ORDERS_PREFIX: &str = "vitrine:acme:orders:";

/// Deletes a lock only if it is still ours (a lock that expired and was taken by another
/// publisher is left alone).
const UNLOCK_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// What the store remembers of a host's orders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderStatus {
    /// Failed attempts in a row.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When the next attempt is due (ms since the epoch), if one is queued.
    pub next_attempt_ms: Option<u64>,
}

impl RedisMap {
    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &str,
        cmd: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, MapError> {
        match tokio::time::timeout(self.inner.deadline * 4, cmd).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(unavailable(what, e)),
            Err(_) => Err(unavailable(what, "no answer in time")),
        }
    }

    /// The certificate entry of `host`, from the client-side cache when it is trusted.
    pub async fn cert_get(&self, host: &str) -> Result<Option<String>, MapError> {
        self.cached_get(format!("{CERT_PREFIX}{host}")).await
    }

    /// Stores `host`'s certificate entry and when to renew it.
    pub async fn cert_put(
        &self,
        host: &str,
        entry: &str,
        renew_at_ms: u64,
    ) -> Result<(), MapError> {
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set(format!("{CERT_PREFIX}{host}"), entry)
            .ignore()
            .zadd(RENEW_KEY, host, renew_at_ms)
            .ignore()
            .del(format!("{STATUS_PREFIX}{host}"))
            .ignore();
        self.run("SET certificate", pipe.query_async::<()>(&mut conn))
            .await
    }

    /// Removes `host`'s certificate entry (revocation).
    pub async fn cert_remove(&self, host: &str) -> Result<bool, MapError> {
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(format!("{CERT_PREFIX}{host}"))
            .zrem(RENEW_KEY, host)
            .ignore()
            .zrem(ARI_KEY, host)
            .ignore();
        let (n,): (u64,) = self
            .run("DEL certificate", pipe.query_async(&mut conn))
            .await?;
        Ok(n > 0)
    }

    /// Every host with a certificate entry, with its renewal time, sorted by host.
    pub async fn cert_hosts(&self) -> Result<Vec<(String, u64)>, MapError> {
        let mut conn = self.conn();
        let mut all: Vec<(String, u64)> = self
            .run(
                "ZRANGE renewals",
                conn.zrange_withscores::<_, Vec<(String, u64)>>(RENEW_KEY, 0, -1),
            )
            .await?;
        all.sort();
        Ok(all)
    }

    /// Hosts whose renewal time has come, at most `limit`.
    pub async fn renewals_due(&self, now_ms: u64, limit: isize) -> Result<Vec<String>, MapError> {
        let mut conn = self.conn();
        self.run(
            "ZRANGEBYSCORE renewals",
            conn.zrangebyscore_limit(RENEW_KEY, "-inf", now_ms, 0, limit),
        )
        .await
    }

    /// When `host`'s certificate is due for renewal (ms since the epoch), if it has one.
    pub async fn renewal_of(&self, host: &str) -> Result<Option<u64>, MapError> {
        let mut conn = self.conn();
        self.run(
            "ZSCORE renewals",
            conn.zscore::<_, _, Option<u64>>(RENEW_KEY, host),
        )
        .await
    }

    /// Moves `host`'s renewal to `renew_ms`, and its next question to the CA's renewal
    /// information to `ask_ms` (`None`: the CA offers none, so never).
    pub async fn renewal_set(
        &self,
        host: &str,
        renew_ms: u64,
        ask_ms: Option<u64>,
    ) -> Result<(), MapError> {
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        pipe.atomic().zadd(RENEW_KEY, host, renew_ms).ignore();
        match ask_ms {
            Some(at) => pipe.zadd(ARI_KEY, host, at).ignore(),
            None => pipe.zrem(ARI_KEY, host).ignore(),
        };
        self.run("ZADD renewals", pipe.query_async::<()>(&mut conn))
            .await
    }

    /// When the CA's renewal information for `host` is next asked (ms since the epoch);
    /// `None` when the CA offers none or `host` has no certificate.
    pub async fn renewal_info_of(&self, host: &str) -> Result<Option<u64>, MapError> {
        let mut conn = self.conn();
        self.run(
            "ZSCORE renewal info",
            conn.zscore::<_, _, Option<u64>>(ARI_KEY, host),
        )
        .await
    }

    /// Stops asking the CA's renewal information for `host` (its certificate is gone).
    pub async fn renewal_info_drop(&self, host: &str) -> Result<(), MapError> {
        let mut conn = self.conn();
        self.run("ZREM renewal info", conn.zrem::<_, _, ()>(ARI_KEY, host))
            .await
    }

    /// Hosts whose renewal information is due to be asked again, at most `limit`.
    pub async fn renewal_info_due(
        &self,
        now_ms: u64,
        limit: isize,
    ) -> Result<Vec<String>, MapError> {
        let mut conn = self.conn();
        self.run(
            "ZRANGEBYSCORE renewal info",
            conn.zrangebyscore_limit(ARI_KEY, "-inf", now_ms, 0, limit),
        )
        .await
    }

    /// The sealed ACME account, if one was created.
    pub async fn account_get(&self) -> Result<Option<String>, MapError> {
        let mut conn = self.conn();
        self.run("GET account", conn.get(ACCOUNT_KEY)).await
    }

    /// Stores the sealed ACME account, unless another publisher stored one first; returns
    /// whether this one was stored.
    pub async fn account_put(&self, sealed: &str) -> Result<bool, MapError> {
        let mut conn = self.conn();
        self.run("SET account", conn.set_nx(ACCOUNT_KEY, sealed))
            .await
    }

    /// Stores an HTTP-01 key authorisation for an hour, for any publisher to answer.
    pub async fn token_put(&self, token: &str, key_authorization: &str) -> Result<(), MapError> {
        let mut conn = self.conn();
        self.run(
            "SET token",
            conn.set_ex::<_, _, ()>(format!("{TOKEN_PREFIX}{token}"), key_authorization, 3600),
        )
        .await
    }

    /// The key authorisation of an HTTP-01 token, if an order of any publisher set it.
    pub async fn token_get(&self, token: &str) -> Result<Option<String>, MapError> {
        let mut conn = self.conn();
        self.run("GET token", conn.get(format!("{TOKEN_PREFIX}{token}")))
            .await
    }

    /// Takes the lock `name` for `ttl` as `owner`; false if someone holds it.
    pub async fn lock(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, MapError> {
        let mut conn = self.conn();
        let opts = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(ttl.as_millis() as u64));
        let set: Option<String> = self
            .run(
                "SET lock",
                conn.set_options(format!("{LOCK_PREFIX}{name}"), owner, opts),
            )
            .await?;
        Ok(set.is_some())
    }

    /// Gives back the lock `name` if `owner` still holds it.
    pub async fn unlock(&self, name: &str, owner: &str) -> Result<(), MapError> {
        let mut conn = self.conn();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(UNLOCK_LUA)
            .arg(1)
            .arg(format!("{LOCK_PREFIX}{name}"))
            .arg(owner);
        self.run("unlock", cmd.query_async::<u64>(&mut conn))
            .await
            .map(|_| ())
    }

    /// Queues `host` for an order at `due_ms`; a host already queued keeps its time unless
    /// `reschedule`.
    pub async fn queue_add(
        &self,
        host: &str,
        due_ms: u64,
        reschedule: bool,
    ) -> Result<(), MapError> {
        let mut conn = self.conn();
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(QUEUE_KEY);
        if !reschedule {
            cmd.arg("NX");
        }
        cmd.arg(due_ms).arg(host);
        self.run("ZADD queue", cmd.query_async::<u64>(&mut conn))
            .await
            .map(|_| ())
    }

    /// Hosts whose order is due, at most `limit`.
    pub async fn queue_due(&self, now_ms: u64, limit: isize) -> Result<Vec<String>, MapError> {
        let mut conn = self.conn();
        self.run(
            "ZRANGEBYSCORE queue",
            conn.zrangebyscore_limit(QUEUE_KEY, "-inf", now_ms, 0, limit),
        )
        .await
    }

    /// Takes `host` off the queue.
    pub async fn queue_remove(&self, host: &str) -> Result<(), MapError> {
        let mut conn = self.conn();
        self.run("ZREM queue", conn.zrem::<_, _, u64>(QUEUE_KEY, host))
            .await
            .map(|_| ())
    }

    /// Hosts queued, with when (ms since the epoch).
    pub async fn queue_all(&self) -> Result<Vec<(String, u64)>, MapError> {
        let mut conn = self.conn();
        self.run(
            "ZRANGE queue",
            conn.zrange_withscores::<_, Vec<(String, u64)>>(QUEUE_KEY, 0, -1),
        )
        .await
    }

    /// Records a failed order of `host`: one more attempt, its error, the next attempt.
    pub async fn status_failed(
        &self,
        host: &str,
        error: &str,
        next_attempt_ms: u64,
    ) -> Result<u32, MapError> {
        let mut conn = self.conn();
        let key = format!("{STATUS_PREFIX}{host}");
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hincr(&key, "attempts", 1)
            .hset(&key, "last_error", error)
            .ignore()
            .hset(&key, "next_attempt", next_attempt_ms)
            .ignore();
        let (attempts,): (u32,) = self.run("HSET status", pipe.query_async(&mut conn)).await?;
        Ok(attempts)
    }

    /// What the store remembers of `host`'s orders.
    pub async fn status_get(&self, host: &str) -> Result<OrderStatus, MapError> {
        let mut conn = self.conn();
        let fields: std::collections::HashMap<String, String> = self
            .run(
                "HGETALL status",
                conn.hgetall(format!("{STATUS_PREFIX}{host}")),
            )
            .await?;
        Ok(OrderStatus {
            attempts: fields
                .get("attempts")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            last_error: fields.get("last_error").cloned(),
            next_attempt_ms: fields.get("next_attempt").and_then(|v| v.parse().ok()),
        })
    }

    /// Counts one more order in the current hour, for every publisher; returns the count.
    pub async fn orders_this_hour(&self, hour: u64) -> Result<u64, MapError> {
        let mut conn = self.conn();
        let key = format!("{ORDERS_PREFIX}{hour}");
        let mut pipe = redis::pipe();
        pipe.atomic().incr(&key, 1).expire(&key, 7200).ignore();
        let (n,): (u64,) = self.run("INCR orders", pipe.query_async(&mut conn)).await?;
        Ok(n)
    }
}
