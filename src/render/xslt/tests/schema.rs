//! The site XML contract (RELAX NG).

use super::*;

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
            assert!(
                problems.len() <= crate::render::xslt::schema::MAX_SCHEMA_PROBLEMS,
                "{problems:?}"
            )
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
