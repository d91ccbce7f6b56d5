//! Confined file access: every file the server reads on behalf of a request (a site's XML, its
//! media) is named by a [`RelPath`] and opened beneath a [`Root`], so that neither stored data
//! nor a request path can make the server read anything outside its data directory.
//!
//! Two layers, either of which alone would stop a traversal:
//!
//! 1. [`RelPath`] is a lexical allow-list: no `..`, no absolute paths, no hidden files, no
//!    backslashes, colons, percent signs or control characters, no double decoding.
//! 2. [`Root::open_file`] asks the kernel (`openat2` with `RESOLVE_BENEATH |
//!    RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`) to resolve the path relative to a directory
//!    descriptor and to refuse any symlink and any escape, atomically: there is no window
//!    between a check and the open that a concurrent rename or symlink swap could use.
//!
//! # Why no symlinks at all, not even ones pointing inside the root
//!
//! Site directories are written by a generator, never by hand, and the generator has no reason
//! to create links; a symlink in the data tree is a bug or an intrusion. Allowing "inside"
//! links would mean resolving them ourselves or trusting `RESOLVE_IN_ROOT` semantics where a
//! link's target is reinterpreted, and the check would depend on the tree at open time rather
//! than on the name requested. Refusing every link keeps the rule a property of the name.
//!
//! # Limits
//!
//! Hard links cannot be told from ordinary files; they cannot cross file systems and making one
//! needs write access inside the root, which is out of this module's threat model. Mount points
//! inside the root are followed (no `RESOLVE_NO_XDEV`), so the media may live on another volume
//! mounted beneath the root.
//!
//! Linux only (`openat2` is Linux ≥ 5.6; older kernels get a component-by-component `openat`
//! walk with `O_NOFOLLOW`, which gives the same guarantees for names that [`RelPath`] accepts).

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Longest component, as Linux's `NAME_MAX`.
const MAX_COMPONENT_LEN: usize = 255;
/// Longest relative path. Far below `PATH_MAX`; site paths are `3c/<site-id>/media/<name>`.
const MAX_PATH_LEN: usize = 1024;
/// How much of an offending input an error message quotes.
const SHOW_MAX_CHARS: usize = 100;

/// A validated relative path: `/`-separated components, each non-empty, not `.` or `..`, not
/// starting with `.`, without `\`, `:`, `%` or control characters (NUL included), at most 255
/// bytes, the whole at most 1024 bytes and never absolute.
///
/// `%` is refused so that a name means the same thing encoded once or twice: media names never
/// contain it, and a literal `%2e` reaching the file system would be a sign of double decoding
/// somewhere upstream.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

/// Why a path was refused. Each variant quotes the input (escaped, cut to about 100 characters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty path")]
    Empty,
    #[error("absolute path \"{input}\"")]
    Absolute { input: String },
    #[error("path of {len} bytes (at most {MAX_PATH_LEN}): \"{input}\"")]
    TooLong { len: usize, input: String },
    #[error("component of {len} bytes (at most {MAX_COMPONENT_LEN}) in \"{input}\"")]
    ComponentTooLong { len: usize, input: String },
    #[error("empty component in \"{input}\"")]
    EmptyComponent { input: String },
    #[error("'.' or '..' component in \"{input}\"")]
    DotComponent { input: String },
    #[error("hidden (dot) component in \"{input}\"")]
    Hidden { input: String },
    #[error("character {found} not allowed in \"{input}\"")]
    ForbiddenChar { found: String, input: String },
    #[error("percent-encoded separator {found} in \"{input}\"")]
    EncodedSeparator { found: String, input: String },
    #[error("malformed percent escape in \"{input}\"")]
    BadEscape { input: String },
    #[error("path is not valid UTF-8 once decoded: \"{input}\"")]
    InvalidUtf8 { input: String },
}

impl RelPath {
    /// Validates a path as stored in our data (domain map values, `src` attributes).
    pub fn parse(s: &str) -> Result<RelPath, PathError> {
        let input = || show(s.as_bytes());
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        if s.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong {
                len: s.len(),
                input: input(),
            });
        }
        if s.starts_with('/') {
            return Err(PathError::Absolute { input: input() });
        }
        for component in s.split('/') {
            if component.is_empty() {
                return Err(PathError::EmptyComponent { input: input() });
            }
            if component == "." || component == ".." {
                return Err(PathError::DotComponent { input: input() });
            }
            if component.starts_with('.') {
                return Err(PathError::Hidden { input: input() });
            }
            if let Some(bad) = component
                .chars()
                .find(|&c| c.is_control() || matches!(c, '\\' | ':' | '%'))
            {
                return Err(PathError::ForbiddenChar {
                    found: format!("'{}'", bad.escape_debug()),
                    input: input(),
                });
            }
            if component.len() > MAX_COMPONENT_LEN {
                return Err(PathError::ComponentTooLong {
                    len: component.len(),
                    input: input(),
                });
            }
        }
        Ok(RelPath(s.to_owned()))
    }

    /// Validates the part of a request path that follows a route prefix (`/media/`), still
    /// percent-encoded as it came off the wire.
    ///
    /// Decodes exactly once. An encoded `/` or `\` is refused rather than decoded, because it
    /// would turn one URL segment into two path components behind the router's back; invalid
    /// UTF-8 after decoding (including overlong forms such as `%c0%ae`, which some decoders
    /// read as `.`) is refused. The decoded string must then pass [`RelPath::parse`].
    pub fn from_url_path(encoded: &str) -> Result<RelPath, PathError> {
        let input = || show(encoded.as_bytes());
        // Three encoded bytes per decoded byte at most; anything longer cannot fit.
        if encoded.len() > 3 * MAX_PATH_LEN {
            return Err(PathError::TooLong {
                len: encoded.len(),
                input: input(),
            });
        }
        let bytes = encoded.as_bytes();
        let mut decoded = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            if b != b'%' {
                decoded.push(b);
                i += 1;
                continue;
            }
            let byte = match (
                bytes.get(i + 1).and_then(|&h| hex(h)),
                bytes.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => h << 4 | l,
                _ => return Err(PathError::BadEscape { input: input() }),
            };
            if byte == b'/' || byte == b'\\' {
                return Err(PathError::EncodedSeparator {
                    found: String::from_utf8_lossy(&bytes[i..i + 3]).into_owned(),
                    input: input(),
                });
            }
            decoded.push(byte);
            i += 3;
        }
        let decoded =
            String::from_utf8(decoded).map_err(|_| PathError::InvalidUtf8 { input: input() })?;
        RelPath::parse(&decoded)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components, in order; never empty.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('/')
    }

    /// The path without its last component, if it has more than one.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rsplit_once('/').map(|(p, _)| RelPath(p.to_owned()))
    }

    /// `self/other`. Only the total length can make this fail: both halves are already valid.
    pub fn join(&self, other: &RelPath) -> Result<RelPath, PathError> {
        let joined = format!("{}/{}", self.0, other.0);
        if joined.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong {
                len: joined.len(),
                input: show(joined.as_bytes()),
            });
        }
        Ok(RelPath(joined))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RelPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The payload of the [`io::Error`] that [`Root::open_file`] returns when the name resolves to
/// something other than a regular file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: not a regular file ({kind})")]
pub struct NotAFile {
    pub path: String,
    pub kind: &'static str,
}

/// A directory that files are opened beneath.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// Set once `openat2` has answered `ENOSYS`, so an old kernel costs one failed syscall per
/// process rather than one per request.
static OPENAT2_MISSING: AtomicBool = AtomicBool::new(false);

/// Opening the last component. `O_NONBLOCK` because opening a FIFO for reading would otherwise
/// block until a writer appears, hanging a worker before the regular-file check can refuse it;
/// it has no effect on regular files (open(2)). `O_NOCTTY` so a terminal device can never
/// become our controlling terminal.
const FILE_FLAGS: libc::c_int =
    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;

impl Root {
    /// Opens `path` as a root. The root itself may be reached through symlinks (it comes from
    /// our configuration, not from a request); only what lies beneath it is confined.
    pub fn open(path: &Path) -> io::Result<Root> {
        // std adds O_CLOEXEC itself; O_PATH needs no read permission on the directory and
        // yields a descriptor good for nothing but being a base for *at() calls.
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open(path)?;
        Ok(Root {
            fd: OwnedFd::from(dir),
            // Canonical once here, so paths built beneath it need no per-request realpath.
            path: path.canonicalize()?,
        })
    }

    /// The root's canonical path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` beneath the root for reading. Refuses, with the kernel's guarantee and no
    /// race, any path that leaves the root or crosses a symlink (`ELOOP` or `EXDEV`), and
    /// anything that is not a regular file (an [`io::Error`] carrying [`NotAFile`]).
    /// [`is_not_found`] tells which errors a server should answer as 404.
    pub fn open_file(&self, rel: &RelPath) -> io::Result<File> {
        self.open_file_meta(rel).map(|(file, _)| file)
    }

    /// [`open_file`](Self::open_file) with the metadata it read to check the file type, for
    /// callers that need its size or date anyway (one `statx` less per request).
    pub fn open_file_meta(&self, rel: &RelPath) -> io::Result<(File, std::fs::Metadata)> {
        let fd = if OPENAT2_MISSING.load(Ordering::Relaxed) {
            self.open_walk(rel)?
        } else {
            match self.open_openat2(rel) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    OPENAT2_MISSING.store(true, Ordering::Relaxed);
                    self.open_walk(rel)?
                }
                other => other?,
            }
        };
        regular_file(fd, rel)
    }

    fn open_openat2(&self, rel: &RelPath) -> io::Result<OwnedFd> {
        let name = c_name(rel.as_str())?;
        // SAFETY: `open_how` is plain integers, for which all-zero is a valid value; it is
        // `#[non_exhaustive]` in libc, so it cannot be built with a struct expression, and
        // zeroing also gives any field a future kernel adds its "not requested" value.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        // The mask only ever holds non-negative flag bits; the cast cannot change them.
        how.flags = FILE_FLAGS as u64;
        how.resolve =
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
        // A path without ".." cannot hit the rename race that makes RESOLVE_BENEATH answer
        // EAGAIN, but the kernel documents EAGAIN as possible, so allow a few retries.
        let mut tries = 0;
        loop {
            // SAFETY: `self.fd` is an open directory descriptor we own for the whole call,
            // `name` is a NUL-terminated string that outlives the call, and `how` is a fully
            // initialised `open_how` whose exact size is passed, as openat2(2) requires. The
            // kernel only reads through both pointers.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    self.fd.as_raw_fd(),
                    name.as_ptr(),
                    &how as *const libc::open_how,
                    std::mem::size_of::<libc::open_how>(),
                )
            };
            if ret >= 0 {
                return owned_fd(ret);
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) if tries < 3 => tries += 1,
                _ => return Err(err),
            }
        }
    }

    /// The fallback for kernels without `openat2`: one `openat` per component, each relative to
    /// the descriptor of the directory opened just before, each with `O_NOFOLLOW`. A component
    /// is a single name (no `/`, never `..`, as [`RelPath`] guarantees), so no step can leave
    /// the directory it starts from, and no symlink is ever followed: on an intermediate
    /// component `O_PATH | O_NOFOLLOW` yields the link itself, which `O_DIRECTORY` then refuses
    /// with `ENOTDIR`; on the last one `O_NOFOLLOW` answers `ELOOP`.
    fn open_walk(&self, rel: &RelPath) -> io::Result<OwnedFd> {
        let mut components = rel.components();
        let last = components.next_back().unwrap_or("");
        let mut dir: Option<OwnedFd> = None;
        for component in components {
            let base = dir.as_ref().map_or(self.fd.as_fd(), |d| d.as_fd());
            let next = openat(
                base,
                component,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )?;
            dir = Some(next);
        }
        let base = dir.as_ref().map_or(self.fd.as_fd(), |d| d.as_fd());
        openat(base, last, FILE_FLAGS | libc::O_NOFOLLOW)
    }
}

/// Whether an error from [`Root::open_file`] means "no such servable file": missing, a
/// symlink, an escape attempt, a directory or another non-regular file. A server answers all of
/// these alike (404), so that a probe learns nothing about what exists beneath the root.
pub fn is_not_found(err: &io::Error) -> bool {
    if err
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<NotAFile>().is_some())
    {
        return true;
    }
    matches!(
        err.raw_os_error(),
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP | libc::EXDEV | libc::ENAMETOOLONG)
    )
}

fn openat(dir: BorrowedFd<'_>, name: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    loop {
        // SAFETY: `dir` is a live descriptor borrowed for the whole call, `name` is a
        // NUL-terminated string that outlives the call; no mode is passed because `flags`
        // never contains O_CREAT or O_TMPFILE.
        let ret = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags) };
        if ret >= 0 {
            return owned_fd(libc::c_long::from(ret));
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

fn owned_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let raw = RawFd::try_from(ret).map_err(io::Error::other)?;
    // SAFETY: `raw` was just returned by a successful open call, so it is an open descriptor
    // that nothing else owns; the OwnedFd becomes its only owner and closes it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn c_name(s: &str) -> io::Result<CString> {
    // RelPath never contains NUL, so this only fails if that invariant is broken.
    CString::new(s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn regular_file(fd: OwnedFd, rel: &RelPath) -> io::Result<(File, std::fs::Metadata)> {
    let file = File::from(fd);
    let meta = file.metadata()?;
    let file_type = meta.file_type();
    if file_type.is_file() {
        return Ok((file, meta));
    }
    let kind = if file_type.is_dir() {
        "directory"
    } else if file_type.is_symlink() {
        "symlink"
    } else if file_type.is_fifo() {
        "fifo"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else {
        "unknown"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        NotAFile {
            path: rel.to_string(),
            kind,
        },
    ))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Quotes untrusted bytes for an error message: escaped, cut after [`SHOW_MAX_CHARS`].
fn show(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out: String = text
        .chars()
        .take(SHOW_MAX_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(SHOW_MAX_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    fn parse_err(s: &str) -> PathError {
        match RelPath::parse(s) {
            Ok(p) => panic!("{s:?} accepted as {p}"),
            Err(e) => e,
        }
    }

    fn url_err(s: &str) -> PathError {
        match RelPath::from_url_path(s) {
            Ok(p) => panic!("{s:?} accepted as {p}"),
            Err(e) => e,
        }
    }

    // --- RelPath::parse ---

    #[test]
    fn parse_accepts_our_paths() {
        for s in [
            "3c/boulangerie-martin/site.xml",
            "3c/boulangerie-martin/media/four.jpg",
            "logo.png",
            "photo-été.jpg",
            "a b/c d.jpg",
            "x..y",
            "x.",
            "日本/写真.png",
        ] {
            assert_eq!(RelPath::parse(s).map(|p| p.0), Ok(s.to_owned()));
        }
    }

    #[test]
    fn parse_refuses_dot_dot_forms() {
        assert!(matches!(parse_err(".."), PathError::DotComponent { .. }));
        assert!(matches!(
            parse_err("../etc/passwd"),
            PathError::DotComponent { .. }
        ));
        assert!(matches!(
            parse_err("a/../../b"),
            PathError::DotComponent { .. }
        ));
        assert!(matches!(parse_err("a/.."), PathError::DotComponent { .. }));
        assert!(matches!(parse_err("a/./b"), PathError::DotComponent { .. }));
        assert!(matches!(parse_err("."), PathError::DotComponent { .. }));
        assert!(matches!(parse_err("..\\x"), PathError::Hidden { .. }));
        assert!(matches!(parse_err("...."), PathError::Hidden { .. }));
    }

    #[test]
    fn parse_refuses_hidden() {
        assert!(matches!(parse_err(".git/config"), PathError::Hidden { .. }));
        assert!(matches!(parse_err("a/.htaccess"), PathError::Hidden { .. }));
    }

    #[test]
    fn parse_refuses_absolute_and_empty_components() {
        assert_eq!(parse_err(""), PathError::Empty);
        assert!(matches!(
            parse_err("/etc/passwd"),
            PathError::Absolute { .. }
        ));
        assert!(matches!(parse_err("//x"), PathError::Absolute { .. }));
        assert!(matches!(
            parse_err("a//b"),
            PathError::EmptyComponent { .. }
        ));
        assert!(matches!(parse_err("a/"), PathError::EmptyComponent { .. }));
    }

    #[test]
    fn parse_refuses_forbidden_chars() {
        for s in [
            "a\\b", "C:\\x", "c:x", "http://x", "a%2e", "a\0b", "a\nb", "a\x7fb", "a\u{85}b",
            "a\tb",
        ] {
            assert!(
                matches!(parse_err(s), PathError::ForbiddenChar { .. }),
                "{s:?}"
            );
        }
    }

    #[test]
    fn parse_lengths() {
        let c255 = "a".repeat(255);
        assert!(RelPath::parse(&c255).is_ok());
        assert!(matches!(
            parse_err(&"a".repeat(256)),
            PathError::ComponentTooLong { len: 256, .. }
        ));
        let p1024 = vec!["a".repeat(254); 4].join("/") + "/" + &"b".repeat(1024 - 4 * 255);
        assert_eq!(p1024.len(), 1024);
        assert!(RelPath::parse(&p1024).is_ok());
        let p1025 = p1024 + "b";
        assert!(matches!(
            parse_err(&p1025),
            PathError::TooLong { len: 1025, .. }
        ));
    }

    #[test]
    fn relpath_helpers() {
        let p = RelPath::parse("3c/boulangerie-martin/site.xml").unwrap();
        assert_eq!(
            p.components().collect::<Vec<_>>(),
            ["3c", "boulangerie-martin", "site.xml"]
        );
        let dir = p.parent().unwrap();
        assert_eq!(dir.as_str(), "3c/boulangerie-martin");
        let media = dir
            .join(&RelPath::parse("media/four.jpg").unwrap())
            .unwrap();
        assert_eq!(media.to_string(), "3c/boulangerie-martin/media/four.jpg");
        assert_eq!(RelPath::parse("x").unwrap().parent(), None);
        let long = RelPath::parse(&"a".repeat(255)).unwrap();
        let mut acc = long.clone();
        for _ in 0..3 {
            acc = acc.join(&long).unwrap();
        }
        assert!(matches!(acc.join(&long), Err(PathError::TooLong { .. })));
    }

    // --- RelPath::from_url_path ---

    #[test]
    fn url_traversal_vectors_refused() {
        for s in [
            "%2e%2e/",
            "%2e%2e/etc/passwd",
            "..%2f",
            "..%2fetc%2fpasswd",
            "%2e%2e%2f",
            "%2E%2E%2F",
            "%252e%252e%252f",
            "%252e%252e/x",
            "..\\",
            "..%5c",
            "a%5cb",
            "a%00b",
            "a%00",
            "%c0%ae%c0%ae/",
            "%c0%ae%c0%ae%c0%af",
            "%e0%80%ae",
            "/etc/passwd",
            "%2fetc/passwd",
            "C:\\x",
            "C%3a%5cx",
            "a//b",
            "a/./b",
            "a/%2e/b",
            "a/%2e%2e/b",
            ".",
            "..",
            "",
            "%",
            "%2",
            "%zz",
            "a%2",
            "%%32%65",
            "a%0ab",
            "%2e.htaccess",
        ] {
            assert!(RelPath::from_url_path(s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn url_errors_name_the_problem() {
        assert!(matches!(
            url_err("..%2f"),
            PathError::EncodedSeparator { .. }
        ));
        assert!(matches!(
            url_err("a%5Cb"),
            PathError::EncodedSeparator { .. }
        ));
        assert!(matches!(
            url_err("%c0%ae%c0%ae/"),
            PathError::InvalidUtf8 { .. }
        ));
        assert!(matches!(
            url_err("%252e%252e"),
            PathError::ForbiddenChar { .. }
        ));
        assert!(matches!(url_err("a%00b"), PathError::ForbiddenChar { .. }));
        assert!(matches!(url_err("%zz"), PathError::BadEscape { .. }));
        assert!(matches!(
            url_err("%2e%2e/x"),
            PathError::DotComponent { .. }
        ));
        assert!(matches!(url_err("/etc/passwd"), PathError::Absolute { .. }));
    }

    #[test]
    fn url_unicode_names_accepted() {
        let p = RelPath::from_url_path("photo-%C3%A9t%C3%A9.jpg").unwrap();
        assert_eq!(p.as_str(), "photo-été.jpg");
        let p = RelPath::from_url_path("photo-%c3%a9t%c3%a9.jpg").unwrap();
        assert_eq!(p.as_str(), "photo-été.jpg");
        // Raw (unencoded) non-ASCII in the &str is taken as is.
        let p = RelPath::from_url_path("photo-été.jpg").unwrap();
        assert_eq!(p.as_str(), "photo-été.jpg");
        let p = RelPath::from_url_path("a%20b/c.jpg").unwrap();
        assert_eq!(p.as_str(), "a b/c.jpg");
        // '+' is only a space in form encoding, not in a path.
        let p = RelPath::from_url_path("a+b.jpg").unwrap();
        assert_eq!(p.as_str(), "a+b.jpg");
    }

    #[test]
    fn url_huge_input_refused_early() {
        let huge = "a".repeat(10_000);
        assert!(matches!(url_err(&huge), PathError::TooLong { .. }));
    }

    #[test]
    fn error_messages_escape_and_truncate() {
        let msg = parse_err("a\nb").to_string();
        assert!(!msg.contains('\n'), "{msg}");
        let msg = parse_err(&format!("{}\\", "a".repeat(300))).to_string();
        assert!(msg.len() < 250 && msg.contains('…'), "{msg}");
    }

    // --- Root ---

    /// root/
    ///   site.xml                  "site"
    ///   media/four.jpg            "jpeg"
    ///   media/photo-été.jpg       "été"
    ///   media/sub/                (directory)
    ///   media/passwd.jpg   -> /etc/passwd
    ///   media/etc          -> /etc
    ///   media/inside.jpg   -> four.jpg
    ///   media/up.jpg       -> ../site.xml
    ///   linkdir            -> media
    ///   media/fifo                (named pipe)
    /// outside.txt                  (sibling of root)
    struct Fixture {
        _tmp: tempfile::TempDir,
        root: Root,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root_path = tmp.path().join("root");
        let media = root_path.join("media");
        std::fs::create_dir_all(media.join("sub")).unwrap();
        std::fs::write(root_path.join("site.xml"), "site").unwrap();
        std::fs::write(media.join("four.jpg"), "jpeg").unwrap();
        std::fs::write(media.join("photo-été.jpg"), "été").unwrap();
        std::fs::write(tmp.path().join("outside.txt"), "secret").unwrap();
        symlink("/etc/passwd", media.join("passwd.jpg")).unwrap();
        symlink("/etc", media.join("etc")).unwrap();
        symlink("four.jpg", media.join("inside.jpg")).unwrap();
        symlink("../site.xml", media.join("up.jpg")).unwrap();
        symlink("media", root_path.join("linkdir")).unwrap();
        symlink("../outside.txt", root_path.join("out.txt")).unwrap();
        let fifo = CString::new(media.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let root = Root::open(&root_path).unwrap();
        Fixture { _tmp: tmp, root }
    }

    fn rel(s: &str) -> RelPath {
        RelPath::parse(s).unwrap()
    }

    type Opener = fn(&Root, &RelPath) -> io::Result<File>;

    /// The public entry point, and each strategy forced, so the fallback is tested on a kernel
    /// that has openat2.
    fn openers() -> Vec<(&'static str, Opener)> {
        vec![
            ("open_file", |r, p| r.open_file(p)),
            ("openat2", |r, p| {
                r.open_openat2(p)
                    .and_then(|fd| regular_file(fd, p).map(|(f, _)| f))
            }),
            ("walk", |r, p| {
                r.open_walk(p)
                    .and_then(|fd| regular_file(fd, p).map(|(f, _)| f))
            }),
        ]
    }

    fn openat2_available(root: &Root) -> bool {
        root.open_openat2(&rel("site.xml")).is_ok()
    }

    fn read(file: io::Result<File>) -> String {
        let mut s = String::new();
        file.unwrap().read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn root_path_kept() {
        let f = fixture();
        assert!(f.root.path().ends_with("root"));
    }

    #[test]
    fn root_open_refuses_a_file() {
        let f = fixture();
        let err = Root::open(&f.root.path().join("site.xml")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn regular_files_open() {
        let f = fixture();
        for (name, open) in openers() {
            if name == "openat2" && !openat2_available(&f.root) {
                continue;
            }
            assert_eq!(read(open(&f.root, &rel("site.xml"))), "site", "{name}");
            assert_eq!(
                read(open(&f.root, &rel("media/four.jpg"))),
                "jpeg",
                "{name}"
            );
            let url = RelPath::from_url_path("media/photo-%C3%A9t%C3%A9.jpg").unwrap();
            assert_eq!(read(open(&f.root, &url)), "été", "{name}");
        }
    }

    #[test]
    fn symlinks_refused_wherever_they_point() {
        let f = fixture();
        for (name, open) in openers() {
            if name == "openat2" && !openat2_available(&f.root) {
                continue;
            }
            for path in [
                "media/passwd.jpg",
                "media/etc/passwd",
                "media/etc/hostname",
                "media/inside.jpg",
                "media/up.jpg",
                "linkdir/four.jpg",
                "out.txt",
            ] {
                let err = open(&f.root, &rel(path)).unwrap_err();
                assert!(
                    matches!(
                        err.raw_os_error(),
                        Some(libc::ELOOP | libc::ENOTDIR | libc::EXDEV)
                    ),
                    "{name} {path}: {err}"
                );
                assert!(is_not_found(&err), "{name} {path}: {err}");
            }
        }
    }

    #[test]
    fn non_regular_files_refused() {
        let f = fixture();
        for (name, open) in openers() {
            if name == "openat2" && !openat2_available(&f.root) {
                continue;
            }
            for (path, kind) in [
                ("media", "directory"),
                ("media/sub", "directory"),
                ("media/fifo", "fifo"),
            ] {
                let err = open(&f.root, &rel(path)).unwrap_err();
                let payload = err
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<NotAFile>())
                    .unwrap_or_else(|| panic!("{name} {path}: {err}"));
                assert_eq!(payload.kind, kind, "{name} {path}");
                assert!(is_not_found(&err));
            }
        }
    }

    #[test]
    fn device_refused() {
        let root = Root::open(Path::new("/dev")).unwrap();
        let err = root.open_file(&rel("null")).unwrap_err();
        let payload = err.get_ref().and_then(|e| e.downcast_ref::<NotAFile>());
        assert_eq!(payload.map(|p| p.kind), Some("character device"), "{err}");
    }

    #[test]
    fn missing_files_are_not_found() {
        let f = fixture();
        for (name, open) in openers() {
            if name == "openat2" && !openat2_available(&f.root) {
                continue;
            }
            for path in ["nope.jpg", "media/nope.jpg", "nope/x.jpg", "site.xml/x"] {
                let err = open(&f.root, &rel(path)).unwrap_err();
                assert!(is_not_found(&err), "{name} {path}: {err}");
            }
        }
    }

    #[test]
    fn other_errors_are_not_not_found() {
        assert!(!is_not_found(&io::Error::from_raw_os_error(libc::EACCES)));
        assert!(!is_not_found(&io::Error::other("x")));
    }

    #[test]
    fn fallback_used_after_enosys_and_still_confined() {
        // Simulates an old kernel for this process; the other tests force each strategy
        // explicitly, so the flag does not change what they check.
        let f = fixture();
        OPENAT2_MISSING.store(true, Ordering::Relaxed);
        assert_eq!(read(f.root.open_file(&rel("media/four.jpg"))), "jpeg");
        assert!(f.root.open_file(&rel("media/passwd.jpg")).is_err());
        assert!(f.root.open_file(&rel("media/etc/passwd")).is_err());
        OPENAT2_MISSING.store(false, Ordering::Relaxed);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn check_invariant(p: &RelPath) {
            let s = p.as_str();
            assert!(!s.is_empty() && s.len() <= MAX_PATH_LEN);
            assert!(!s.starts_with('/'));
            for c in s.split('/') {
                assert!(!c.is_empty() && !c.starts_with('.') && c.len() <= MAX_COMPONENT_LEN);
                assert!(!c
                    .chars()
                    .any(|ch| ch.is_control() || matches!(ch, '\\' | ':' | '%')));
            }
            assert_eq!(RelPath::parse(s).as_ref(), Ok(p));
        }

        fn encode(s: &str) -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b == b'/' {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        }

        proptest! {
            #[test]
            fn parse_total(s in "\\PC{0,64}|[./\\\\%:a\\x00]{0,16}") {
                if let Ok(p) = RelPath::parse(&s) {
                    check_invariant(&p);
                }
            }

            #[test]
            fn from_url_path_total(s in "[./\\\\%0-9a-fA-FcC:é]{0,40}") {
                if let Ok(p) = RelPath::from_url_path(&s) {
                    check_invariant(&p);
                }
            }

            #[test]
            fn from_url_path_total_any_string(s in any::<String>()) {
                if let Ok(p) = RelPath::from_url_path(&s) {
                    check_invariant(&p);
                }
            }

            #[test]
            fn encoding_once_round_trips(
                comps in proptest::collection::vec("[a-zA-Z0-9][a-zA-Z0-9 ._+éàç()-]{0,20}", 1..5)
            ) {
                let plain = comps.join("/");
                let parsed = RelPath::parse(&plain);
                prop_assert_eq!(RelPath::from_url_path(&encode(&plain)), parsed.clone());
                prop_assert!(parsed.is_ok(), "{}", plain);
            }
        }
    }
}
