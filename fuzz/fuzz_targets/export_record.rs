//! The record -> site XML step of `vitrine export`: any bytes as one line of back-office JSON.
//!
//! Invariants: a line is either refused with a clean error (bounded, one line per problem)
//! or, once decoded and checked, written as XML that libxml2 parses with the publisher's safe
//! options and that the RELAX NG schema of the site contract accepts: the exporter never
//! publishes a file the publisher or `vitrine check` would reject.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitrine::export::record::{parse_line, Rules};
use vitrine::export::xml::site_xml;
use vitrine::render::xslt::{parse_document, Schema};

fuzz_target!(|line: &[u8]| {
    let rules = Rules::with_themes(["classic", "modern", "light"]);
    let mut record = match parse_line(line) {
        Ok(r) => r,
        Err(e) => {
            assert!(e.to_string().len() < 64 * 1024, "unbounded decode error");
            return;
        }
    };
    if let Err(e) = record.check(&rules) {
        assert!(e.to_string().len() < 64 * 1024, "unbounded check error");
        return;
    }
    let xml = site_xml(&record).expect("a checked record always serialises");
    let doc = parse_document(&xml, "fuzz.xml").unwrap_or_else(|e| {
        panic!("checked record gave XML libxml2 refuses: {e}\n{}", String::from_utf8_lossy(&xml))
    });
    if let Err(e) = Schema::site().unwrap().validate(&doc) {
        panic!("checked record gave schema-invalid XML: {e}\n{}", String::from_utf8_lossy(&xml));
    }
});
