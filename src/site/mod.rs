//! Sites: from a request's host name to the bytes of that site's XML file.
//!
//! This module owns host normalisation ([`host`]), the domain map that maps a normalised host
//! to a site XML path relative to the sites root ([`DomainMap`]: Redis in production,
//! [`memory`] for a first run without Redis), what is served while Redis is down
//! ([`last_known`]) and the confined, size-capped read of a site file ([`read_site`]). Only
//! [`redis`] talks to Redis.

pub mod host;
pub mod last_known;
pub mod memory;
pub mod redis;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::fsx::{RelPath, Root};
use crate::render::xslt::MAX_XML_BYTES;
pub use host::{Host, HostError};

/// Errors of the site domain.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// The map names a path that is not a valid relative path.
    #[error("domain map entry for {host} is {value:?}, not a path inside the sites folder: fix it with `vitrine domains set {host} SHARD/ID/site.xml`")]
    BadMapValue {
        /// The host looked up.
        host: String,
        /// The stored value.
        value: String,
    },
    /// The map answered, but the file it names is missing or unreadable.
    #[error("{host} maps to {path}, which cannot be read under the sites folder ({source}): re-export the site or fix the map entry")]
    Unreadable {
        /// The host.
        host: String,
        /// The relative path from the map.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A site file read directly (not through the map) is missing or unreadable.
    #[error("{path} cannot be read under the sites folder ({source})")]
    UnreadableFile {
        /// The relative path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The site file is larger than the parser accepts.
    #[error("{path}: {size} bytes is over the {MAX_XML_BYTES}-byte limit for a site file")]
    TooLarge {
        /// The relative path.
        path: String,
        /// Its size.
        size: u64,
    },
}

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
        match self {
            DomainMap::Memory(m) => Ok(m.get(host.as_str())),
            DomainMap::Redis { map, last_known } => {
                let started = Instant::now();
                let result = map.get(host.as_str()).await;
                last_known.settle(host.as_str(), started, result)
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

/// The shard folder of a site id: low byte of the 32-bit FNV-1a hash, two hex digits.
pub fn shard(site_id: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in site_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{:02x}", h & 0xff)
}

/// The map value (path relative to the sites root) of a site id.
pub fn site_path(site_id: &str) -> String {
    format!("{}/{site_id}/site.xml", shard(site_id))
}

/// A site file read from disk, with what identifies its version.
#[derive(Debug)]
pub struct SiteFile {
    /// Path relative to the sites root, as stored in the map.
    pub rel: RelPath,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Modification time.
    pub modified: SystemTime,
    /// Hash of (inode, size, mtime): changes whenever the file is replaced or rewritten.
    pub stamp: u64,
}

impl SiteFile {
    /// The site's own folder (relative), parent of `site.xml`, holding `media/`.
    pub fn dir(&self) -> &str {
        self.rel
            .as_str()
            .rsplit_once('/')
            .map(|(d, _)| d)
            .unwrap_or("")
    }
}

/// Validates a map value for `host`.
pub fn parse_map_value(host: &Host, value: &str) -> Result<RelPath, SiteError> {
    RelPath::parse(value).map_err(|_| SiteError::BadMapValue {
        host: host.to_string(),
        value: value.chars().take(200).collect(),
    })
}

/// Reads the site file `rel` beneath `root`: confined (no escape, no symlinks), size-capped.
pub fn read_site(root: &Root, host: &Host, rel: RelPath) -> Result<SiteFile, SiteError> {
    read_with(root, rel, |rel, source| SiteError::Unreadable {
        host: host.to_string(),
        path: rel.to_string(),
        source,
    })
}

/// [`read_site`] for a file found by walking the sites folder rather than through the map.
pub fn read_site_file(root: &Root, rel: RelPath) -> Result<SiteFile, SiteError> {
    read_with(root, rel, |rel, source| SiteError::UnreadableFile {
        path: rel.to_string(),
        source,
    })
}

fn read_with(
    root: &Root,
    rel: RelPath,
    error: impl Fn(&RelPath, std::io::Error) -> SiteError,
) -> Result<SiteFile, SiteError> {
    let unreadable = |source| error(&rel, source);
    let (file, meta) = root.open_file_meta(&rel).map_err(unreadable)?;
    if meta.len() > MAX_XML_BYTES as u64 {
        return Err(SiteError::TooLarge {
            path: rel.to_string(),
            size: meta.len(),
        });
    }
    let bytes = read_all(file, meta.len() as usize).map_err(unreadable)?;
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let stamp = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (meta.ino(), meta.len(), meta.mtime(), meta.mtime_nsec()).hash(&mut h);
        h.finish()
    };
    Ok(SiteFile {
        rel,
        bytes,
        modified,
        stamp,
    })
}

/// Reads `file`, expected to hold `expected` bytes, to its end (at most `MAX_XML_BYTES` + 1
/// bytes, so that a larger file is seen as too large). One `read` in the usual case: a short
/// read of a regular file means its end, so the extra byte asked for answers "is there more?"
/// without the second, empty `read` of `read_to_end` (one system call of five per page).
fn read_all(mut file: std::fs::File, expected: usize) -> std::io::Result<Vec<u8>> {
    let cap = expected.min(MAX_XML_BYTES) + 1;
    let mut bytes = vec![0; cap];
    let n = loop {
        match file.read(&mut bytes) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    bytes.truncate(n);
    if n == cap {
        // The file grew since it was measured: read on, within the cap.
        file.take((MAX_XML_BYTES + 1 - n) as u64)
            .read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// Walks a sites root and returns the relative paths of every `site.xml` (`SHARD/ID/site.xml`).
pub fn list_site_files(root: &Path) -> std::io::Result<Vec<String>> {
    walk_site_files(root)?.collect()
}

/// Streams the relative paths of every `SHARD/ID/site.xml` beneath a sites root, in path
/// order, holding one shard's listing (~270 names for 70,000 sites) in memory at a time, so
/// that a whole-folder pass costs the same memory for 14 sites or 70,000.
#[derive(Debug)]
pub struct SiteFiles {
    root: std::path::PathBuf,
    shards: std::vec::IntoIter<String>,
    current: std::vec::IntoIter<String>,
}

/// Starts a [`SiteFiles`] walk. Fails only if the root itself cannot be listed; a shard that
/// cannot be listed is one `Err` item and the walk goes on.
pub fn walk_site_files(root: &Path) -> std::io::Result<SiteFiles> {
    let mut shards = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.len() == 2
            && name.bytes().all(|b| b.is_ascii_hexdigit())
            && entry.file_type()?.is_dir()
        {
            shards.push(name);
        }
    }
    shards.sort();
    Ok(SiteFiles {
        root: root.to_owned(),
        shards: shards.into_iter(),
        current: Vec::new().into_iter(),
    })
}

impl SiteFiles {
    fn list_shard(&self, shard: &str) -> std::io::Result<Vec<String>> {
        let dir = self.root.join(shard);
        let mut sites = Vec::new();
        for site in std::fs::read_dir(&dir)? {
            let site = site?;
            if site.path().join("site.xml").is_file() {
                sites.push(format!(
                    "{shard}/{}/site.xml",
                    site.file_name().to_string_lossy()
                ));
            }
        }
        sites.sort();
        Ok(sites)
    }
}

impl Iterator for SiteFiles {
    type Item = std::io::Result<String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(rel) = self.current.next() {
                return Some(Ok(rel));
            }
            let shard = self.shards.next()?;
            match self.list_shard(&shard) {
                Ok(sites) => self.current = sites.into_iter(),
                Err(e) => {
                    return Some(Err(std::io::Error::new(
                        e.kind(),
                        format!("{}: {e}", self.root.join(&shard).display()),
                    )))
                }
            }
        }
    }
}

/// The site id of a `SHARD/ID/site.xml` path: its folder name.
pub fn site_id_of(rel: &str) -> &str {
    rel.split('/').nth(1).unwrap_or(rel)
}

/// Default deadline of one map lookup.
pub const LOOKUP_DEADLINE: Duration = Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use super::*;

    /// `read_all` returns the whole file whether it kept, grew past or shrank below the size
    /// it had when measured, and never more than the cap.
    #[test]
    fn reads_whole_files_whatever_their_size_when_measured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let text: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &text).unwrap();
        for expected in [5000, 0, 1, 4999, 5001, 100_000] {
            let got = read_all(std::fs::File::open(&path).unwrap(), expected).unwrap();
            assert!(got == text, "expected {expected}: {} bytes", got.len());
        }
        let big = vec![b'x'; MAX_XML_BYTES + 10];
        std::fs::write(&path, &big).unwrap();
        for expected in [10, MAX_XML_BYTES, MAX_XML_BYTES + 10] {
            let got = read_all(std::fs::File::open(&path).unwrap(), expected).unwrap();
            assert_eq!(got.len(), MAX_XML_BYTES + 1, "expected {expected}");
        }
    }

    #[test]
    fn walks_the_sample_sites_in_path_order() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-sites");
        let all = list_site_files(&root).unwrap();
        assert!(all.len() >= 12);
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
        assert!(all.iter().all(|r| r.ends_with("/site.xml") && r.len() > 12));
        assert_eq!(
            site_id_of("3c/boulangerie-martin/site.xml"),
            "boulangerie-martin"
        );
    }

    #[test]
    fn shard_is_fnv1a_low_byte() {
        assert_eq!(shard("boulangerie-martin"), "3c");
        assert_eq!(
            site_path("boulangerie-martin"),
            "3c/boulangerie-martin/site.xml"
        );
    }

    /// Found by the `map_value` fuzz target: a value of control characters gives a message
    /// six times its length (each is escaped as `\u{19}`). Still bounded: 200 characters of
    /// at most 10 bytes escaped (`\u{10ffff}`), the host (at most 253 bytes, twice) and the
    /// sentence, whatever the value.
    #[test]
    fn bad_map_value_messages_are_bounded() {
        let host = Host::parse(vec!["a".repeat(63); 3].join(".").as_bytes()).unwrap();
        for unit in ["\u{19}", "\u{10ffff}", "\"", "x/../"] {
            let value = unit.repeat(10_000);
            let msg = parse_map_value(&host, &value).unwrap_err().to_string();
            assert!(msg.len() <= 200 * 10 + 2 * 253 + 200, "{} bytes", msg.len());
            assert!(
                !msg.contains('\n') && !msg.contains('\u{19}'),
                "escaped: {msg}"
            );
        }
    }
}
