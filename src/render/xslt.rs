//! The only module that touches libxml2 and libxslt (through the `libxslt` crate's raw
//! `bindings` and the C shim in `shim.c`). Everything above it sees safe types:
//! [`Document`] (a private, parsed input), [`Stylesheet`] (compiled once, shared by threads),
//! [`transform`] and [`Schema`] (the site XML contract in RELAX NG, compiled once, shared by
//! threads).
//!
//! # Thread model
//!
//! libxslt is designed for one compiled stylesheet to be applied concurrently from many threads
//! (upstream's `testThreads.c` does exactly that), under conditions this module enforces:
//!
//! 1. global initialisation ([`init`]) runs once, before any parse or transform, and installs
//!    every process-wide hook (entity loader, libxslt document loader, security preferences,
//!    error handlers);
//! 2. every transform gets its own input document (libxslt mutates the input: strip-space,
//!    document-order indexes) and its own transform context; a [`Document`] is owned, never
//!    shared;
//! 3. a [`Stylesheet`] is freed only when its last `Arc` is dropped, so never while in use;
//! 4. stylesheets that libxslt 1.1.35 would write into during a transform (`xsl:sort` with
//!    attribute value templates, libxslt issue #78) are refused at compile time.
//!
//! # Safety defaults
//!
//! Parsing never loads DTDs or external entities, never touches the network and refuses any
//! DOCTYPE. libxslt's own loader (used by `xsl:import`, `xsl:include` and `document()`) is
//! replaced by one that reads only files beneath the allowed roots of the current thread and
//! parses them with the same safe options. The security preferences forbid writing files,
//! creating directories and any network access; reading is confined to the same roots.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_ulong, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use bytes::Bytes;
use libmimalloc_sys as mimalloc;
use libxslt::bindings as ffi;

mod html_writer;

/// Largest XML file (site, stylesheet or `document()` target) this module parses.
pub const MAX_XML_BYTES: usize = 1 << 20;

/// Most documents one compile or transform may load through `xsl:import`, `xsl:include` or
/// `document()`; libxslt 1.1.35 has no include-cycle check, so this bounds cycles too.
const MAX_LOADS: usize = 64;

/// Messages kept per operation; hostile input can produce thousands.
const MAX_MESSAGES: usize = 16;

/// Parse options for every document: no network, no entity substitution, no DTD loading,
/// no XInclude, no HUGE (which would lift libxml2's entity-amplification and depth limits).
/// COMPACT stores short text nodes inside the node instead of a separate allocation; parsed
/// documents are only read (libxslt never edits a text node of its input), which is the
/// condition libxml2 sets for it.
const SAFE_PARSE_OPTIONS: c_int =
    (ffi::xmlParserOption_XML_PARSE_NONET | ffi::xmlParserOption_XML_PARSE_COMPACT) as c_int;

const XSLT_LOAD_DOCUMENT: ffi::xsltLoadType = 2;

extern "C" {
    fn vitrine_error_trampoline(ctx: *mut c_void, fmt: *const c_char, ...);
    fn vitrine_ctxt_set_limits(
        ctxt: ffi::xsltTransformContextPtr,
        max_depth: c_int,
        max_vars: c_int,
        op_limit: c_ulong,
        xpath_op_limit: c_ulong,
    );
    fn vitrine_ctxt_failed(ctxt: ffi::xsltTransformContextPtr) -> c_int;
    fn vitrine_find_xslt_ns_literal() -> *const u8;
    fn vitrine_style_indent(style: ffi::xsltStylesheetPtr) -> c_int;
    fn vitrine_style_share_xslt_ns(style: ffi::xsltStylesheetPtr, lit: *const u8);
    fn vitrine_style_unshare_xslt_ns(style: ffi::xsltStylesheetPtr, lit: *const u8);
    fn vitrine_style_output(
        style: ffi::xsltStylesheetPtr,
        method: *mut *const u8,
        media_type: *mut *const u8,
        encoding: *mut *const u8,
    );
    fn vitrine_read_memory(
        buf: *const c_char,
        len: c_int,
        url: *const c_char,
        dict: ffi::xmlDictPtr,
        options: c_int,
    ) -> ffi::xmlDocPtr;
}

/// A failure of libxml2 or libxslt, with what they said (bounded) and where.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// The document is not well-formed XML.
    #[error("{file}: not well-formed XML: {messages}")]
    Parse {
        /// The file (or URL) being parsed.
        file: String,
        /// libxml2's messages, with line numbers.
        messages: String,
    },
    /// The document declares a DOCTYPE, which the data contract forbids.
    #[error("{file}: DOCTYPE declarations are not allowed")]
    Doctype {
        /// The file being parsed.
        file: String,
    },
    /// The file exceeds [`MAX_XML_BYTES`].
    #[error("{file}: {size} bytes is over the {MAX_XML_BYTES}-byte limit")]
    TooLarge {
        /// The file being parsed.
        file: String,
        /// Its size.
        size: usize,
    },
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file being read.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The stylesheet did not compile (or was refused by the safety lint).
    #[error("{file}: stylesheet does not compile: {messages}")]
    Compile {
        /// The stylesheet's main file.
        file: String,
        /// libxslt's messages, with line numbers.
        messages: String,
    },
    /// The transform failed; no output is produced.
    #[error("transform failed: {messages}")]
    Transform {
        /// libxslt's messages.
        messages: String,
    },
}

// ---------------------------------------------------------------------------------------
// Global initialisation and per-thread state
// ---------------------------------------------------------------------------------------

static INIT: Once = Once::new();

/// The security preferences shared by every transform; created once in [`init`] and never
/// freed, so the pointer stays valid for the life of the process.
static mut SECURITY_PREFS: ffi::xsltSecurityPrefsPtr = ptr::null_mut();

thread_local! {
    /// Messages libxml2/libxslt reported on this thread during the current operation.
    static MESSAGES: RefCell<Messages> = const { RefCell::new(Messages::new()) };
    /// Roots the libxslt loader and the read-file preference accept on this thread, and the
    /// files loaded so far by the current operation.
    static LOADER: RefCell<LoaderState> = const { RefCell::new(LoaderState::new()) };
    /// Whether this thread's libxml2 error handlers are installed (they are per-thread).
    static THREAD_READY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

struct Messages {
    lines: Vec<String>,
    dropped: usize,
}

impl Messages {
    const fn new() -> Self {
        Messages {
            lines: Vec::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, line: String) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        if self.lines.len() < MAX_MESSAGES {
            let mut line = line.to_owned();
            line.truncate(line.floor_char_boundary_compat(400));
            self.lines.push(line);
        } else {
            self.dropped += 1;
        }
    }

    fn take(&mut self) -> String {
        let mut out = self.lines.join("; ");
        if self.dropped > 0 {
            out.push_str(&format!(" (and {} more messages)", self.dropped));
        }
        if out.is_empty() {
            out.push_str("no diagnostic given");
        }
        self.lines.clear();
        self.dropped = 0;
        out
    }
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, index: usize) -> usize;
}

impl FloorCharBoundary for String {
    fn floor_char_boundary_compat(&self, index: usize) -> usize {
        let mut i = index.min(self.len());
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

struct LoaderState {
    roots: Vec<PathBuf>,
    loaded: Vec<PathBuf>,
}

impl LoaderState {
    const fn new() -> Self {
        LoaderState {
            roots: Vec::new(),
            loaded: Vec::new(),
        }
    }
}

/// Sets the roots the loader accepts for the duration of `f` on this thread. The roots must
/// be canonical (the loader compares canonical paths against them): canonicalising here would
/// cost several syscalls on every transform.
fn with_roots<T>(roots: &[&Path], f: impl FnOnce() -> T) -> (T, Vec<PathBuf>) {
    LOADER.with(|l| {
        let mut l = l.borrow_mut();
        l.roots = roots.iter().map(|r| r.to_path_buf()).collect();
        l.loaded.clear();
    });
    let out = f();
    let loaded = LOADER.with(|l| {
        let mut l = l.borrow_mut();
        l.roots.clear();
        std::mem::take(&mut l.loaded)
    });
    (out, loaded)
}

fn take_messages() -> String {
    MESSAGES.with(|m| m.borrow_mut().take())
}

fn clear_messages() {
    MESSAGES.with(|m| {
        let mut m = m.borrow_mut();
        m.lines.clear();
        m.dropped = 0;
    });
}

/// Receives every formatted libxml2/libxslt message (from the C trampoline).
#[no_mangle]
extern "C" fn vitrine_xml_message(_ctx: *mut c_void, msg: *const c_char) {
    if msg.is_null() {
        return;
    }
    // SAFETY: the trampoline passes a NUL-terminated buffer that lives for this call.
    let text = unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    MESSAGES.with(|m| m.borrow_mut().push(text));
}

/// libxml2's structured error callback: keeps file and line with the message.
extern "C" fn structured_error(_ctx: *mut c_void, error: ffi::xmlErrorPtr) {
    if error.is_null() {
        return;
    }
    // SAFETY: libxml2 passes a valid error record for the duration of the callback; its
    // strings are NUL-terminated or NULL.
    let line = unsafe {
        let e = &*error;
        let msg = if e.message.is_null() {
            String::from("unknown error")
        } else {
            CStr::from_ptr(e.message).to_string_lossy().into_owned()
        };
        format!("line {}: {}", e.line, msg.trim_end())
    };
    MESSAGES.with(|m| m.borrow_mut().push(line));
}

/// Refuses every external entity and DTD libxml2 would load on its own.
extern "C" fn deny_entity_loader(
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
unsafe extern "C" fn check_read_file(
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
fn confine(uri: &str) -> Option<PathBuf> {
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
unsafe extern "C" fn confined_loader(
    uri: *const ffi::xmlChar,
    dict: ffi::xmlDictPtr,
    _options: c_int,
    _ctxt: *mut c_void,
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
    let too_many = LOADER.with(|l| {
        let mut l = l.borrow_mut();
        l.loaded.push(path.clone());
        l.loaded.len() > MAX_LOADS
    });
    if too_many {
        MESSAGES.with(|m| {
            m.borrow_mut().push(format!(
                "more than {MAX_LOADS} documents loaded (include cycle?) at {uri}"
            ))
        });
        return ptr::null_mut();
    }
    match read_capped(&path) {
        Ok(bytes) => match parse_raw(&bytes, &path.to_string_lossy(), dict) {
            Ok(doc) => doc.into_raw(),
            Err(e) => {
                MESSAGES.with(|m| m.borrow_mut().push(e.to_string()));
                ptr::null_mut()
            }
        },
        Err(e) => {
            MESSAGES.with(|m| m.borrow_mut().push(e.to_string()));
            ptr::null_mut()
        }
    }
}

/// Installs libxml2's per-thread error handlers on the calling thread (once per thread).
fn thread_setup() {
    init();
    if !THREAD_READY.with(|r| r.replace(true)) {
        // SAFETY: both setters only write this thread's libxml2 globals; the handlers are
        // plain functions valid for the life of the process.
        unsafe {
            ffi::xmlSetStructuredErrorFunc(ptr::null_mut(), Some(structured_error));
            ffi::xmlSetGenericErrorFunc(ptr::null_mut(), Some(vitrine_error_trampoline));
        }
    }
}

/// libxslt's own copy of the XSLT namespace URI (see `vitrine_find_xslt_ns_literal` in
/// shim.c), or null when it could not be identified; set once by [`init`]. Compiled
/// stylesheets point their XSLT namespace declarations at it, which makes libxslt's
/// "is this an XSLT instruction?" test a pointer comparison.
static XSLT_NS_LITERAL: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());

/// Initialises libxml2 and libxslt once for the process and installs the safety hooks.
/// Idempotent; every other function of this module calls it first.
pub fn init() {
    INIT.call_once(|| {
        // SAFETY: runs exactly once (Once), before any other libxml2/libxslt call of this
        // process, which is what these process-wide setters require. The prefs object is
        // leaked on purpose: transforms reference it until the process exits.
        unsafe {
            // libxml2/libxslt allocate and free a node, string or XPath object at every step
            // of a transform; glibc malloc was over a quarter of a render's CPU time. mimalloc's
            // thread-local heaps make it much cheaper. This must precede every libxml2
            // allocation, hence first; all libxml2 memory is then allocated and freed through
            // the same four functions (xmlFree included), never mixed with libc's.
            ffi::xmlGcMemSetup(
                Some(mimalloc::mi_free),
                Some(mimalloc::mi_malloc),
                Some(mimalloc::mi_malloc),
                Some(mimalloc::mi_realloc),
                Some(mimalloc::mi_strdup),
            );
            ffi::xmlInitParser();
            ffi::xsltInit();
            // RELAX NG's datatype registry (and XML Schema's built-in types behind it) is a
            // process-wide table filled on first use without a lock: fill it here, before
            // any thread can compile or validate.
            ffi::xmlRelaxNGInitTypes();
            ffi::xmlSetExternalEntityLoader(Some(deny_entity_loader));
            // New threads start from these defaults (libxml2 error globals are per-thread).
            ffi::xmlThrDefSetStructuredErrorFunc(ptr::null_mut(), Some(structured_error));
            ffi::xmlThrDefSetGenericErrorFunc(ptr::null_mut(), Some(vitrine_error_trampoline));
            ffi::xsltSetGenericErrorFunc(ptr::null_mut(), Some(vitrine_error_trampoline));
            ffi::xsltSetLoaderFunc(Some(confined_loader));
            let sec = ffi::xsltNewSecurityPrefs();
            assert!(
                !sec.is_null(),
                "libxslt could not allocate security preferences"
            );
            let forbid = Some(ffi::xsltSecurityForbid as unsafe extern "C" fn(_, _, _) -> _);
            ffi::xsltSetSecurityPrefs(sec, ffi::xsltSecurityOption_XSLT_SECPREF_WRITE_FILE, forbid);
            ffi::xsltSetSecurityPrefs(
                sec,
                ffi::xsltSecurityOption_XSLT_SECPREF_CREATE_DIRECTORY,
                forbid,
            );
            ffi::xsltSetSecurityPrefs(
                sec,
                ffi::xsltSecurityOption_XSLT_SECPREF_READ_NETWORK,
                forbid,
            );
            ffi::xsltSetSecurityPrefs(
                sec,
                ffi::xsltSecurityOption_XSLT_SECPREF_WRITE_NETWORK,
                forbid,
            );
            ffi::xsltSetSecurityPrefs(
                sec,
                ffi::xsltSecurityOption_XSLT_SECPREF_READ_FILE,
                Some(check_read_file),
            );
            ffi::xsltSetDefaultSecurityPrefs(sec);
            SECURITY_PREFS = sec;
            XSLT_NS_LITERAL.store(vitrine_find_xslt_ns_literal().cast_mut(), Ordering::Release);
        }
    });
}

fn read_capped(path: &Path) -> Result<Vec<u8>, XmlError> {
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

// ---------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------

/// A parsed XML document, owned by one thread at a time and never shared.
pub struct Document {
    ptr: NonNull<ffi::xmlDoc>,
}

// SAFETY: a Document is the only owner of its libxml2 tree; moving it to another thread moves
// that exclusive ownership (libxml2 trees have no thread affinity), and it is not Sync.
unsafe impl Send for Document {}

impl Drop for Document {
    fn drop(&mut self) {
        // SAFETY: we own the document and nothing else references it once we drop.
        unsafe { ffi::xmlFreeDoc(self.ptr.as_ptr()) }
    }
}

impl Document {
    fn into_raw(self) -> ffi::xmlDocPtr {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The name the document was parsed under (its base URI), for messages.
    pub fn name(&self) -> String {
        // SAFETY: the document is alive; URL is NULL or a NUL-terminated string it owns.
        unsafe {
            let url = (*self.ptr.as_ptr()).URL;
            if url.is_null() {
                return String::new();
            }
            CStr::from_ptr(url.cast()).to_string_lossy().into_owned()
        }
    }

    /// The root element.
    pub fn root(&self) -> Option<Node<'_>> {
        // SAFETY: the document is alive for 'self; the root pointer is NULL or a valid node.
        let root = unsafe { ffi::xmlDocGetRootElement(self.ptr.as_ptr()) };
        NonNull::new(root).map(|ptr| Node {
            ptr,
            _doc: std::marker::PhantomData,
        })
    }
}

/// A read-only view of an element of a [`Document`].
#[derive(Clone, Copy)]
pub struct Node<'a> {
    ptr: NonNull<ffi::xmlNode>,
    _doc: std::marker::PhantomData<&'a Document>,
}

impl<'a> Node<'a> {
    /// The element's local name.
    pub fn name(&self) -> &'a str {
        // SAFETY: element names are NUL-terminated UTF-8 strings owned by the document, which
        // outlives 'a.
        unsafe {
            let name = (*self.ptr.as_ptr()).name;
            if name.is_null() {
                return "";
            }
            CStr::from_ptr(name.cast()).to_str().unwrap_or("")
        }
    }

    /// The element children, in document order.
    pub fn children(&self) -> impl Iterator<Item = Node<'a>> {
        // SAFETY: the child list belongs to the document, alive for 'a.
        let mut next = unsafe { (*self.ptr.as_ptr()).children };
        std::iter::from_fn(move || loop {
            let cur = NonNull::new(next)?;
            // SAFETY: `cur` is a valid node of the same, alive document.
            unsafe {
                next = (*cur.as_ptr()).next;
                if (*cur.as_ptr()).type_ == ffi::xmlElementType_XML_ELEMENT_NODE {
                    return Some(Node {
                        ptr: cur,
                        _doc: std::marker::PhantomData,
                    });
                }
            }
        })
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<Node<'a>> {
        self.children().find(|c| c.name() == name)
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<String> {
        let cname = CString::new(name).ok()?;
        // SAFETY: the node is alive; xmlGetProp returns a fresh xmlMalloc'd string or NULL,
        // which we copy and free with libxml2's own deallocator.
        unsafe {
            let v = ffi::xmlGetProp(self.ptr.as_ptr(), cname.as_ptr().cast());
            if v.is_null() {
                return None;
            }
            let s = CStr::from_ptr(v.cast()).to_string_lossy().into_owned();
            if let Some(free) = ffi::xmlFree {
                free(v.cast());
            }
            Some(s)
        }
    }

    /// The concatenated text content.
    pub fn text(&self) -> String {
        // SAFETY: as in `attr`: a fresh string we copy and free.
        unsafe {
            let v = ffi::xmlNodeGetContent(self.ptr.as_ptr());
            if v.is_null() {
                return String::new();
            }
            let s = CStr::from_ptr(v.cast()).to_string_lossy().into_owned();
            if let Some(free) = ffi::xmlFree {
                free(v.cast());
            }
            s
        }
    }
}

fn parse_raw(bytes: &[u8], name: &str, dict: ffi::xmlDictPtr) -> Result<Document, XmlError> {
    thread_setup();
    if bytes.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge {
            file: name.to_owned(),
            size: bytes.len(),
        });
    }
    let url = CString::new(name.replace('\0', "")).unwrap_or_default();
    // SAFETY: the buffer and URL outlive the call; a non-NULL dict is a live libxslt
    // dictionary handed to the loader; the returned document (or NULL) is ours.
    let doc = unsafe {
        vitrine_read_memory(
            bytes.as_ptr().cast(),
            bytes.len() as c_int,
            url.as_ptr(),
            dict,
            SAFE_PARSE_OPTIONS,
        )
    };
    let Some(ptr) = NonNull::new(doc) else {
        return Err(XmlError::Parse {
            file: name.to_owned(),
            messages: take_messages(),
        });
    };
    let doc = Document { ptr };
    // SAFETY: the document is alive; intSubset/extSubset are plain fields.
    let has_doctype =
        unsafe { !(*ptr.as_ptr()).intSubset.is_null() || !(*ptr.as_ptr()).extSubset.is_null() };
    if has_doctype {
        return Err(XmlError::Doctype {
            file: name.to_owned(),
        });
    }
    Ok(doc)
}

/// Parses one document from memory with the safe options. `name` is used in messages and as
/// the base URI.
pub fn parse_document(bytes: &[u8], name: &str) -> Result<Document, XmlError> {
    clear_messages();
    parse_raw(bytes, name, ptr::null_mut())
}

// ---------------------------------------------------------------------------------------
// Stylesheets and transforms
// ---------------------------------------------------------------------------------------

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
    ptr: NonNull<ffi::xsltStylesheet>,
    output: OutputSpec,
    files: Vec<PathBuf>,
    /// Set when results can go through [`html_writer`] (HTML method, no indentation, UTF-8):
    /// the encoding name libxslt would write into the page's `<meta>`.
    html_meta_encoding: Option<CString>,
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
            vitrine_style_unshare_xslt_ns(
                self.ptr.as_ptr(),
                XSLT_NS_LITERAL.load(Ordering::Acquire),
            );
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
    /// only beneath `root`.
    pub fn compile(path: &Path, root: &Path) -> Result<Stylesheet, XmlError> {
        thread_setup();
        clear_messages();
        let file = path.display().to_string();
        let abs = path.canonicalize().map_err(|source| XmlError::Io {
            file: file.clone(),
            source,
        })?;
        let bytes = read_capped(&abs)?;
        let doc = parse_raw(&bytes, &abs.to_string_lossy(), ptr::null_mut())?;
        if let Some(root_el) = doc.root() {
            lint(root_el).map_err(|messages| XmlError::Compile {
                file: file.clone(),
                messages,
            })?;
        }
        let raw_doc = doc.into_raw();
        let root = root.canonicalize().map_err(|source| XmlError::Io {
            file: root.display().to_string(),
            source,
        })?;
        let (style, mut files) = with_roots(&[&root], || {
            // SAFETY: `raw_doc` is a valid document we own; on success the stylesheet takes
            // ownership of it, on failure (NULL) it stays ours and is freed below.
            unsafe { ffi::xsltParseStylesheetDoc(raw_doc) }
        });
        let Some(style) = NonNull::new(style) else {
            // SAFETY: compilation failed, so libxslt did not take the document.
            unsafe { ffi::xmlFreeDoc(raw_doc) };
            return Err(XmlError::Compile {
                file,
                messages: take_messages(),
            });
        };
        // SAFETY: `style` is a live compiled stylesheet; `errors` is a plain field.
        let errors = unsafe { (*style.as_ptr()).errors };
        let mut compiled = Stylesheet {
            ptr: style,
            output: OutputSpec::default(),
            files: Vec::new(),
            html_meta_encoding: None,
        };
        if errors != 0 {
            return Err(XmlError::Compile {
                file,
                messages: take_messages(),
            });
        }
        // SAFETY: the stylesheet is not shared yet (no other thread can read it); the literal
        // is either null (then nothing happens) or a NUL-terminated string in libxslt's
        // read-only segment, which stays mapped for the life of the process. Drop undoes it.
        unsafe {
            vitrine_style_share_xslt_ns(style.as_ptr(), XSLT_NS_LITERAL.load(Ordering::Acquire))
        };
        files.insert(0, abs);
        compiled.files = files;
        compiled.output = compiled.read_output();
        compiled.html_meta_encoding = compiled.html_writer_encoding();
        Ok(compiled)
    }

    fn read_output(&self) -> OutputSpec {
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
    fn html_writer_encoding(&self) -> Option<CString> {
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

/// Refuses stylesheet constructs that are unsafe to share between threads on libxslt 1.1.35
/// or that would reach outside the publisher's control.
fn lint(root: Node<'_>) -> Result<(), String> {
    fn walk(node: Node<'_>, problems: &mut Vec<String>) {
        if node.name() == "sort" {
            for attr in ["data-type", "order", "lang", "case-order"] {
                if node.attr(attr).is_some_and(|v| v.contains('{')) {
                    problems.push(format!(
                        "xsl:sort with an attribute value template in {attr} is not thread-safe \
                         on this libxslt; use a literal value"
                    ));
                }
            }
        }
        for child in node.children() {
            walk(child, problems);
        }
    }
    let mut problems = Vec::new();
    walk(root, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Budgets of one transform.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum template (and variable) nesting depth.
    pub max_depth: i32,
    /// Maximum number of live variables.
    pub max_vars: i32,
    /// Maximum XSLT instructions executed.
    pub op_limit: u64,
    /// Maximum XPath operations per evaluation.
    pub xpath_op_limit: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 250,
            max_vars: 15_000,
            op_limit: 5_000_000,
            xpath_op_limit: 5_000_000,
        }
    }
}

/// The serialised result of a transform, owned by libxml2's allocator until dropped.
struct XmlBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the buffer is exclusively owned and immutable; xmlFree may run on any thread.
unsafe impl Send for XmlBuffer {}

impl AsRef<[u8]> for XmlBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: libxml2 allocated `len` initialised bytes at `ptr`, alive until Drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for XmlBuffer {
    fn drop(&mut self) {
        // SAFETY: the buffer came from libxml2's allocator and is freed exactly once.
        unsafe {
            if let Some(free) = ffi::xmlFree {
                free(self.ptr.as_ptr().cast());
            }
        }
    }
}

/// Applies `style` to `doc` with string parameters, returning the serialised result.
/// `roots` are the folders `document()` may read from during this transform; they must be
/// canonical paths (a [`crate::fsx::Root`] path, or a folder beneath one reached without
/// symlinks, is).
pub fn transform(
    style: &Stylesheet,
    doc: Document,
    params: &[(&str, &str)],
    roots: &[&Path],
    limits: Limits,
) -> Result<Bytes, XmlError> {
    thread_setup();
    clear_messages();
    let cparams: Vec<(CString, CString)> = params
        .iter()
        .map(|(k, v)| {
            (
                CString::new(*k).unwrap_or_default(),
                CString::new(v.replace('\0', "")).unwrap_or_default(),
            )
        })
        .collect();
    let (result, _) = with_roots(roots, || {
        // SAFETY: the stylesheet is alive and read-only; `doc` is private to this call and
        // freed by its Drop after the context that references it; every object created here
        // is freed before returning. The security prefs are process-lifetime.
        unsafe {
            let ctxt = ffi::xsltNewTransformContext(style.ptr.as_ptr(), doc.ptr.as_ptr());
            if ctxt.is_null() {
                return Err(XmlError::Transform {
                    messages: "could not create a transform context".to_owned(),
                });
            }
            ffi::xsltSetCtxtSecurityPrefs(SECURITY_PREFS, ctxt);
            ffi::xsltSetTransformErrorFunc(ctxt, ptr::null_mut(), Some(vitrine_error_trampoline));
            vitrine_ctxt_set_limits(
                ctxt,
                limits.max_depth,
                limits.max_vars,
                limits.op_limit as c_ulong,
                limits.xpath_op_limit as c_ulong,
            );
            for (k, v) in &cparams {
                ffi::xsltQuoteOneUserParam(ctxt, k.as_ptr().cast(), v.as_ptr().cast());
            }
            let res = ffi::xsltApplyStylesheetUser(
                style.ptr.as_ptr(),
                doc.ptr.as_ptr(),
                ptr::null_mut(),
                ptr::null(),
                ptr::null_mut(),
                ctxt,
            );
            let failed = vitrine_ctxt_failed(ctxt) != 0;
            ffi::xsltFreeTransformContext(ctxt);
            if res.is_null() || failed {
                if !res.is_null() {
                    ffi::xmlFreeDoc(res);
                }
                return Err(XmlError::Transform {
                    messages: take_messages(),
                });
            }
            let result = ResultDoc(res);
            if let Some(out) = serialize_fast(style, &result) {
                return Ok(Bytes::from(out));
            }
            serialize_libxml(style, &result)
        }
    });
    drop(doc);
    result
}

/// A transform's result tree, freed on drop.
struct ResultDoc(ffi::xmlDocPtr);

impl Drop for ResultDoc {
    fn drop(&mut self) {
        // SAFETY: the result document is owned by this value and freed once.
        unsafe { ffi::xmlFreeDoc(self.0) }
    }
}

/// Serialises with [`html_writer`] when the stylesheet allows it and the tree holds nothing
/// it does not reproduce exactly; `None` means "use libxml2".
fn serialize_fast(style: &Stylesheet, result: &ResultDoc) -> Option<Vec<u8>> {
    let encoding = style.html_meta_encoding.as_ref()?;
    // SAFETY: the result tree is private to this render; htmlSetMetaEncoding is what
    // libxslt's own serialisation does first (and does again, harmlessly, if we fall back).
    unsafe { ffi::htmlSetMetaEncoding(result.0, encoding.as_ptr().cast()) };
    let mut out = Vec::with_capacity(32 * 1024);
    // SAFETY: as above; the meta encoding is set.
    unsafe { html_writer::write_document(result.0, &mut out) }?;
    Some(out)
}

/// Serialises with libxslt/libxml2 (`xsltSaveResultToString`).
fn serialize_libxml(style: &Stylesheet, result: &ResultDoc) -> Result<Bytes, XmlError> {
    let mut out: *mut u8 = ptr::null_mut();
    let mut len: c_int = 0;
    // SAFETY: the stylesheet and the result tree are alive; the output buffer is ours.
    let rc =
        unsafe { ffi::xsltSaveResultToString(&mut out, &mut len, result.0, style.ptr.as_ptr()) };
    match NonNull::new(out) {
        Some(ptr) if rc == 0 => Ok(Bytes::from_owner(XmlBuffer {
            ptr,
            len: len.max(0) as usize,
        })),
        Some(ptr) => {
            drop(XmlBuffer { ptr, len: 0 });
            Err(XmlError::Transform {
                messages: "serialisation failed".to_owned(),
            })
        }
        // An empty result tree serialises to nothing.
        None if rc == 0 => Ok(Bytes::new()),
        None => Err(XmlError::Transform {
            messages: "serialisation failed".to_owned(),
        }),
    }
}

// ---------------------------------------------------------------------------------------
// RELAX NG: the site XML contract
// ---------------------------------------------------------------------------------------

/// The site XML schema (`src/schema/site.rng`), embedded so the binary validates the same
/// contract from any working folder.
pub const SITE_RNG: &str = include_str!("../schema/site.rng");

/// Problems kept per validation; one mistake can cascade into many RELAX NG messages.
const MAX_SCHEMA_PROBLEMS: usize = 20;

/// One problem RELAX NG found, where libxml2 saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// Line in the validated document (or the schema, for a compile error); 0 when unknown.
    pub line: u32,
    /// libxml2's message, e.g. `Element page failed to validate attributes`.
    pub message: String,
}

impl std::fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

fn list_problems(problems: &[SchemaProblem], dropped: usize) -> String {
    let mut out = problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if dropped > 0 {
        out.push_str(&format!(" (and {dropped} more)"));
    }
    out
}

/// A schema that does not compile, or a document it refuses.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The RELAX NG grammar itself is broken.
    #[error("RELAX NG schema {name} does not compile: {}", list_problems(.problems, 0))]
    Compile {
        /// The schema's name (file or `embedded site.rng`).
        name: String,
        /// What libxml2 said, with lines in the schema.
        problems: Vec<SchemaProblem>,
    },
    /// The document does not match the schema.
    #[error("{file} does not match the site schema (src/schema/site.rng): {}; fix the source record or the file", list_problems(.problems, *.dropped))]
    Invalid {
        /// The document's name as given to [`parse_document`].
        file: String,
        /// The first problems, in document order, with line numbers.
        problems: Vec<SchemaProblem>,
        /// How many more problems libxml2 reported beyond the cap.
        dropped: usize,
    },
    /// libxml2 could not run the validation at all (out of memory, internal error).
    #[error("{file}: RELAX NG validation could not run: {}", list_problems(.problems, 0))]
    Internal {
        /// The document's name.
        file: String,
        /// What libxml2 said.
        problems: Vec<SchemaProblem>,
    },
}

/// Where libxml2's structured errors land during one schema compile or validation; lives on
/// the stack of the call that registered it.
#[derive(Default)]
struct SchemaCollector {
    problems: Vec<SchemaProblem>,
    dropped: usize,
}

impl SchemaCollector {
    fn take(&mut self) -> (Vec<SchemaProblem>, usize) {
        if self.problems.is_empty() {
            self.problems.push(SchemaProblem {
                line: 0,
                message: "no diagnostic given".to_owned(),
            });
        }
        (std::mem::take(&mut self.problems), self.dropped)
    }
}

extern "C" fn collect_schema_error(ctx: *mut c_void, error: ffi::xmlErrorPtr) {
    if ctx.is_null() || error.is_null() {
        return;
    }
    // SAFETY: `ctx` is the `SchemaCollector` registered by `Schema::compile` or
    // `Schema::validate`, which outlives the libxml2 call that invokes this callback on the
    // same thread; `error` is a valid record for the duration of the callback, its message
    // NUL-terminated or NULL.
    let (collector, line, message) = unsafe {
        let e = &*error;
        let message = if e.message.is_null() {
            String::from("unknown error")
        } else {
            CStr::from_ptr(e.message).to_string_lossy().into_owned()
        };
        (&mut *ctx.cast::<SchemaCollector>(), e.line, message)
    };
    if collector.problems.len() >= MAX_SCHEMA_PROBLEMS {
        collector.dropped += 1;
        return;
    }
    let mut message = message.trim_end().to_owned();
    message.truncate(message.floor_char_boundary_compat(400));
    collector.problems.push(SchemaProblem {
        line: u32::try_from(line).unwrap_or(0),
        message,
    });
}

/// A compiled RELAX NG grammar, shared read-only by concurrent validations.
pub struct Schema {
    ptr: NonNull<ffi::xmlRelaxNG>,
}

// SAFETY: once `xmlRelaxNGParse` has returned, libxml2 (2.9.14, checked in relaxng.c) only
// reads a compiled grammar during validation: every piece of validation state (the state
// stack, error stack, regexp execution contexts, per-value XSD facets) lives in the
// validation context, which `validate` creates per call and never shares. The one
// process-wide table involved (the datatype registry) is filled by `init` before any thread
// runs. The grammar is freed only by Drop, i.e. when no `&Schema` exists.
unsafe impl Send for Schema {}
// SAFETY: as above: shared access is read-only.
unsafe impl Sync for Schema {}

impl Drop for Schema {
    fn drop(&mut self) {
        // SAFETY: we own the grammar; no validation can hold a reference past our lifetime.
        unsafe { ffi::xmlRelaxNGFree(self.ptr.as_ptr()) }
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").finish_non_exhaustive()
    }
}

impl Schema {
    /// The site XML contract, compiled once per process from the embedded [`SITE_RNG`].
    pub fn site() -> Result<&'static Schema, SchemaError> {
        static SITE: std::sync::OnceLock<Result<Schema, Vec<SchemaProblem>>> =
            std::sync::OnceLock::new();
        SITE.get_or_init(|| {
            Schema::compile(SITE_RNG.as_bytes(), "embedded site.rng").map_err(|e| match e {
                SchemaError::Compile { problems, .. } => problems,
                other => vec![SchemaProblem {
                    line: 0,
                    message: other.to_string(),
                }],
            })
        })
        .as_ref()
        .map_err(|problems| SchemaError::Compile {
            name: "embedded site.rng".to_owned(),
            problems: problems.clone(),
        })
    }

    /// Compiles a RELAX NG grammar (XML syntax) from memory. `name` is used in messages.
    /// The grammar must be self-contained: external references would go through the entity
    /// loader, which refuses them.
    pub fn compile(rng: &[u8], name: &str) -> Result<Schema, SchemaError> {
        thread_setup();
        let compile_error = |problems| SchemaError::Compile {
            name: name.to_owned(),
            problems,
        };
        let len = c_int::try_from(rng.len()).map_err(|_| {
            compile_error(vec![SchemaProblem {
                line: 0,
                message: format!("{} bytes is too large", rng.len()),
            }])
        })?;
        let mut collector = SchemaCollector::default();
        // SAFETY: the buffer outlives the parser context (freed before returning); the
        // collector outlives every callback, which libxml2 makes during xmlRelaxNGParse on
        // this thread; the returned grammar (or NULL) is ours and no longer refers to the
        // parser context or the buffer.
        let schema = unsafe {
            let pctxt = ffi::xmlRelaxNGNewMemParserCtxt(rng.as_ptr().cast(), len);
            if pctxt.is_null() {
                return Err(compile_error(vec![SchemaProblem {
                    line: 0,
                    message: "could not create a RELAX NG parser context".to_owned(),
                }]));
            }
            ffi::xmlRelaxNGSetParserStructuredErrors(
                pctxt,
                Some(collect_schema_error),
                (&mut collector as *mut SchemaCollector).cast(),
            );
            let schema = ffi::xmlRelaxNGParse(pctxt);
            ffi::xmlRelaxNGFreeParserCtxt(pctxt);
            schema
        };
        match NonNull::new(schema) {
            Some(ptr) => Ok(Schema { ptr }),
            None => Err(compile_error(collector.take().0)),
        }
    }

    /// Validates `doc`, listing the first problems with their line numbers.
    ///
    /// Each call has its own validation context, so one `Schema` serves any number of
    /// threads at once.
    pub fn validate(&self, doc: &Document) -> Result<(), SchemaError> {
        thread_setup();
        let file = doc.name();
        let mut collector = SchemaCollector::default();
        // SAFETY: the grammar is alive and only read (see the Sync impl); the validation
        // context is created, used and freed here, on this thread, and never escapes; the
        // collector outlives every callback, which libxml2 makes during
        // xmlRelaxNGValidateDoc. Validation writes scratch pointers into the nodes' `psvi`
        // field and clears them before returning; a `Document` is not Sync, so no other
        // thread sees the tree meanwhile, and no Rust view of a node reads `psvi`.
        let rc = unsafe {
            let vctxt = ffi::xmlRelaxNGNewValidCtxt(self.ptr.as_ptr());
            if vctxt.is_null() {
                return Err(SchemaError::Internal {
                    file,
                    problems: vec![SchemaProblem {
                        line: 0,
                        message: "could not create a validation context".to_owned(),
                    }],
                });
            }
            ffi::xmlRelaxNGSetValidStructuredErrors(
                vctxt,
                Some(collect_schema_error),
                (&mut collector as *mut SchemaCollector).cast(),
            );
            let rc = ffi::xmlRelaxNGValidateDoc(vctxt, doc.ptr.as_ptr());
            ffi::xmlRelaxNGFreeValidCtxt(vctxt);
            rc
        };
        match rc {
            0 => Ok(()),
            rc if rc > 0 => {
                let (problems, dropped) = collector.take();
                Err(SchemaError::Invalid {
                    file,
                    problems,
                    dropped,
                })
            }
            _ => Err(SchemaError::Internal {
                file,
                problems: collector.take().0,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const HEAD: &str =
        r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">"#;

    /// Renders with the HTML writer and with libxml2's serialiser (a second compile of the
    /// same stylesheet with the writer turned off), for comparison.
    fn both_serialisers(
        path: &Path,
        root: &Path,
        xml: &[u8],
        params: &[(&str, &str)],
    ) -> (Bytes, Bytes) {
        let fast = Stylesheet::compile(path, root).unwrap();
        assert!(
            fast.html_meta_encoding.is_some(),
            "{path:?} should use the HTML writer"
        );
        let mut slow = Stylesheet::compile(path, root).unwrap();
        slow.html_meta_encoding = None;
        let run = |style: &Stylesheet| {
            let doc = parse_document(xml, "t.xml").unwrap();
            transform(style, doc, params, &[root], Limits::default()).unwrap()
        };
        (run(&fast), run(&slow))
    }

    #[test]
    fn html_writer_matches_libxml2_on_every_sample_page() {
        let sites = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-sites");
        let mut pages = 0;
        for rel in crate::site::list_site_files(&sites).unwrap() {
            let xml = std::fs::read(sites.join(&rel)).unwrap();
            let theme = crate::render::sniff_theme(&xml).unwrap();
            let doc = parse_document(&xml, "t.xml").unwrap();
            let outline = crate::render::Outline::of(&doc);
            let mut ids: Vec<String> = outline.pages.clone();
            ids.push(String::new());
            for (id, status) in ids
                .iter()
                .map(|p| (p.as_str(), "200"))
                .chain([("nope", "404")])
            {
                let params = [("page", id), ("host", "example.fr"), ("status", status)];
                let (fast, slow) = both_serialisers(
                    &repo_stylesheets().join(format!("{theme}.xsl")),
                    &repo_stylesheets(),
                    &xml,
                    &params,
                );
                assert!(fast.len() > 1000, "{rel} {id}: {} bytes", fast.len());
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&slow),
                    "{rel} page {id:?}"
                );
                pages += 1;
            }
        }
        assert!(pages >= 60, "{pages} pages compared");
    }

    /// A stylesheet that puts its two parameters everywhere the HTML serialiser treats text
    /// differently: text, URI and plain attributes, raw-text elements, output escaping off,
    /// void elements, boolean attributes, empty elements with and without end tags.
    const HOSTILE_THEME: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="html" encoding="UTF-8" indent="no" doctype-system="about:legacy-compat"/>
<xsl:param name="t"/><xsl:param name="a"/>
<xsl:template match="/"><html lang="fr"><head><title><xsl:value-of select="$t"/></title>
<script><xsl:value-of select="$t"/></script><style><xsl:value-of select="$t"/></style>
<SCRIPT><xsl:value-of select="$t"/></SCRIPT></head><body>
<p><xsl:value-of select="$t"/></p><p/><div/><br/><hr/><img src="{$a}" alt="{$a}"/>
<a href="{$a}" name="{$a}" title="{$a}"><xsl:value-of select="$a"/></a><span name="{$a}"/>
<form action="{$a}"><input type="checkbox" checked="checked" disabled="{$a}" value="{$a}"/>
<select><option selected="selected" value="{$a}">x</option></select></form>
<xsl:value-of select="$t" disable-output-escaping="yes"/><Unknown-Tag data-x="{$a}"/>
<xsl:comment><xsl:value-of select="translate($t, '-', '_')"/></xsl:comment>
<xsl:processing-instruction name="pi">x</xsl:processing-instruction>
<td/><li/><textarea><xsl:value-of select="$t"/></textarea></body></html></xsl:template>
</xsl:stylesheet>"#;

    #[test]
    fn html_writer_matches_libxml2_on_hostile_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "hostile.xsl", HOSTILE_THEME);
        for v in [
            "",
            "plain",
            "  leading blanks and spaces",
            "<b>&amp; \"double\" 'single' both\"'",
            "&{ssi} & { } &{no end",
            "<!-- ssi --> <!-- open",
            "ctrl \u{1}\u{8}\u{b}\u{c}\u{1f}\t\n\r del\u{7f}",
            "é ü ß 中文 😀 עברית ‏rtl",
            "https://exemple.fr/a b?c=d&e=f#g%20h",
            "]]> </script> </style>",
        ] {
            let (fast, slow) = both_serialisers(&path, dir.path(), b"<r/>", &[("t", v), ("a", v)]);
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow),
                "{v:?}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn html_writer_matches_libxml2_on_any_text(t in "\\PC{0,40}|[<>&{}!\\-\"' \t\r\n\u{1}-\u{1f}a-z]{0,40}", a in "\\PC{0,40}|[<>&{}!\\-\"' \t\r\n\u{1}-\u{1f}a-z%]{0,40}") {
            let dir = tempfile::tempdir().unwrap();
            let path = write(dir.path(), "hostile.xsl", HOSTILE_THEME);
            let (fast, slow) =
                both_serialisers(&path, dir.path(), b"<r/>", &[("t", &t), ("a", &a)]);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn finds_libxslt_namespace_literal_and_shares_it() {
        init();
        let lit = XSLT_NS_LITERAL.load(Ordering::Acquire);
        assert!(!lit.is_null(), "libxslt's XSLT namespace literal not found");
        // SAFETY: a non-null literal is a NUL-terminated string in libxslt's read-only data.
        let text = unsafe { CStr::from_ptr(lit.cast()) };
        assert_eq!(text.to_bytes(), b"http://www.w3.org/1999/XSL/Transform");
        let style = Stylesheet::compile(&repo_stylesheets().join("light.xsl"), &repo_stylesheets())
            .unwrap();
        // SAFETY: the stylesheet is alive and its document's root element is an
        // xsl:stylesheet whose namespace declaration was interned at compile time.
        let href = unsafe {
            let root = ffi::xmlDocGetRootElement((*style.ptr.as_ptr()).doc);
            (*(*root).ns).href
        };
        assert_eq!(href, lit.cast_const());
        // Dropping gives the declaration its own copy back (a crash here would mean
        // xmlFreeNs freed the literal).
        drop(style);
    }

    fn repo_stylesheets() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("stylesheets")
    }

    #[test]
    fn compiles_with_include_and_applies_string_params() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "part.xsl",
            &format!(
                r#"{HEAD}<xsl:template name="hello">Hello <xsl:value-of select="$who"/></xsl:template></xsl:stylesheet>"#
            ),
        );
        let main = write(
            dir.path(),
            "main.xsl",
            &format!(
                r#"{HEAD}<xsl:include href="part.xsl"/><xsl:param name="who"/>
                <xsl:output method="html" encoding="UTF-8" media-type="text/html"/>
                <xsl:template match="/"><p><xsl:call-template name="hello"/>, <xsl:value-of select="/r/@n"/></p></xsl:template></xsl:stylesheet>"#
            ),
        );
        let style = Stylesheet::compile(&main, dir.path()).unwrap();
        assert_eq!(style.files().len(), 2, "{:?}", style.files());
        assert_eq!(style.output().method, "html");
        let doc = parse_document(br#"<r n="&amp;1"/>"#, "t.xml").unwrap();
        let out = transform(
            &style,
            doc,
            &[("who", "it's \"you\"")],
            &[],
            Limits::default(),
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap().trim(),
            "<p>Hello it's \"you\", &amp;1</p>"
        );
    }

    #[test]
    fn refuses_doctype_and_reports_lines() {
        let err = parse_document(
            b"<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>",
            "e.xml",
        )
        .err()
        .unwrap();
        assert!(matches!(err, XmlError::Doctype { .. }), "{err}");
        let err = parse_document(b"<r>\n<a></b></r>", "bad.xml")
            .err()
            .unwrap();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn include_outside_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("themes");
        std::fs::create_dir(&inner).unwrap();
        write(
            dir.path(),
            "outside.xsl",
            &format!("{HEAD}</xsl:stylesheet>"),
        );
        let main = write(
            &inner,
            "main.xsl",
            &format!(r#"{HEAD}<xsl:include href="../outside.xsl"/></xsl:stylesheet>"#),
        );
        let err = Stylesheet::compile(&main, &inner).unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");
    }

    #[test]
    fn every_sample_site_matches_the_schema() {
        let schema = Schema::site().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-sites");
        let files = crate::site::list_site_files(&root).unwrap();
        assert!(files.len() >= 12, "{files:?}");
        for rel in files {
            let bytes = std::fs::read(root.join(&rel)).unwrap();
            let doc = parse_document(&bytes, &rel).unwrap();
            schema
                .validate(&doc)
                .unwrap_or_else(|e| panic!("{rel}: {e}"));
        }
    }

    const MINIMAL: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<site id="s" lang="fr">
  <domains><domain main="true">s.fr</domain></domains>
  <identity>
    <name>S</name><activity>A</activity>
    <legal><company>C</company><registration>1</registration></legal>
  </identity>
  <contact>
    <address><street>1 rue</street><postcode>75001</postcode><city>Paris</city><country code="FR">France</country></address>
  </contact>
  <pages>
    <page id="PAGE" title="Accueil"><section><p>Hello</p></section></page>
  </pages>
</site>
"##;

    #[test]
    fn a_broken_site_fails_with_the_line_of_the_problem() {
        let schema = Schema::site().unwrap();
        let good = parse_document(MINIMAL.replace("PAGE", "accueil").as_bytes(), "ok.xml").unwrap();
        schema.validate(&good).unwrap();
        // A reserved page id, on line 12.
        let bad = parse_document(MINIMAL.replace("PAGE", "media").as_bytes(), "bad.xml").unwrap();
        let err = schema.validate(&bad).unwrap_err();
        let SchemaError::Invalid { file, problems, .. } = &err else {
            panic!("{err}");
        };
        assert_eq!(file, "bad.xml");
        assert!(problems.iter().any(|p| p.line == 12), "{err}");
        assert!(err.to_string().contains("line 12"), "{err}");
        // A missing required element (<activity>, line 5) is reported where the grammar
        // notices it: at the next element, <legal> on line 6.
        let bad = MINIMAL
            .replace("PAGE", "accueil")
            .replace("<activity>A</activity>", "");
        let bad = parse_document(bad.as_bytes(), "bad2.xml").unwrap();
        let err = schema.validate(&bad).unwrap_err();
        assert!(err.to_string().contains("line 6"), "{err}");
        // The validated document is left usable (libxml2 clears its scratch pointers).
        assert_eq!(bad.root().unwrap().name(), "site");
    }

    #[test]
    fn problems_are_capped() {
        let schema = Schema::site().unwrap();
        let mut xml = MINIMAL.replace("PAGE", "accueil");
        let many: String = (0..200)
            .map(|i| format!("<p>ok</p><bogus n=\"{i}\"/>"))
            .collect();
        xml = xml.replace("<p>Hello</p>", &many);
        let doc = parse_document(xml.as_bytes(), "many.xml").unwrap();
        match schema.validate(&doc).unwrap_err() {
            SchemaError::Invalid { problems, .. } => {
                assert!(problems.len() <= MAX_SCHEMA_PROBLEMS, "{problems:?}")
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn one_schema_validates_from_many_threads() {
        let schema = Schema::site().unwrap();
        let good = MINIMAL.replace("PAGE", "accueil");
        let bad = MINIMAL.replace("PAGE", "Bad Id");
        std::thread::scope(|s| {
            for t in 0..4 {
                let (good, bad) = (&good, &bad);
                s.spawn(move || {
                    for i in 0..200 {
                        let xml = if (i + t) % 2 == 0 { good } else { bad };
                        let doc = parse_document(xml.as_bytes(), "t.xml").unwrap();
                        assert_eq!(schema.validate(&doc).is_ok(), xml == good);
                    }
                });
            }
        });
    }

    #[test]
    fn a_broken_grammar_does_not_compile() {
        let err = Schema::compile(b"<grammar xmlns=\"http://relaxng.org/ns/structure/1.0\"><start><ref name=\"nope\"/></start></grammar>", "t.rng").unwrap_err();
        assert!(matches!(err, SchemaError::Compile { .. }), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
