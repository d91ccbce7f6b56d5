//! The rules of the data contract that a decoded record must satisfy before it becomes a
//! site XML: [`Record::check`], part by part (identity, contact, hours, pages and their
//! blocks), against [`Rules`], what exists beyond the record itself (the themes).

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use super::checker::Checker;
use super::decode::{FieldError, RecordError};
use super::formats::{
    normalise_domain, shorten, valid_date, valid_decimal, valid_e164, valid_email, valid_lang,
    valid_slug, valid_time,
};
use super::limits::{
    MAX_BLOCKS, MAX_DOMAINS, MAX_ITEMS, MAX_PAGES, MAX_SECTIONS, MAX_SMALL, RESERVED_PAGE_IDS,
};
use super::types::{Block, Contact, Day, Hours, HttpsPolicy, Identity, Page, Photo, Price, Record};
use crate::render::valid_theme_name;

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
        c.at("https", |c| check_https(c, &self.https));
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

/// Longest HSTS max-age accepted: two years, the longest any browser's preload list asks for.
pub const MAX_HSTS_MAX_AGE: u32 = 63_072_000;

fn check_https(c: &mut Checker, https: &HttpsPolicy) {
    match https.hsts_max_age {
        Some(age) if age > MAX_HSTS_MAX_AGE => c.field(
            "hsts_max_age",
            format!(
                "{age} s is longer than two years ({MAX_HSTS_MAX_AGE} s); browsers would keep \
                 refusing plain HTTP that long"
            ),
        ),
        None if https.hsts_include_subdomains => c.field(
            "hsts_include_subdomains",
            "needs hsts_max_age (HSTS is off without it)",
        ),
        _ => {}
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
