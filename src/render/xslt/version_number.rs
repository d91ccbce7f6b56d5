//! Version strings as numbers, shared with `build.rs` (which includes this file by path):
//! `"2.9.14"` -> 20914, the encoding of `LIBXML_VERSION` and `LIBXSLT_VERSION`.

/// `"2.9.14"` -> 20914; missing or non-numeric parts count as 0.
pub fn number(version: &str) -> u32 {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    a * 10_000 + b * 100 + c
}
