//! Back-office records: one professional per JSON line, the exporter's input format.
//!
//! This module owns the record types (serde, `deny_unknown_fields`, so a misspelt field is an
//! error rather than silently dropped), the decoding of one line with the JSON path of a
//! syntax or type error ([`parse_line`]), and the rules a record must satisfy before it becomes a
//! site XML ([`Record::check`]), each problem named by its field path
//! (`pages[1].sections[0].blocks[2].services[0].price.amount`). The rules are those of the
//! data contract (README, "The data contract" and "Back-office records"), checked here so that
//! the operator gets a field path instead of a RELAX NG message about the generated XML.
//!
//! Nothing here parses markup: inline text is plain strings and runs
//! (`"text"`, `{"em": …}`, `{"strong": …}`, `{"a": …, "href": "…"}`), so a `<` typed in the back
//! office is a `<` on the page.

mod decode;
mod limits;
mod serde_impl;
mod types;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use crate::render::valid_theme_name;
use crate::site::Host;

pub use decode::{parse_line, sniff_id, FieldError, RecordError};
pub use limits::{
    MAX_BLOCKS, MAX_DOMAINS, MAX_INLINE_CHARS, MAX_INLINE_DEPTH, MAX_ITEMS, MAX_LINE_BYTES,
    MAX_LINE_CHARS, MAX_PAGES, MAX_PROBLEMS, MAX_SECTIONS, MAX_SMALL, RESERVED_PAGE_IDS,
};
pub use types::{
    Address, Block, Closure, Contact, Country, Day, Decimal, Geo, Hours, Identity, Inline, Legal,
    Logo, Page, Period, Phone, PhoneKind, Photo, Price, Record, Registration, Run, Section,
    Service, Video, VideoType,
};

// ---------------------------------------------------------------------------------------
// Checking a record
// ---------------------------------------------------------------------------------------

/// What a record is checked against beyond its own content: the themes that exist.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    themes: BTreeSet<String>,
}

impl Rules {
    /// The themes (`NAME.xsl`) directly inside a stylesheets folder.
    pub fn from_stylesheets(dir: &Path) -> std::io::Result<Rules> {
        let mut themes = BTreeSet::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str().and_then(|n| n.strip_suffix(".xsl")) else {
                continue;
            };
            if valid_theme_name(name) && entry.file_type()?.is_file() {
                themes.insert(name.to_owned());
            }
        }
        Ok(Rules { themes })
    }

    /// Rules with an explicit theme list.
    pub fn with_themes<I: IntoIterator<Item = S>, S: Into<String>>(themes: I) -> Rules {
        Rules {
            themes: themes.into_iter().map(Into::into).collect(),
        }
    }

    /// The known themes.
    pub fn themes(&self) -> impl Iterator<Item = &str> {
        self.themes.iter().map(String::as_str)
    }
}

/// Collects problems with their paths, up to [`MAX_PROBLEMS`].
struct Checker {
    path: Vec<String>,
    problems: Vec<FieldError>,
    more: usize,
}

impl Checker {
    fn at<T>(&mut self, segment: impl Into<String>, f: impl FnOnce(&mut Checker) -> T) -> T {
        self.path.push(segment.into());
        let out = f(self);
        self.path.pop();
        out
    }

    fn path(&self) -> String {
        let mut out = String::new();
        for seg in &self.path {
            if !seg.starts_with('[') && !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
        out
    }

    fn fail(&mut self, reason: impl Into<String>) {
        if self.problems.len() < MAX_PROBLEMS {
            let path = self.path();
            self.problems.push(FieldError {
                path,
                reason: reason.into(),
            });
        } else {
            self.more += 1;
        }
    }

    fn field(&mut self, name: &str, reason: impl Into<String>) {
        self.at(name, |c| c.fail(reason));
    }

    /// Characters no XML file may carry (C0/C1 controls, U+FFFE/U+FFFF), with `\n` and `\t`
    /// allowed only where `multiline`.
    fn clean(&mut self, s: &str, multiline: bool) -> bool {
        let bad = s.chars().find(|&c| {
            (c.is_control() && !(multiline && (c == '\n' || c == '\t')))
                || c == '\u{FFFE}'
                || c == '\u{FFFF}'
        });
        match bad {
            Some(c) => {
                self.fail(format!(
                    "control character U+{:04X} is not allowed{}",
                    c as u32,
                    if multiline {
                        " (only newline and tab are, in running text)"
                    } else {
                        ""
                    }
                ));
                false
            }
            None => true,
        }
    }

    /// A required single-line text.
    fn line(&mut self, name: &str, s: &str) {
        self.at(name, |c| c.line_here(s));
    }

    fn line_here(&mut self, s: &str) {
        if !self.clean(s, false) {
            return;
        }
        if s.trim().is_empty() {
            self.fail("must not be empty or blank");
        } else if s.chars().count() > MAX_LINE_CHARS {
            self.fail(format!(
                "{} characters, at most {MAX_LINE_CHARS}",
                s.chars().count()
            ));
        }
    }

    fn opt_line(&mut self, name: &str, s: &Option<String>) {
        if let Some(s) = s {
            self.line(name, s);
        }
    }

    fn pattern(&mut self, name: &str, s: &str, ok: bool, expected: &str) {
        if !ok {
            self.at(name, |c| {
                if c.clean(s, false) {
                    c.fail(format!("{:?} is not {expected}", shorten(s)));
                }
            });
        }
    }

    fn count(&mut self, name: &str, n: usize, min: usize, max: usize) -> bool {
        if n < min {
            self.field(
                name,
                if min == 1 {
                    "must have at least one entry".to_owned()
                } else {
                    format!("must have at least {min} entries")
                },
            );
            false
        } else if n > max {
            self.field(name, format!("{n} entries, at most {max}"));
            false
        } else {
            true
        }
    }

    fn pixels(&mut self, name: &str, v: Option<u32>) {
        if let Some(v) = v {
            if !(1..=10_000).contains(&v) {
                self.field(name, format!("{v} pixels is not in 1..=10000"));
            }
        }
    }

    fn media(&mut self, name: &str, src: &str) {
        self.pattern(
            name,
            src,
            valid_media_src(src),
            "a file name in the site's media/ folder (letters, digits, `_.-`, sub-folders \
             with `/`, no `..`, at most 255 bytes)",
        );
    }

    /// Inline text; returns its character count. `in_link` forbids nested links.
    fn inline(&mut self, inline: &Inline, depth: usize, in_link: bool, pages: &[&str]) -> usize {
        let mut chars = 0;
        if depth > MAX_INLINE_DEPTH {
            self.fail(format!("runs nested deeper than {MAX_INLINE_DEPTH}"));
            return 0;
        }
        // A plain string decodes to one text run: its problems are at the field itself.
        let plain = matches!(inline.0.as_slice(), [Run::Text(_)]);
        for (i, run) in inline.0.iter().enumerate() {
            let seg = if plain {
                String::new()
            } else {
                format!("[{i}]")
            };
            let check = |c: &mut Checker| match run {
                Run::Text(t) => {
                    c.clean(t, true);
                    t.chars().count()
                }
                Run::Em(inner) => c.at("em", |c| c.nonempty_inline(inner, depth, in_link, pages)),
                Run::Strong(inner) => c.at("strong", |c| {
                    c.nonempty_inline(inner, depth, in_link, pages)
                }),
                Run::Link { label, href } => {
                    if in_link {
                        c.fail("a link inside a link is not allowed");
                        return 0;
                    }
                    c.at("href", |c| c.href(href, pages));
                    c.at("a", |c| c.nonempty_inline(label, depth, true, pages))
                }
            };
            chars += if seg.is_empty() {
                check(self)
            } else {
                self.at(seg, check)
            };
        }
        chars
    }

    fn nonempty_inline(
        &mut self,
        inline: &Inline,
        depth: usize,
        in_link: bool,
        pages: &[&str],
    ) -> usize {
        if inline_is_blank(inline) {
            self.fail("must not be empty or blank");
        }
        self.inline(inline, depth + 1, in_link, pages)
    }

    /// A paragraph, list item or description.
    fn running_text(&mut self, inline: &Inline, pages: &[&str]) {
        if inline_is_blank(inline) {
            self.fail("must not be empty or blank");
            return;
        }
        let chars = self.inline(inline, 0, false, pages);
        if chars > MAX_INLINE_CHARS {
            self.fail(format!("{chars} characters, at most {MAX_INLINE_CHARS}"));
        }
    }

    fn href(&mut self, href: &str, pages: &[&str]) {
        if !self.clean(href, false) {
            return;
        }
        match check_href(href, pages) {
            Ok(()) => {}
            Err(reason) => self.fail(reason),
        }
    }
}

fn inline_is_blank(inline: &Inline) -> bool {
    inline.0.iter().all(|run| match run {
        Run::Text(t) => t.trim().is_empty(),
        Run::Em(i) | Run::Strong(i) => inline_is_blank(i),
        Run::Link { label, .. } => inline_is_blank(label),
    })
}

fn shorten(s: &str) -> String {
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

fn valid_lang(s: &str) -> bool {
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

fn valid_time(s: &str) -> bool {
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

fn valid_date(s: &str) -> bool {
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
fn valid_decimal(s: &str, max_frac: usize, min: f64, max: f64) -> bool {
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

fn valid_email(s: &str) -> bool {
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

fn valid_e164(s: &str) -> bool {
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
fn check_href(href: &str, pages: &[&str]) -> Result<(), String> {
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

impl Record {
    /// Checks every rule of the contract and normalises the domains in place (lower case,
    /// IDN to punycode, trailing dot removed). On failure, lists the first problems.
    pub fn check(&mut self, rules: &Rules) -> Result<(), RecordError> {
        let mut c = Checker {
            path: Vec::new(),
            problems: Vec::new(),
            more: 0,
        };
        if !valid_slug(&self.id) {
            c.at("id", |c| {
                if c.clean(&self.id, false) {
                    c.fail(format!(
                        "{:?} is not a site id: `[a-z0-9][a-z0-9-]*`, at most 63 characters",
                        shorten(&self.id)
                    ))
                }
            });
        }
        if !valid_theme_name(&self.theme) {
            c.pattern(
                "theme",
                &self.theme,
                false,
                "a theme name: `[a-z0-9][a-z0-9-]*`",
            );
        } else if !rules.themes.contains(&self.theme) {
            let known = rules.themes().collect::<Vec<_>>().join(", ");
            c.field(
                "theme",
                format!(
                    "theme {:?} does not exist in the stylesheets folder (known: {known})",
                    self.theme
                ),
            );
        }
        c.pattern(
            "lang",
            &self.lang,
            valid_lang(&self.lang),
            "a language tag such as fr, en or fr-CA",
        );
        self.check_domains(&mut c);
        c.at("identity", |c| check_identity(c, &self.identity));
        c.at("contact", |c| check_contact(c, &self.contact));
        if let Some(hours) = &self.hours {
            c.at("hours", |c| check_hours(c, hours));
        }
        let page_ids: Vec<&str> = self.pages.iter().map(|p| p.id.as_str()).collect();
        if c.count("pages", self.pages.len(), 1, MAX_PAGES) {
            let mut seen = HashSet::new();
            for (i, page) in self.pages.iter().enumerate() {
                c.at("pages", |c| {
                    c.at(format!("[{i}]"), |c| {
                        check_page(c, page, &page_ids);
                        if !seen.insert(page.id.as_str()) {
                            c.field("id", format!("page id {:?} is used twice", page.id));
                        }
                    })
                });
            }
        }
        if c.problems.is_empty() {
            return Ok(());
        }
        if c.more > 0 {
            c.problems.push(FieldError {
                path: String::new(),
                reason: format!("and {} more problems", c.more),
            });
        }
        Err(RecordError::Invalid {
            problems: c.problems,
        })
    }

    fn check_domains(&mut self, c: &mut Checker) {
        if !c.count("domains", self.domains.len(), 1, MAX_DOMAINS) {
            return;
        }
        let mut seen = HashSet::new();
        for (i, raw) in self.domains.iter_mut().enumerate() {
            c.at("domains", |c| {
                c.at(format!("[{i}]"), |c| {
                    if !c.clean(raw, false) {
                        return;
                    }
                    match normalise_domain(raw) {
                        Ok(norm) => {
                            if !seen.insert(norm.clone()) {
                                c.fail(format!("{norm} is listed twice"));
                            }
                            *raw = norm;
                        }
                        Err(reason) => c.fail(reason),
                    }
                })
            });
        }
    }

    /// The main domain (the first), once checked.
    pub fn main_domain(&self) -> &str {
        self.domains.first().map(String::as_str).unwrap_or("")
    }
}

fn check_identity(c: &mut Checker, id: &Identity) {
    c.line("name", &id.name);
    c.line("activity", &id.activity);
    if let Some(s) = &id.schema_type {
        let ok = (2..=50).contains(&s.len())
            && s.as_bytes()[0].is_ascii_uppercase()
            && s.bytes().all(|b| b.is_ascii_alphabetic());
        c.pattern(
            "schema_type",
            s,
            ok,
            "a schema.org type such as Bakery or Plumber",
        );
    }
    if let Some(s) = &id.accent {
        let ok =
            s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
        c.pattern("accent", s, ok, "a colour #rrggbb");
    }
    c.opt_line("slogan", &id.slogan);
    if let Some(logo) = &id.logo {
        c.at("logo", |c| {
            c.media("src", &logo.src);
            c.line("alt", &logo.alt);
            c.pixels("width", logo.width);
            c.pixels("height", logo.height);
        });
    }
    let l = &id.legal;
    c.at("legal", |c| {
        c.line("company", &l.company);
        c.opt_line("form", &l.form);
        c.at("registration", |c| {
            c.opt_line("kind", &l.registration.kind);
            c.line("number", &l.registration.number);
        });
        c.opt_line("vat", &l.vat);
        c.opt_line("director", &l.director);
        c.opt_line("profession", &l.profession);
        c.opt_line("insurance", &l.insurance);
        c.opt_line("host", &l.host);
    });
}

fn check_contact(c: &mut Checker, contact: &Contact) {
    if c.count("phones", contact.phones.len(), 0, MAX_SMALL) {
        for (i, phone) in contact.phones.iter().enumerate() {
            c.at("phones", |c| {
                c.at(format!("[{i}]"), |c| {
                    c.pattern(
                        "number",
                        &phone.number,
                        valid_e164(&phone.number),
                        "an E.164 number such as +33142000000",
                    );
                    c.line("display", &phone.display);
                })
            });
        }
    }
    if let Some(email) = &contact.email {
        c.pattern("email", email, valid_email(email), "an e-mail address");
    }
    let a = &contact.address;
    c.at("address", |c| {
        if c.count("street", a.street.len(), 1, MAX_SMALL) {
            for (i, s) in a.street.iter().enumerate() {
                c.at("street", |c| c.at(format!("[{i}]"), |c| c.line_here(s)));
            }
        }
        let ok = (2..=10).contains(&a.postcode.len())
            && a.postcode
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-');
        c.pattern(
            "postcode",
            &a.postcode,
            ok,
            "a postcode (2 to 10 letters, digits, spaces, hyphens)",
        );
        c.line("city", &a.city);
        c.at("country", |c| {
            let ok =
                a.country.code.len() == 2 && a.country.code.bytes().all(|b| b.is_ascii_uppercase());
            c.pattern(
                "code",
                &a.country.code,
                ok,
                "an ISO 3166-1 alpha-2 code such as FR",
            );
            c.line("name", &a.country.name);
        });
        if let Some(geo) = &a.geo {
            c.at("geo", |c| {
                c.pattern(
                    "lat",
                    &geo.lat.0,
                    valid_decimal(&geo.lat.0, 12, -90.0, 90.0),
                    "a latitude in -90..90",
                );
                c.pattern(
                    "lon",
                    &geo.lon.0,
                    valid_decimal(&geo.lon.0, 12, -180.0, 180.0),
                    "a longitude in -180..180",
                );
            });
        }
    });
}

fn check_hours(c: &mut Checker, hours: &Hours) {
    for (name, day) in hours.days() {
        let Day::Open(periods) = day else { continue };
        c.at(name, |c| {
            if periods.is_empty() {
                c.fail("an open day has at least one period; write \"closed\" otherwise");
            }
            for (i, p) in periods.iter().enumerate() {
                c.at(format!("[{i}]"), |c| {
                    let text = format!("{}-{}", p.from, p.to);
                    if !c.clean(&text, false) {
                    } else if !valid_time(&p.from) || !valid_time(&p.to) || p.from == "24:00" {
                        c.fail(format!(
                            "{:?} is not a period HH:MM-HH:MM (00:00 to 24:00)",
                            shorten(&text)
                        ));
                    } else if p.from >= p.to {
                        c.fail(format!(
                            "{text}: the period ends before it starts; split a period past \
                             midnight over two days"
                        ));
                    }
                })
            }
        });
    }
    c.opt_line("note", &hours.note);
    if c.count("closures", hours.closures.len(), 0, MAX_ITEMS) {
        for (i, cl) in hours.closures.iter().enumerate() {
            c.at("closures", |c| {
                c.at(format!("[{i}]"), |c| {
                    c.pattern("from", &cl.from, valid_date(&cl.from), "a date YYYY-MM-DD");
                    if let Some(to) = &cl.to {
                        if !valid_date(to) {
                            c.pattern("to", to, false, "a date YYYY-MM-DD");
                        } else if valid_date(&cl.from) && to < &cl.from {
                            c.field("to", format!("{to} is before from ({})", cl.from));
                        }
                    }
                    c.line("reason", &cl.reason);
                })
            });
        }
    }
}

fn check_page(c: &mut Checker, page: &Page, pages: &[&str]) {
    if !valid_slug(&page.id) {
        c.pattern(
            "id",
            &page.id,
            false,
            "a page id: `[a-z0-9][a-z0-9-]*`, at most 63 characters",
        );
    } else if RESERVED_PAGE_IDS.contains(&page.id.as_str()) {
        c.field(
            "id",
            format!(
                "{:?} is reserved by the publisher ({})",
                page.id,
                RESERVED_PAGE_IDS.join(", ")
            ),
        );
    }
    c.line("title", &page.title);
    c.opt_line("description", &page.description);
    if !c.count("sections", page.sections.len(), 1, MAX_SECTIONS) {
        return;
    }
    for (i, section) in page.sections.iter().enumerate() {
        c.at("sections", |c| {
            c.at(format!("[{i}]"), |c| {
                c.opt_line("title", &section.title);
                if !c.count("blocks", section.blocks.len(), 1, MAX_BLOCKS) {
                    return;
                }
                for (j, block) in section.blocks.iter().enumerate() {
                    c.at("blocks", |c| {
                        c.at(format!("[{j}]"), |c| check_block(c, block, pages))
                    });
                }
            })
        });
    }
}

fn check_photo(c: &mut Checker, photo: &Photo) {
    c.media("src", &photo.src);
    c.line("alt", &photo.alt);
    c.pixels("width", photo.width);
    c.pixels("height", photo.height);
    c.opt_line("caption", &photo.caption);
}

fn check_block(c: &mut Checker, block: &Block, pages: &[&str]) {
    match block {
        Block::P(inline) => c.at("p", |c| c.running_text(inline, pages)),
        Block::List(items) => c.at("list", |c| {
            if c.count("", items.len(), 1, MAX_ITEMS) {
                for (i, item) in items.iter().enumerate() {
                    c.at(format!("[{i}]"), |c| c.running_text(item, pages));
                }
            }
        }),
        Block::Services(services) => c.at("services", |c| {
            if !c.count("", services.len(), 1, MAX_ITEMS) {
                return;
            }
            for (i, s) in services.iter().enumerate() {
                c.at(format!("[{i}]"), |c| {
                    c.line("name", &s.name);
                    if let Some(d) = &s.description {
                        c.at("description", |c| c.running_text(d, pages));
                    }
                    if let Some(p) = &s.price {
                        c.at("price", |c| check_price(c, p));
                    }
                });
            }
        }),
        Block::Gallery(photos) => c.at("gallery", |c| {
            if c.count("", photos.len(), 1, MAX_ITEMS) {
                for (i, p) in photos.iter().enumerate() {
                    c.at(format!("[{i}]"), |c| check_photo(c, p));
                }
            }
        }),
        Block::Photo(p) => c.at("photo", |c| check_photo(c, p)),
        Block::Video(v) => c.at("video", |c| {
            c.media("src", &v.src);
            if let Some(poster) = &v.poster {
                c.media("poster", poster);
            }
            c.pixels("width", v.width);
            c.pixels("height", v.height);
            c.opt_line("caption", &v.caption);
        }),
    }
}

fn check_price(c: &mut Checker, p: &Price) {
    match (&p.amount, p.on_request) {
        (Some(_), true) => c.fail("either an amount or on_request, not both"),
        (None, false) => c.fail("needs an amount, or on_request: true"),
        (None, true) => {
            if p.currency.is_some() || p.unit.is_some() || p.from {
                c.fail("a price on request has no currency, unit or from");
            }
        }
        (Some(amount), false) => {
            c.pattern(
                "amount",
                &amount.0,
                !amount.0.starts_with('-') && valid_decimal(&amount.0, 2, 0.0, 1e9),
                "an amount such as 12 or 1.30 (dot separator, at most two decimals, 0 to 10^9)",
            );
            if let Some(cur) = &p.currency {
                let ok = cur.len() == 3 && cur.bytes().all(|b| b.is_ascii_uppercase());
                c.pattern("currency", cur, ok, "an ISO 4217 code such as EUR");
            }
            c.opt_line("unit", &p.unit);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
