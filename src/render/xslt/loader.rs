//! The confined document loader: what `xsl:import`, `xsl:include` and `document()` may
//! read (files beneath the thread's roots, size-capped, parsed with the safe options),
//! with nesting and cycle checks, and the external-entity loader that refuses everything.

use super::*;

thread_local! {
    /// Roots the libxslt loader and the read-file preference accept on this thread, and the
    /// files loaded so far by the current operation.
    pub(super) static LOADER: RefCell<LoaderState> = const { RefCell::new(LoaderState::new()) };
}

pub(super) struct LoaderState {
    pub(super) roots: Vec<PathBuf>,
    pub(super) loaded: Vec<PathBuf>,
    /// For each entry of `loaded`, the module that imported or included it (`None` for
    /// `document()` loads).
    pub(super) parents: Vec<Option<PathBuf>>,
    /// Stylesheet modules get their multi-step paths wrapped ([`unstream`]); off only for
    /// the tests that compare with libxml2's own evaluation.
    pub(super) unstream: bool,
    /// Expressions wrapped in the modules loaded so far.
    pub(super) unstreamed: usize,
}

impl LoaderState {
    pub(super) const fn new() -> Self {
        LoaderState {
            roots: Vec::new(),
            loaded: Vec::new(),
            parents: Vec::new(),
            unstream: true,
            unstreamed: 0,
        }
    }

    /// `module` and the modules that include it, innermost first, up to the main file.
    /// libxslt processes imports and includes depth first, so the latest load of a module is
    /// the one being processed now. Bounded: no chain longer than the nesting limit is ever
    /// recorded.
    pub(super) fn chain(&self, module: &Path) -> Vec<PathBuf> {
        let mut chain = vec![module.to_path_buf()];
        while chain.len() <= MAX_NESTING + 1 {
            let last = chain.last().expect("never empty");
            let parent = self
                .loaded
                .iter()
                .rposition(|p| p == last)
                .and_then(|i| self.parents[i].clone());
            match parent {
                Some(p) => chain.push(p),
                None => break,
            }
        }
        chain
    }

    /// A path as shown in messages: relative to the first root containing it.
    pub(super) fn show(&self, path: &Path) -> String {
        self.roots
            .iter()
            .find_map(|r| path.strip_prefix(r).ok())
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Checks nesting depth and cycles for loading `path` from `includer`, and records it.
    pub(super) fn enter_module(
        &mut self,
        path: &Path,
        includer: Option<PathBuf>,
    ) -> Result<(), String> {
        if let Some(includer) = &includer {
            let chain = self.chain(includer);
            let shown = |l: &LoaderState, tail: &[PathBuf]| {
                let mut names: Vec<String> = tail.iter().rev().map(|p| l.show(p)).collect();
                names.push(l.show(path));
                names.join(" -> ")
            };
            if let Some(i) = chain.iter().position(|p| p == path) {
                return Err(format!(
                    "xsl:import/xsl:include cycle: {}; remove the import or include that \
                     closes the loop",
                    shown(self, &chain[..=i])
                ));
            }
            if chain.len() > MAX_NESTING {
                let tail = &chain[..3.min(chain.len())];
                return Err(format!(
                    "xsl:import/xsl:include nested more than {MAX_NESTING} levels deep \
                     (... {}); import the shared modules from fewer levels",
                    shown(self, tail)
                ));
            }
        }
        self.loaded.push(path.to_path_buf());
        self.parents.push(includer);
        if self.loaded.len() > MAX_LOADS {
            return Err(format!(
                "more than {MAX_LOADS} documents loaded by one stylesheet or transform at {}; \
                 import or include each shared module once",
                self.show(path)
            ));
        }
        Ok(())
    }
}

/// Sets the roots the loader accepts for the duration of `f` on this thread. The roots must
/// be canonical (the loader compares canonical paths against them): canonicalising here would
/// cost several syscalls on every transform.
pub(super) fn with_roots<T>(roots: &[&Path], f: impl FnOnce() -> T) -> (T, Vec<PathBuf>) {
    LOADER.with(|l| {
        let mut l = l.borrow_mut();
        l.roots = roots.iter().map(|r| r.to_path_buf()).collect();
        l.loaded.clear();
        l.parents.clear();
    });
    let out = f();
    let loaded = LOADER.with(|l| {
        let mut l = l.borrow_mut();
        l.roots.clear();
        l.parents.clear();
        std::mem::take(&mut l.loaded)
    });
    (out, loaded)
}

/// Refuses every external entity and DTD libxml2 would load on its own.
pub(super) extern "C" fn deny_entity_loader(
    _url: *const c_char,
    _id: *const c_char,
    _ctxt: ffi::xmlParserCtxtPtr,
) -> ffi::xmlParserInputPtr {
    MESSAGES.with(|m| {
        m.borrow_mut()
            .push("external entity or DTD refused".to_owned())
    });
    ptr::null_mut()
}

/// The read-file security check: a path is readable only beneath this thread's roots.
pub(super) unsafe extern "C" fn check_read_file(
    _sec: ffi::xsltSecurityPrefsPtr,
    _ctxt: ffi::xsltTransformContextPtr,
    value: *const c_char,
) -> c_int {
    if value.is_null() {
        return 0;
    }
    // SAFETY: libxslt passes the NUL-terminated URI or path being checked.
    let value = unsafe { CStr::from_ptr(value) }.to_string_lossy();
    c_int::from(confine(&value).is_some())
}

/// Maps a URI or path to a canonical file beneath one of this thread's roots, or `None`.
pub(super) fn confine(uri: &str) -> Option<PathBuf> {
    let path = if let Some(rest) = uri.strip_prefix("file://") {
        // file:///abs/path or file://localhost/abs/path
        let rest = rest.strip_prefix("localhost").unwrap_or(rest);
        percent_encoding::percent_decode_str(rest)
            .decode_utf8()
            .ok()?
            .into_owned()
    } else if uri.contains(':') {
        // Any other scheme (http:, ftp:, data:, jar:...) is refused.
        return None;
    } else {
        uri.to_owned()
    };
    let path = Path::new(&path);
    if !path.is_absolute() {
        return None;
    }
    let canonical = path.canonicalize().ok()?;
    LOADER
        .with(|l| {
            l.borrow()
                .roots
                .iter()
                .any(|root| canonical.starts_with(root))
        })
        .then_some(canonical)
}

/// libxslt's document loader, replaced: confined, size-capped, safe parse options.
pub(super) unsafe extern "C" fn confined_loader(
    uri: *const ffi::xmlChar,
    dict: ffi::xmlDictPtr,
    _options: c_int,
    ctxt: *mut c_void,
    load_type: ffi::xsltLoadType,
) -> ffi::xmlDocPtr {
    if uri.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: libxslt passes the NUL-terminated, already resolved URI.
    let uri = unsafe { CStr::from_ptr(uri.cast()) }
        .to_string_lossy()
        .into_owned();
    let Some(path) = confine(&uri) else {
        let what = if load_type == XSLT_LOAD_DOCUMENT {
            "document()"
        } else {
            "import/include"
        };
        MESSAGES.with(|m| {
            m.borrow_mut().push(format!(
                "{what} of {uri} refused: outside the allowed roots"
            ))
        });
        return ptr::null_mut();
    };
    let is_module = load_type == XSLT_LOAD_STYLESHEET;
    let includer = if is_module {
        // SAFETY: for stylesheet loads libxslt passes the including xsltStylesheet as
        // `ctxt` (xsltLoadStyleDocument, xsltParseStylesheetImport), whose `doc` is the module
        // being processed; `c/stylesheet.c` only reads those two fields.
        let url = unsafe { vitrine_style_doc_url(ctxt) };
        (!url.is_null()).then(|| {
            // SAFETY: a document URL is a NUL-terminated string owned by the document.
            PathBuf::from(
                unsafe { CStr::from_ptr(url) }
                    .to_string_lossy()
                    .into_owned(),
            )
        })
    } else {
        None
    };
    if let Err(problem) = LOADER.with(|l| l.borrow_mut().enter_module(&path, includer)) {
        MESSAGES.with(|m| m.borrow_mut().push(problem));
        return ptr::null_mut();
    }
    match read_capped(&path) {
        Ok(bytes) => match parse_raw(&bytes, &path.to_string_lossy(), dict) {
            Ok(mut doc) if is_module => match prepare_module(&mut doc, &path.to_string_lossy()) {
                Ok(()) => doc.into_raw(),
                Err(problems) => {
                    MESSAGES.with(|m| {
                        let mut m = m.borrow_mut();
                        m.nested_at(problems.first().map(|p| p.at.clone()));
                        for p in problems {
                            m.push(p.to_string());
                        }
                    });
                    ptr::null_mut()
                }
            },
            Ok(doc) => doc.into_raw(),
            Err(e) => nested_failure(&e),
        },
        Err(e) => nested_failure(&e),
    }
}

/// Reports a document the loader could not read or parse (message and location), and
/// answers libxslt with no document.
fn nested_failure(e: &XmlError) -> ffi::xmlDocPtr {
    MESSAGES.with(|m| {
        let mut m = m.borrow_mut();
        m.nested_at(e.location());
        m.push(e.to_string());
    });
    ptr::null_mut()
}

/// What every stylesheet module goes through before libxslt compiles it, the main file (from
/// [`Stylesheet::compile`]) and each import or include (from [`confined_loader`]): the lint,
/// then the [`unstream`] rewrite unless the compile turned it off.
pub(super) fn prepare_module(doc: &mut Document, file: &str) -> Result<(), Vec<lint::LintProblem>> {
    if let Some(root) = doc.root() {
        lint::lint_module(root, file)?;
    }
    if LOADER.with(|l| l.borrow().unstream) {
        let wrapped = doc.unstream_paths();
        LOADER.with(|l| l.borrow_mut().unstreamed += wrapped);
    }
    Ok(())
}

/// One compile's [`unstream`] setting and count in [`LoaderState`]; the setting goes back to
/// on when it is dropped, whichever way the compile ends.
pub(super) struct UnstreamCount;

impl UnstreamCount {
    pub(super) fn start(unstream: bool) -> UnstreamCount {
        LOADER.with(|l| {
            let mut l = l.borrow_mut();
            l.unstream = unstream;
            l.unstreamed = 0;
        });
        UnstreamCount
    }

    /// Expressions wrapped so far in this compile's modules.
    pub(super) fn total(&self) -> usize {
        LOADER.with(|l| l.borrow().unstreamed)
    }
}

impl Drop for UnstreamCount {
    fn drop(&mut self) {
        LOADER.with(|l| l.borrow_mut().unstream = true);
    }
}

pub(super) fn read_capped(path: &Path) -> Result<Vec<u8>, XmlError> {
    use std::io::Read;
    let file = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| XmlError::Io {
        file: file.clone(),
        source,
    })?;
    let mut bytes = Vec::new();
    f.take(MAX_XML_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| XmlError::Io {
            file: file.clone(),
            source,
        })?;
    if bytes.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge {
            file,
            size: bytes.len(),
        });
    }
    Ok(bytes)
}
