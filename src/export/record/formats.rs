//! What a well-formed value is: site and page ids, language tags, media file names, times,
//! dates, decimals, e-mail addresses, E.164 phone numbers, anchors, links ([`check_href`]) and
//! domains ([`normalise_domain`], as the publisher normalises a request's Host); and how a bad
//! value is quoted in a message ([`shorten`]).

use crate::render::valid_theme_name;
use crate::site::Host;

pub(super) fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        let mut out: String = s.chars().take(60).collect();
        out.push('…');
        out
    } else {
        s.to_owned()
    }
}

/// `[a-z0-9][a-z0-9-]*`, at most 63 bytes: site ids and page ids.
pub fn valid_slug(s: &str) -> bool {
    valid_theme_name(s)
}

pub(super) fn valid_lang(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or("");
    (2..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && s.len() <= 35
}

/// A media file name relative to the site's `media/` folder, as the schema's `media.src`.
pub fn valid_media_src(s: &str) -> bool {
    s.len() <= 255
        && !s.contains("..")
        && s.split('/').all(|seg| {
            let b = seg.as_bytes();
            !b.is_empty()
                && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
        })
}

pub(super) fn valid_time(s: &str) -> bool {
    let b = s.as_bytes();
    if s == "24:00" {
        return true;
    }
    b.len() == 5
        && b[2] == b':'
        && b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit)
        && s[..2] < *"24"
        && s[3..] < *"60"
}

pub(super) fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// `-?D+(.D+)?` within `[-limit, limit]`, at most `max_frac` decimals.
pub(super) fn valid_decimal(s: &str, max_frac: usize, min: f64, max: f64) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !int.is_empty()
        && int.len() <= 12
        && int.bytes().all(|b| b.is_ascii_digit())
        && (!digits.contains('.') || !frac.is_empty())
        && frac.len() <= max_frac
        && frac.bytes().all(|b| b.is_ascii_digit());
    ok && s.parse::<f64>().is_ok_and(|v| (min..=max).contains(&v))
}

pub(super) fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let Some((_, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    s.len() <= 254
        && !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b))
        && !domain.starts_with('.')
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
}

pub(super) fn valid_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (6..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn valid_anchor(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The link rules of the contract; `/page` must name a page of this site.
pub(super) fn check_href(href: &str, pages: &[&str]) -> Result<(), String> {
    const EXPECTED: &str =
        "links are http(s)://…, mailto:…, tel:…, /page-id, /page-id#anchor or #anchor";
    if href.len() > 2048 {
        return Err(format!("{} bytes, at most 2048", href.len()));
    }
    if href.chars().any(char::is_whitespace) {
        return Err(format!(
            "{:?} contains whitespace; {EXPECTED}",
            shorten(href)
        ));
    }
    let lower = href.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    {
        return if rest.is_empty() || rest.starts_with('/') {
            Err(format!("{:?} has no host", shorten(href)))
        } else {
            Ok(())
        };
    }
    if let Some(rest) = href.strip_prefix("mailto:") {
        return if rest.is_empty() {
            Err("mailto: without an address".to_owned())
        } else {
            Ok(())
        };
    }
    if let Some(rest) = href.strip_prefix("tel:") {
        let digits = rest.strip_prefix('+').unwrap_or(rest);
        return if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(format!(
                "{:?}: tel: takes digits only, e.g. tel:+33142000000",
                shorten(href)
            ))
        };
    }
    if let Some(anchor) = href.strip_prefix('#') {
        return if valid_anchor(anchor) {
            Ok(())
        } else {
            Err(format!(
                "{:?}: an anchor is letters, digits, `_` and `-`",
                shorten(href)
            ))
        };
    }
    if let Some(rest) = href.strip_prefix('/') {
        if rest.is_empty() {
            return Ok(());
        }
        let (page, anchor) = match rest.split_once('#') {
            Some((p, a)) => (p, Some(a)),
            None => (rest, None),
        };
        if !valid_slug(page) || anchor.is_some_and(|a| !valid_anchor(a)) {
            return Err(format!("{:?}: {EXPECTED}", shorten(href)));
        }
        return if pages.contains(&page) {
            Ok(())
        } else {
            Err(format!(
                "links to page {page:?}, which this site does not have"
            ))
        };
    }
    Err(format!("{:?}: {EXPECTED}", shorten(href)))
}

/// Normalises a site domain as the publisher normalises a request's Host, or says why not.
pub fn normalise_domain(raw: &str) -> Result<String, String> {
    if raw.contains(':') {
        return Err(format!(
            "{:?}: a domain has no port or scheme",
            shorten(raw)
        ));
    }
    let host = Host::parse(raw.as_bytes()).map_err(|e| e.to_string())?;
    let s = host.as_str();
    if s.starts_with('[')
        || s.rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{s} is an IP address; sites are served on domain names"
        ));
    }
    if !s.contains('.') {
        return Err(format!(
            "{s} is a single label; a site domain has a dot (example.fr)"
        ));
    }
    Ok(s.to_owned())
}
