//! The request's host name: turning a `Host` header (or an HTTP/2 `:authority`, or the authority
//! of an absolute-form request target) into the one normalised key the domain map is looked up
//! with. Everything a client can put in that header is refused here or normalised here, so the
//! rest of the server only ever sees a [`Host`] that is either a lower-case LDH DNS name
//! (IDNs in punycode), a dotted-quad IPv4 address or a bracketed, compressed IPv6 address.
//!
//! The rules follow nginx (`ngx_http_validate_host`) where nginx is stricter than the RFCs
//! require, and are stricter still where a mini-site publisher has no use for the leniency:
//! underscores, leading/trailing hyphens and unbracketed IPv6 are refused, not passed through.
//!
//! # Internationalised names
//!
//! Browsers send IDNs in punycode, so a raw UTF-8 `Host` only comes from other clients. Such a
//! name goes through UTS #46 `ToASCII` with the parameters spelled out in `uts46_to_ascii`
//! rather than through `idna::domain_to_ascii` (which lets `_` and other non-LDH ASCII through)
//! or `idna::domain_to_ascii_strict` (whose `CheckHyphens` refuses hyphens in the third and
//! fourth positions, i.e. ASCII names such as `ab--cd.fr` that the ASCII path accepts; the two
//! paths must agree or a name's validity would depend on its spelling). A label already in
//! punycode (`xn--…`) must survive the same `ToASCII` unchanged, which rejects undecodable,
//! non-canonical or disallowed punycode.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// RFC 1035 limit on a name in its textual form without the root dot.
const MAX_NAME_LEN: usize = 253;
/// RFC 1035 limit on one label.
const MAX_LABEL_LEN: usize = 63;
/// Inputs longer than this are refused before any processing. No valid host (a 253-byte name,
/// even written in UTF-8 with 4-byte characters before punycode, plus `:65535`) needs more,
/// and it bounds the work UTS #46 mapping does on hostile input.
const MAX_RAW_LEN: usize = 1024;
/// How much of an offending input an error message quotes: enough to recognise it in a log,
/// short enough that a hostile client cannot fill the log.
const SHOW_MAX_CHARS: usize = 100;

/// A normalised host name: the key of the domain map.
///
/// Invariant: produced only by [`Host::parse`], so it is one of
/// - a DNS name: 1 to 253 bytes of dot-separated labels of 1 to 63 bytes in `[a-z0-9-]`, no
///   label starting or ending with `-`, no trailing dot, IDN labels as canonical punycode;
/// - an IPv4 address in dotted-quad form (`192.0.2.1`);
/// - an IPv6 address in brackets, RFC 5952 compressed lower-case form (`[2001:db8::1]`).
///
/// The port is not part of it: one site answers on every port the server listens on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Host(String);

/// Why a host was refused. Every variant that concerns an input quotes it (escaped, cut to
/// about 100 characters) so that a log line identifies the request without being a vector for
/// log injection.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("request has neither an authority nor a Host header")]
    Missing,
    #[error("request has {count} Host header lines; exactly one is required")]
    Duplicate { count: usize },
    #[error("empty host name in \"{input}\"")]
    Empty { input: String },
    #[error("host name of {len} bytes (at most {MAX_NAME_LEN}) in \"{input}\"")]
    TooLong { len: usize, input: String },
    #[error("empty label in host \"{input}\"")]
    EmptyLabel { input: String },
    #[error("label of {len} bytes (at most {MAX_LABEL_LEN}) in host \"{input}\"")]
    LabelTooLong { len: usize, input: String },
    #[error("character {found} not allowed in host \"{input}\"")]
    InvalidChar { found: String, input: String },
    #[error("label starts or ends with '-' in host \"{input}\"")]
    Hyphen { input: String },
    #[error("path, query or fragment in host \"{input}\"")]
    PathOrQuery { input: String },
    #[error("userinfo ('@') in host \"{input}\"")]
    Userinfo { input: String },
    #[error("invalid port in host \"{input}\"")]
    InvalidPort { input: String },
    #[error("port out of range 1..=65535 in host \"{input}\"")]
    PortOutOfRange { input: String },
    #[error("invalid IPv4 address in host \"{input}\"")]
    InvalidIpv4 { input: String },
    #[error("invalid IPv6 literal in host \"{input}\"")]
    InvalidIpv6 { input: String },
    #[error("host is not valid UTF-8: \"{input}\"")]
    InvalidUtf8 { input: String },
    #[error("internationalised host name refused by UTS #46: \"{input}\"")]
    Idna { input: String },
    #[error("invalid punycode (xn--) label in host \"{input}\"")]
    Punycode { input: String },
}

impl Host {
    /// Parses and normalises one `Host` header value (or authority).
    ///
    /// Never panics, whatever the bytes.
    pub fn parse(raw: &[u8]) -> Result<Host, HostError> {
        let input = || show(raw);
        if raw.is_empty() {
            return Err(HostError::Empty { input: input() });
        }
        if raw.len() > MAX_RAW_LEN {
            return Err(HostError::TooLong {
                len: raw.len(),
                input: input(),
            });
        }
        // These say "this is not a host at all"; checked first so the error names the real
        // problem rather than a symptom such as a bad port (`example.com/\:552`).
        if raw.contains(&b'@') {
            return Err(HostError::Userinfo { input: input() });
        }
        if raw.iter().any(|b| matches!(b, b'/' | b'?' | b'#')) {
            return Err(HostError::PathOrQuery { input: input() });
        }
        if raw[0] == b'[' {
            return parse_ipv6(raw);
        }

        let (name, port) = match raw.iter().position(|&b| b == b':') {
            Some(colon) => (&raw[..colon], Some(&raw[colon + 1..])),
            None => (raw, None),
        };
        if let Some(port) = port {
            check_port(port, raw)?;
        }
        let name = name.strip_suffix(b".").unwrap_or(name);
        if name.is_empty() {
            return Err(HostError::Empty { input: input() });
        }

        let ascii = if name.is_ascii() {
            let lower = name.to_ascii_lowercase();
            // Cannot fail (the bytes are ASCII); the fallback only keeps the function total.
            let lower =
                String::from_utf8(lower).map_err(|_| HostError::InvalidUtf8 { input: input() })?;
            check_dns_name(&lower, raw)?;
            if lower.split('.').any(|l| l.starts_with("xn--")) {
                match uts46_to_ascii(lower.as_bytes()) {
                    Some(canonical) if canonical == lower => {}
                    _ => return Err(HostError::Punycode { input: input() }),
                }
            }
            lower
        } else {
            if std::str::from_utf8(name).is_err() {
                return Err(HostError::InvalidUtf8 { input: input() });
            }
            let ascii = uts46_to_ascii(name).ok_or_else(|| HostError::Idna { input: input() })?;
            check_dns_name(&ascii, raw)?;
            ascii
        };

        // RFC 3696 §2: a top-level domain is never all-numeric, so such a name is an IPv4
        // address or nothing. Refusing `1.2.3`, `010.0.0.1` or `4294967295` avoids the
        // inet_aton dialects (octal, short forms) that different components read differently.
        let last = ascii.rsplit('.').next().unwrap_or("");
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return match ascii.parse::<Ipv4Addr>() {
                Ok(addr) => Ok(Host(addr.to_string())),
                Err(_) => Err(HostError::InvalidIpv4 { input: input() }),
            };
        }
        Ok(Host(ascii))
    }

    /// The host of a request.
    ///
    /// `authority` is the HTTP/2 `:authority` or the authority of an absolute-form request
    /// target; when present it wins and the `Host` lines are ignored (RFC 9112 §3.2.2).
    /// Otherwise exactly one `Host` line is required: several are refused even when equal,
    /// because front ends disagree on which one counts (request smuggling, RFC 9112 §3.2).
    pub fn from_request(
        authority: Option<&str>,
        host_headers: &[&[u8]],
    ) -> Result<Host, HostError> {
        if let Some(authority) = authority {
            if authority.contains('@') {
                return Err(HostError::Userinfo {
                    input: show(authority.as_bytes()),
                });
            }
            return Host::parse(authority.as_bytes());
        }
        match host_headers {
            [] => Err(HostError::Missing),
            [one] => Host::parse(one),
            many => Err(HostError::Duplicate { count: many.len() }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Host {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// UTS #46 `ToASCII` as the host rules need it:
/// - nontransitional processing (idna 1.x's only mode; `ß` stays `ß`, as in browsers today);
/// - `UseSTD3ASCIIRules=true`: only LDH ASCII survives mapping, so a fullwidth solidus cannot
///   turn into a `/`;
/// - `CheckHyphens` on the first and last positions only, matching the ASCII rules;
/// - `VerifyDnsLength=false`: lengths are checked afterwards by [`check_dns_name`], which gives
///   a precise error.
fn uts46_to_ascii(name: &[u8]) -> Option<String> {
    Uts46::new()
        .to_ascii(
            name,
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Ignore,
        )
        .ok()
        .map(|cow| cow.into_owned())
}

/// Checks the DNS-name rules on an already lower-cased ASCII name without its trailing dot.
fn check_dns_name(name: &str, raw: &[u8]) -> Result<(), HostError> {
    if name.len() > MAX_NAME_LEN {
        return Err(HostError::TooLong {
            len: name.len(),
            input: show(raw),
        });
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(HostError::EmptyLabel { input: show(raw) });
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
        {
            return Err(HostError::InvalidChar {
                found: format!("'{}'", bad.escape_debug()),
                input: show(raw),
            });
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(HostError::LabelTooLong {
                len: label.len(),
                input: show(raw),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(HostError::Hyphen { input: show(raw) });
        }
    }
    Ok(())
}

/// A port is digits only and in 1..=65535; an empty port (`example.com:`) is accepted, as
/// nginx and RFC 3986 (`port = *DIGIT`) do.
fn check_port(port: &[u8], raw: &[u8]) -> Result<(), HostError> {
    if port.is_empty() {
        return Ok(());
    }
    if !port.iter().all(u8::is_ascii_digit) {
        return Err(HostError::InvalidPort { input: show(raw) });
    }
    // Saturating: a port of a thousand digits must not overflow, only be out of range.
    let value = port.iter().fold(0u32, |acc, d| {
        acc.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    });
    if value == 0 || value > u32::from(u16::MAX) {
        return Err(HostError::PortOutOfRange { input: show(raw) });
    }
    Ok(())
}

/// `[v6addr]` or `[v6addr]:port`. Zone identifiers and IPvFuture are refused: neither can name
/// a site.
fn parse_ipv6(raw: &[u8]) -> Result<Host, HostError> {
    let invalid = || HostError::InvalidIpv6 { input: show(raw) };
    let close = raw.iter().position(|&b| b == b']').ok_or_else(invalid)?;
    let inner = std::str::from_utf8(&raw[1..close]).map_err(|_| invalid())?;
    let addr: Ipv6Addr = inner.parse().map_err(|_| invalid())?;
    match &raw[close + 1..] {
        [] => {}
        [b':', port @ ..] => check_port(port, raw)?,
        _ => return Err(invalid()),
    }
    // std's Display is the RFC 5952 canonical text form.
    Ok(Host(format!("[{addr}]")))
}

/// Quotes untrusted bytes for an error message: valid UTF-8 as escaped characters, invalid
/// bytes as `\xNN`, cut after [`SHOW_MAX_CHARS`].
fn show(raw: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::new();
    let mut shown = 0usize;
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            if shown == SHOW_MAX_CHARS {
                out.push('…');
                return out;
            }
            out.extend(c.escape_debug());
            shown += 1;
        }
        for b in chunk.invalid() {
            if shown == SHOW_MAX_CHARS {
                out.push('…');
                return out;
            }
            let _ = write!(out, "\\x{b:02x}");
            shown += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        match Host::parse(raw.as_bytes()) {
            Ok(h) => h.0,
            Err(e) => panic!("{raw:?} refused: {e}"),
        }
    }

    fn err(raw: &[u8]) -> HostError {
        match Host::parse(raw) {
            Ok(h) => panic!("{:?} accepted as {h}", String::from_utf8_lossy(raw)),
            Err(e) => e,
        }
    }

    macro_rules! assert_err {
        ($raw:expr, $pat:pat) => {{
            let e = err($raw);
            assert!(matches!(e, $pat), "{:?}: unexpected error {e:?}", $raw);
        }};
    }

    // --- the spirit of nginx-tests http_host.t ---

    #[test]
    fn nginx_empty_host_refused() {
        assert_err!(b"", HostError::Empty { .. });
        assert_err!(b":80", HostError::Empty { .. });
        assert_err!(b".", HostError::Empty { .. });
    }

    #[test]
    fn nginx_single_letter_lowercased() {
        assert_eq!(ok("L"), "l");
    }

    #[test]
    fn nginx_bare_trailing_colon_accepted() {
        assert_eq!(ok("abcd-ef.g02.xyz:"), "abcd-ef.g02.xyz");
    }

    #[test]
    fn nginx_trailing_dot_stripped() {
        assert_eq!(ok("example.com."), "example.com");
        assert_eq!(ok("example.com.:8080"), "example.com");
    }

    #[test]
    fn only_one_trailing_dot_is_stripped() {
        assert_err!(b"example.com..", HostError::EmptyLabel { .. });
    }

    #[test]
    fn nginx_double_leading_dot_refused() {
        assert_err!(b"..examp-LE.com", HostError::EmptyLabel { .. });
        assert_err!(b".example.com", HostError::EmptyLabel { .. });
        assert_err!(b"a..b", HostError::EmptyLabel { .. });
    }

    #[test]
    fn nginx_path_in_host_refused() {
        assert_err!(b"example.com/\\:552", HostError::PathOrQuery { .. });
        assert_err!(b"example.com/index.html", HostError::PathOrQuery { .. });
        assert_err!(b"example.com?x=1", HostError::PathOrQuery { .. });
        assert_err!(b"example.com#frag", HostError::PathOrQuery { .. });
    }

    #[test]
    fn nginx_ipv6_literal_with_junk_refused() {
        assert_err!(b"[::1]junk", HostError::InvalidIpv6 { .. });
        assert_err!(b"[::1", HostError::InvalidIpv6 { .. });
        assert_err!(b"[:::1]", HostError::InvalidIpv6 { .. });
        assert_err!(b"[not-an-address]", HostError::InvalidIpv6 { .. });
        assert_err!(b"[::1%25eth0]", HostError::InvalidIpv6 { .. });
        assert_err!(b"[v1.fe]", HostError::InvalidIpv6 { .. });
        assert_err!(b"[1.2.3.4]", HostError::InvalidIpv6 { .. });
        assert_err!(b"[]", HostError::InvalidIpv6 { .. });
        assert_err!(b"[::1]]", HostError::InvalidIpv6 { .. });
        assert_err!(b"[::1]:1.2", HostError::InvalidPort { .. });
    }

    #[test]
    fn nginx_dotted_port_refused() {
        assert_err!(b"example.com.:1.2", HostError::InvalidPort { .. });
        assert_err!(b"example.com:8o", HostError::InvalidPort { .. });
        assert_err!(b"example.com:+80", HostError::InvalidPort { .. });
        assert_err!(b"example.com: 80", HostError::InvalidPort { .. });
        assert_err!(b"a:1:2", HostError::InvalidPort { .. });
        assert_err!(b"::1", HostError::InvalidPort { .. });
    }

    #[test]
    fn nginx_port_out_of_range_refused() {
        assert_err!(b"example.com:65536", HostError::PortOutOfRange { .. });
        assert_err!(b"example.com:0", HostError::PortOutOfRange { .. });
        assert_err!(
            b"example.com:99999999999999999999999",
            HostError::PortOutOfRange { .. }
        );
        assert_err!(b"[::1]:70000", HostError::PortOutOfRange { .. });
        assert_eq!(ok("example.com:65535"), "example.com");
        assert_eq!(ok("example.com:1"), "example.com");
        assert_eq!(ok("example.com:00080"), "example.com");
    }

    #[test]
    fn nginx_duplicate_host_refused_even_if_equal() {
        let h: &[u8] = b"example.com";
        assert_eq!(
            Host::from_request(None, &[h, h]),
            Err(HostError::Duplicate { count: 2 })
        );
        assert_eq!(
            Host::from_request(None, &[h, b"other.com", h]),
            Err(HostError::Duplicate { count: 3 })
        );
    }

    #[test]
    fn nginx_control_character_refused() {
        assert_err!(b"\x02", HostError::InvalidChar { .. });
        assert_err!(b"exam\x02ple.com", HostError::InvalidChar { .. });
        assert_err!(b"example.com\0", HostError::InvalidChar { .. });
        assert_err!(b"example.com\r\nX-Evil", HostError::InvalidChar { .. });
        assert_err!(b"example.com\x7f", HostError::InvalidChar { .. });
    }

    // --- normalisation ---

    #[test]
    fn uppercase_lowercased() {
        assert_eq!(ok("EXAMPLE.COM"), "example.com");
        assert_eq!(ok("Example.COM:8080"), "example.com");
        assert_eq!(ok("WWW.Boulangerie-Martin.FR"), "www.boulangerie-martin.fr");
    }

    #[test]
    fn french_trailing_dot() {
        assert_eq!(ok("www.exemple.fr."), "www.exemple.fr");
    }

    #[test]
    fn single_label_and_digits_inside_labels() {
        assert_eq!(ok("localhost"), "localhost");
        assert_eq!(ok("1und1.de"), "1und1.de");
        assert_eq!(ok("123.example"), "123.example");
        assert_eq!(ok("ab--cd.fr"), "ab--cd.fr");
    }

    // --- IDN ---

    /// Expected value from `python3 -c 'print("pâtisserie-dupont.fr".encode("idna"))'`.
    const PATISSERIE_ACE: &str = "xn--ptisserie-dupont-wmb.fr";

    #[test]
    fn unicode_name_to_punycode() {
        assert_eq!(ok("pâtisserie-dupont.fr"), PATISSERIE_ACE);
        assert_eq!(ok("PÂTISSERIE-Dupont.fr.:443"), PATISSERIE_ACE);
        assert_eq!(ok("été.fr"), "xn--t-9fab.fr");
    }

    #[test]
    fn idna_crate_agrees_with_python() {
        assert_eq!(
            idna::domain_to_ascii("pâtisserie-dupont.fr")
                .as_deref()
                .ok(),
            Some(PATISSERIE_ACE)
        );
        assert_eq!(
            idna::domain_to_ascii_strict("pâtisserie-dupont.fr")
                .as_deref()
                .ok(),
            Some(PATISSERIE_ACE)
        );
    }

    #[test]
    fn punycode_input_accepted_and_lowercased() {
        assert_eq!(ok(PATISSERIE_ACE), PATISSERIE_ACE);
        assert_eq!(ok("XN--PTISSERIE-DUPONT-WMB.FR"), PATISSERIE_ACE);
    }

    #[test]
    fn unicode_mapping_applies_uts46() {
        // Fullwidth letters and the ideographic full stop map as browsers map them.
        assert_eq!(ok("ｅｘａｍｐｌｅ。fr"), "example.fr");
        // A fullwidth solidus maps to '/', which STD3 refuses.
        assert_err!("example.fr／x".as_bytes(), HostError::Idna { .. });
        // Disallowed code points.
        assert_err!("exa\u{2028}mple.fr".as_bytes(), HostError::Idna { .. });
        assert_err!("ex_ämple.fr".as_bytes(), HostError::Idna { .. });
        assert_err!("-ämple.fr".as_bytes(), HostError::Idna { .. });
    }

    #[test]
    fn invalid_punycode_label_refused() {
        // Empty payload, payload ending in '-', payloads that decode to a control character,
        // to an upper-case (mapped, so not canonical) `Äb`, to a decomposed (not NFC) `ét`,
        // and undecodable (overflowing) payloads.
        for bad in [
            "xn--.fr",
            "xn--example-.fr",
            "xn--a.fr",
            "xn--b-5da.fr",
            "xn--et-8tb.fr",
            "xn--zzzzzzzzzzzzzzzzzz.fr",
            "www.xn--99999999999.fr",
        ] {
            let e = err(bad.as_bytes());
            assert!(
                matches!(e, HostError::Punycode { .. } | HostError::Hyphen { .. }),
                "{bad}: {e:?}"
            );
        }
        assert_err!(b"xn--zzzzzzzzzzzzzzzzzz.fr", HostError::Punycode { .. });
        assert_err!(b"xn--b-5da.fr", HostError::Punycode { .. });
        assert_err!(b"xn--et-8tb.fr", HostError::Punycode { .. });
        // Sanity: the valid spelling of the same idea passes, so the refusals above are about
        // canonical form and not about punycode as such.
        assert_eq!(ok("xn--zca.de"), "xn--zca.de");
    }

    // --- lengths ---

    #[test]
    fn label_of_63_ok_64_refused() {
        let l63 = "a".repeat(63);
        assert_eq!(ok(&format!("{l63}.fr")), format!("{l63}.fr"));
        assert_err!(
            format!("{}.fr", "a".repeat(64)).as_bytes(),
            HostError::LabelTooLong { len: 64, .. }
        );
    }

    /// Four labels of 63 plus three dots is 255; trim to hit the exact limits.
    fn name_of(len: usize) -> String {
        let mut labels = Vec::new();
        let mut left = len;
        while left > 0 {
            let take = left.min(63);
            labels.push("a".repeat(take));
            left = left.saturating_sub(take + 1);
        }
        let name = labels.join(".");
        assert!(!name.ends_with('.'));
        name
    }

    #[test]
    fn name_of_253_ok_254_refused() {
        let n253 = name_of(253);
        assert_eq!(n253.len(), 253);
        assert_eq!(ok(&n253), n253);
        assert_eq!(ok(&format!("{n253}.")), n253, "the root dot does not count");
        let n254 = name_of(254);
        assert_eq!(n254.len(), 254);
        assert_err!(n254.as_bytes(), HostError::TooLong { len: 254, .. });
    }

    #[test]
    fn huge_input_refused_early() {
        let big = "a".repeat(100_000);
        assert_err!(big.as_bytes(), HostError::TooLong { len: 100_000, .. });
    }

    #[test]
    fn unicode_name_too_long_after_punycode() {
        // 60 'é' encode to a punycode label longer than 63 bytes.
        let raw = format!("{}.fr", "é".repeat(60));
        let e = err(raw.as_bytes());
        assert!(
            matches!(e, HostError::LabelTooLong { .. } | HostError::Idna { .. }),
            "{e:?}"
        );
    }

    // --- characters ---

    #[test]
    fn forbidden_ascii_refused() {
        for raw in [
            "exa_mple.com",
            "example.com\\",
            "exa%2ample.com",
            "exa mple.com",
            " example.com",
            "example.com ",
            "exa\tmple.com",
            "exa*mple.com",
            "exa\"mple.com",
            "<script>",
        ] {
            assert_err!(raw.as_bytes(), HostError::InvalidChar { .. });
        }
    }

    #[test]
    fn hyphen_at_label_edges_refused() {
        assert_err!(b"-example.com", HostError::Hyphen { .. });
        assert_err!(b"example-.com", HostError::Hyphen { .. });
        assert_err!(b"example.-com", HostError::Hyphen { .. });
        assert_err!(b"-", HostError::Hyphen { .. });
    }

    #[test]
    fn userinfo_refused() {
        assert_err!(b"user@example.com", HostError::Userinfo { .. });
        assert_err!(b"user:pass@example.com", HostError::Userinfo { .. });
        assert_err!(b"@example.com", HostError::Userinfo { .. });
        assert_err!(b"user@[::1]", HostError::Userinfo { .. });
    }

    #[test]
    fn raw_non_utf8_refused() {
        assert_err!(b"caf\xe9.fr", HostError::InvalidUtf8 { .. });
        assert_err!(b"\xff\xfe", HostError::InvalidUtf8 { .. });
        assert_err!(b"\xc0\xae\xc0\xae", HostError::InvalidUtf8 { .. });
    }

    // --- IP literals ---

    #[test]
    fn ipv4_accepted() {
        assert_eq!(ok("127.0.0.1"), "127.0.0.1");
        assert_eq!(ok("192.0.2.1:8080"), "192.0.2.1");
        assert_eq!(ok("192.0.2.1."), "192.0.2.1");
    }

    #[test]
    fn numeric_but_not_ipv4_refused() {
        for raw in [
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "010.0.0.1",
            "4294967295",
            "example.123",
        ] {
            assert_err!(raw.as_bytes(), HostError::InvalidIpv4 { .. });
        }
    }

    #[test]
    fn ipv6_normalised() {
        assert_eq!(ok("[::1]"), "[::1]");
        assert_eq!(ok("[::1]:8080"), "[::1]");
        assert_eq!(ok("[::1]:"), "[::1]");
        assert_eq!(ok("[2001:DB8:0:0:0:0:0:1]"), "[2001:db8::1]");
        assert_eq!(ok("[2001:0db8::0001]:443"), "[2001:db8::1]");
        assert_eq!(ok("[::FFFF:192.0.2.1]"), "[::ffff:192.0.2.1]");
    }

    // --- from_request ---

    #[test]
    fn from_request_authority_wins() {
        let h = Host::from_request(Some("Example.com:443"), &[b"other.com", b"x.com"]);
        assert_eq!(h.map(|h| h.0), Ok("example.com".to_owned()));
        let h = Host::from_request(Some("example.com"), &[]);
        assert_eq!(h.map(|h| h.0), Ok("example.com".to_owned()));
    }

    #[test]
    fn from_request_authority_with_userinfo_refused() {
        assert!(matches!(
            Host::from_request(Some("user@example.com"), &[b"example.com"]),
            Err(HostError::Userinfo { .. })
        ));
        assert!(matches!(
            Host::from_request(Some(""), &[b"example.com"]),
            Err(HostError::Empty { .. })
        ));
    }

    #[test]
    fn from_request_needs_exactly_one_host() {
        assert_eq!(Host::from_request(None, &[]), Err(HostError::Missing));
        let h = Host::from_request(None, &[b"Boulangerie-Martin.fr"]);
        assert_eq!(h.map(|h| h.0), Ok("boulangerie-martin.fr".to_owned()));
        assert!(matches!(
            Host::from_request(None, &[b""]),
            Err(HostError::Empty { .. })
        ));
    }

    // --- messages ---

    #[test]
    fn error_message_quotes_and_escapes_input() {
        let msg = err(b"exa\x01mple\xff.com").to_string();
        assert!(msg.contains("exa\\u{1}mple\\xff.com"), "{msg}");
        let msg = err(b"evil\r\n.com").to_string();
        assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
    }

    #[test]
    fn error_message_truncated() {
        let raw = format!("{}_", "a".repeat(500));
        let msg = err(raw.as_bytes()).to_string();
        assert!(msg.len() < 250, "{} bytes: {msg}", msg.len());
        assert!(msg.contains('…'));
    }

    #[test]
    fn display_and_as_str() {
        let h = Host::parse(b"Example.com").unwrap();
        assert_eq!(h.to_string(), "example.com");
        assert_eq!(h.as_str(), "example.com");
        assert_eq!(h.as_ref(), "example.com");
    }

    // --- idempotence ---

    #[test]
    fn idempotent_on_accepted_examples() {
        for raw in [
            "L",
            "abcd-ef.g02.xyz:",
            "Example.COM:8080",
            "www.exemple.fr.",
            "pâtisserie-dupont.fr",
            "ｅｘａｍｐｌｅ。fr",
            "XN--PTISSERIE-DUPONT-WMB.FR",
            "127.0.0.1:80",
            "[2001:DB8::0:1]:443",
            "[::ffff:1.2.3.4]",
            "straße.de",
            "日本語.jp",
        ] {
            let first = Host::parse(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let again = Host::parse(first.as_str().as_bytes());
            assert_eq!(again.as_ref(), Ok(&first), "{raw}");
        }
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn check_invariant(h: &Host) {
            let s = h.as_str();
            if s.starts_with('[') {
                assert!(s.ends_with(']'));
                assert!(s[1..s.len() - 1].parse::<Ipv6Addr>().is_ok());
            } else {
                assert!(!s.is_empty() && s.len() <= MAX_NAME_LEN, "{s}");
                for label in s.split('.') {
                    assert!(!label.is_empty() && label.len() <= MAX_LABEL_LEN, "{s}");
                    assert!(label
                        .bytes()
                        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-')));
                    assert!(!label.starts_with('-') && !label.ends_with('-'), "{s}");
                }
            }
            assert_eq!(
                Host::parse(s.as_bytes()).as_ref(),
                Ok(h),
                "not idempotent: {s}"
            );
        }

        proptest! {
            #[test]
            fn total_on_any_bytes(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
                if let Ok(h) = Host::parse(&raw) {
                    check_invariant(&h);
                }
            }

            #[test]
            fn total_on_host_like_strings(
                raw in "[a-zA-Z0-9.:\\-\\[\\]_@/%éÂß日。ｅ]{0,80}"
            ) {
                if let Ok(h) = Host::parse(raw.as_bytes()) {
                    check_invariant(&h);
                }
            }

            #[test]
            fn accepts_plausible_names(
                labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 1..5),
                port in proptest::option::of(1u16..),
            ) {
                let name = labels.join(".");
                let numeric_tld = labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
                prop_assume!(!numeric_tld);
                let raw = match port {
                    Some(p) => format!("{}:{p}", name.to_ascii_uppercase()),
                    None => name.clone(),
                };
                let host = Host::parse(raw.as_bytes());
                if labels.iter().any(|l| l.starts_with("xn--")) {
                    // Random xn-- payloads are rarely valid punycode; only totality matters.
                    return Ok(());
                }
                prop_assert_eq!(host.map(|h| h.0), Ok(name));
            }

            #[test]
            fn ipv6_any_address(addr in any::<Ipv6Addr>(), port in proptest::option::of(any::<u16>())) {
                let raw = match port {
                    Some(p) => format!("[{addr}]:{p}"),
                    None => format!("[{addr}]"),
                };
                match Host::parse(raw.as_bytes()) {
                    Ok(h) => {
                        prop_assert_eq!(h.as_str(), format!("[{addr}]"));
                        check_invariant(&h);
                    }
                    Err(e) => prop_assert_eq!(port, Some(0), "{}", e),
                }
            }
        }
    }
}
