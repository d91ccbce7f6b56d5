//! `Range` / `If-Range` evaluation for media (`server::range::evaluate`). Input: text lines
//! `SIZE\nRANGE\nIF-RANGE` (a missing line means the header is absent), so seeds stay
//! readable.
//!
//! Invariants: a partial answer lies inside the file (`start <= end < size`); an empty file
//! never gets one; without `Range` the answer is the whole file; `If-Range` can only turn a
//! partial or unsatisfiable answer into a full one; the answer does not depend on OWS
//! around the value.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use vitrine::server::range::{evaluate, RangeOutcome};

const ETAG: &str = "\"5f-1a2b\"";

fuzz_target!(|data: &str| {
    let mut lines = data.splitn(3, '\n');
    let size = lines
        .next()
        .unwrap_or("")
        .trim()
        .parse::<u64>()
        .unwrap_or(1000);
    let range = lines.next();
    let if_range = lines.next();
    let modified = Some(UNIX_EPOCH + Duration::from_secs(1_760_000_000));
    let eval =
        |r: Option<&str>, i: Option<&str>, m: Option<SystemTime>| evaluate(r, i, size, ETAG, m);
    let outcome = eval(range, if_range, modified);
    if let RangeOutcome::Partial { start, end } = outcome {
        assert!(start <= end && end < size, "{start}-{end} of {size}");
    }
    assert_eq!(eval(None, if_range, modified), RangeOutcome::Full);
    let unconditional = eval(range, None, modified);
    if outcome != unconditional {
        assert_eq!(
            outcome,
            RangeOutcome::Full,
            "If-Range only falls back to Full"
        );
    }
    if let Some(r) = range {
        assert_eq!(
            eval(Some(&format!(" \t{r}\t ")), if_range, modified),
            outcome
        );
    }
});
