//! The Rust half of the faster XPath paths that `c/xpath_fast.c` installs on every transform context
//! (`vitrine_ctxt_fast_xpath`): libxml2's `translate()` decodes UTF-8 and scans the `from`
//! string again for every character of its input, which made it 7 % of a page's transform on
//! our themes (the JSON-LD escaping test runs it over every string). Here `from` and `to` are
//! read once into a table.
//!
//! The C half (variable lookup, `contains`, `substring-before`, `substring-after`,
//! `substring`, `normalize-space`, `concat`) and this function are proven equal to libxml2's
//! own by the differential tests of `tests.rs` (`fast_xpath_*`), which render the same pages
//! and expressions with and without them.

use std::ffi::{c_char, CStr};
use std::ptr;

/// XPath 1.0 `translate(s, from, to)`: every character of `s` found in `from` is replaced by
/// the character at the same position in `to`, or removed when `to` is shorter; the first
/// occurrence in `from` decides.
pub(super) fn translate(s: &str, from: &str, to: &str) -> String {
    let to: Vec<char> = to.chars().collect();
    // For ASCII characters: None = keep, Some(None) = remove, Some(Some(c)) = replace.
    let mut ascii: [Option<Option<char>>; 128] = [None; 128];
    let mut other: Vec<(char, Option<char>)> = Vec::new();
    for (i, c) in from.chars().enumerate() {
        let with = to.get(i).copied();
        if c.is_ascii() {
            let slot = &mut ascii[c as usize];
            if slot.is_none() {
                *slot = Some(with);
            }
        } else if !other.iter().any(|&(o, _)| o == c) {
            other.push((c, with));
        }
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let rule = if c.is_ascii() {
            ascii[c as usize]
        } else {
            other.iter().find(|&&(o, _)| o == c).map(|&(_, w)| w)
        };
        match rule {
            None => out.push(c),
            Some(Some(w)) => out.push(w),
            Some(None) => {}
        }
    }
    out
}

/// A copy of `bytes` with a NUL, in a buffer from libxml2's allocator (so that libxml2 can
/// free it, and the transform's budget counts it); NULL when memory is refused.
fn to_xml_string(bytes: &[u8]) -> *mut c_char {
    // SAFETY: plain allocation. These functions only run inside `transform`, whose
    // `thread_setup` ran `init`, which made `budget_malloc`/`budget_free` libxml2's
    // xmlMalloc/xmlFree: the buffer is one libxml2 may free.
    let buf = unsafe { super::budget_malloc(bytes.len() + 1) }.cast::<u8>();
    if buf.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `buf` has room for the bytes and the NUL.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
        *buf.add(bytes.len()) = 0;
    }
    buf.cast()
}

/// Called by `fast_translate` in c/xpath_fast.c with three NUL-terminated strings popped from the
/// XPath stack. Returns the result in a buffer from libxml2's allocator (the caller wraps
/// it in an XPath string object, which libxml2 frees), or NULL when an argument is not valid
/// UTF-8 or memory is refused: the caller then runs libxml2's own function.
///
/// # Safety
/// Each pointer is a live NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn vitrine_xpath_translate(
    s: *const c_char,
    from: *const c_char,
    to: *const c_char,
) -> *mut c_char {
    // SAFETY: the caller passes live NUL-terminated strings (see above).
    let (s, from, to) = unsafe { (CStr::from_ptr(s), CStr::from_ptr(from), CStr::from_ptr(to)) };
    let (Ok(s), Ok(from), Ok(to)) = (s.to_str(), from.to_str(), to.to_str()) else {
        return ptr::null_mut();
    };
    let out = translate(s, from, to);
    CALLS.with(|c| c.set(c.get() + 1));
    to_xml_string(out.as_bytes())
}

thread_local! {
    /// Calls of [`vitrine_xpath_translate`] on this thread: lets the start-up self-test and
    /// the tests check that the fast path they compare with libxml2's really ran (libxml2
    /// 2.14+ never asks for standard functions, so installing the lookup is not enough).
    pub(super) static CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// [`CALLS`] now.
pub(super) fn calls() -> u64 {
    CALLS.with(|c| c.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translate_follows_xpath() {
        assert_eq!(translate("bar", "abc", "ABC"), "BAr");
        assert_eq!(translate("--aaa--", "abc-", "ABC"), "AAA");
        // The first occurrence in `from` decides.
        assert_eq!(translate("aa", "aa", "xy"), "xx");
        assert_eq!(translate("été", "é", "e"), "ete");
        assert_eq!(translate("a\u{2028}b", "\u{2028}", ""), "ab");
        assert_eq!(translate("abc", "", "xyz"), "abc");
        assert_eq!(translate("", "a", "b"), "");
        assert_eq!(translate("a€b", "ab", "€x"), "€€x");
    }
}
