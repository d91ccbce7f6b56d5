//! Request path resolution (`fsx::RelPath::from_url_path`, the part of a URL after
//! `/media/` or `/assets/`, still percent-encoded) and the stored-path validator
//! `RelPath::parse`: any string.
//!
//! Invariants: an accepted path is relative, its components are all plain names (never
//! empty, `.`, `..`, hidden, or holding `\`, `:`, `%`, NUL or other control characters), it
//! stays within the length limits, `Path::components` sees only normal components, and it
//! re-validates to itself; joining two accepted paths gives an accepted path.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use vitrine::fsx::RelPath;

fn check(p: &RelPath) {
    let s = p.as_str();
    assert!(!s.is_empty() && s.len() <= 1024, "length of {s:?}");
    assert!(!s.starts_with('/'), "absolute {s:?}");
    for c in s.split('/') {
        assert!(!c.is_empty() && c.len() <= 255, "component {c:?} of {s:?}");
        assert!(
            c != "." && c != ".." && !c.starts_with('.'),
            "{c:?} in {s:?}"
        );
        assert!(
            !c.chars()
                .any(|ch| ch.is_control() || matches!(ch, '\\' | ':' | '%')),
            "{c:?} in {s:?}"
        );
    }
    assert!(
        Path::new(s)
            .components()
            .all(|c| matches!(c, Component::Normal(_))),
        "{s:?} has a non-normal component"
    );
    assert_eq!(RelPath::parse(s).as_ref(), Ok(p), "re-parse of {s:?}");
    // A decoded path holds no '%', so it is its own encoding.
    assert_eq!(
        RelPath::from_url_path(s).as_ref(),
        Ok(p),
        "{s:?} as a URL path"
    );
    assert_eq!(p.components().count(), s.split('/').count());
}

fuzz_target!(|data: &str| {
    if let Ok(p) = RelPath::from_url_path(data) {
        check(&p);
        if let Ok(joined) = p.join(&p) {
            check(&joined);
        }
    }
    if let Ok(p) = RelPath::parse(data) {
        check(&p);
    }
});
