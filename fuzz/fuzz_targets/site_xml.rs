//! The site document parsers: any bytes to the fast scanner of `render::xslt` (the subset the
//! exporter writes) and to libxml2.
//!
//! Invariant: whatever the fast scanner accepts, libxml2 accepts too and builds the same tree
//! (names, attributes, text, line numbers, document fields, consistent links); anything else
//! is left to libxml2, which the publisher then uses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitrine::render::xslt::compare_parsers;

fuzz_target!(|data: &[u8]| {
    if let (Some(fast), slow) = compare_parsers(data) {
        assert_eq!(Some(fast), slow, "{:?}", String::from_utf8_lossy(data));
    }
});
