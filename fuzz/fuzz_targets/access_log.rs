//! Access-log line parsing for the replayer (`replay::access_log`): any text, every format.
//!
//! Invariants: a parsed line has a three-digit status of 1xx to 5xx, an upper-case method, a
//! request target with no byte that cannot travel in a request line, and a time that formats
//! back to itself; format detection names a format that parses the line; turning a parsed line
//! into a request never panics, and a request's target is origin-form.
#![no_main]

use hyper::header::HeaderValue;
use libfuzzer_sys::fuzz_target;
use vitrine::replay::access_log::{detect_format, format_time, parse_line, parse_time};
use vitrine::replay::{LogFormat, Request};

fuzz_target!(|text: &str| {
    let default_host = HeaderValue::from_static("fuzz.example");
    for line in text.lines().take(16) {
        if let Some(format) = detect_format(line) {
            assert!(parse_line(line, format).is_ok(), "detected {format:?}");
        }
        for format in LogFormat::ALL {
            let Ok(l) = parse_line(line, format) else {
                continue;
            };
            assert!((100..600).contains(&l.status), "status {}", l.status);
            assert!(!l.method.is_empty() && l.method.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(
                l.target.bytes().all(|b| b > b' '
                    && b < 0x7f
                    && !matches!(
                        b,
                        b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
                    )),
                "target {:?}",
                l.target
            );
            // Years 0 to 9999 are what the format can hold (an offset can push a parsed
            // time just outside).
            let mut formatted = String::new();
            format_time(l.time, 0, &mut formatted);
            if formatted.len() == 26 && formatted.as_bytes()[7..11].iter().all(u8::is_ascii_digit) {
                assert_eq!(parse_time(&formatted), Some(l.time), "{formatted}");
            }
            if let Ok(Some(req)) = Request::from_line(&l, &default_host, 0, 1) {
                assert!(req.target.path().starts_with('/'), "{}", req.target);
                assert!(req.target.scheme().is_none());
            }
        }
    }
});
