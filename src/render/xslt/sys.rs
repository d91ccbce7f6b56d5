//! The C side of the binding (`c/*.c`), declared for Rust. Each function is documented
//! where it is defined.

use super::*;

extern "C" {
    pub(super) fn vitrine_error_trampoline(ctx: *mut c_void, fmt: *const c_char, ...);
    pub(super) fn vitrine_ctxt_set_limits(
        ctxt: ffi::xsltTransformContextPtr,
        max_depth: c_int,
        max_vars: c_int,
        op_limit: c_ulong,
        xpath_op_limit: c_ulong,
    );
    pub(super) fn vitrine_ctxt_failed(ctxt: ffi::xsltTransformContextPtr) -> c_int;
    pub(super) fn vitrine_find_xslt_ns_literal() -> *const u8;
    pub(super) fn vitrine_style_indent(style: ffi::xsltStylesheetPtr) -> c_int;
    pub(super) fn vitrine_style_errors(style: ffi::xsltStylesheetPtr) -> c_int;
    pub(super) fn vitrine_style_share_xslt_ns(style: ffi::xsltStylesheetPtr, lit: *const u8);
    pub(super) fn vitrine_style_unshare_xslt_ns(style: ffi::xsltStylesheetPtr, lit: *const u8);
    pub(super) fn vitrine_ctxt_stop(ctxt: ffi::xsltTransformContextPtr);
    pub(super) fn vitrine_style_doc_url(style: *mut c_void) -> *const c_char;
    pub(super) fn vitrine_ctxt_fast_xpath(ctxt: ffi::xsltTransformContextPtr) -> c_int;
    pub(super) fn vitrine_loaded_libxml2() -> c_int;
    pub(super) fn vitrine_loaded_libxslt() -> c_int;
    pub(super) fn vitrine_libxslt_has_modules() -> c_int;
    // libexslt: registers one EXSLT module's functions and elements with libxslt.
    pub(super) fn exsltCommonRegister();
    pub(super) fn exsltStrRegister();
    pub(super) fn exsltMathRegister();
    pub(super) fn exsltSetsRegister();
    pub(super) fn vitrine_style_output(
        style: ffi::xsltStylesheetPtr,
        method: *mut *const u8,
        media_type: *mut *const u8,
        encoding: *mut *const u8,
    );
    pub(super) fn vitrine_read_memory(
        buf: *const c_char,
        len: c_int,
        url: *const c_char,
        dict: ffi::xmlDictPtr,
        options: c_int,
    ) -> ffi::xmlDocPtr;
}
