//! Validators: whether a client's copy is still current (`If-None-Match`,
//! `If-Modified-Since`), for pages and files alike.

use std::time::SystemTime;

/// Whether a conditional GET/HEAD can be answered 304: `If-None-Match` (weak comparison,
/// RFC 9110 §13.1.2) takes precedence over `If-Modified-Since`.
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: &str,
    last_modified: SystemTime,
) -> bool {
    if let Some(inm) = if_none_match {
        let ours = etag.trim_start_matches("W/");
        return inm.split(',').any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == ours
        });
    }
    if let Some(ims) = if_modified_since.and_then(|v| httpdate::parse_http_date(v).ok()) {
        return truncate_secs(last_modified) <= ims;
    }
    false
}

fn truncate_secs(t: SystemTime) -> SystemTime {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_checks() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(t);
        assert!(not_modified(Some("\"a\", \"b\""), None, "\"b\"", t));
        assert!(not_modified(Some("W/\"b\""), None, "\"b\"", t));
        assert!(!not_modified(Some("\"c\""), Some(&date), "\"b\"", t));
        assert!(not_modified(None, Some(&date), "\"b\"", t));
        let later = t + std::time::Duration::from_secs(5);
        assert!(!not_modified(None, Some(&date), "\"b\"", later));
    }
}
