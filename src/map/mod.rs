//! The domain map: normalised host -> site XML path, relative to the sites root.
//!
//! [`DomainMap`] is Redis in production ([`redis`], the only module that talks to Redis,
//! for the server's lookups and the exporter's writes alike), or an in-memory map of the
//! domains the site XMLs declare ([`memory`]) for a first run without Redis. While Redis is
//! down, the server answers from the last known answers ([`last_known`]).

pub mod last_known;
pub mod memory;
pub mod redis;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::site::Host;

/// Default deadline of one map lookup.
pub const LOOKUP_DEADLINE: Duration = Duration::from_millis(250);

/// Errors of the domain map itself.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MapError {
    /// Redis did not answer (down, paused, unreachable) within the deadline.
    #[error("domain map unavailable ({what}): {detail}")]
    Unavailable {
        /// What was being done.
        what: String,
        /// The underlying error.
        detail: String,
    },
    /// Too many distinct hosts wait on Redis at once: this lookup was not sent. Redis may be
    /// healthy (a burst of new hosts), so this is no outage.
    #[error("domain map busy ({what}): {waiting} distinct lookups already wait on Redis")]
    Saturated {
        /// What was being done.
        what: String,
        /// The bound that was reached.
        waiting: usize,
    },
    /// One entry of the map is not a site path (a key of another Redis type): that host is
    /// broken, the map is not down.
    #[error(
        "domain map entry {key} is not a string ({detail}); its host gets 503 until it is \
         fixed: set it again with `vitrine domains set`, or delete it (redis-cli DEL {key})"
    )]
    BadEntry {
        /// The Redis key.
        key: String,
        /// What Redis said.
        detail: String,
    },
    /// A value given to the map is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A file could not be read while building or importing a map.
    #[error("{path}: {detail}")]
    Source {
        /// The file.
        path: String,
        /// What went wrong, with the line if any.
        detail: String,
    },
}

/// How [`DomainMap::open`] uses Redis.
#[derive(Debug, Clone, Copy)]
pub struct MapOptions {
    /// Deadline of one lookup.
    pub deadline: Duration,
    /// Client-side caching of answers (the publisher), or none (one-shot commands).
    pub cache: Option<redis::MapCache>,
    /// How long a confirmed answer is still served while Redis is down.
    pub stale_for: Duration,
    /// Outage mode (the publisher): once a lookup or a ping misses its deadline, lookups
    /// fail at once until a background ping gets an answer, instead of each waiting for
    /// the deadline. One-shot commands ask Redis every time instead.
    pub probe: bool,
}

impl MapOptions {
    /// For a one-shot command: no cache, no stale answers.
    pub fn once(deadline: Duration) -> MapOptions {
        MapOptions {
            deadline,
            cache: None,
            stale_for: Duration::ZERO,
            probe: false,
        }
    }
}

/// The domain map: normalised host -> site XML path (relative to the sites root).
pub enum DomainMap {
    /// In-memory map built from the sites folder; for a first run without Redis.
    Memory(memory::MemoryMap),
    /// The production map in Redis, with the last known answers served while it is down.
    Redis {
        /// The map.
        map: redis::RedisMap,
        /// Answers learned from it, for outages.
        last_known: last_known::LastKnown,
    },
}

impl DomainMap {
    /// Looks `host` up. `Ok(None)` means the map does not know it. While Redis is down, a
    /// host it confirmed recently gets its last known answer (see [`last_known`]).
    pub async fn resolve(&self, host: &Host) -> Result<Option<String>, MapError> {
        use crate::observe::access_log::{note_origin, MapOrigin};
        match self {
            DomainMap::Memory(m) => {
                note_origin(MapOrigin::Memory);
                Ok(m.get(host.as_str()))
            }
            DomainMap::Redis { map, last_known } => {
                let started = Instant::now();
                let result = map.get(host.as_str()).await;
                let answered = result.is_ok();
                let settled = last_known.settle(host.as_str(), started, result);
                if settled.is_ok() {
                    // Redis failed and an answer came anyway: it was the last known one.
                    note_origin(if answered {
                        MapOrigin::Redis
                    } else {
                        MapOrigin::LastKnown
                    });
                }
                settled
            }
        }
    }

    /// Opens the map the way `vitrine serve` does: Redis at `redis` when given, else an
    /// in-memory map of the domains the site XMLs beneath `sites` declare (with the conflicts
    /// found while building it). Every command that resolves hosts goes through here, so they
    /// all resolve exactly like the server.
    pub async fn open(
        redis: Option<&str>,
        sites: &Path,
        options: MapOptions,
    ) -> Result<(DomainMap, Vec<memory::Conflict>), MapError> {
        match redis {
            Some(url) => Ok((
                DomainMap::Redis {
                    map: redis::RedisMap::connect_with(url, options).await?,
                    last_known: last_known::LastKnown::new(
                        last_known::DEFAULT_CAPACITY,
                        options.stale_for,
                    ),
                },
                Vec::new(),
            )),
            None => {
                let (map, conflicts) = memory::MemoryMap::from_sites(sites)?;
                Ok((DomainMap::Memory(map), conflicts))
            }
        }
    }

    /// What to tell an operator whose host is not in this map.
    pub fn unknown_host_hint(&self, host: &Host) -> String {
        match self {
            DomainMap::Memory(_) => format!(
                "no site XML under the sites folder declares <domain>{host}</domain>: add it \
                 to the site's <domains>, or pass --redis URL to use the production map"
            ),
            DomainMap::Redis { map, .. } => format!(
                "no key {}{host} in Redis at {}: map it with `vitrine domains set {host} \
                 SHARD/ID/site.xml`",
                redis::KEY_PREFIX,
                map.url()
            ),
        }
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            DomainMap::Memory(m) => format!("in-memory map of {} domains", m.len()),
            DomainMap::Redis { map, last_known } => format!(
                "Redis map at {} (last known answers served for {:?} while it is down)",
                map.url(),
                last_known.stale_for()
            ),
        }
    }
}
