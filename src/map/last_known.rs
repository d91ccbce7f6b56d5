//! What the server does while the domain map cannot answer: the last known answer of each
//! host, and the outage it is serving through.
//!
//! Every successful lookup records its answer here ([`LastKnown::settle`]); the table is read
//! only when a lookup fails or times out. A host confirmed within the staleness bound keeps
//! being served from its last known site file; any other host gets the map's error (503 with
//! `Retry-After`, never 404: the answer is unknown, not negative). Once Redis is known down,
//! lookups fail at once without being sent ([`super::redis`], outage mode) and only its
//! background ping is waited for; its first answer makes lookups go to Redis again, so a
//! remap made during the outage is live on the first request after that.
//!
//! The table is bounded by two generations of at most `capacity / 2` entries each: entries
//! go into the current generation; when it is full it becomes the previous one and the old
//! previous generation is dropped whole. Eviction is O(1) amortised with no per-entry
//! bookkeeping, and a host looked up at least once per `capacity / 2` distinct hosts is
//! never evicted.
//!
//! The outage itself is logged once when it starts and once when it ends (with what was
//! served meanwhile), never per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::MapError;

/// Default number of hosts remembered (about 150 bytes each).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Default staleness bound: an answer confirmed by the map less than this long ago may be
/// served while the map is down.
pub const DEFAULT_STALE_FOR: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
struct Entry {
    path: String,
    confirmed: Instant,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<String, Entry>,
    previous: HashMap<String, Entry>,
}

/// Last known answers of the domain map, and the state of the current outage.
#[derive(Debug)]
pub struct LastKnown {
    table: Mutex<Generations>,
    generation_cap: usize,
    stale_for: Duration,
    outage: Outage,
}

/// A stale answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The site file the map last named.
    pub path: String,
    /// How long ago the map confirmed it.
    pub age: Duration,
}

impl LastKnown {
    /// A table of at most `capacity` hosts whose answers may be served up to `stale_for`
    /// after the map last confirmed them (`Duration::ZERO`: never serve stale).
    pub fn new(capacity: usize, stale_for: Duration) -> LastKnown {
        LastKnown {
            table: Mutex::new(Generations::default()),
            generation_cap: (capacity / 2).max(1),
            stale_for,
            outage: Outage::default(),
        }
    }

    /// The staleness bound.
    pub fn stale_for(&self) -> Duration {
        self.stale_for
    }

    fn lock(&self) -> MutexGuard<'_, Generations> {
        // A panic while holding the lock cannot leave the maps inconsistent (every update is
        // a single insert or remove), so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the map named `path` for `host` just now.
    pub fn confirm(&self, host: &str, path: &str) {
        let now = Instant::now();
        let mut t = self.lock();
        if let Some(e) = t.current.get_mut(host) {
            if e.path != path {
                e.path = path.to_owned();
            }
            e.confirmed = now;
            return;
        }
        t.previous.remove(host);
        if t.current.len() >= self.generation_cap {
            t.previous = std::mem::take(&mut t.current);
        }
        t.current.insert(
            host.to_owned(),
            Entry {
                path: path.to_owned(),
                confirmed: now,
            },
        );
    }

    /// Records that the map does not know `host` (any more).
    pub fn forget(&self, host: &str) {
        let mut t = self.lock();
        if t.current.remove(host).is_none() {
            t.previous.remove(host);
        }
    }

    /// The last known answer for `host`, if confirmed within the staleness bound.
    pub fn stale(&self, host: &str) -> Option<Stale> {
        let t = self.lock();
        let e = t.current.get(host).or_else(|| t.previous.get(host))?;
        let age = e.confirmed.elapsed();
        (age <= self.stale_for).then(|| Stale {
            path: e.path.clone(),
            age,
        })
    }

    /// Hosts remembered (both generations).
    pub fn len(&self) -> usize {
        let t = self.lock();
        t.current.len() + t.previous.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the outcome of one lookup of `host` that started at `started` and decides the
    /// answer: a fresh answer is recorded and returned; on failure, the last known answer if
    /// it is recent enough, else the failure.
    pub fn settle(
        &self,
        host: &str,
        started: Instant,
        result: Result<Option<String>, MapError>,
    ) -> Result<Option<String>, MapError> {
        match result {
            Ok(answer) => {
                match &answer {
                    Some(path) => self.confirm(host, path),
                    None => self.forget(host),
                }
                self.outage.succeeded(started);
                Ok(answer)
            }
            // One broken entry: Redis answered, so this is no outage, and no stale answer
            // should hide the fault from the operator.
            Err(err @ MapError::BadEntry { .. }) => {
                self.outage.succeeded(started);
                Err(err)
            }
            // Too many distinct lookups at once: says nothing of Redis's health, so no
            // outage starts or ends; a host known recently is still answered.
            Err(err @ MapError::Saturated { .. }) => match self.stale(host) {
                Some(stale) => Ok(Some(stale.path)),
                None => Err(err),
            },
            Err(err) => {
                self.outage.failed(started, &err, self.stale_for);
                match self.stale(host) {
                    Some(stale) => {
                        self.outage.stale_served.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            "domain map down; serving {host} from its answer of {:?} ago",
                            stale.age
                        );
                        Ok(Some(stale.path))
                    }
                    None => {
                        self.outage.refused.fetch_add(1, Ordering::Relaxed);
                        Err(err)
                    }
                }
            }
        }
    }

    /// Whether an outage is in progress (the last lookup failed).
    pub fn in_outage(&self) -> bool {
        self.outage.down.load(Ordering::Relaxed)
    }
}

/// Outage bookkeeping: at most one "down" and one "back" log line per outage.
#[derive(Debug, Default)]
struct Outage {
    down: AtomicBool,
    state: Mutex<OutageState>,
    stale_served: AtomicU64,
    refused: AtomicU64,
}

#[derive(Debug, Default)]
struct OutageState {
    since: Option<Instant>,
    last_end: Option<Instant>,
}

impl Outage {
    fn lock(&self) -> MutexGuard<'_, OutageState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn failed(&self, started: Instant, err: &MapError, stale_for: Duration) {
        if self.down.load(Ordering::Relaxed) {
            return;
        }
        let mut s = self.lock();
        // A lookup sent before the previous outage ended says nothing about now: without
        // this, the lookups in flight when Redis comes back would start a new outage.
        if s.since.is_some() || s.last_end.is_some_and(|end| started < end) {
            return;
        }
        s.since = Some(Instant::now());
        self.stale_served.store(0, Ordering::Relaxed);
        self.refused.store(0, Ordering::Relaxed);
        self.down.store(true, Ordering::Relaxed);
        tracing::error!(
            "{err}; until it answers again, hosts it confirmed in the last {stale_for:?} are \
             served from their last known site file and other hosts get 503: check redis-server"
        );
    }

    fn succeeded(&self, started: Instant) {
        if !self.down.load(Ordering::Relaxed) {
            return;
        }
        let mut s = self.lock();
        // Symmetrically, a lookup sent before the outage began does not end it.
        let Some(since) = s.since.filter(|since| started >= *since) else {
            return;
        };
        let now = Instant::now();
        s.since = None;
        s.last_end = Some(now);
        self.down.store(false, Ordering::Relaxed);
        tracing::warn!(
            "domain map answers again after {:.1?}: {} requests were served from last known \
             answers, {} got 503",
            now - since,
            self.stale_served.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> MapError {
        MapError::Unavailable {
            what: "GET".into(),
            detail: "test".into(),
        }
    }

    #[test]
    fn bounded_by_capacity_and_recent_hosts_survive() {
        let t = LastKnown::new(100, DEFAULT_STALE_FOR);
        for i in 0..10_000 {
            t.confirm(&format!("h{i}.example"), "00/x/site.xml");
            // A host looked up regularly is never evicted.
            if i % 20 == 0 {
                t.confirm("hot.example", "00/hot/site.xml");
            }
            assert!(t.len() <= 100, "{} entries after {i}", t.len());
        }
        assert!(t.stale("hot.example").is_some());
        assert!(t.stale("h9999.example").is_some());
        assert!(
            t.stale("h0.example").is_none(),
            "the oldest entries were evicted"
        );
    }

    #[test]
    fn a_host_promoted_from_the_previous_generation_is_not_duplicated() {
        let t = LastKnown::new(4, DEFAULT_STALE_FOR);
        t.confirm("a", "1");
        t.confirm("b", "1");
        t.confirm("c", "1"); // rotates: previous = {a, b}
        t.confirm("a", "2"); // moves a into current
        assert_eq!(t.len(), 3);
        assert_eq!(t.stale("a").unwrap().path, "2");
    }

    #[test]
    fn stale_answers_only_within_the_bound() {
        let t = LastKnown::new(10, Duration::from_millis(50));
        t.confirm("a.example", "00/a/site.xml");
        let started = Instant::now();
        assert_eq!(
            t.settle("a.example", started, Err(down())).unwrap(),
            Some("00/a/site.xml".into())
        );
        assert!(t.in_outage());
        assert!(t.settle("b.example", started, Err(down())).is_err());
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            t.settle("a.example", Instant::now(), Err(down())).is_err(),
            "older than the staleness bound"
        );
        let none = LastKnown::new(10, Duration::ZERO);
        none.confirm("a.example", "00/a/site.xml");
        std::thread::sleep(Duration::from_millis(2));
        assert!(none.settle("a.example", started, Err(down())).is_err());
    }

    #[test]
    fn fresh_answers_replace_and_remove_known_ones() {
        let t = LastKnown::new(10, DEFAULT_STALE_FOR);
        let now = Instant::now;
        t.settle("a.example", now(), Ok(Some("00/a/site.xml".into())))
            .unwrap();
        t.settle("a.example", now(), Ok(Some("00/b/site.xml".into())))
            .unwrap();
        assert_eq!(
            t.settle("a.example", now(), Err(down())).unwrap(),
            Some("00/b/site.xml".into()),
            "a remap replaces the last known answer"
        );
        t.settle("a.example", now(), Ok(None)).unwrap();
        assert!(!t.in_outage());
        assert!(
            t.settle("a.example", now(), Err(down())).is_err(),
            "a host the map dropped is not served from memory"
        );
    }

    #[test]
    fn late_results_do_not_flip_the_outage() {
        let t = LastKnown::new(10, DEFAULT_STALE_FOR);
        let before = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let _ = t.settle("a", Instant::now(), Err(down()));
        assert!(t.in_outage());
        // A lookup sent before the outage began, answered late, does not end it.
        t.settle("a", before, Ok(None)).unwrap();
        assert!(t.in_outage());
        t.settle("a", Instant::now(), Ok(None)).unwrap();
        assert!(!t.in_outage());
        // A failure of a lookup sent before the recovery does not start a new outage.
        let _ = t.settle("a", before, Err(down()));
        assert!(!t.in_outage());
    }
}
