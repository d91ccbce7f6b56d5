//! Process-wide initialisation of libxml2 and libxslt, and per-thread set-up.

use super::*;

pub(super) static INIT: Once = Once::new();

/// The security preferences shared by every transform; created once in [`init`] and never
/// freed, so the pointer stays valid for the life of the process.
pub(super) static mut SECURITY_PREFS: ffi::xsltSecurityPrefsPtr = ptr::null_mut();

thread_local! {
    /// Whether this thread's libxml2 error handlers are installed (they are per-thread).
    static THREAD_READY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs libxml2's per-thread error handlers on the calling thread (once per thread).
pub(super) fn thread_setup() {
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
/// c/ns_intern.c), or null when it could not be identified; set once by [`init`]. Compiled
/// stylesheets point their XSLT namespace declarations at it, which makes libxslt's
/// "is this an XSLT instruction?" test a pointer comparison.
pub(super) static XSLT_NS_LITERAL: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());

/// Initialises libxml2 and libxslt once for the process and installs the safety hooks.
/// Idempotent; every other function of this module calls it first.
pub fn init() {
    INIT.call_once(|| {
        arena::reserve();
        // libxslt (built WITH_MODULES on Debian) answers an unknown extension namespace by
        // stat()ing and dlopen()ing `$LIBXSLT_PLUGINS_PATH/<mangled namespace>.so`, or a file
        // of its default plugin folder. The lint refuses such namespaces; this is the second
        // line: beneath /dev/null, which is not a folder, no file can ever exist, so no plugin
        // can be found whatever a stylesheet asks. Set before libxslt's first use, from the
        // thread that initialises (main, before any other thread starts: see `main.rs`).
        if std::env::var_os(PLUGINS_ENV).is_some_and(|v| v != NO_PLUGINS) {
            tracing::warn!("{PLUGINS_ENV} is set; ignored: Vitrine never loads libxslt plugins");
        }
        std::env::set_var(PLUGINS_ENV, NO_PLUGINS);
        // SAFETY: runs exactly once (Once), before any other libxml2/libxslt call of this
        // process, which is what these process-wide setters require. The prefs object is
        // leaked on purpose: transforms reference it until the process exits.
        unsafe {
            // libxml2/libxslt allocate and free a node, string or XPath object at every step
            // of a transform; glibc malloc was over a quarter of a render's CPU time. mimalloc's
            // thread-local heaps make it much cheaper. This must precede every libxml2
            // allocation, hence first; all libxml2 memory is then allocated and freed through
            // the same four functions (xmlFree included), never mixed with libc's.
            // The hooks add the per-transform memory and time budget (see `Budget`).
            ffi::xmlGcMemSetup(
                Some(budget_free),
                Some(budget_malloc),
                Some(budget_malloc),
                Some(budget_realloc),
                Some(budget_strdup),
            );
            ffi::xmlInitParser();
            ffi::xsltInit();
            // RELAX NG's datatype registry (and XML Schema's built-in types behind it) is a
            // process-wide table filled on first use without a lock: fill it here, before
            // any thread can compile or validate.
            ffi::xmlRelaxNGInitTypes();
            // Only the EXSLT modules whose functions the lint allows (see lint.rs for why).
            exsltCommonRegister();
            exsltStrRegister();
            exsltMathRegister();
            exsltSetsRegister();
            // libxslt creates its plugin table lazily, without its lock, on the first lookup
            // of an unknown extension namespace; do that first lookup here, on one thread.
            // It finds nothing (see PLUGINS_ENV above).
            let _ = ffi::xsltExtModuleFunctionLookup(
                c"probe".as_ptr().cast(),
                c"urn:vitrine:no-such-extension".as_ptr().cast(),
            );
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
