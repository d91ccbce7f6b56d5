//! HTTP range requests for media files (RFC 9110 §14): deciding, from the `Range` and
//! `If-Range` request fields and the file's size and validators, whether to answer with the
//! whole file (200), one part of it (206) or 416.
//!
//! Only a single byte range is ever served. A request for several ranges is answered with the
//! whole file, which RFC 9110 §14.2 allows ("a server MAY ignore the Range header field"):
//! `multipart/byteranges` responses are a known amplification and CPU-exhaustion surface
//! (overlapping or many tiny ranges, cf. CVE-2011-3192 "Apache Killer"), and no browser needs
//! them: `<video>` and `<audio>` seeking, and download resumption, send one range at a time.
//!
//! Pure functions of their inputs: no I/O, no clock, never panics.

use std::time::{SystemTime, UNIX_EPOCH};

/// What to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOutcome {
    /// 200 with the whole representation (no usable `Range`, or `If-Range` failed).
    Full,
    /// 206 with bytes `start..=end`; always `start <= end < size`.
    Partial { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// A syntactically valid single `range-spec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spec {
    /// `first-` or `first-last`.
    Int { first: u64, last: Option<u64> },
    /// `-length`: the last `length` bytes.
    Suffix(u64),
}

/// Decides how to answer a `GET` for a representation of `size` bytes whose strong validator
/// is `etag` (the full field value, quotes included, e.g. `"5f-1a2b"`) and whose modification
/// time is `last_modified`.
///
/// - no `Range`, an invalid one, another unit than `bytes`, or several ranges: [`Full`];
/// - `If-Range` present and not matching (see below): [`Full`];
/// - a valid single range: [`Partial`] clamped to the representation, or [`Unsatisfiable`]
///   when it starts at or beyond the end, when `last < first`, or for `-0`.
///
/// `If-Range` matches when it is a strong entity-tag identical to `etag` (strong comparison,
/// RFC 9110 §8.8.3.2: a weak tag never matches), or an HTTP-date equal, to the second, to
/// `last_modified` (the value our `Last-Modified` field carries).
///
/// A zero-length representation has no byte a range could select: RFC 9110 §14.1.2 holds every
/// form unsatisfiable except a suffix with a non-zero length, which is satisfiable yet selects
/// nothing; no `Content-Range: bytes a-b/0` can describe that, so it is answered [`Full`] (an
/// empty 200), which §14.2's "MAY ignore" permits.
///
/// [`Full`]: RangeOutcome::Full
/// [`Partial`]: RangeOutcome::Partial
/// [`Unsatisfiable`]: RangeOutcome::Unsatisfiable
pub fn evaluate(
    range: Option<&str>,
    if_range: Option<&str>,
    size: u64,
    etag: &str,
    last_modified: Option<SystemTime>,
) -> RangeOutcome {
    let Some(range) = range else {
        return RangeOutcome::Full;
    };
    // §13.1.5: If-Range is only looked at when there is a Range to condition.
    if let Some(if_range) = if_range {
        if !if_range_matches(if_range, etag, last_modified) {
            return RangeOutcome::Full;
        }
    }
    match parse(range) {
        Some(spec) => resolve(spec, size),
        None => RangeOutcome::Full,
    }
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `Range: bytes=<one range-spec>`; `None` for anything else, which the caller ignores.
fn parse(value: &str) -> Option<Spec> {
    let (unit, set) = value.trim_matches(is_ows).split_once('=')?;
    // §14.1: range units are case-insensitive; no whitespace is allowed around '='.
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    // §5.6.1: list elements may be surrounded by OWS and empty elements are to be ignored.
    let mut specs = set
        .split(',')
        .map(|s| s.trim_matches(is_ows))
        .filter(|s| !s.is_empty());
    let spec = specs.next()?;
    if specs.next().is_some() {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix(number(last)?));
    }
    let first = number(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(number(last)?)
    };
    Some(Spec::Int { first, last })
}

/// `1*DIGIT`, saturating: a position past `u64::MAX` is as good as infinite, and a length that
/// large covers the whole representation, so saturation gives the right answer.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

fn resolve(spec: Spec, size: u64) -> RangeOutcome {
    let Some(last_byte) = size.checked_sub(1) else {
        return match spec {
            Spec::Suffix(n) if n > 0 => RangeOutcome::Full,
            _ => RangeOutcome::Unsatisfiable,
        };
    };
    match spec {
        Spec::Int { first, last } => {
            if last.is_some_and(|last| last < first) || first > last_byte {
                return RangeOutcome::Unsatisfiable;
            }
            RangeOutcome::Partial {
                start: first,
                end: last.map_or(last_byte, |last| last.min(last_byte)),
            }
        }
        Spec::Suffix(0) => RangeOutcome::Unsatisfiable,
        Spec::Suffix(n) => RangeOutcome::Partial {
            start: size.saturating_sub(n),
            end: last_byte,
        },
    }
}

/// RFC 9110 §13.1.5. A value starting with `"` or `W/` is an entity-tag, anything else is
/// taken as an HTTP-date; neither form may be weak, and an unparsable value never matches.
fn if_range_matches(value: &str, etag: &str, last_modified: Option<SystemTime>) -> bool {
    let value = value.trim_matches(is_ows);
    if value.starts_with('"') || value.starts_with("W/") {
        return is_strong_etag(value) && is_strong_etag(etag) && value == etag;
    }
    let Ok(date) = httpdate::parse_http_date(value) else {
        return false;
    };
    match (unix_seconds(date), last_modified.and_then(unix_seconds)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `DQUOTE *etagc DQUOTE`, etagc being any visible character but `"`, or obs-text.
fn is_strong_etag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    bytes.len() >= 2
        && bytes[0] == b'"'
        && bytes[bytes.len() - 1] == b'"'
        && bytes[1..bytes.len() - 1]
            .iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
}

/// Whole seconds since the epoch: an HTTP-date has no finer resolution, and our own
/// `Last-Modified` field is the truncated modification time.
fn unix_seconds(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use RangeOutcome::{Full, Partial, Unsatisfiable};

    const ETAG: &str = "\"5f-1a2b\"";

    fn ev(range: &str, size: u64) -> RangeOutcome {
        evaluate(Some(range), None, size, ETAG, None)
    }

    fn part(start: u64, end: u64) -> RangeOutcome {
        Partial { start, end }
    }

    #[test]
    fn no_range_is_full() {
        assert_eq!(evaluate(None, None, 100, ETAG, None), Full);
        // If-Range alone is ignored.
        assert_eq!(evaluate(None, Some("\"other\""), 100, ETAG, None), Full);
    }

    #[test]
    fn int_range() {
        assert_eq!(ev("bytes=0-9", 100), part(0, 9));
        assert_eq!(ev("bytes=10-10", 100), part(10, 10));
        assert_eq!(ev("bytes=0-0", 1), part(0, 0));
        assert_eq!(ev("bytes=99-99", 100), part(99, 99));
    }

    #[test]
    fn open_range() {
        assert_eq!(ev("bytes=0-", 100), part(0, 99));
        assert_eq!(ev("bytes=50-", 100), part(50, 99));
        assert_eq!(ev("bytes=99-", 100), part(99, 99));
    }

    #[test]
    fn suffix_range() {
        assert_eq!(ev("bytes=-10", 100), part(90, 99));
        assert_eq!(ev("bytes=-1", 100), part(99, 99));
        assert_eq!(ev("bytes=-100", 100), part(0, 99));
    }

    #[test]
    fn suffix_larger_than_size_is_whole() {
        assert_eq!(ev("bytes=-500", 100), part(0, 99));
    }

    #[test]
    fn suffix_zero_unsatisfiable() {
        assert_eq!(ev("bytes=-0", 100), Unsatisfiable);
    }

    #[test]
    fn end_clamped() {
        assert_eq!(ev("bytes=0-1000", 100), part(0, 99));
        assert_eq!(ev("bytes=90-1000", 100), part(90, 99));
    }

    #[test]
    fn start_beyond_end_unsatisfiable() {
        assert_eq!(ev("bytes=100-", 100), Unsatisfiable);
        assert_eq!(ev("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(ev("bytes=1000-", 100), Unsatisfiable);
    }

    #[test]
    fn reversed_range_unsatisfiable() {
        assert_eq!(ev("bytes=5-3", 100), Unsatisfiable);
        assert_eq!(ev("bytes=500-3", 100), Unsatisfiable);
    }

    #[test]
    fn zero_length_file() {
        assert_eq!(ev("bytes=0-", 0), Unsatisfiable);
        assert_eq!(ev("bytes=0-0", 0), Unsatisfiable);
        assert_eq!(ev("bytes=-0", 0), Unsatisfiable);
        assert_eq!(ev("bytes=5-3", 0), Unsatisfiable);
        assert_eq!(ev("bytes=-5", 0), Full);
        assert_eq!(ev("bytes=garbage", 0), Full);
    }

    #[test]
    fn overflowing_values() {
        assert_eq!(ev("bytes=0-99999999999999999999999", 100), part(0, 99));
        assert_eq!(ev("bytes=99999999999999999999999-", 100), Unsatisfiable);
        assert_eq!(
            ev("bytes=99999999999999999999999-99999999999999999999999", 100),
            Unsatisfiable
        );
        assert_eq!(ev("bytes=-99999999999999999999999", 100), part(0, 99));
        assert_eq!(
            ev("bytes=0-18446744073709551615", u64::MAX),
            part(0, u64::MAX - 1)
        );
        assert_eq!(ev("bytes=-1", u64::MAX), part(u64::MAX - 1, u64::MAX - 1));
        assert_eq!(
            ev(&format!("bytes=0-{}", "9".repeat(10_000)), 100),
            part(0, 99)
        );
    }

    #[test]
    fn whitespace() {
        assert_eq!(ev("  bytes=0-9  ", 100), part(0, 9));
        assert_eq!(ev("bytes= 0-9", 100), part(0, 9));
        assert_eq!(ev("bytes=\t0-9\t", 100), part(0, 9));
        assert_eq!(ev("bytes=0-9, ", 100), part(0, 9));
        assert_eq!(ev("bytes=,0-9", 100), part(0, 9));
        // Inside a range-spec, or around '=', whitespace is a syntax error: ignored.
        assert_eq!(ev("bytes=0 -9", 100), Full);
        assert_eq!(ev("bytes=0- 9", 100), Full);
        assert_eq!(ev("bytes =0-9", 100), Full);
        assert_eq!(ev("bytes= -9", 100), part(91, 99));
    }

    #[test]
    fn unit_case_insensitive() {
        assert_eq!(ev("BYTES=0-9", 100), part(0, 9));
        assert_eq!(ev("Bytes=0-9", 100), part(0, 9));
    }

    #[test]
    fn unknown_unit_or_syntax_error_is_full() {
        for v in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=a-b",
            "bytes=0x10-",
            "bytes=+1-2",
            "bytes=-+1",
            "bytes=1-2-3",
            "bytes=--1",
            "bytes=1",
            "bytes:0-9",
            "items=0-9",
            "0-9",
            "bytes=1.5-2",
            "bytes=١-٢",
            "bytes=\u{0}-1",
        ] {
            assert_eq!(ev(v, 100), Full, "{v:?}");
        }
    }

    #[test]
    fn multi_range_is_full() {
        assert_eq!(ev("bytes=0-1,5-6", 100), Full);
        assert_eq!(ev("bytes=0-1, 5-6", 100), Full);
        assert_eq!(ev("bytes=0-0,0-0", 100), Full);
        assert_eq!(ev("bytes=-1,0-", 100), Full);
        let many = vec!["0-0"; 10_000].join(",");
        assert_eq!(ev(&format!("bytes={many}"), 100), Full);
    }

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    /// 1994-11-06T08:49:37Z, the RFC's example date.
    const RFC_DATE: u64 = 784_111_777;

    fn with_if_range(if_range: &str, last_modified: Option<SystemTime>) -> RangeOutcome {
        evaluate(Some("bytes=0-9"), Some(if_range), 100, ETAG, last_modified)
    }

    #[test]
    fn if_range_etag() {
        assert_eq!(with_if_range(ETAG, None), part(0, 9));
        assert_eq!(with_if_range(&format!(" {ETAG} "), None), part(0, 9));
        assert_eq!(with_if_range("\"other\"", None), Full);
        assert_eq!(with_if_range("\"5F-1A2B\"", None), Full, "case-sensitive");
        assert_eq!(with_if_range("\"5f-1a2b", None), Full);
        assert_eq!(with_if_range("*", None), Full);
    }

    #[test]
    fn if_range_weak_etag_never_matches() {
        assert_eq!(with_if_range("W/\"5f-1a2b\"", None), Full);
        // Nor does our own tag when it is weak, even if identical.
        let weak = "W/\"x\"";
        assert_eq!(
            evaluate(Some("bytes=0-9"), Some(weak), 100, weak, None),
            Full
        );
    }

    #[test]
    fn if_range_date() {
        let lm = Some(at(RFC_DATE, 0));
        assert_eq!(
            with_if_range("Sun, 06 Nov 1994 08:49:37 GMT", lm),
            part(0, 9)
        );
        // Sub-second precision of the file's mtime is not part of the validator.
        let lm_nanos = Some(at(RFC_DATE, 999_999_999));
        assert_eq!(
            with_if_range("Sun, 06 Nov 1994 08:49:37 GMT", lm_nanos),
            part(0, 9)
        );
        // The obsolete formats are dates too (RFC 9110 §5.6.7).
        assert_eq!(
            with_if_range("Sunday, 06-Nov-94 08:49:37 GMT", lm),
            part(0, 9)
        );
        assert_eq!(with_if_range("Sun Nov  6 08:49:37 1994", lm), part(0, 9));
    }

    #[test]
    fn if_range_date_mismatch() {
        let lm = Some(at(RFC_DATE, 0));
        assert_eq!(with_if_range("Sun, 06 Nov 1994 08:49:36 GMT", lm), Full);
        assert_eq!(with_if_range("Sun, 06 Nov 1994 08:49:38 GMT", lm), Full);
        assert_eq!(with_if_range("Sun, 06 Nov 1994 08:49:37 GMT", None), Full);
        assert_eq!(with_if_range("yesterday", lm), Full);
        assert_eq!(with_if_range("", lm), Full);
        let before_epoch = UNIX_EPOCH.checked_sub(Duration::from_secs(10));
        assert_eq!(
            with_if_range("Thu, 01 Jan 1970 00:00:00 GMT", before_epoch),
            Full
        );
    }

    #[test]
    fn failed_if_range_wins_over_unsatisfiable() {
        assert_eq!(
            evaluate(Some("bytes=500-"), Some("\"other\""), 100, ETAG, None),
            Full
        );
        assert_eq!(
            evaluate(Some("bytes=500-"), Some(ETAG), 100, ETAG, None),
            Unsatisfiable
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn total_and_in_bounds(
                range in "\\PC{0,40}|[bytesBYTES=0-9, \\-]{0,30}",
                if_range in proptest::option::of("\\PC{0,40}"),
                size in prop_oneof![Just(0u64), 1u64..1000, Just(u64::MAX)],
                etag in "\\PC{0,10}",
                lm in proptest::option::of(0u64..4_000_000_000),
            ) {
                let lm = lm.map(|s| UNIX_EPOCH + std::time::Duration::from_secs(s));
                let out = evaluate(Some(&range), if_range.as_deref(), size, &etag, lm);
                if let RangeOutcome::Partial { start, end } = out {
                    prop_assert!(start <= end && end < size);
                }
            }

            #[test]
            fn valid_int_ranges(first in 0u64..2000, len in 0u64..2000, size in 0u64..1000) {
                let last = first + len;
                let out = evaluate(Some(&format!("bytes={first}-{last}")), None, size, "\"x\"", None);
                let expected = if first >= size {
                    RangeOutcome::Unsatisfiable
                } else {
                    RangeOutcome::Partial { start: first, end: last.min(size - 1) }
                };
                prop_assert_eq!(out, expected);
            }

            #[test]
            fn valid_suffixes(n in 1u64..2000, size in 1u64..1000) {
                let out = evaluate(Some(&format!("bytes=-{n}")), None, size, "\"x\"", None);
                prop_assert_eq!(out, RangeOutcome::Partial { start: size.saturating_sub(n), end: size - 1 });
            }
        }
    }
}
