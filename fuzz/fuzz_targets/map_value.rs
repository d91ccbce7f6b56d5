//! The Redis value -> file path step (`site::parse_map_value`): any string a compromised or
//! buggy Redis could hold.
//!
//! Invariants: an accepted value is a confined relative path (no scheme, no `..`, not
//! absolute, only plain components) and is the value itself; a refusal's message is one
//! bounded log line whatever the value (control characters escaped).
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;
use vitrine::site::{parse_map_value, Host};

fuzz_target!(|value: &str| {
    let host = Host::parse(b"example.com").unwrap();
    match parse_map_value(&host, value) {
        Ok(rel) => {
            let s = rel.as_str();
            assert_eq!(s, value, "accepted values are used verbatim");
            assert!(!s.contains(':'), "scheme or drive in {s:?}");
            assert!(
                Path::new(s)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_))),
                "{s:?} escapes or is absolute"
            );
        }
        Err(e) => {
            // The quoted value is cut to 200 characters, each escaped to at most 10 bytes
            // (`\u{10ffff}`), plus the host twice and the sentence; escaped, so one log line.
            let msg = e.to_string();
            assert!(
                msg.len() <= 200 * 10 + 2 * host.as_str().len() + 200,
                "{} bytes of error",
                msg.len()
            );
            assert!(!msg.chars().any(char::is_control), "unescaped: {msg:?}");
        }
    }
});
