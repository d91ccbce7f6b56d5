//! The rendering engine's identity: the libxml2 and libxslt this binary was built against,
//! the ones it runs with, and which of Vitrine's fast paths are on.
//!
//! Each fast path does a library's job faster, and each leans on how a given version
//! behaves: the scanner builds the tree libxml2 2.9's parser builds, the HTML writer writes
//! the bytes libxml2 2.9's serialiser writes, and so on. A fast path is therefore on only
//! when all of these hold, and off otherwise (the library's own code then does the job):
//!
//! 1. the versions it was built against are in its proven set ([`FastPath::proven`]): the
//!    versions on which its differential tests pass;
//! 2. the libraries loaded at run time are the very versions it was built against (an
//!    `apt-get upgrade` can replace them under a built binary);
//! 3. the start-up self-test passes: a built-in probe page rendered with the fast paths and
//!    with the library's own code must give the same bytes;
//! 4. `VITRINE_FAST_PATHS` is not `off`.
//!
//! The decision is made once per process ([`engine()`]) and logged in one line per path turned
//! off ([`Engine::log`]). Its outcome is part of every page's ETag ([`Engine::tag`]): a
//! library update or a fast path switched off may change a page's bytes, and a client must
//! never be answered 304 for bytes it never had.

use std::fmt;
use std::sync::OnceLock;

use super::*;

pub use super::versions::{libxslt_loads_plugins, sort_avt_unsafe, Versions, SORT_AVT_FIXED};

/// One of Vitrine's faster replacements for a library code path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FastPath {
    /// Site files in the exporter's XML subset built by `parse_fast.rs` instead of
    /// libxml2's parser.
    Scanner,
    /// HTML results written by `html_writer.rs` instead of libxml2's serialiser.
    HtmlWriter,
    /// The variable lookup and XPath string functions of `c/xpath_fast.c`.
    XPathFunctions,
    /// Multi-step paths wrapped so that libxml2 does not stream them (`unstream.rs`).
    Unstream,
    /// Page renders allocating from a per-thread arena freed whole (`arena.rs`).
    Arena,
    /// XSLT namespace declarations pointed at libxslt's own literal (`c/ns_intern.c`).
    NsIntern,
}

impl FastPath {
    /// Every fast path, in the order reports list them.
    pub const ALL: [FastPath; 6] = [
        FastPath::Scanner,
        FastPath::HtmlWriter,
        FastPath::XPathFunctions,
        FastPath::Unstream,
        FastPath::Arena,
        FastPath::NsIntern,
    ];

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            FastPath::Scanner => "scanner",
            FastPath::HtmlWriter => "html-writer",
            FastPath::XPathFunctions => "xpath-functions",
            FastPath::Unstream => "unstream",
            FastPath::Arena => "arena",
            FastPath::NsIntern => "ns-intern",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Whether this fast path's differential tests pass on these versions (the tests of
    /// `tests/`, `parse_fast.rs` and `arena.rs`, run by CI on every supported Debian).
    /// On libxml2 2.9.14 with libxslt 1.1.35 (Debian 12 and 13), all of them. On libxml2
    /// 2.15.4 with libxslt 1.1.45 (Debian sid), the arena, unstream and ns-intern, which use
    /// only public calls and pass their tests there; not the others:
    /// - scanner: it builds the tree of libxml2 2.9's parser (line numbers included);
    /// - html-writer: libxml2 2.14+ serialises HTML differently (end tags of empty
    ///   elements, URI escaping), 2.15 writes `<meta charset>`;
    /// - xpath-functions: libxml2 2.14+ resolves standard functions from a static table and
    ///   never calls the lookup that installs them; the variable lookup reads libxslt's
    ///   variable stack, proven on 1.1.35 only.
    ///
    /// Another version gets a fast path only once its tests have passed there.
    pub fn proven(self, v: Versions) -> bool {
        let debian_12_13 = v.libxml2 == 20914 && v.libxslt == 10135;
        let sid = v.libxml2 == 21504 && v.libxslt == 10145;
        debian_12_13
            || (sid
                && matches!(
                    self,
                    FastPath::Unstream | FastPath::Arena | FastPath::NsIntern
                ))
    }
}

/// A set of fast paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FastPaths(u8);

impl FastPaths {
    /// No fast path: the libraries' own code everywhere.
    pub const NONE: FastPaths = FastPaths(0);

    /// Every fast path.
    pub fn all() -> FastPaths {
        FastPath::ALL
            .iter()
            .fold(FastPaths::NONE, |s, p| s.with(*p))
    }

    /// The fast paths proven on `v`.
    pub fn proven_on(v: Versions) -> FastPaths {
        FastPath::ALL
            .iter()
            .filter(|p| p.proven(v))
            .fold(FastPaths::NONE, |s, p| s.with(*p))
    }

    /// Whether `p` is in the set.
    pub fn has(self, p: FastPath) -> bool {
        self.0 & p.bit() != 0
    }

    /// The set with `p`.
    pub fn with(self, p: FastPath) -> FastPaths {
        FastPaths(self.0 | p.bit())
    }

    /// The set without `p`.
    pub fn without(self, p: FastPath) -> FastPaths {
        FastPaths(self.0 & !p.bit())
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The paths in the set, in report order.
    pub fn iter(self) -> impl Iterator<Item = FastPath> {
        FastPath::ALL.into_iter().filter(move |p| self.has(*p))
    }
}

impl fmt::Display for FastPaths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.iter().map(FastPath::name).collect();
        f.write_str(&names.join(", "))
    }
}

/// The engine this process renders with, decided once by [`engine()`].
#[derive(Debug)]
pub struct Engine {
    /// What the binary was built against.
    pub built: Versions,
    /// What is loaded now.
    pub loaded: Versions,
    /// The fast paths in use.
    pub active: FastPaths,
    /// Why each path that is off is off, one sentence each, saying what to do.
    pub notes: Vec<String>,
    tag: u64,
}

/// The variable that turns every fast path off (`off`), for an operator who suspects one.
pub const FAST_PATHS_ENV: &str = "VITRINE_FAST_PATHS";

impl Engine {
    /// A short, stable summary of what makes a page's bytes: the loaded versions and the
    /// active fast paths, e.g. `libxml2 2.9.14, libxslt 1.1.35; fast paths: scanner, ...`.
    pub fn identity(&self) -> String {
        format!("{}; fast paths: {}", self.loaded, self.active)
    }

    /// A number that changes whenever [`Engine::identity`] does, for validators.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// Logs the engine in one line, then one warning per note.
    pub fn log(&self) {
        if self.built == self.loaded {
            tracing::info!("rendering engine: {}", self.identity());
        } else {
            tracing::warn!(
                "rendering engine: {} (built against {})",
                self.identity(),
                self.built
            );
        }
        self.log_notes();
    }

    /// Logs one warning per note (a fast path off, and why).
    pub fn log_notes(&self) {
        for note in &self.notes {
            tracing::warn!("{note}");
        }
    }

    /// The report of `vitrine doctor` and `/healthz`: one fact a line.
    pub fn report(&self) -> String {
        let mut out = format!(
            "libraries loaded: {}\nbuilt against:    {}\nfast paths on:    {}\n",
            self.loaded, self.built, self.active
        );
        let off = FastPaths::all().0 & !self.active.0;
        out.push_str(&format!("fast paths off:   {}\n", FastPaths(off)));
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}

/// FNV-1a, for [`Engine::tag`]: stable across builds and platforms (std's hasher is not).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The engine of this process: decided on first use (libraries initialised, versions
/// compared, self-test run), then the same for the life of the process.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        init();
        let forced_off = std::env::var(FAST_PATHS_ENV).is_ok_and(|v| v.trim() == "off");
        decide(Versions::built(), Versions::loaded(), forced_off, self_test)
    })
}

/// The decision of [`engine`], with its inputs given, so that tests can feed it a mismatched
/// library or a failing self-test.
pub(super) fn decide(
    built: Versions,
    loaded: Versions,
    forced_off: bool,
    self_test: impl FnOnce(FastPaths) -> Result<FastPaths, String>,
) -> Engine {
    let mut notes = Vec::new();
    let mut active = FastPaths::proven_on(built);
    let unproven = FastPaths(FastPaths::all().0 & !active.0);
    if !unproven.is_empty() {
        notes.push(format!(
            "fast paths {unproven} are off: not proven on {built} (the libraries' own code \
             renders instead; pages are correct, only slower)"
        ));
    }
    if !active.is_empty() && loaded != built {
        notes.push(format!(
            "the libraries loaded ({loaded}) are not the ones this binary was built against \
             ({built}): every fast path is off; rebuild Vitrine (./run serve, or cargo build \
             --release) to get them back"
        ));
        active = FastPaths::NONE;
    }
    if !active.is_empty() && forced_off {
        notes.push(format!("{FAST_PATHS_ENV}=off: every fast path is off"));
        active = FastPaths::NONE;
    }
    if !active.is_empty() {
        match self_test(active) {
            Ok(passed) => {
                let dropped = FastPaths(active.0 & !passed.0);
                if !dropped.is_empty() {
                    notes.push(format!(
                        "fast paths {dropped} are off: the start-up self-test found them \
                         unused on these libraries"
                    ));
                }
                active = passed;
            }
            Err(why) => {
                notes.push(format!(
                    "the start-up self-test failed ({why}): every fast path is off; please \
                     report this with the output of `vitrine doctor`"
                ));
                active = FastPaths::NONE;
            }
        }
    }
    let mut engine = Engine {
        built,
        loaded,
        active,
        notes,
        tag: 0,
    };
    engine.tag = fnv1a(&engine.identity());
    engine
}

/// The probe page of the self-test: a site file in the scanner's subset, with French text,
/// entities and character references.
const PROBE_XML: &str = include_str!("probe/probe.xml");

/// The probe theme: HTML output, global and local variables, the string functions of
/// `xpath_fast.c`, multi-step paths, keys, and sorts with a literal `lang`.
const PROBE_XSL: &str = include_str!("probe/probe.xsl");

/// Renders the probe with `fast` and with the libraries' own code and compares the bytes.
/// Returns the fast paths that were really exercised (a path the libraries never route
/// through, such as the XPath functions on libxml2 2.14+, is dropped), or why they differ.
pub(super) fn self_test(fast: FastPaths) -> Result<FastPaths, String> {
    let (plain, _) = probe_render(FastPaths::NONE)?;
    let (out, used) = probe_render(fast)?;
    if out != plain {
        let at = out
            .iter()
            .zip(plain.iter())
            .position(|(a, b)| a != b)
            .unwrap_or(out.len().min(plain.len()));
        return Err(format!(
            "the probe page differs at byte {at} ({} bytes with fast paths, {} without)",
            out.len(),
            plain.len()
        ));
    }
    Ok(used)
}

/// One render of the probe with `fast`, and which of those paths were really taken.
fn probe_render(fast: FastPaths) -> Result<(Bytes, FastPaths), String> {
    let style = Stylesheet::compile_bytes(
        PROBE_XSL.as_bytes(),
        Path::new("/vitrine-probe/probe.xsl"),
        &[],
        fast,
    )
    .map_err(|e| format!("probe theme: {e}"))?;
    let mut used = fast;
    let calls_before = xpath_fast::calls();
    let out = render_scope_with(fast.has(FastPath::Arena), || {
        let (doc, scanned) = parse_document_with(
            PROBE_XML.as_bytes(),
            "/vitrine-probe/probe.xml",
            fast.has(FastPath::Scanner),
        )
        .map_err(|e| format!("probe page: {e}"))?;
        if !scanned {
            used = used.without(FastPath::Scanner);
        }
        transform(
            &style,
            doc,
            &[("page", "'accueil'")],
            &[],
            Limits::default(),
        )
        .map_err(|e| format!("probe render: {e}"))
    })?;
    if xpath_fast::calls() == calls_before {
        used = used.without(FastPath::XPathFunctions);
    }
    if style.html_meta_encoding.is_none() {
        used = used.without(FastPath::HtmlWriter);
    }
    if style.ns_literal.is_null() {
        used = used.without(FastPath::NsIntern);
    }
    Ok((out, used))
}

/// For differential tests: whether `p` is proven on the libraries loaded now. A test of a
/// fast path that is not proven here is skipped, saying so: the path is off on these
/// libraries, and proving it means adding them to [`FastPath::proven`] and seeing the test
/// pass.
#[cfg(test)]
pub(crate) fn proven_here(p: FastPath) -> bool {
    let v = Versions::loaded();
    let proven = p.proven(v);
    if !proven {
        eprintln!(
            "skipped: fast path {} is not proven on {v} and is off there",
            p.name()
        );
    }
    proven
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2_9: Versions = Versions {
        libxml2: 20914,
        libxslt: 10135,
    };
    const V2_15: Versions = Versions {
        libxml2: 21504,
        libxslt: 10145,
    };
    const V2_13: Versions = Versions {
        libxml2: 21308,
        libxslt: 10142,
    };

    #[test]
    fn versions_read_and_print() {
        assert_eq!(super::super::version_number::number("2.9.14"), 20914);
        assert_eq!(super::super::version_number::number("1.1.35"), 10135);
        assert_eq!(V2_15.to_string(), "libxml2 2.15.4, libxslt 1.1.45");
        // What the build saw is what pkg-config says today (CI builds from scratch).
        assert_eq!(Versions::built(), Versions::loaded());
    }

    #[test]
    fn a_mismatched_library_turns_every_fast_path_off() {
        let e = decide(V2_9, V2_15, false, |_| panic!("no self-test on a mismatch"));
        assert!(e.active.is_empty());
        assert!(e
            .notes
            .iter()
            .any(|n| n.contains("not the ones this binary was built")));
        let same = decide(V2_9, V2_9, false, Ok);
        assert_eq!(same.active, FastPaths::all());
        assert_ne!(e.tag(), same.tag(), "the ETag must change with the engine");
    }

    #[test]
    fn a_failing_self_test_turns_every_fast_path_off() {
        let e = decide(V2_9, V2_9, false, |_| Err("bytes differ".into()));
        assert!(e.active.is_empty());
        assert!(e.notes[0].contains("bytes differ"), "{:?}", e.notes);
    }

    #[test]
    fn unproven_versions_get_no_fast_path_and_say_so() {
        let e = decide(V2_13, V2_13, false, |_| panic!("nothing to test"));
        assert!(e.active.is_empty());
        assert!(
            e.notes[0].contains("not proven on libxml2 2.13.8"),
            "{:?}",
            e.notes
        );
        let sid = decide(V2_15, V2_15, false, Ok);
        assert_eq!(sid.active.to_string(), "unstream, arena, ns-intern");
        assert!(
            sid.notes[0].starts_with("fast paths scanner, html-writer, xpath-functions are off")
        );
        let off = decide(V2_9, V2_9, true, |_| panic!("nothing to test"));
        assert!(off.active.is_empty());
    }

    #[test]
    fn self_test_passes_here_and_exercises_what_it_keeps() {
        let proven = FastPaths::proven_on(Versions::loaded());
        let kept = self_test(proven).expect("the probe renders the same both ways");
        // Every path the self-test keeps was really taken; on the proven versions, all are.
        if proven == FastPaths::all() {
            assert_eq!(
                kept, proven,
                "a proven fast path was not exercised by the probe"
            );
        }
        assert_eq!(engine().active, kept);
    }
}
