//! The exporter's side of the sites folder: replacing a `site.xml` atomically and durably,
//! leaving an unchanged one alone, cleaning up what a crashed exporter left, and moving a
//! site to the archive and back.
//!
//! # Replacing a file
//!
//! A visitor must only ever read a whole file, the old one or the new one. The new bytes go to
//! a temporary file in the same folder (`.site.xml.<pid>.<n>.tmp`: hidden, and never named
//! `site.xml`, so nothing mistakes it for a site), which is written, fsynced, renamed over
//! `site.xml` (atomic on POSIX file systems) and followed by an fsync of the folder so that
//! the rename itself survives a crash. A file whose bytes are already the ones to write is not
//! touched, so its mtime, and the pages' `ETag`/`Last-Modified`, stay as they were.
//!
//! A temporary file left by a killed exporter is removed the next time that site is
//! exported, once its writer is gone (its pid no longer runs) or it is over an hour old.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::render::xslt::MAX_XML_BYTES;
use crate::site::shard;

/// Name of a site's XML file inside its folder.
pub const SITE_FILE: &str = "site.xml";
/// Prefix of the temporary files; a crashed exporter's leftovers start with it.
const TEMP_PREFIX: &str = ".site.xml.";
const TEMP_SUFFIX: &str = ".tmp";
/// A temporary file older than this is stale even if its pid runs (pid reuse).
const STALE_AFTER: Duration = Duration::from_secs(3600);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file operation that failed, with the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading, writing, renaming or syncing failed.
    #[error("{action} {path}: {cause}{}", hint(.cause))]
    Io {
        /// What was being done ("write", "rename into place"...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error (not `source`: the message already shows it).
        cause: std::io::Error,
    },
    /// The site has no folder to unpublish.
    #[error("site {id} is not published: {path} does not exist")]
    NotPublished {
        /// The site id.
        id: String,
        /// Its expected folder.
        path: PathBuf,
    },
}

fn hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            " (the sites folder must be writable by the user running the exporter; the \
             published version is untouched)"
        }
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            " (disk full: free space on the sites folder's disk, then export again; the \
             published version is untouched)"
        }
        _ => "",
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_owned();
    move |cause| FileError::Io {
        action,
        path,
        cause,
    }
}

/// What [`SiteFiles::publish`] did.
#[derive(Debug)]
pub enum Published {
    /// The file already had these bytes; nothing was written.
    Unchanged,
    /// The file was replaced (or created); `previous` holds the old bytes, if any.
    Written {
        /// The replaced file's bytes.
        previous: Option<Vec<u8>>,
        /// Media restored from the archive (the site had been unpublished).
        restored: Option<PathBuf>,
    },
}

/// The sites folder as the exporter writes it.
#[derive(Debug, Clone)]
pub struct SiteFiles {
    root: PathBuf,
    archive: PathBuf,
}

impl SiteFiles {
    /// Sites under `root`; unpublished sites go to `archive` (default `root/.archive`).
    pub fn new(root: &Path, archive: Option<&Path>) -> SiteFiles {
        SiteFiles {
            root: root.to_owned(),
            archive: archive
                .map(Path::to_owned)
                .unwrap_or_else(|| root.join(".archive")),
        }
    }

    /// The sites root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The archive folder.
    pub fn archive(&self) -> &Path {
        &self.archive
    }

    /// A site's folder, `root/<shard>/<id>`. `id` must be a checked site id.
    pub fn site_dir(&self, id: &str) -> PathBuf {
        self.root.join(shard(id)).join(id)
    }

    /// Reads the current `site.xml` of a site, if any (at most [`MAX_XML_BYTES`] + 1 bytes:
    /// anything longer differs from what the exporter writes anyway).
    pub fn current(&self, id: &str) -> Result<Option<Vec<u8>>, FileError> {
        let path = self.site_dir(id).join(SITE_FILE);
        match File::open(&path) {
            Ok(f) => {
                let mut bytes = Vec::new();
                f.take(MAX_XML_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)
                    .map_err(io("read", &path))?;
                Ok(Some(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path)(e)),
        }
    }

    /// Makes `xml` the site's `site.xml`: nothing if it already is, else an atomic, durable
    /// replace (see the module doc). A site whose folder is missing but has an archived
    /// copy gets its archived media back first.
    pub fn publish(&self, id: &str, xml: &[u8]) -> Result<Published, FileError> {
        let dir = self.site_dir(id);
        let path = dir.join(SITE_FILE);
        let previous = self.current(id)?;
        let exists = previous.is_some() || dir.is_dir();
        if exists {
            remove_stale_temps(&dir);
        }
        if previous.as_deref() == Some(xml) {
            return Ok(Published::Unchanged);
        }
        let restored = if exists {
            None
        } else {
            self.create_site_dir(id)?
        };
        let tmp = dir.join(format!(
            "{TEMP_PREFIX}{}.{}{TEMP_SUFFIX}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&tmp)
                .map_err(io("create a temporary file in", &dir))?;
            f.write_all(xml).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("fsync", &tmp))?;
            drop(f);
            fs::rename(&tmp, &path).map_err(io("rename into place", &path))
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        sync_dir(&dir)?;
        Ok(Published::Written { previous, restored })
    }

    /// Creates `root/<shard>/<id>` (durably: each new folder's parent is fsynced) and moves
    /// the media of the site's latest archived copy into it, if there is one.
    fn create_site_dir(&self, id: &str) -> Result<Option<PathBuf>, FileError> {
        let shard_dir = self.root.join(shard(id));
        let dir = shard_dir.join(id);
        if !shard_dir.is_dir() {
            mkdir(&shard_dir)?;
            sync_dir(&self.root)?;
        }
        mkdir(&dir)?;
        let restored = match self.latest_archive(id) {
            Some(archived) if archived.join("media").is_dir() => {
                let from = archived.join("media");
                fs::rename(&from, dir.join("media")).map_err(io("restore media from", &from))?;
                sync_dir(&archived)?;
                Some(archived)
            }
            _ => None,
        };
        sync_dir(&shard_dir)?;
        Ok(restored)
    }

    /// The most recent archived copy of a site (`archive/<shard>/<id>@<UTC time>`).
    fn latest_archive(&self, id: &str) -> Option<PathBuf> {
        let prefix = format!("{id}@");
        fs::read_dir(self.archive.join(shard(id)))
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.starts_with(&prefix).then_some(name)
            })
            .max()
            .map(|name| self.archive.join(shard(id)).join(name))
    }

    /// Moves a site's folder (XML and media) to `archive/<shard>/<id>@<UTC time>`; nothing
    /// is deleted. Returns the archived folder.
    pub fn archive_site(&self, id: &str) -> Result<PathBuf, FileError> {
        let dir = self.site_dir(id);
        if !dir.is_dir() {
            return Err(FileError::NotPublished {
                id: id.to_owned(),
                path: dir,
            });
        }
        remove_stale_temps(&dir);
        let shard_archive = self.archive.join(shard(id));
        fs::create_dir_all(&shard_archive).map_err(io("create", &shard_archive))?;
        let stamp = utc_stamp(SystemTime::now());
        let mut target = shard_archive.join(format!("{id}@{stamp}"));
        let mut n = 1;
        while target.exists() {
            n += 1;
            target = shard_archive.join(format!("{id}@{stamp}.{n}"));
        }
        fs::rename(&dir, &target).map_err(io("move to the archive", &dir))?;
        sync_dir(&shard_archive)?;
        sync_dir(dir.parent().unwrap_or(&self.root))?;
        Ok(target)
    }
}

fn mkdir(dir: &Path) -> Result<(), FileError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("create", dir)(e)),
    }
}

/// fsync of a folder: makes the renames and creations inside it durable.
fn sync_dir(dir: &Path) -> Result<(), FileError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync", dir))
}

/// Whether a temp file name is one of ours, and the pid that wrote it.
fn temp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TEMP_PREFIX)?.strip_suffix(TEMP_SUFFIX)?;
    rest.split('.').next()?.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes the temporary files of exporters that are gone; returns how many.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_pid) else {
            continue;
        };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if ((pid != me && !pid_alive(pid)) || old) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `YYYY-MM-DDTHH-MM-SSZ` (no colons: the name is a folder name).
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}-{:02}-{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_writes_then_leaves_unchanged_files_alone() {
        let dir = tempfile::tempdir().unwrap();
        let files = SiteFiles::new(dir.path(), None);
        let Published::Written { previous, .. } = files.publish("a-site", b"<v1/>").unwrap() else {
            panic!()
        };
        assert!(previous.is_none());
        let path = files.site_dir("a-site").join(SITE_FILE);
        assert_eq!(fs::read(&path).unwrap(), b"<v1/>");
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(matches!(
            files.publish("a-site", b"<v1/>").unwrap(),
            Published::Unchanged
        ));
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        let Published::Written { previous, .. } = files.publish("a-site", b"<v2/>").unwrap() else {
            panic!()
        };
        assert_eq!(previous.unwrap(), b"<v1/>");
        // Only site.xml is left in the folder: no temp file.
        let names: Vec<_> = fs::read_dir(files.site_dir("a-site"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["site.xml"]);
    }

    #[test]
    fn stale_temps_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let files = SiteFiles::new(dir.path(), None);
        files.publish("s", b"<v1/>").unwrap();
        let site = files.site_dir("s");
        // A pid that cannot run (above pid_max), ours (in use), and a foreign name.
        fs::write(site.join(".site.xml.4294967.0.tmp"), b"half").unwrap();
        let mine = site.join(format!(".site.xml.{}.999.tmp", std::process::id()));
        fs::write(&mine, b"busy").unwrap();
        fs::write(site.join("notes.txt"), b"keep").unwrap();
        files.publish("s", b"<v2/>").unwrap();
        assert!(!site.join(".site.xml.4294967.0.tmp").exists());
        assert!(mine.exists());
        assert!(site.join("notes.txt").exists());
    }

    #[test]
    fn archive_and_restore_media() {
        let dir = tempfile::tempdir().unwrap();
        let files = SiteFiles::new(dir.path(), None);
        files.publish("s", b"<v1/>").unwrap();
        fs::create_dir(files.site_dir("s").join("media")).unwrap();
        fs::write(files.site_dir("s").join("media/a.jpg"), b"jpeg").unwrap();
        let archived = files.archive_site("s").unwrap();
        assert!(!files.site_dir("s").exists());
        assert_eq!(fs::read(archived.join(SITE_FILE)).unwrap(), b"<v1/>");
        assert!(archived.starts_with(dir.path().join(".archive")));
        let Published::Written { restored, .. } = files.publish("s", b"<v2/>").unwrap() else {
            panic!()
        };
        assert_eq!(restored.as_deref(), Some(archived.as_path()));
        assert_eq!(
            fs::read(files.site_dir("s").join("media/a.jpg")).unwrap(),
            b"jpeg"
        );
        // The archived XML stays in the archive.
        assert!(archived.join(SITE_FILE).exists());
        assert!(matches!(
            files.archive_site("nope"),
            Err(FileError::NotPublished { .. })
        ));
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(SystemTime::UNIX_EPOCH), "1970-01-01T00-00-00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(utc_stamp(t), "2026-11-18T11-06-40Z");
    }
}
