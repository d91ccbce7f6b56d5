//! Compiled stylesheets: read, linted, rewritten, compiled once and shared by threads.

use super::*;

/// `xsl:output` settings, read once at compile time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputSpec {
    /// `html`, `xml`, `text` or empty (XSLT's default rules).
    pub method: String,
    /// `media-type`, if given.
    pub media_type: Option<String>,
    /// `encoding`, if given.
    pub encoding: Option<String>,
}

/// A compiled stylesheet, shared read-only by concurrent transforms.
pub struct Stylesheet {
    pub(super) ptr: NonNull<ffi::xsltStylesheet>,
    pub(super) output: OutputSpec,
    pub(super) files: Vec<PathBuf>,
    /// Set when results go through [`html_writer`] ([`FastPath::HtmlWriter`], HTML method,
    /// no indentation, UTF-8): the encoding name libxslt would write into the page's `<meta>`.
    pub(super) html_meta_encoding: Option<CString>,
    /// Transforms use the faster variable lookup and XPath string functions of
    /// `c/xpath_fast.c` and [`xpath_fast`] ([`FastPath::XPathFunctions`]).
    pub(super) fast_xpath: bool,
    /// libxslt's XSLT namespace literal when the declarations point at it
    /// ([`FastPath::NsIntern`]), else null.
    pub(super) ns_literal: *const u8,
    /// Expressions of its modules wrapped by [`unstream`] before compilation.
    pub(super) unstreamed: usize,
}

// SAFETY: after compilation a stylesheet is only read by transforms (libxslt's documented
// design, see the module doc); the one known writer on 1.1.35, xsl:sort with attribute value
// templates, is refused by `lint`. It is freed only by Drop, i.e. when no `&Stylesheet` exists.
unsafe impl Send for Stylesheet {}
// SAFETY: as above: shared access is read-only.
unsafe impl Sync for Stylesheet {}

impl Drop for Stylesheet {
    fn drop(&mut self) {
        // SAFETY: we own the stylesheet (and its document); no transform can hold a reference
        // past our lifetime.
        // Declarations pointing at libxslt's literal get a private copy back first, because
        // xmlFreeNs frees every namespace URI.
        unsafe {
            vitrine_style_unshare_xslt_ns(self.ptr.as_ptr(), self.ns_literal);
            ffi::xsltFreeStylesheet(self.ptr.as_ptr())
        }
    }
}

impl std::fmt::Debug for Stylesheet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stylesheet")
            .field("output", &self.output)
            .field("files", &self.files)
            .finish()
    }
}

impl Stylesheet {
    /// Reads, checks and compiles the stylesheet at `path`. Imports and includes are read
    /// only beneath `root`. The process's fast paths apply ([`engine()`]).
    pub fn compile(path: &Path, root: &Path) -> Result<Stylesheet, XmlError> {
        Self::compile_with(path, root, engine().active)
    }

    /// [`Stylesheet::compile`] with the given fast paths (tests compare them with none).
    pub(super) fn compile_with(
        path: &Path,
        root: &Path,
        fast: FastPaths,
    ) -> Result<Stylesheet, XmlError> {
        let file = path.display().to_string();
        let abs = path.canonicalize().map_err(|source| XmlError::Io {
            file: file.clone(),
            source,
        })?;
        let bytes = read_capped(&abs)?;
        let root = root.canonicalize().map_err(|source| XmlError::Io {
            file: root.display().to_string(),
            source,
        })?;
        Self::compile_bytes(&bytes, &abs, &[&root], fast).map_err(|e| match e {
            XmlError::Compile { messages, at, .. } => XmlError::Compile { file, messages, at },
            other => other,
        })
    }

    /// Compiles a stylesheet from its bytes; `abs` is its canonical path (its base URI), and
    /// `roots` the folders its imports and includes may be read from.
    pub(super) fn compile_bytes(
        bytes: &[u8],
        abs: &Path,
        roots: &[&Path],
        fast: FastPaths,
    ) -> Result<Stylesheet, XmlError> {
        thread_setup();
        // Outlives any render this may be called from.
        let _outside_arena = arena::suspend();
        clear_messages();
        let file = abs.display().to_string();
        let counting = UnstreamCount::start(fast.has(FastPath::Unstream));
        let mut doc = parse_raw(bytes, &abs.to_string_lossy(), ptr::null_mut())?;
        prepare_module(&mut doc, &abs.to_string_lossy()).map_err(|problems| {
            let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
            XmlError::Compile {
                file: file.clone(),
                messages: messages.join("; "),
                at: Box::new(
                    problems
                        .first()
                        .map_or_else(|| diagnostics::at(&file, None), |p| p.at.clone()),
                ),
            }
        })?;
        let raw_doc = doc.into_raw();
        let (style, mut files) = with_roots(roots, || {
            // SAFETY: `raw_doc` is a valid document we own; on success the stylesheet takes
            // ownership of it, on failure (NULL) it stays ours and is freed below.
            unsafe { ffi::xsltParseStylesheetDoc(raw_doc) }
        });
        let unstreamed = counting.total();
        let Some(style) = NonNull::new(style) else {
            // SAFETY: compilation failed, so libxslt did not take the document.
            unsafe { ffi::xmlFreeDoc(raw_doc) };
            let (messages, at) = take_messages();
            return Err(XmlError::Compile {
                at: Box::new(at.of_compile(&file)),
                file,
                messages,
            });
        };
        // SAFETY: `style` is a live compiled stylesheet; the C side reads one of its fields.
        let errors = unsafe { vitrine_style_errors(style.as_ptr()) };
        let mut compiled = Stylesheet {
            ptr: style,
            output: OutputSpec::default(),
            files: Vec::new(),
            html_meta_encoding: None,
            fast_xpath: fast.has(FastPath::XPathFunctions),
            ns_literal: ptr::null(),
            unstreamed,
        };
        // libxslt reports some faults ("compilation error: file F line N element E") without
        // counting them in `errors` and returns a stylesheet that skips the faulty
        // instruction at every render: any reported compilation error refuses the theme.
        if errors != 0 || compilation_error_reported() {
            let (messages, at) = take_messages();
            return Err(XmlError::Compile {
                at: Box::new(at.of_compile(&file)),
                file,
                messages,
            });
        }
        if fast.has(FastPath::NsIntern) {
            compiled.ns_literal = XSLT_NS_LITERAL.load(Ordering::Acquire);
            // SAFETY: the stylesheet is not shared yet (no other thread can read it); the
            // literal is either null (then nothing happens) or a NUL-terminated string in
            // libxslt's read-only segment, which stays mapped for the life of the process.
            // Drop undoes it.
            unsafe { vitrine_style_share_xslt_ns(style.as_ptr(), compiled.ns_literal) };
        }
        files.insert(0, abs.to_path_buf());
        compiled.files = files;
        compiled.output = compiled.read_output();
        if fast.has(FastPath::HtmlWriter) {
            compiled.html_meta_encoding = compiled.html_writer_encoding();
        }
        Ok(compiled)
    }

    pub(super) fn read_output(&self) -> OutputSpec {
        let (mut m, mut t, mut e) = (ptr::null(), ptr::null(), ptr::null());
        // SAFETY: the stylesheet is alive; the returned strings belong to it (or are NULL).
        unsafe {
            vitrine_style_output(self.ptr.as_ptr(), &mut m, &mut t, &mut e);
            let s = |p: *const u8| {
                (!p.is_null()).then(|| CStr::from_ptr(p.cast()).to_string_lossy().into_owned())
            };
            OutputSpec {
                method: s(m).unwrap_or_default(),
                media_type: s(t),
                encoding: s(e),
            }
        }
    }

    /// Whether [`html_writer`] reproduces what libxslt would write for this stylesheet's
    /// results: the HTML method without indentation, in UTF-8 (libxslt's default).
    pub(super) fn html_writer_encoding(&self) -> Option<CString> {
        // SAFETY: the stylesheet is alive; reading xsl:output settings has no side effect.
        let indent = unsafe { vitrine_style_indent(self.ptr.as_ptr()) };
        if self.output.method != "html" || indent != 0 {
            return None;
        }
        match &self.output.encoding {
            None => CString::new("UTF-8").ok(),
            Some(e) if e.eq_ignore_ascii_case("utf-8") => CString::new(e.as_str()).ok(),
            Some(_) => None,
        }
    }

    /// How many of its expressions were wrapped in parentheses so that libxml2 evaluates
    /// them step by step rather than by streaming over the document (see `xslt/unstream.rs`).
    pub fn unstreamed(&self) -> usize {
        self.unstreamed
    }

    /// The `xsl:output` settings.
    pub fn output(&self) -> &OutputSpec {
        &self.output
    }

    /// Every file read to compile it (main file first, then imports and includes), for the
    /// watcher and for versioning.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}
