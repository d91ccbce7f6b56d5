//! Unit tests of the record format: decoding errors with their paths, rule violations, limits
//! and formats, inline runs through JSON, and the README's example record. [`MINIMAL`] is the
//! smallest valid record; the XML writer's tests start from it too.

use super::{
    parse_line, Block, FieldError, RecordError, Rules, Run, MAX_LINE_BYTES, MAX_LINE_CHARS,
    MAX_PROBLEMS,
};

fn rules() -> Rules {
    Rules::with_themes(["classic", "light", "modern"])
}

pub(crate) const MINIMAL: &str = r#"{"id":"s1","theme":"classic","lang":"fr","domains":["S1.example.FR.","www.s1.example.fr"],"identity":{"name":"S","activity":"A","legal":{"company":"C","registration":{"number":"1"}}},"contact":{"address":{"street":["1 rue"],"postcode":"75001","city":"Paris","country":{"code":"FR","name":"France"}}},"pages":[{"id":"accueil","title":"Accueil","sections":[{"blocks":[{"p":"Hello"}]}]}]}"#;

fn with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn problems(line: &[u8]) -> Vec<FieldError> {
    match parse_line(line) {
        Err(e) => e.problems(),
        Ok(mut r) => match r.check(&rules()) {
            Ok(()) => vec![],
            Err(e) => e.problems(),
        },
    }
}

#[test]
fn minimal_record_checks_and_domains_are_normalised() {
    let mut r = parse_line(MINIMAL.as_bytes()).unwrap();
    r.check(&rules()).unwrap();
    assert_eq!(r.domains, ["s1.example.fr", "www.s1.example.fr"]);
    // Serialising gives back a line that decodes to the same record.
    let again = parse_line(&serde_json::to_vec(&r).unwrap()).unwrap();
    assert_eq!(again, r);
}

#[test]
fn json_errors_carry_the_field_path() {
    let p = problems(&with(|v| {
        v["pages"][0]["sections"][0]["blocks"] = serde_json::json!([
            {"p": "ok"},
            {"services": [{"name": "n", "price": {"amount": "1", "curency": "EUR"}}]}
        ])
    }));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        p[0].path,
        "pages[0].sections[0].blocks[1].services[0].price.curency"
    );
    assert!(p[0].reason.contains("unknown field `curency`"), "{p:?}");

    let p = problems(&with(|v| {
        v.as_object_mut().unwrap().remove("lang");
    }));
    assert!(p[0].reason.contains("missing field `lang`"), "{p:?}");

    let p = problems(b"{\"id\": \"x\",");
    assert!(p[0].reason.contains("column"), "{p:?}");
}

#[test]
fn rule_violations_are_listed_with_paths() {
    let p = problems(&with(|v| {
        v["theme"] = "nope".into();
        v["domains"] = serde_json::json!(["ok.fr", "OK.fr", "bad_domain.fr", "1.2.3.4", "x.fr:80"]);
        v["identity"]["name"] = "a\u{7}b".into();
        v["pages"][0]["id"] = "media".into();
        v["pages"][0]["sections"][0]["blocks"] = serde_json::json!([
            {"p": ["see ", {"a": "there", "href": "javascript:alert(1)"}]},
            {"p": [{"a": "page", "href": "/missing"}]},
            {"photo": {"src": "../etc/passwd", "alt": "x"}},
            {"services": [{"name": "n", "price": {"amount": "1.305"}}]}
        ]);
    }));
    let paths: Vec<&str> = p.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "theme",
            "domains[1]",
            "domains[2]",
            "domains[3]",
            "domains[4]",
            "identity.name",
            "pages[0].id",
            "pages[0].sections[0].blocks[0].p[1].href",
            "pages[0].sections[0].blocks[1].p[0].href",
            "pages[0].sections[0].blocks[2].photo.src",
            "",
        ],
        "{p:#?}"
    );
    assert!(p[0].reason.contains("classic, light, modern"), "{p:?}");
    assert!(p[5].reason.contains("U+0007"), "{p:?}");
    // The cap: the price problem is counted, not listed.
    assert_eq!(p.len(), MAX_PROBLEMS + 1);
    assert_eq!(p[MAX_PROBLEMS].reason, "and 1 more problems");
}

#[test]
fn limits_and_formats() {
    let long = "x".repeat(MAX_LINE_CHARS + 1);
    let p = problems(&with(|v| v["identity"]["slogan"] = long.clone().into()));
    assert_eq!(p[0].path, "identity.slogan");
    let p = problems(&with(|v| {
        v["hours"] = serde_json::json!({
            "monday": "closed", "tuesday": ["07:00-13:00", "15:30-14:00"],
            "wednesday": ["25:00-26:00"], "thursday": [], "friday": "closed",
            "saturday": ["09:00-24:00"], "sunday": "closed",
            "closures": [{"from": "2026-02-30", "reason": "x"},
                         {"from": "2026-03-02", "to": "2026-03-01", "reason": "y"}]
        })
    }));
    let paths: Vec<&str> = p.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "hours.tuesday[1]",
            "hours.wednesday[0]",
            "hours.thursday",
            "hours.closures[0].from",
            "hours.closures[1].to"
        ],
        "{p:#?}"
    );
    let p = problems(&with(|v| {
        v["hours"] = serde_json::json!({"monday": "open"})
    }));
    assert_eq!(p[0].path, "hours.monday");
    assert!(p[0].reason.contains("closed"), "{p:?}");
    // Multiline text is fine in a paragraph, not in a title.
    assert!(problems(&with(
        |v| v["pages"][0]["sections"][0]["blocks"][0]["p"] = "a\nb".into()
    ))
    .is_empty());
    let p = problems(&with(|v| v["pages"][0]["title"] = "a\nb".into()));
    assert_eq!(p[0].path, "pages[0].title");
    // Oversized line, invalid UTF-8.
    let big = vec![b' '; MAX_LINE_BYTES + 1];
    assert!(matches!(parse_line(&big), Err(RecordError::TooLong { .. })));
    assert!(matches!(
        parse_line(b"{\"id\":\"\xff\"}"),
        Err(RecordError::NotUtf8 { .. })
    ));
}

#[test]
fn inline_runs_round_trip_through_json() {
    let line = with(|v| {
        v["pages"][0]["sections"][0]["blocks"][0]["p"] = serde_json::json!([
            "a ", {"em": ["b ", {"strong": "c"}]}, " ", {"a": [{"em": "d"}], "href": "https://x.fr/?q=1&r=2"}
        ])
    });
    let mut r = parse_line(&line).unwrap();
    r.check(&rules()).unwrap();
    let Block::P(inline) = &r.pages[0].sections[0].blocks[0] else {
        panic!()
    };
    assert_eq!(inline.0.len(), 4);
    assert!(matches!(&inline.0[3], Run::Link { href, .. } if href == "https://x.fr/?q=1&r=2"));
    assert_eq!(parse_line(&serde_json::to_vec(&r).unwrap()).unwrap(), r);
    let p =
        problems(&with(
            |v| {
                v["pages"][0]["sections"][0]["blocks"][0]["p"] =
                    serde_json::json!([{"a": [{"a": "x", "href": "#y"}], "href": "#z"}])
            },
        ));
    assert!(p[0].reason.contains("link inside a link"), "{p:?}");
    let p = problems(&with(|v| {
        v["pages"][0]["sections"][0]["blocks"][0]["p"] =
            serde_json::json!([{"em": "x", "strong": "y"}])
    }));
    assert!(p[0].reason.contains("exactly one"), "{p:?}");
}

#[test]
fn the_readme_example_is_a_valid_record() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Back-office records").unwrap()..];
    let start = section.find("```json\n").unwrap() + "```json\n".len();
    let end = start + section[start..].find("```").unwrap();
    let mut r = parse_line(&section.as_bytes()[start..end]).unwrap();
    r.check(&rules()).unwrap();
    assert_eq!(r.pages.len(), 2);
}

#[test]
fn the_https_policy_is_checked() {
    let p = problems(&with(|v| {
        v["https"] = serde_json::json!({"hsts_max_age": 63_072_001});
    }));
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].path, "https.hsts_max_age");
    assert!(p[0].reason.contains("two years"), "{p:?}");
    let p = problems(&with(|v| {
        v["https"] = serde_json::json!({"hsts_include_subdomains": true});
    }));
    assert_eq!(p[0].path, "https.hsts_include_subdomains", "{p:?}");
    let p = problems(&with(|v| {
        v["https"] = serde_json::json!({"aliases": "sometimes"})
    }));
    assert!(p[0].reason.contains("unknown variant"), "{p:?}");
    assert!(problems(&with(|v| {
        v["https"] = serde_json::json!({"hsts_max_age": 31_536_000, "aliases": "redirect"});
    }))
    .is_empty());
}
