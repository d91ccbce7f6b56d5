//! TEMPORARY minimal Range (replaced by the full module).
use std::time::SystemTime;
#[derive(Debug, PartialEq, Eq)]
pub enum RangeOutcome {
    Full,
    Partial { start: u64, end: u64 },
    Unsatisfiable,
}
pub fn evaluate(
    range: Option<&str>,
    if_range: Option<&str>,
    size: u64,
    etag: &str,
    _lm: Option<SystemTime>,
) -> RangeOutcome {
    let Some(r) = range else {
        return RangeOutcome::Full;
    };
    if if_range.is_some_and(|v| v != etag) {
        return RangeOutcome::Full;
    }
    let Some(spec) = r.trim().strip_prefix("bytes=") else {
        return RangeOutcome::Full;
    };
    if spec.contains(',') {
        return RangeOutcome::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return RangeOutcome::Full;
    };
    let (start, end) = if a.is_empty() {
        let n: u64 = match b.parse() {
            Ok(n) => n,
            Err(_) => return RangeOutcome::Full,
        };
        (size.saturating_sub(n), size.saturating_sub(1))
    } else {
        let s: u64 = match a.parse() {
            Ok(n) => n,
            Err(_) => return RangeOutcome::Full,
        };
        let e: u64 = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(n) => n.min(size.saturating_sub(1)),
                Err(_) => return RangeOutcome::Full,
            }
        };
        (s, e)
    };
    if size == 0 || start > end || start >= size {
        return RangeOutcome::Unsatisfiable;
    }
    RangeOutcome::Partial { start, end }
}
