//! The domain map in Redis; the only module that talks to Redis.
//!
//! Key layout (documented in README, editable with plain `redis-cli`): one string key per
//! host, `vitrine:domain:<normalised host>` -> `<shard>/<site-id>/site.xml`, and, written by
//! the exporter, one set per site, `vitrine:site:<site-id>:domains`, holding the domains the
//! site declared at its last export (so the next export knows which ones it dropped).
//!
//! Every request does one `GET` over a single multiplexed connection (redis-rs
//! `ConnectionManager`): concurrent lookups are pipelined on it, no connection is opened per
//! request, and a remap in Redis is visible on the very next request. The publisher's
//! connection also keeps answers in process with Redis's server-assisted client-side caching
//! ([`RedisMap::connect_with`]), trusted only while a heartbeat proves the connection alive;
//! with it, a remap is visible once Redis's invalidation push has arrived (milliseconds: it
//! is not ordered with the reply to whoever wrote the key).
//!
//! # Failures
//!
//! What redis-rs does by itself (redis 1.x, `aio/connection_manager.rs` and
//! `errors/redis_error.rs`): when a command fails because the connection dropped, the error
//! is returned and a reconnection starts in the background; the failed command is not
//! retried. A *timeout* is not a dropped connection (`RetryMethod::RetryImmediately`), so it
//! never triggers a reconnection (redis-rs PR #1032, against connection storms). A paused
//! Redis, or a peer gone without a reset (half-open TCP), would therefore leave the manager
//! on a connection that never answers again. So, here:
//!
//! - every lookup has a deadline and fails at it (the caller then serves the last known
//!   answer, see [`super::last_known`]);
//! - a lookup that times out replaces the manager by a fresh, lazily connecting one, at most
//!   once per [`REPLACE_INTERVAL`] (no connection storm); the old connection is closed when
//!   the last lookup using it ends;
//! - **outage mode** (the publisher, [`MapOptions::probe`](super::MapOptions)): once a
//!   lookup or a ping has found Redis unreachable, Redis is *known down* and lookups fail at
//!   once, without being sent, so no request pays the deadline again; a ping every
//!   [`HEARTBEAT`] is the only thing still sent, and its first answer ends the outage;
//! - concurrent lookups of one host share one round trip (single flight), so a burst of
//!   requests for a few hosts costs a few `GET`s;
//! - at most [`MAX_IN_FLIGHT`] distinct lookups wait on Redis at once; beyond, a lookup fails
//!   at once ([`MapError::Saturated`], not an outage) instead of queueing.
//!
//! # The exporter's writer
//!
//! The exporter uses [`MapWriter`]: a blocking connection for its own threads, every call
//! pipelined over a batch of sites, ownership changes done by Lua scripts so that a check and
//! the writes it allows are one atomic step (two exporters cannot both take a domain).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::caching::{CacheConfig, CacheMode};
use redis::{AsyncCommands, CommandCacheConfig, IntoConnectionInfo, ProtocolVersion, Value};
use tokio::sync::{OnceCell, Semaphore};

use super::{MapError, MapOptions};

pub mod certs;

/// Prefix of every domain key.
pub const KEY_PREFIX: &str = "vitrine:domain:";

/// Distinct lookups allowed to wait on Redis at once (concurrent lookups of one host count
/// once). A healthy Redis answers a pipelined `GET` in well under a millisecond.
pub const MAX_IN_FLIGHT: usize = 1024;

/// Interval of the liveness ping when lookups are cached.
pub const HEARTBEAT: Duration = Duration::from_millis(100);

/// Cached answers are used only if Redis answered on the connection this recently.
pub const CACHE_TRUST: Duration = Duration::from_millis(300);

/// Least time between two replacements of the connection after timeouts.
pub const REPLACE_INTERVAL: Duration = Duration::from_secs(1);

/// Client-side caching of lookups (see [`RedisMap::connect_with`]).
#[derive(Debug, Clone, Copy)]
pub struct MapCache {
    /// Most hosts kept.
    pub entries: std::num::NonZeroUsize,
    /// Longest time an answer is kept, even without an invalidation.
    pub ttl: Duration,
}

/// Handle on the Redis domain map; cheap to clone (one shared connection).
#[derive(Clone)]
pub struct RedisMap {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    config: ConnectionManagerConfig,
    slot: ArcSwap<Slot>,
    generations: AtomicU64,
    in_flight: Semaphore,
    /// Lookups under way, by host: later lookups of the same host wait for the first one.
    flights: Mutex<HashMap<String, Flight>>,
    /// Outage mode is on (see the module doc).
    probe: bool,
    /// Redis is known down: set when a lookup or ping gets no answer, cleared by a ping's.
    down: AtomicBool,
    url: String,
    deadline: Duration,
    /// Client-side caching is configured (opt-in per lookup, see [`RedisMap::get`]).
    cached: bool,
    /// When Redis last answered on the current connection, in ms since `epoch`.
    last_answer_ms: AtomicU64,
    epoch: Instant,
}

/// One lookup under way, shared by every request for its host that arrives meanwhile.
type Flight = Arc<OnceCell<Result<Option<String>, MapError>>>;

/// The connection in use and when it was made.
struct Slot {
    conn: ConnectionManager,
    generation: u64,
    born: Instant,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> MapError {
    MapError::Unavailable {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

impl RedisMap {
    /// Connects to `url` (`redis://host:port/db`) for a one-shot command: no cache, no
    /// outage mode. Fails if Redis cannot be reached now.
    pub async fn connect(url: &str, deadline: Duration) -> Result<RedisMap, MapError> {
        Self::connect_with(url, MapOptions::once(deadline)).await
    }

    /// Connects as `options` say: Redis's server-assisted client-side caching of lookups
    /// when `options.cache` is given, outage mode when `options.probe` is set (the
    /// publisher's case for both).
    ///
    /// With `CLIENT TRACKING` (RESP3), Redis remembers which keys this connection read and
    /// pushes an invalidation as soon as one of them is written or deleted, so answers can be
    /// kept in process: a hot host costs no round trip, yet a remap reaches the publisher
    /// with the invalidation, before its next lookup of that host in practice. redis-rs
    /// (`cache-aio`) keeps the cache, drops it whole when the connection is re-established
    /// (invalidations may have been missed meanwhile), and keys entries by command, so a
    /// missing host (nil) is cached and invalidated the same way. `ttl` bounds how long an
    /// entry lives regardless, so a lost invalidation cannot leave a stale answer longer than
    /// that.
    pub async fn connect_with(url: &str, options: MapOptions) -> Result<RedisMap, MapError> {
        let MapOptions {
            deadline,
            cache,
            probe,
            ..
        } = options;
        let mut info = url
            .into_connection_info()
            .map_err(|e| MapError::Invalid(format!("redis URL {url:?}: {e}")))?;
        if cache.is_some() {
            let settings = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info)
            .map_err(|e| MapError::Invalid(format!("redis URL {url:?}: {e}")))?;
        // Reconnection attempts after a dropped connection: quick, so that a restarted
        // Redis is used again within about a second, and few, because every lookup that
        // finds the attempts exhausted starts new ones.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(deadline))
            .set_number_of_retries(3)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let config = match cache {
            Some(c) => config.set_cache_config(
                CacheConfig::new()
                    .set_mode(CacheMode::OptIn)
                    .set_size(c.entries)
                    .set_default_client_ttl(c.ttl),
            ),
            None => config,
        };
        let conn = ConnectionManager::new_with_config(client.clone(), config.clone())
            .await
            .map_err(|e| unavailable(&format!("connecting to {url}"), e))?;
        let map = RedisMap {
            inner: Arc::new(Inner {
                client,
                config,
                slot: ArcSwap::from_pointee(Slot {
                    conn,
                    generation: 0,
                    born: Instant::now(),
                }),
                generations: AtomicU64::new(0),
                in_flight: Semaphore::new(MAX_IN_FLIGHT),
                flights: Mutex::new(HashMap::new()),
                probe,
                down: AtomicBool::new(false),
                url: url.to_owned(),
                deadline,
                cached: cache.is_some(),
                last_answer_ms: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        };
        if cache.is_some() || probe {
            map.spawn_heartbeat();
        }
        Ok(map)
    }

    /// Pings Redis every [`HEARTBEAT`] on the lookup connection. Cached answers are used
    /// only while the last reply is recent: a reply proves that every invalidation Redis
    /// sent before it has arrived (one ordered stream), so a cached answer is at most about
    /// [`CACHE_TRUST`] older than Redis's truth. A ping that fails replaces the connection,
    /// which also empties the cache, and (outage mode) marks Redis down; a ping answered
    /// marks it up. The task ends with the map.
    fn spawn_heartbeat(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let map = RedisMap { inner };
                let slot = map.inner.slot.load_full();
                let mut conn = slot.conn.clone();
                let ping = redis::cmd("PING");
                let reply = ping.query_async::<()>(&mut conn);
                match tokio::time::timeout(map.inner.deadline, reply).await {
                    Ok(Ok(())) => {
                        map.answered();
                        map.inner.down.store(false, Ordering::Relaxed);
                    }
                    Ok(Err(_)) | Err(_) => {
                        map.mark_down();
                        map.replace(&slot);
                    }
                }
            }
        });
    }

    /// Enters outage mode (when enabled): lookups fail at once until a ping is answered.
    fn mark_down(&self) {
        if self.inner.probe {
            self.inner.down.store(true, Ordering::Relaxed);
        }
    }

    /// Whether Redis is known down: lookups are not sent (outage mode only).
    pub fn known_down(&self) -> bool {
        self.inner.down.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        self.inner.epoch.elapsed().as_millis() as u64
    }

    fn answered(&self) {
        self.inner
            .last_answer_ms
            .fetch_max(self.now_ms(), Ordering::Relaxed);
    }

    /// Whether a cached answer may be used now.
    fn cache_trusted(&self) -> bool {
        self.inner.cached
            && self
                .now_ms()
                .saturating_sub(self.inner.last_answer_ms.load(Ordering::Relaxed))
                < CACHE_TRUST.as_millis() as u64
    }

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    fn key(host: &str) -> String {
        format!("{KEY_PREFIX}{host}")
    }

    /// Looks up one host, within the deadline; at once while Redis is known down. Lookups
    /// of the same host made while one is under way get its answer.
    pub async fn get(&self, host: &str) -> Result<Option<String>, MapError> {
        if self.known_down() {
            return Err(unavailable(
                &format!("GET {}", Self::key(host)),
                "Redis is down (no answer to the last lookup or ping); not asked until a ping \
                 is answered",
            ));
        }
        let flight = {
            let mut flights = self.flights();
            match flights.get(host) {
                Some(f) => f.clone(),
                None => {
                    let f = Flight::default();
                    flights.insert(host.to_owned(), f.clone());
                    f
                }
            }
        };
        // If the lookup that runs `lookup` is dropped (its request went away), the next
        // waiter runs it instead: nobody is left waiting on a cancelled lookup.
        let result = flight.get_or_init(|| self.lookup(host)).await.clone();
        let mut flights = self.flights();
        if flights.get(host).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            flights.remove(host);
        }
        result
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<String, Flight>> {
        // Every update is one insert or remove: a poisoned lock is still consistent.
        self.inner.flights.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One `GET` round trip (or cache hit), within the deadline.
    async fn lookup(&self, host: &str) -> Result<Option<String>, MapError> {
        self.cached_get(Self::key(host)).await
    }

    /// `GET key` within the deadline, answered from the client-side cache while it is
    /// trusted; counts against the bound on waiting lookups.
    async fn cached_get(&self, key: String) -> Result<Option<String>, MapError> {
        let Ok(_permit) = self.inner.in_flight.try_acquire() else {
            return Err(MapError::Saturated {
                what: format!("GET {key}"),
                waiting: MAX_IN_FLIGHT,
            });
        };
        let slot = self.inner.slot.load_full();
        let mut conn = slot.conn.clone();
        let deadline = self.inner.deadline;
        let mut cmd = redis::cmd("GET");
        cmd.arg(&key);
        let cacheable = self.cache_trusted();
        if cacheable {
            cmd.set_cache_config(CommandCacheConfig::new());
        }
        match tokio::time::timeout(deadline, cmd.query_async::<Option<String>>(&mut conn)).await {
            Ok(Ok(v)) => {
                // Only a reply that certainly came from Redis proves the connection alive;
                // a cacheable lookup may have been answered from the cache.
                if !cacheable {
                    self.answered();
                }
                Ok(v)
            }
            // Redis answered: it is up, and this one key holds a list, a hash...
            Ok(Err(e)) if e.code() == Some("WRONGTYPE") => {
                self.answered();
                Err(MapError::BadEntry {
                    key,
                    detail: e.to_string(),
                })
            }
            Ok(Err(e)) => {
                self.mark_down();
                if e.is_timeout() {
                    self.replace(&slot);
                }
                Err(unavailable(&format!("GET {key}"), e))
            }
            Err(_) => {
                self.mark_down();
                self.replace(&slot);
                Err(unavailable(
                    &format!("GET {key}"),
                    format!("no answer within {deadline:?}"),
                ))
            }
        }
    }

    /// Swaps in a fresh connection manager after a timeout on `stale`, unless it is recent
    /// or another lookup already replaced it. The new manager connects on its first use.
    fn replace(&self, stale: &Arc<Slot>) {
        if stale.born.elapsed() < REPLACE_INTERVAL {
            return;
        }
        let conn = match ConnectionManager::new_lazy_with_config(
            self.inner.client.clone(),
            self.inner.config.clone(),
        ) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("cannot replace the Redis connection: {e}");
                return;
            }
        };
        let generation = self.inner.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let fresh = Arc::new(Slot {
            conn,
            generation,
            born: Instant::now(),
        });
        let prev = self.inner.slot.compare_and_swap(stale, fresh);
        if Arc::ptr_eq(&prev, stale) {
            tracing::debug!(
                "Redis did not answer within {:?}: replaced connection {} by {generation}",
                self.inner.deadline,
                stale.generation
            );
        }
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.slot.load().conn.clone()
    }

    /// Maps `host` to `path`.
    pub async fn set(&self, host: &str, path: &str) -> Result<(), MapError> {
        let mut conn = self.conn();
        conn.set::<_, _, ()>(Self::key(host), path)
            .await
            .map_err(|e| unavailable("SET", e))
    }

    /// Removes `host`; returns whether it existed.
    pub async fn remove(&self, host: &str) -> Result<bool, MapError> {
        let mut conn = self.conn();
        let n: u64 = conn
            .del(Self::key(host))
            .await
            .map_err(|e| unavailable("DEL", e))?;
        Ok(n > 0)
    }

    /// Sets many entries in one pipelined round trip.
    pub async fn set_many(&self, entries: &[(String, String)]) -> Result<(), MapError> {
        let mut conn = self.conn();
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
        let mut conn = self.conn();
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
        let mut conn = self.conn();
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

// ---------------------------------------------------------------------------------------
// The exporter's side: batched, blocking, atomic ownership changes
// ---------------------------------------------------------------------------------------

/// Prefix of the per-site domain sets (`vitrine:site:<id>:domains`).
pub const SITE_PREFIX: &str = "vitrine:site:";

/// Most commands sent in one pipelined round trip.
const BATCH: usize = 500;

/// The key of the set of domains a site declared at its last export.
pub fn site_domains_key(site_id: &str) -> String {
    format!("{SITE_PREFIX}{site_id}:domains")
}

/// The Lua both scripts below end with: delete each domain of `hosts` (once) that still
/// points at the site (`path`), noting it in `removed`; then the site's domain set. A domain
/// another site has taken meanwhile is left alone. Expects `path`, `prefix`, `hosts`,
/// `removed` and `seen` (the domains not to release) to be defined.
macro_rules! release_hosts_lua {
    () => {
        r"
for _, host in ipairs(hosts) do
  if not seen[host] then
    seen[host] = true
    if redis.call('GET', prefix .. host) == path then
      redis.call('DEL', prefix .. host)
      table.insert(removed, host)
    end
  end
end
redis.call('DEL', KEYS[1])
"
    };
}

/// Claims the domains a site declares, all or none, and releases those it no longer declares.
///
/// KEYS[1] is the site's domain set; ARGV: the site's map value, the domain key prefix, the
/// number n of declared domains, the n domains, then domains the site declared before (from
/// its previous XML). A declared domain mapped to another value stops everything (nothing is
/// written) and is returned with its current value. Dropped domains (previous set and XML,
/// minus the declared ones) are deleted only while they still point at this site. The script
/// computes those keys itself, so the map must live in one standalone Redis (it does).
const CLAIM_LUA: &str = concat!(
    r"
local path, prefix, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local seen = {}
for i = 4, 3 + n do
  seen[ARGV[i]] = true
  local cur = redis.call('GET', prefix .. ARGV[i])
  if cur and cur ~= path then
    return {'conflict', ARGV[i], cur}
  end
end
local added, removed = {}, {}
for i = 4, 3 + n do
  local key = prefix .. ARGV[i]
  if redis.call('GET', key) ~= path then
    redis.call('SET', key, path)
    table.insert(added, ARGV[i])
  end
end
local hosts = redis.call('SMEMBERS', KEYS[1])
for i = 4 + n, #ARGV do table.insert(hosts, ARGV[i]) end
",
    release_hosts_lua!(),
    r"
if n > 0 then redis.call('SADD', KEYS[1], unpack(ARGV, 4, 3 + n)) end
return {'ok', added, removed}
"
);
/// Releases every domain of a site: those of its set and the extra ones given (from its
/// XML), each only while it still points at the site; then deletes the set.
///
/// KEYS[1] is the site's domain set; ARGV: the site's map value, the domain key prefix, then
/// the extra domains.
const RELEASE_LUA: &str = concat!(
    r"
local path, prefix = ARGV[1], ARGV[2]
local hosts = redis.call('SMEMBERS', KEYS[1])
for i = 3, #ARGV do table.insert(hosts, ARGV[i]) end
local removed, seen = {}, {}
",
    release_hosts_lua!(),
    r"
return removed
"
);
/// One site's claim: its map value, the domains it declares (main first) and the domains its
/// previous version declared, if known.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The site's map value, `<shard>/<id>/site.xml`.
    pub path: &'a str,
    /// The site id.
    pub site_id: &'a str,
    /// Normalised domains the site declares now.
    pub domains: &'a [String],
    /// Domains its previous XML declared (the set in Redis is consulted as well).
    pub previous: &'a [String],
}

/// What a claim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Applied: `added` were unmapped and now point at the site, `removed` were released.
    Applied {
        /// Domains newly mapped to the site.
        added: Vec<String>,
        /// Domains no longer declared, removed from the map.
        removed: Vec<String>,
    },
    /// Nothing written: `domain` is mapped to another site.
    Conflict {
        /// The contested domain.
        domain: String,
        /// Its current map value (`<shard>/<other-id>/site.xml`).
        owner: String,
    },
}

/// A blocking connection to the domain map for the exporter's threads.
pub struct MapWriter {
    conn: redis::Connection,
    url: String,
    /// SHA1 of the loaded claim script (EVALSHA sends the hash, not the code).
    claim_sha: String,
    /// SHA1 of the loaded release script.
    release_sha: String,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

fn is_noscript(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript)
}

impl MapWriter {
    /// Connects to `url`, with `timeout` on connecting and on every reply.
    pub fn connect(url: &str, timeout: Duration) -> Result<MapWriter, MapError> {
        let client = redis::Client::open(url)
            .map_err(|e| MapError::Invalid(format!("redis URL {url:?}: {e}")))?;
        let conn = client
            .get_connection_with_timeout(timeout)
            .map_err(|e| unavailable(&format!("connecting to {url}"), e))?;
        conn.set_read_timeout(Some(timeout))
            .and_then(|()| conn.set_write_timeout(Some(timeout)))
            .map_err(|e| unavailable(&format!("configuring the connection to {url}"), e))?;
        let mut writer = MapWriter {
            conn,
            url: url.to_owned(),
            claim_sha: String::new(),
            release_sha: String::new(),
        };
        writer.load_scripts()?;
        Ok(writer)
    }

    /// The URL connected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn load_scripts(&mut self) -> Result<(), MapError> {
        let mut load = |code: &str| -> Result<String, MapError> {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(code)
                .query(&mut self.conn)
                .map_err(|e| unavailable("SCRIPT LOAD", e))
        };
        self.claim_sha = load(CLAIM_LUA)?;
        self.release_sha = load(RELEASE_LUA)?;
        Ok(())
    }

    /// The current map value of each host (in order), pipelined.
    pub fn owners(&mut self, hosts: &[&str]) -> Result<Vec<Option<String>>, MapError> {
        let mut out = Vec::with_capacity(hosts.len());
        for chunk in hosts.chunks(BATCH) {
            let keys: Vec<String> = chunk.iter().map(|h| RedisMap::key(h)).collect();
            let values: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query(&mut self.conn)
                .map_err(|e| unavailable("MGET", e))?;
            out.extend(values);
        }
        Ok(out)
    }

    /// Runs one pipelined batch of script calls, reloading the scripts once if Redis lost
    /// them (restart, SCRIPT FLUSH). The scripts are idempotent, so a retry is safe.
    fn run_scripts(
        &mut self,
        what: &str,
        build: impl Fn(&Self) -> redis::Pipeline,
    ) -> Result<Vec<Value>, MapError> {
        match build(self).query::<Vec<Value>>(&mut self.conn) {
            Err(e) if is_noscript(&e) => {
                self.load_scripts()?;
                build(self)
                    .query(&mut self.conn)
                    .map_err(|e| unavailable(what, e))
            }
            other => other.map_err(|e| unavailable(what, e)),
        }
    }

    /// Applies claims in pipelined batches; one outcome per claim, in order. Each claim is
    /// atomic on its own (see [`ClaimOutcome`]).
    pub fn claim_all(&mut self, claims: &[Claim<'_>]) -> Result<Vec<ClaimOutcome>, MapError> {
        let mut out = Vec::with_capacity(claims.len());
        for chunk in claims.chunks(BATCH) {
            let build = |me: &Self| {
                let mut pipe = redis::pipe();
                for c in chunk {
                    pipe.cmd("EVALSHA")
                        .arg(&me.claim_sha)
                        .arg(1)
                        .arg(site_domains_key(c.site_id))
                        .arg(c.path)
                        .arg(KEY_PREFIX)
                        .arg(c.domains.len())
                        .arg(c.domains)
                        .arg(c.previous);
                }
                pipe
            };
            for reply in self.run_scripts("claiming domains", build)? {
                let Value::Array(items) = reply else {
                    return Err(unavailable("claiming domains", "unexpected reply"));
                };
                let outcome = match (items.first().and_then(text).as_deref(), items.as_slice()) {
                    (Some("ok"), [_, added, removed]) => ClaimOutcome::Applied {
                        added: texts(added),
                        removed: texts(removed),
                    },
                    (Some("conflict"), [_, domain, owner]) => ClaimOutcome::Conflict {
                        domain: text(domain).unwrap_or_default(),
                        owner: text(owner).unwrap_or_default(),
                    },
                    _ => return Err(unavailable("claiming domains", "unexpected reply")),
                };
                out.push(outcome);
            }
            // Domains new to the map are queued for a certificate now, so that it is there
            // before the first visitor (the ACME workers of the publishers drain the queue;
            // a domain that already has one is dropped from it by the worker).
            let (mut added, mut removed) = (Vec::new(), Vec::new());
            for outcome in &out[out.len() - chunk.len()..] {
                if let ClaimOutcome::Applied {
                    added: a,
                    removed: r,
                } = outcome
                {
                    added.extend(a);
                    removed.extend(r);
                }
            }
            if !removed.is_empty() {
                redis::cmd("ZREM")
                    .arg(certs::QUEUE_KEY)
                    .arg(&removed)
                    .query::<()>(&mut self.conn)
                    .map_err(|e| unavailable("dropping certificate orders", e))?;
            }
            if !added.is_empty() {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                let mut pipe = redis::pipe();
                for host in added {
                    pipe.cmd("ZADD")
                        .arg(certs::QUEUE_KEY)
                        .arg("NX")
                        .arg(now_ms)
                        .arg(host)
                        .ignore();
                }
                pipe.query::<()>(&mut self.conn)
                    .map_err(|e| unavailable("queueing certificate orders", e))?;
            }
        }
        Ok(out)
    }

    /// Removes every domain of a site from the map (its set, plus `extra`, each only while it
    /// points at `path`) and deletes its set. Returns the removed domains.
    pub fn release(
        &mut self,
        site_id: &str,
        path: &str,
        extra: &[String],
    ) -> Result<Vec<String>, MapError> {
        let build = |me: &Self| {
            let mut pipe = redis::pipe();
            pipe.cmd("EVALSHA")
                .arg(&me.release_sha)
                .arg(1)
                .arg(site_domains_key(site_id))
                .arg(path)
                .arg(KEY_PREFIX)
                .arg(extra);
            pipe
        };
        let reply = self.run_scripts("releasing domains", build)?;
        let removed = reply.first().map(texts).unwrap_or_default();
        // A domain that left the map is no longer ordered.
        if !removed.is_empty() {
            redis::cmd("ZREM")
                .arg(certs::QUEUE_KEY)
                .arg(&removed)
                .query::<()>(&mut self.conn)
                .map_err(|e| unavailable("dropping certificate orders", e))?;
        }
        Ok(removed)
    }
}
