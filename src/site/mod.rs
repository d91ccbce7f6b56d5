//! Sites: host names and site files. This module owns host normalisation ([`host`]), where
//! a site's file lives (`SHARD/ID/site.xml`, [`site_path`]), the check of a map value as such
//! a path ([`parse_map_value`]), the walk over a sites folder, and the confined, size-capped
//! read of a site file ([`read_site`]), and the serving policy in its head ([`policy`]). Which host names which file is the domain map's
//! business ([`crate::map`]).

pub mod host;
pub mod policy;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

use crate::fsx::{RelPath, Root};
use crate::render::xslt::MAX_XML_BYTES;
pub use host::{Host, HostError};
pub use policy::SitePolicy;

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

    /// A value of control characters gives a message six times its length (each is escaped
    /// as `\u{19}`), so the bound is on what the message can grow to: 200 characters of
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
