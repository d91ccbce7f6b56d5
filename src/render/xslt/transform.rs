//! One transform: its budgets, its render arena, and the serialised result.

use super::*;

/// Budgets of one transform. The sample sites (8 KB of XML) take about 1,000 XSLT and 8,000
/// XPath operations, under 1 MB and a millisecond; the counts grow with the XML, which is at
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum template (and variable) nesting depth.
    pub max_depth: i32,
    /// Maximum number of live variables.
    pub max_vars: i32,
    /// Maximum XSLT instructions executed in the transform.
    pub op_limit: u64,
    /// Maximum XPath operations (steps, nodes visited) in the transform, all expressions
    /// together: libxslt evaluates them all in one XPath context, whose count it never
    /// resets.
    pub xpath_op_limit: u64,
    /// Bytes libxml2 may allocate for the transform (result tree, variables, strings, node
    /// sets) and its serialisation, counted as a volume: frees are not subtracted, because
    /// finding a block's size on every free cost 20 % of a page's instructions (callgrind),
    /// and an honest page allocates a few MiB in all. Operations do not bound memory: a
    /// template that doubles a string 30 times costs 60 operations and 4 GB.
    pub max_memory: usize,
    /// CPU time of the transform and its serialisation (not wall time, which depends on
    /// the load of the machine).
    pub max_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 250,
            max_vars: 15_000,
            op_limit: 5_000_000,
            xpath_op_limit: 5_000_000,
            max_memory: 64 << 20,
            max_time: Duration::from_secs(1),
        }
    }
}

/// The serialised result of a transform, owned by libxml2's allocator until dropped.
pub(super) struct XmlBuffer {
    pub(super) ptr: NonNull<u8>,
    pub(super) len: usize,
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

/// Runs `render`, one page render, with this thread's libxml2 allocations in a render arena:
/// the documents parsed and the transform made inside it are freed all at once when it
/// returns, without walking their trees (see `xslt/arena.rs`). A [`Document`] parsed inside must be
/// dropped inside. Nested calls run in the outer arena.
pub fn render_scope<R>(render: impl FnOnce() -> R) -> R {
    render_scope_with(engine().active.has(FastPath::Arena), render)
}

/// [`render_scope`], in an arena or (`arena` false) with every allocation from mimalloc.
pub(super) fn render_scope_with<R>(arena: bool, render: impl FnOnce() -> R) -> R {
    // libxml2's per-thread state is made on a thread's first use, and must outlive renders.
    thread_setup();
    let _scope = RenderScope(if arena { arena::enter() } else { None });
    render()
}

/// Closes a render arena, also on unwinding.
pub(super) struct RenderScope(Option<arena::Scope>);

impl Drop for RenderScope {
    fn drop(&mut self) {
        if self.0.is_some() {
            // SAFETY: clears this thread's last-error record, whose strings may be arena
            // blocks of the closing scope (xmlFree of those is a no-op).
            unsafe { ffi::xmlResetLastError() };
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
        // freed by its Drop after the context that references it; the context is made and
        // freed by libxslt's own constructor and destructor; every object created here is
        // freed before returning. The security prefs are process-lifetime.
        unsafe {
            let ctxt = ffi::xsltNewTransformContext(style.ptr.as_ptr(), doc.ptr.as_ptr());
            if ctxt.is_null() {
                return Err(XmlError::Transform {
                    messages: "could not create a transform context".to_owned(),
                    at: None,
                });
            }
            ffi::xsltSetCtxtSecurityPrefs(SECURITY_PREFS, ctxt);
            ffi::xsltSetTransformErrorFunc(ctxt, ptr::null_mut(), Some(vitrine_error_trampoline));
            if style.fast_xpath {
                let installed = vitrine_ctxt_fast_xpath(ctxt) != 0;
                debug_assert!(
                    installed,
                    "libxslt's XPath lookups were not the expected ones"
                );
            }
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
            let window = BudgetWindow::open(ctxt, &limits);
            let res = ffi::xsltApplyStylesheetUser(
                style.ptr.as_ptr(),
                doc.ptr.as_ptr(),
                ptr::null_mut(),
                ptr::null(),
                ptr::null_mut(),
                ctxt,
            );
            let failed = vitrine_ctxt_failed(ctxt) != 0;
            window.forget_context();
            ffi::xsltFreeTransformContext(ctxt);
            let error =
                |window: &BudgetWindow, (messages, at): (String, Where)| XmlError::Transform {
                    messages: match window.tripped() {
                        Some(why) if messages == NO_DIAGNOSTIC => budget_message(why, &limits),
                        Some(why) => format!("{}; {messages}", budget_message(why, &limits)),
                        None => messages,
                    },
                    at: at.of_transform().map(Box::new),
                };
            if res.is_null() || failed {
                if !res.is_null() {
                    ffi::xmlFreeDoc(res);
                }
                return Err(error(&window, take_messages()));
            }
            let result = ResultDoc(res);
            let out = match serialize_fast(style, &result) {
                Some(out) => Ok(Bytes::from(out)),
                None => serialize_libxml(style, &result),
            };
            drop(result);
            if out.is_err() || window.tripped().is_some() {
                return Err(error(
                    &window,
                    ("serialisation failed".to_owned(), Where::default()),
                ));
            }
            out
        }
    });
    drop(doc);
    result
}

/// A transform's result tree, freed on drop.
pub(super) struct ResultDoc(ffi::xmlDocPtr);

impl Drop for ResultDoc {
    fn drop(&mut self) {
        // SAFETY: the result document is owned by this value and freed once; built during
        // this transform, in this thread's open render arena when `owns` says so.
        unsafe {
            if arena::owns(self.0.cast()) {
                free_arena_doc(self.0, true);
            } else {
                ffi::xmlFreeDoc(self.0);
            }
        }
    }
}

/// Serialises with [`html_writer`] when the stylesheet allows it and the tree holds nothing
/// it does not reproduce exactly; `None` means "use libxml2".
pub(super) fn serialize_fast(style: &Stylesheet, result: &ResultDoc) -> Option<Vec<u8>> {
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
pub(super) fn serialize_libxml(style: &Stylesheet, result: &ResultDoc) -> Result<Bytes, XmlError> {
    let mut out: *mut u8 = ptr::null_mut();
    let mut len: c_int = 0;
    // SAFETY: the stylesheet and the result tree are alive; the output buffer is ours.
    let rc =
        unsafe { ffi::xsltSaveResultToString(&mut out, &mut len, result.0, style.ptr.as_ptr()) };
    match NonNull::new(out) {
        Some(ptr) if rc == 0 => {
            let buffer = XmlBuffer {
                ptr,
                len: len.max(0) as usize,
            };
            // A buffer of the render arena is gone when the render ends: copy it out.
            Ok(if arena::owns(ptr.as_ptr().cast()) {
                Bytes::copy_from_slice(buffer.as_ref())
            } else {
                Bytes::from_owner(buffer)
            })
        }
        Some(ptr) => {
            drop(XmlBuffer { ptr, len: 0 });
            Err(XmlError::Transform {
                messages: "serialisation failed".to_owned(),
                at: None,
            })
        }
        // An empty result tree serialises to nothing.
        None if rc == 0 => Ok(Bytes::new()),
        None => Err(XmlError::Transform {
            messages: "serialisation failed".to_owned(),
            at: None,
        }),
    }
}
