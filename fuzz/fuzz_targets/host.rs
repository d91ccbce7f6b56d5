//! `Host` header parsing and normalisation (`site::host::Host::parse`): any bytes.
//!
//! Invariants: a normalised host re-parses to itself; it is a lower-case LDH name of at most
//! 253 bytes in labels of 1 to 63 (no leading or trailing `-`, no trailing dot), a dotted-quad
//! IPv4 address, or a bracketed IPv6 address in canonical form; adding a port, a trailing dot
//! or upper case to it changes nothing.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use vitrine::site::Host;

fuzz_target!(|data: &[u8]| {
    let Ok(host) = Host::parse(data) else {
        return;
    };
    let s = host.as_str();
    assert_eq!(
        Host::parse(s.as_bytes()).as_ref(),
        Ok(&host),
        "re-parse of {s:?}"
    );
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner.strip_suffix(']').expect("bracketed IPv6");
        let addr: Ipv6Addr = inner.parse().expect("IPv6 literal");
        assert_eq!(addr.to_string(), inner, "canonical IPv6");
    } else if s
        .rsplit('.')
        .next()
        .unwrap()
        .bytes()
        .all(|b| b.is_ascii_digit())
    {
        let addr: Ipv4Addr = s.parse().expect("all-numeric last label means IPv4");
        assert_eq!(addr.to_string(), s, "canonical IPv4");
    } else {
        assert!(!s.is_empty() && s.len() <= 253, "length of {s:?}");
        for label in s.split('.') {
            assert!((1..=63).contains(&label.len()), "label {label:?} of {s:?}");
            assert!(
                label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "LDH label {label:?}"
            );
            assert!(
                !label.starts_with('-') && !label.ends_with('-'),
                "{label:?}"
            );
        }
    }
    let same = |variant: String| {
        assert_eq!(
            Host::parse(variant.as_bytes()).as_ref(),
            Ok(&host),
            "{variant:?} must normalise to {s:?}"
        );
    };
    same(format!("{s}:8080"));
    same(s.to_ascii_uppercase());
    if !s.starts_with('[') {
        same(format!("{s}."));
    }
});
