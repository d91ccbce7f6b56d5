//! The domain map in Redis; the only module that talks to Redis.
//!
//! Key layout (documented in README, editable with plain `redis-cli`): one string key per
//! host, `vitrine:domain:<normalised host>` -> `<shard>/<site-id>/site.xml`, and, written by
//! the exporter, one set per site, `vitrine:site:<site-id>:domains`, holding the domains the
//! site declared at its last export (so the next export knows which ones it dropped).
//!
//! Every request does one `GET` over a single multiplexed connection (redis-rs
//! `ConnectionManager`): concurrent lookups are pipelined on it, no connection is opened per
//! request, and a remap in Redis is visible on the very next request. Each lookup has a
//! deadline, because a paused Redis would otherwise hold requests until the TCP timeout, and
//! the manager reconnects in the background after a dropped connection.
//!
//! The exporter uses [`MapWriter`]: a blocking connection for its own threads, every call
//! pipelined over a batch of sites, ownership changes done by Lua scripts so that a check and
//! the writes it allows are one atomic step (two exporters cannot both take a domain).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Value};

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

/// Claims the domains a site declares, all or none, and releases those it no longer declares.
///
/// KEYS[1] is the site's domain set; ARGV: the site's map value, the domain key prefix, the
/// number n of declared domains, the n domains, then domains the site declared before (from
/// its previous XML). A declared domain mapped to another value stops everything (nothing is
/// written) and is returned with its current value. Dropped domains (previous set and XML,
/// minus the declared ones) are deleted only while they still point at this site. The script
/// computes those keys itself, so the map must live in one standalone Redis (it does).
const CLAIM_LUA: &str = r"
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
local previous = redis.call('SMEMBERS', KEYS[1])
for i = 4 + n, #ARGV do table.insert(previous, ARGV[i]) end
for _, host in ipairs(previous) do
  if not seen[host] then
    seen[host] = true
    if redis.call('GET', prefix .. host) == path then
      redis.call('DEL', prefix .. host)
      table.insert(removed, host)
    end
  end
end
redis.call('DEL', KEYS[1])
if n > 0 then redis.call('SADD', KEYS[1], unpack(ARGV, 4, 3 + n)) end
return {'ok', added, removed}
";

/// Releases every domain of a site: those of its set and the extra ones given (from its
/// XML), each only while it still points at the site; then deletes the set.
///
/// KEYS[1] is the site's domain set; ARGV: the site's map value, the domain key prefix, then
/// the extra domains.
const RELEASE_LUA: &str = r"
local path, prefix = ARGV[1], ARGV[2]
local hosts = redis.call('SMEMBERS', KEYS[1])
for i = 3, #ARGV do table.insert(hosts, ARGV[i]) end
local removed, seen = {}, {}
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
return removed
";

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
        Ok(reply.first().map(texts).unwrap_or_default())
    }
}
