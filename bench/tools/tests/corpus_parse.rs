//! The generated corpus's sites through both of `vitrine`'s XML parsers: the scanner (the
//! fast path for the exporter's subset of XML) must build libxml2's own tree for each. The
//! sample sites get the same comparison in `vitrine`'s unit tests; the corpus adds hundreds
//! of generated shapes (every trade, page kind and text mark), and it lives here because the
//! generator does.

use vitrine::render::xslt::{compare_parsers, FastPath, Versions};
use vitrine_bench::corpus::Corpus;

#[test]
fn generated_corpus_sites_are_parsed_as_libxml2_parses_them() {
    // As `vitrine`'s differential tests do: a fast path not proven on the libraries loaded
    // here is off here, and there is nothing to compare.
    let v = Versions::loaded();
    if !FastPath::Scanner.proven(v) {
        eprintln!(
            "skipped: fast path {} is not proven on {v} and is off there",
            FastPath::Scanner.name()
        );
        return;
    }
    let corpus = Corpus::new(300, 5);
    for n in 0..300 {
        let xml = vitrine::export::xml::site_xml(&corpus.record(n)).unwrap();
        let shown = std::str::from_utf8(&xml).unwrap();
        let (quick, slow) = compare_parsers(&xml);
        let quick = quick.unwrap_or_else(|| panic!("the fast parser declines {shown:?}"));
        let slow = slow.unwrap_or_else(|| panic!("libxml2 refuses {shown:?}"));
        // The first line that differs rather than both trees.
        if let Some((q, s)) = quick.lines().zip(slow.lines()).find(|(q, s)| q != s) {
            panic!("fast: {q}\nlibxml2: {s}\nin {shown:?}");
        }
        assert_eq!(quick.lines().count(), slow.lines().count(), "{shown:?}");
    }
}
