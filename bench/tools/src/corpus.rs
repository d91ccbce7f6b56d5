//! Synthetic back-office records: `vitrine-bench gen-corpus` writes one JSON line per
//! professional, built as [`Record`] values and serialised by serde, which `vitrine export`
//! turns into the benchmark's site XML files and domain map.
//!
//! The model (word bank in [`bank`]):
//!
//! * **Trades** ([`bank::ACTIVITIES_FR`]): restaurants, hairdressers, bakeries, plumbers,
//!   electricians, garages, physiotherapists, lawyers, dentists, florists, architects... with
//!   their schema.org type, price lists and price ranges, photo subjects and opening-hours
//!   pattern, drawn with a Zipf law (exponent [`ACTIVITY_ZIPF`]) over a most-frequent-first
//!   list. [`ENGLISH_SHARE`] of the sites are English-language UK businesses (prices in GBP,
//!   UK postcodes, Ofcom drama phone numbers).
//! * **Places**: French cities by population, drawn with a Zipf law ([`CITY_ZIPF`]), with
//!   district postcodes for Paris, Lyon and Marseille and coordinates jittered around the
//!   centre; street numbers and names; phone numbers in the city's zone.
//! * **Themes**: `classic`, `modern`, `light` with a Zipf law of exponent 1 (55 %, 27 %, 18 %).
//! * **Pages**: 2 to 7 (the home page, then a price page, about, team, gallery, news,
//!   questions, contact); paragraphs assembled from sentences of the trade and of the
//!   language; 0 to 12 photos per site (media names such as `photos/four-2.jpg`), a video on a
//!   few; a "richness" factor per site (log-normal) scales paragraphs and price lists, which
//!   puts the exported XML files between about 3 and 20 KB.
//! * **Hours**: the seven days with lunch breaks where the trade has them, closed days,
//!   notes, and 0 to 3 closures (summer leave, Christmas, bank holidays, stocktaking).
//! * **Identity and domains**: ids `NAME-CITY-00042` and main domains `NAME-CITY-42.fr`
//!   carry the site's number, so both are unique across the corpus by construction, with no
//!   global state; some sites add `www.`, a second TLD, an IDN (names with accents, written
//!   in punycode as a request Host is normalised) or an old domain.
//!
//! Every record depends only on the seed and its number (each has its own xoshiro256++
//! stream), so the same seed gives the same bytes, a smaller `--count` gives a prefix of a
//! larger one, and memory stays flat whatever the count: records are generated and written
//! one at a time. No media files are written: media requests of a benchmark against this
//! corpus answer 404.

pub mod bank;

use std::io::{self, Write};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use vitrine::export::record::{
    Address, Block, Closure, Contact, Country, Day, Decimal, Geo, Hours, Identity, Inline, Legal,
    Logo, Page, Period, Phone, PhoneKind, Photo, Price, Record, Registration, Run, Section,
    Service, Video, VideoType,
};
use vitrine::site::Host;

use self::bank::{Activity, City, Group, Kind, Svc, Words};
use crate::args::GenCorpusArgs;
use crate::loggen::{pick, range, write_output, Zipf};
use crate::BenchError;

/// Themes, most used first.
pub const THEMES: [&str; 3] = ["classic", "modern", "light"];
/// Share of English-language (UK) sites.
pub const ENGLISH_SHARE: f64 = 0.03;
/// Zipf exponent of trade frequency.
pub const ACTIVITY_ZIPF: f64 = 0.6;
/// Zipf exponent of city frequency (close to the rank-size law of city populations, flattened
/// because small towns have more businesses per inhabitant).
pub const CITY_ZIPF: f64 = 0.8;

/// What was generated, for the summary line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpusSummary {
    /// Records written.
    pub records: u64,
    /// Bytes of JSON written (before compression).
    pub bytes: u64,
    /// Sites per theme, in [`THEMES`] order.
    pub themes: [u64; 3],
    /// English-language sites.
    pub english: u64,
    /// Domains in all.
    pub domains: u64,
    /// Sites with more than one domain.
    pub multi_domain: u64,
    /// Sites with an IDN domain.
    pub idn: u64,
    /// Pages in all.
    pub pages: u64,
    /// Photos in all (galleries and single photos; logos and video posters apart).
    pub photos: u64,
}

impl CorpusSummary {
    fn add(&mut self, r: &Record, bytes: usize) {
        self.records += 1;
        self.bytes += bytes as u64;
        if let Some(i) = THEMES.iter().position(|t| *t == r.theme) {
            self.themes[i] += 1;
        }
        self.english += u64::from(r.lang == "en");
        self.domains += r.domains.len() as u64;
        self.multi_domain += u64::from(r.domains.len() > 1);
        self.idn += u64::from(r.domains.iter().any(|d| d.contains("xn--")));
        self.pages += r.pages.len() as u64;
        self.photos += photo_count(r) as u64;
    }
}

/// Photos of a record: gallery entries and single photos.
pub fn photo_count(r: &Record) -> usize {
    r.pages
        .iter()
        .flat_map(|p| &p.sections)
        .flat_map(|s| &s.blocks)
        .map(|b| match b {
            Block::Gallery(g) => g.len(),
            Block::Photo(_) => 1,
            _ => 0,
        })
        .sum()
}

/// The corpus: an iterator over `count` records for one seed.
#[derive(Debug, Clone)]
pub struct Corpus {
    seed: u64,
    count: u64,
    next: u64,
    width: usize,
    themes: Zipf,
    activities_fr: Zipf,
    activities_en: Zipf,
    cities_fr: Zipf,
    cities_uk: Zipf,
}

impl Corpus {
    /// The `count` records of `seed`.
    pub fn new(count: u64, seed: u64) -> Corpus {
        Corpus {
            seed,
            count,
            next: 0,
            width: count.to_string().len().max(5),
            themes: Zipf::new(THEMES.len(), 1.0),
            activities_fr: Zipf::new(bank::ACTIVITIES_FR.len(), ACTIVITY_ZIPF),
            activities_en: Zipf::new(bank::ACTIVITIES_EN.len(), ACTIVITY_ZIPF),
            cities_fr: Zipf::new(bank::CITIES_FR.len(), CITY_ZIPF),
            cities_uk: Zipf::new(bank::CITIES_UK.len(), 1.0),
        }
    }

    /// Record number `n` (1-based: the number in its id).
    pub fn record(&self, n: u64) -> Record {
        // seed_from_u64 runs its input through SplitMix64, so neighbouring inputs give
        // unrelated streams; the odd multiplier keeps (seed, n) pairs apart.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            self.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(n),
        );
        let english = rng.random::<f64>() < ENGLISH_SHARE;
        let (words, act, city) = if english {
            let a = &bank::ACTIVITIES_EN[self.activities_en.sample(rng.random())];
            let c = &bank::CITIES_UK[self.cities_uk.sample(rng.random())];
            (&bank::EN, a, c)
        } else {
            let a = &bank::ACTIVITIES_FR[self.activities_fr.sample(rng.random())];
            let c = &bank::CITIES_FR[self.cities_fr.sample(rng.random())];
            (&bank::FR, a, c)
        };
        let theme = THEMES[self.themes.sample(rng.random())];
        let mut site = Site::new(rng, n, self.width, words, act, city, english);
        site.record(theme)
    }
}

impl Iterator for Corpus {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.next == self.count {
            return None;
        }
        self.next += 1;
        Some(self.record(self.next))
    }
}

/// Writes `count` records of `seed` as JSON Lines into `w`.
pub fn write_corpus(count: u64, seed: u64, w: &mut dyn Write) -> io::Result<CorpusSummary> {
    let mut summary = CorpusSummary::default();
    let mut line = Vec::with_capacity(64 * 1024);
    for record in Corpus::new(count, seed) {
        line.clear();
        serde_json::to_writer(&mut line, &record)?;
        line.push(b'\n');
        w.write_all(&line)?;
        summary.add(&record, line.len());
    }
    Ok(summary)
}

/// Runs `vitrine-bench gen-corpus`: writes the records, prints a summary on standard error.
pub fn generate(args: &GenCorpusArgs) -> Result<CorpusSummary, BenchError> {
    if args.count == 0 {
        return Err(BenchError::Argument {
            option: "--count",
            reason: "must be at least 1".into(),
        });
    }
    let s = write_output(&args.output, |w| write_corpus(args.count, args.seed, w))?;
    eprintln!(
        "wrote {} records ({:.1} MB of JSON) to {}: themes classic {} / modern {} / light {}, \
         {} English, {} domains ({} sites with several, {} with an IDN), {} pages, {} photos",
        s.records,
        s.bytes as f64 / 1e6,
        args.output.display(),
        s.themes[0],
        s.themes[1],
        s.themes[2],
        s.english,
        s.domains,
        s.multi_domain,
        s.idn,
        s.pages,
        s.photos
    );
    Ok(s)
}

// ---------------------------------------------------------------------------------------
// One site
// ---------------------------------------------------------------------------------------

/// The pages a site may have, in the order they appear in its menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PageKind {
    Home,
    Prices,
    About,
    Team,
    Gallery,
    News,
    Faq,
    Contact,
}

/// Relative frequency of 2, 3, ... 7 pages.
const PAGE_COUNTS: [u64; 6] = [14, 24, 24, 18, 12, 8];

/// The state of one record being built.
struct Site {
    rng: Xoshiro256PlusPlus,
    n: u64,
    width: usize,
    w: &'static Words,
    act: &'static Activity,
    city: &'static City,
    english: bool,
    first: &'static str,
    surname: &'static str,
    name: String,
    year: u32,
    /// Scales paragraphs and price lists (log-normal around 1).
    rich: f64,
    /// Page ids and titles, in order.
    pages: Vec<(PageKind, String, String)>,
    /// Media names used so far (unique within the site).
    media: Vec<String>,
    /// Sentences used so far, so a site does not repeat itself.
    used: Vec<&'static str>,
    phone: Option<(String, String)>,
    email: Option<String>,
    street: String,
    postcode: String,
}

impl Site {
    fn new(
        mut rng: Xoshiro256PlusPlus,
        n: u64,
        width: usize,
        w: &'static Words,
        act: &'static Activity,
        city: &'static City,
        english: bool,
    ) -> Site {
        let (firsts, surnames) = if english {
            (bank::FIRST_EN, bank::SURNAMES_EN)
        } else {
            (bank::FIRST_FR, bank::SURNAMES_FR)
        };
        let first = *pick(&mut rng, firsts);
        let surname = *pick(&mut rng, surnames);
        let year = 1975 + range(&mut rng, 0, 50) as u32;
        // Box-Muller: a standard normal from two uniforms.
        let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let rich = (0.6 * normal + 0.2).exp().clamp(0.4, 3.5);
        let mut site = Site {
            rng,
            n,
            width,
            w,
            act,
            city,
            english,
            first,
            surname,
            name: String::new(),
            year,
            rich,
            pages: Vec::new(),
            media: Vec::new(),
            used: Vec::new(),
            phone: None,
            email: None,
            street: String::new(),
            postcode: String::new(),
        };
        let pattern = site.pick(act.names);
        site.name = site.fill(pattern);
        site
    }

    fn u(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.u() < p
    }

    fn below(&mut self, n: u64) -> u64 {
        range(&mut self.rng, 0, n)
    }

    /// A count scaled by the site's richness: `base * rich`, rounded at random, at least `min`.
    fn scaled(&mut self, base: f64, min: u64, max: u64) -> u64 {
        let x = base * self.rich + self.u();
        (x.floor() as u64).clamp(min, max)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        *pick(&mut self.rng, items)
    }

    /// An item of `items` this site has not used yet, if one is left.
    fn unused(&mut self, items: &'static [&'static str]) -> Option<&'static str> {
        let left = items.iter().filter(|s| !self.used.contains(s)).count();
        if left == 0 {
            return None;
        }
        let k = self.below(left as u64) as usize;
        let s = *items.iter().filter(|s| !self.used.contains(s)).nth(k)?;
        self.used.push(s);
        Some(s)
    }

    /// An item not used yet in this site, or any once all are used.
    fn fresh(&mut self, items: &'static [&'static str]) -> &'static str {
        match self.unused(items) {
            Some(s) => s,
            None => self.pick(items),
        }
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    /// Replaces `{name}`, `{city}`... in a template.
    fn fill(&self, template: &str) -> String {
        self.fill_with(template, &[])
    }

    fn fill_with(&self, template: &str, extra: &[(&str, &str)]) -> String {
        let mut out = String::with_capacity(template.len() + 32);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let key = &rest[open + 1..open + close];
            let french = !self.english;
            match key {
                "name" => push_name(&mut out, &self.name, french),
                "city" => push_name(&mut out, self.city.name, french),
                "first" => push_name(&mut out, self.first, french),
                "surname" => out.push_str(self.surname),
                "owner" => {
                    push_name(&mut out, self.first, french);
                    out.push(' ');
                    out.push_str(self.surname);
                }
                "year" => out.push_str(&self.year.to_string()),
                "years" => out.push_str(&(2026 - self.year).to_string()),
                "label" => out.push_str(&self.act.label.to_lowercase()),
                _ => match extra.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[open..=open + close]),
                },
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }

    fn record(&mut self, theme: &str) -> Record {
        let (id, label) = self.id_and_label();
        let domains = self.domains(&label);
        let identity = self.identity();
        let contact = self.contact(&domains[0]);
        let hours = (!self.chance(0.08)).then(|| self.hours());
        let pages = self.pages();
        Record {
            id,
            theme: theme.to_owned(),
            lang: self.w.lang.to_owned(),
            domains,
            identity,
            contact,
            hours,
            pages,
        }
    }

    // --- identity ------------------------------------------------------------------------

    /// The site id (`NAME-CITY-00042`) and the label of its main domain (`NAME-CITY-42`).
    fn id_and_label(&self) -> (String, String) {
        let city = slug(self.city.name);
        let mut base = slug(&self.name);
        if !base.contains(&city) {
            base = format!("{base}-{city}");
        }
        let max = 63 - 1 - self.width;
        if base.len() > max {
            let cut = base[..=max].rfind('-').unwrap_or(max);
            base.truncate(cut);
        }
        let base = base.trim_end_matches('-');
        (
            format!("{base}-{:0width$}", self.n, width = self.width),
            format!("{base}-{}", self.n),
        )
    }

    fn domains(&mut self, label: &str) -> Vec<String> {
        let tld = if self.english {
            *self.weighted(&[("co.uk", 70), ("com", 25), ("uk", 5)])
        } else {
            *self.weighted(&[("fr", 78), ("com", 18), ("eu", 4)])
        };
        let main = format!("{label}.{tld}");
        let mut domains = vec![main.clone()];
        if self.chance(0.65) {
            domains.push(format!("www.{main}"));
        }
        if self.chance(0.22) {
            let other = match (self.english, tld) {
                (false, "fr") => "com",
                (false, _) => "fr",
                (true, "com") => "co.uk",
                (true, _) => "com",
            };
            domains.push(format!("{label}.{other}"));
            if self.chance(0.35) {
                domains.push(format!("www.{label}.{other}"));
            }
        }
        // A name with accents often gets its accented domain too.
        let number = self.n.to_string();
        let unicode = format!("{}-{}", idn_label(&self.name, self.city.name), number);
        if !self.english && !unicode.is_ascii() && self.chance(0.1) {
            if let Ok(host) = Host::parse(format!("{unicode}.fr").as_bytes()) {
                let host = host.as_str().to_owned();
                if self.chance(0.2) {
                    domains.insert(0, host);
                } else {
                    domains.push(host);
                }
            }
        }
        if self.chance(0.05) {
            let old = if self.english { "co.uk" } else { "fr" };
            domains.push(format!(
                "{}-{}-{number}.{old}",
                self.act.key,
                slug(self.surname)
            ));
        }
        let mut seen = Vec::with_capacity(domains.len());
        domains.retain(|d| {
            let new = !seen.contains(d);
            seen.push(d.clone());
            new
        });
        domains
    }

    fn weighted<'t, T>(&mut self, items: &'t [(T, u64)]) -> &'t T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].0
    }

    fn identity(&mut self) -> Identity {
        let accent = self.chance(0.8).then(|| {
            let palette = if self.chance(0.7) {
                self.act.accents
            } else {
                bank::ACCENTS
            };
            self.pick(palette).to_owned()
        });
        let slogan = self.chance(0.7).then(|| {
            let s = self.pick(self.act.slogans);
            self.fill(s)
        });
        let logo = self.chance(0.55).then(|| {
            let src = self.pick(&["logo.png", "logo.svg", "images/logo.png", "logo.webp"]);
            let (width, height) = if self.chance(0.2) {
                (None, None)
            } else if self.chance(0.5) {
                (Some(240), Some(240))
            } else {
                (Some(400), Some(120))
            };
            Logo {
                src: src.to_owned(),
                alt: self.fill(self.w.logo_alt),
                width,
                height,
            }
        });
        Identity {
            name: self.name.clone(),
            activity: self.act.label.to_owned(),
            schema_type: self.act.schema.map(str::to_owned),
            accent,
            slogan,
            logo,
            legal: if self.english {
                self.legal_uk()
            } else {
                self.legal_fr()
            },
        }
    }

    fn legal_fr(&mut self) -> Legal {
        let regulated = self.act.profession.is_some();
        let capital = self.pick(&[
            1_000u32, 5_000, 7_500, 8_000, 10_000, 15_000, 20_000, 50_000,
        ]);
        let capital = format!("{} {:03}", capital / 1000, capital % 1000);
        let form = if regulated {
            *self.weighted(&[("SELARL", 50), ("SCP", 15), ("SELAS", 10), ("EI", 25)])
        } else {
            *self.weighted(&[
                ("SARL", 40),
                ("SAS", 20),
                ("EURL", 12),
                ("SASU", 8),
                ("EI", 20),
            ])
        };
        let (company, form_line) = if form == "EI" {
            (
                format!("{} {} EI", self.first, self.surname),
                "Entreprise individuelle".to_owned(),
            )
        } else if form == "SCP" {
            (
                format!("SCP {}", self.name),
                "Société civile professionnelle".to_owned(),
            )
        } else {
            (
                format!("{} {form}", self.name),
                format!("{form} au capital de {capital} €"),
            )
        };
        let siren = luhn_complete(&self.digits(8));
        let registration = if form == "EI" || self.chance(0.5) {
            let nic = luhn_complete(&format!("{siren}000{}", 1 + self.below(9)));
            Registration {
                kind: Some("SIRET".to_owned()),
                number: format!("{} {} {} {}", &nic[0..3], &nic[3..6], &nic[6..9], &nic[9..]),
            }
        } else {
            Registration {
                kind: Some(format!("RCS {}", self.city.name)),
                number: format!("{} {} {}", &siren[0..3], &siren[3..6], &siren[6..]),
            }
        };
        let vat = (form != "EI" && self.chance(0.75)).then(|| {
            let n: u64 = siren.parse().unwrap_or(0);
            format!("FR{:02}{siren}", (12 + 3 * (n % 97)) % 97)
        });
        let director = self
            .chance(0.8)
            .then(|| format!("{} {}", self.first, self.surname));
        let profession = self.act.profession.map(|p| {
            let rpps = format!("10{}", self.digits(9));
            let order = self.digits(5);
            self.fill_with(p, &[("rpps", &rpps), ("order", &order)])
        });
        let insurance = if self.act.builder || regulated || self.chance(0.15) {
            let insurer = self.pick(bank::INSURERS);
            let kind = if self.act.builder {
                "Garantie décennale"
            } else {
                "RC professionnelle"
            };
            Some(format!("{kind} : {insurer}, contrat n° {}", self.digits(8)))
        } else {
            None
        };
        Legal {
            company,
            form: Some(form_line),
            registration,
            vat,
            director,
            profession,
            insurance,
            host: Some(self.pick(self.w.host).to_owned()),
        }
    }

    fn legal_uk(&mut self) -> Legal {
        let scotland = self.city.name == "Edinburgh";
        let number = if scotland {
            format!("SC{}", self.digits(6))
        } else {
            self.digits(8)
        };
        let profession = self.act.profession.map(|p| {
            let order = self.digits(6);
            self.fill_with(p, &[("order", &order)])
        });
        Legal {
            company: format!("{} Ltd", self.name),
            form: Some(
                if scotland {
                    "Private limited company registered in Scotland"
                } else {
                    "Private limited company registered in England and Wales"
                }
                .to_owned(),
            ),
            registration: Registration {
                kind: Some("Company number".to_owned()),
                number,
            },
            vat: self.chance(0.6).then(|| format!("GB{}", self.digits(9))),
            director: self
                .chance(0.8)
                .then(|| format!("{} {}", self.first, self.surname)),
            profession,
            insurance: None,
            host: Some(self.pick(self.w.host).to_owned()),
        }
    }

    // --- contact -------------------------------------------------------------------------

    fn contact(&mut self, main_domain: &str) -> Contact {
        let mut phones = Vec::new();
        let mobile_only = self.chance(0.1);
        if !mobile_only {
            phones.push(self.phone(PhoneKind::Landline));
        }
        if mobile_only || self.chance(0.3) {
            phones.push(self.phone(PhoneKind::Mobile));
        }
        if !self.english && self.chance(0.05) {
            phones.push(self.phone(PhoneKind::Fax));
        }
        self.phone = Some((phones[0].display.clone(), phones[0].number.clone()));
        let email = match self.below(10) {
            0..=6 => Some(format!("contact@{main_domain}")),
            7 => Some(format!(
                "{}.{}@{main_domain}",
                slug(self.first),
                slug(self.surname)
            )),
            8 => {
                let host = if self.english {
                    "gmail.com"
                } else {
                    self.pick(&["orange.fr", "gmail.com", "wanadoo.fr", "free.fr"])
                };
                Some(format!(
                    "{}{}@{host}",
                    slug(&self.name).replace('-', "."),
                    self.n
                ))
            }
            _ => None,
        };
        self.email = email.clone();
        let address = if self.english {
            self.address_uk()
        } else {
            self.address_fr()
        };
        Contact {
            phones,
            email,
            address,
        }
    }

    fn phone(&mut self, kind: PhoneKind) -> Phone {
        if self.english {
            let (display, e164) = match kind {
                PhoneKind::Mobile => ("07700 900".to_owned(), "+447700900".to_owned()),
                _ => {
                    let (d, e) = bank::UK_PHONES[usize::from(self.city.zone)];
                    (format!("{d}0"), format!("{e}0"))
                }
            };
            let tail = self.digits(3);
            return Phone {
                kind,
                number: format!("{e164}{tail}"),
                display: format!("{display}{tail}"),
            };
        }
        let zone = match kind {
            PhoneKind::Mobile => self.pick(&[6u8, 7]),
            _ => self.city.zone,
        };
        let pairs: Vec<String> = (0..4)
            .map(|i| {
                let lo = if i == 0 { 10 } else { 0 };
                format!("{:02}", lo + self.below(100 - lo))
            })
            .collect();
        Phone {
            kind,
            number: format!("+33{zone}{}", pairs.concat()),
            display: format!("0{zone} {}", pairs.join(" ")),
        }
    }

    fn address_fr(&mut self) -> Address {
        let mut number = (1 + self.below(180)).to_string();
        if self.chance(0.05) {
            number.push_str(" bis");
        }
        self.street = format!("{number} {}", self.pick(bank::STREETS_FR));
        let mut street = vec![self.street.clone()];
        if self.chance(0.12) {
            street.push(self.pick(bank::STREET2_FR).to_owned());
        }
        let base: u32 = self.city.postcode.parse().unwrap_or(0);
        let district = self.below(u64::from(self.city.districts)) as u32;
        self.postcode = format!("{:05}", base + district);
        self.address(street)
    }

    /// The address of the streets given, in the current city and postcode.
    fn address(&mut self, street: Vec<String>) -> Address {
        Address {
            street,
            postcode: self.postcode.clone(),
            city: self.city.name.to_owned(),
            country: Country {
                code: self.w.country.0.to_owned(),
                name: self.w.country.1.to_owned(),
            },
            geo: self.geo(),
        }
    }

    fn address_uk(&mut self) -> Address {
        self.street = format!("{} {}", 1 + self.below(120), self.pick(bank::STREETS_EN));
        let mut street = vec![self.street.clone()];
        if self.chance(0.15) {
            street.insert(0, self.pick(bank::STREET2_EN).to_owned());
        }
        let outward: Vec<&str> = self.city.postcode.split(' ').collect();
        let outward = self.pick(&outward);
        // Inward codes never use C, I, K, M, O or V.
        const LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";
        let a = char::from(self.pick(LETTERS));
        let b = char::from(self.pick(LETTERS));
        self.postcode = format!("{outward} {}{a}{b}", self.below(10));
        self.address(street)
    }

    fn geo(&mut self) -> Option<Geo> {
        self.chance(0.85).then(|| {
            let lat = self.city.lat + (self.u() - 0.5) * 0.04;
            let lon = self.city.lon + (self.u() - 0.5) * 0.06;
            Geo {
                lat: Decimal(format!("{lat:.4}")),
                lon: Decimal(format!("{lon:.4}")),
            }
        })
    }

    // --- hours ---------------------------------------------------------------------------

    fn hours(&mut self) -> Hours {
        let kind = self.act.kind;
        // Minutes after midnight, jittered by quarter hours.
        let q = |s: &mut Site, base: u32, quarters: u64| base + 15 * s.below(quarters + 1) as u32;
        let open = |periods: &[(u32, u32)]| -> Day {
            Day::Open(
                periods
                    .iter()
                    .map(|&(a, b)| Period {
                        from: hhmm(a),
                        to: hhmm(b),
                    })
                    .collect(),
            )
        };
        let closed = || Day::Closed;
        let mut days: [Day; 7] = std::array::from_fn(|_| Day::Closed);
        let note;
        match kind {
            Kind::FoodShop => {
                let (o, m, a, c) = (
                    q(self, 390, 4),
                    q(self, 780, 2),
                    q(self, 930, 2),
                    q(self, 1140, 2),
                );
                let lunch = self.chance(0.7);
                let week = if lunch {
                    open(&[(o, m), (a, c)])
                } else {
                    open(&[(o, c)])
                };
                let off = *self.weighted(&[(0usize, 60), (2, 20), (1, 20)]);
                for (i, d) in days.iter_mut().enumerate().take(6) {
                    *d = if i == off { closed() } else { week.clone() };
                }
                if self.chance(0.5) {
                    days[5] = open(&[(o, c)]);
                }
                days[6] = if self.chance(0.7) {
                    open(&[(o, 780)])
                } else {
                    closed()
                };
                note = None;
            }
            Kind::Shop => {
                let o = q(self, 570, 2);
                let c = q(self, 1140, 2);
                let week = if self.chance(0.6) {
                    open(&[(o, 750), (q(self, 840, 2), c)])
                } else {
                    open(&[(o, c)])
                };
                for d in days.iter_mut().take(6) {
                    *d = week.clone();
                }
                days[0] = if self.chance(0.6) {
                    closed()
                } else {
                    open(&[(840, c)])
                };
                note = None;
            }
            Kind::Office | Kind::Medical => {
                let medical = kind == Kind::Medical;
                let o = q(self, if medical { 480 } else { 510 }, 2);
                let m = q(self, 720, 2);
                let a = q(self, 810, 2);
                let c = q(self, if medical { 1110 } else { 1050 }, 2);
                for d in days.iter_mut().take(5) {
                    *d = open(&[(o, m), (a, c)]);
                }
                if self.chance(0.3) {
                    days[4] = open(&[(o, m), (a, 1020)]);
                }
                if medical && self.chance(0.3) {
                    days[2] = open(&[(o, m)]);
                }
                if self.chance(if medical { 0.4 } else { 0.15 }) {
                    days[5] = open(&[(q(self, 510, 2), 750)]);
                }
                note = self
                    .chance(0.5)
                    .then(|| self.pick(self.w.note_appointment).to_owned());
            }
            Kind::Trade | Kind::Garage => {
                let o = q(self, 450, 2);
                let c = q(self, 1050, 4);
                for d in days.iter_mut().take(5) {
                    *d = open(&[(o, 720), (q(self, 780, 2), c)]);
                }
                if self.chance(if kind == Kind::Garage { 0.6 } else { 0.3 }) {
                    days[5] = open(&[(q(self, 480, 2), 720)]);
                }
                note = (kind == Kind::Trade && self.chance(0.5))
                    .then(|| self.pick(self.w.note_emergency).to_owned());
            }
            Kind::Restaurant => {
                let lunch = (720, q(self, 840, 2));
                let dinner_end = if self.chance(0.05) {
                    1440
                } else {
                    q(self, 1320, 4)
                };
                let dinner = (q(self, 1140, 2), dinner_end);
                for d in days.iter_mut() {
                    *d = open(&[lunch, dinner]);
                }
                days[0] = closed();
                if self.chance(0.3) {
                    days[1] = closed();
                }
                if self.chance(0.6) {
                    days[6] = open(&[lunch]);
                }
                note = self
                    .chance(0.4)
                    .then(|| self.pick(self.w.note_booking).to_owned());
            }
            Kind::Cafe => {
                let o = q(self, 450, 2);
                let c = q(self, 1080, 4);
                for d in days.iter_mut() {
                    *d = open(&[(o, c)]);
                }
                days[0] = closed();
                days[6] = if self.chance(0.5) {
                    open(&[(540, 780)])
                } else {
                    closed()
                };
                note = None;
            }
            Kind::Salon => {
                let o = q(self, 540, 2);
                let c = q(self, 1140, 2);
                let lunch = self.chance(0.3);
                for d in days.iter_mut().take(5).skip(1) {
                    *d = if lunch {
                        open(&[(o, 720), (840, c)])
                    } else {
                        open(&[(o, c)])
                    };
                }
                if self.chance(0.4) {
                    days[3] = open(&[(o, q(self, 1200, 4))]);
                }
                days[5] = open(&[(q(self, 510, 2), q(self, 1020, 4))]);
                note = self
                    .chance(0.4)
                    .then(|| self.pick(self.w.note_booking).to_owned());
            }
            Kind::Lodging => {
                for d in days.iter_mut() {
                    *d = open(&[(480, 720), (1020, q(self, 1260, 4))]);
                }
                note = None;
            }
        }
        let [monday, tuesday, wednesday, thursday, friday, saturday, sunday] = days;
        Hours {
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
            note,
            closures: self.closures(),
        }
    }

    fn closures(&mut self) -> Vec<Closure> {
        let count = *self.weighted(&[(0usize, 45), (1, 30), (2, 18), (3, 7)]);
        let mut out: Vec<Closure> = Vec::new();
        for _ in 0..count {
            let c = match self.below(4) {
                0 => {
                    let start = 1 + self.below(15);
                    let end = start + 6 + self.below(11);
                    Closure {
                        from: format!("2026-08-{start:02}"),
                        to: Some(format!("2026-08-{end:02}")),
                        reason: self.pick(self.w.leave).to_owned(),
                    }
                }
                1 => Closure {
                    from: format!("2026-12-{}", 24 + self.below(2)),
                    to: Some(format!("2027-01-0{}", 1 + self.below(3))),
                    reason: self.w.christmas.to_owned(),
                },
                2 => {
                    let (date, reason) = self.pick(self.w.holidays);
                    Closure {
                        from: date.to_owned(),
                        to: None,
                        reason: reason.to_owned(),
                    }
                }
                _ => {
                    let month = 1 + self.below(3);
                    let day = 1 + self.below(20);
                    let len = self.below(5);
                    Closure {
                        from: format!("2027-{month:02}-{day:02}"),
                        to: (len > 0).then(|| format!("2027-{month:02}-{:02}", day + len)),
                        reason: self.pick(self.w.other_closures).to_owned(),
                    }
                }
            };
            if !out.iter().any(|o| o.from == c.from) {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.from.cmp(&b.from));
        out
    }

    // --- pages ---------------------------------------------------------------------------

    fn pages(&mut self) -> Vec<Page> {
        let n = 2 + *self.weighted(&[
            (0usize, PAGE_COUNTS[0]),
            (1, PAGE_COUNTS[1]),
            (2, PAGE_COUNTS[2]),
            (3, PAGE_COUNTS[3]),
            (4, PAGE_COUNTS[4]),
            (5, PAGE_COUNTS[5]),
        ]);
        let photos = if self.chance(0.08) {
            0
        } else {
            // The smaller of two draws in 1..=12: few photos are common, 12 is rare.
            let a = 1 + self.below(12);
            let b = 1 + self.below(12);
            a.min(b)
        };
        let mut pool = vec![
            PageKind::About,
            PageKind::Team,
            PageKind::News,
            PageKind::Faq,
            PageKind::Contact,
        ];
        if photos >= 3 {
            pool.push(PageKind::Gallery);
        }
        let mut kinds = vec![PageKind::Home, PageKind::Prices];
        while kinds.len() < n && !pool.is_empty() {
            let i = self.below(pool.len() as u64) as usize;
            kinds.push(pool.swap_remove(i));
        }
        kinds.sort();
        for kind in &kinds {
            let (id, title) = match kind {
                PageKind::Home => self.w.home,
                PageKind::Prices => self.act.prices_page,
                PageKind::About => self.w.about,
                PageKind::Team => self.w.team,
                PageKind::Gallery => self.w.gallery,
                PageKind::News => self.w.news,
                PageKind::Faq => self.w.faq,
                PageKind::Contact => self.w.contact,
            };
            self.pages.push((*kind, id.to_owned(), title.to_owned()));
        }
        // Photos: one on the about page, most in the gallery page, the rest on the home page.
        let has = |k| kinds.contains(&k);
        let about_photo = u64::from(has(PageKind::About) && photos >= 2 && self.chance(0.6));
        let rest = photos - about_photo;
        let home_photos = if has(PageKind::Gallery) {
            self.below(3).min(rest - 1)
        } else {
            rest
        };
        let gallery_photos = rest - home_photos;
        let video = self.chance(0.04);

        let meta = self.pages.clone();
        meta.into_iter()
            .map(|(kind, id, title)| {
                let sections = match kind {
                    PageKind::Home => self.home(home_photos, video),
                    PageKind::Prices => self.prices(),
                    PageKind::About => self.about(about_photo == 1),
                    PageKind::Team => self.team(),
                    PageKind::Gallery => self.gallery(gallery_photos),
                    PageKind::News => self.news(),
                    PageKind::Faq => self.faq(),
                    PageKind::Contact => self.contact_page(),
                };
                let description = (kind != PageKind::Home && self.chance(0.5)).then(|| {
                    let d = self.pick(self.w.descriptions);
                    self.fill_with(d, &[("title", &title)])
                });
                Page {
                    id,
                    title,
                    description,
                    sections,
                }
            })
            .collect()
    }

    /// Up to `k` sentences, each from `first` with probability `p` and from `second`
    /// otherwise, never one the site already said: a site that has said everything writes
    /// less rather than repeating itself. `None` when nothing is left at all.
    fn sentences(
        &mut self,
        k: u64,
        first: &'static [&'static str],
        p: f64,
        second: &'static [&'static str],
    ) -> Option<Inline> {
        let mut text = String::new();
        for _ in 0..k {
            let s = if self.chance(p) {
                self.unused(first).or_else(|| self.unused(second))
            } else {
                self.unused(second).or_else(|| self.unused(first))
            };
            let Some(s) = s else { break };
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&self.fill(s));
        }
        (!text.is_empty()).then(|| marks(&text))
    }

    /// A paragraph of up to `k` sentences, mostly of the trade.
    fn paragraph(&mut self, k: u64) -> Option<Inline> {
        self.sentences(k, self.act.sentences, 0.55, self.w.generic)
    }

    /// "See the prices page." with a link to another page of the site.
    fn see_page(&mut self, inline: &mut Inline, kind: PageKind) {
        if let Some((_, id, title)) = self.pages.iter().find(|p| p.0 == kind).cloned() {
            let (before, after) = self.pick(self.w.see_page);
            inline.0.push(Run::Text(format!(" {before}")));
            inline.0.push(Run::Link {
                label: Inline::text(title.to_lowercase()),
                href: format!("/{id}"),
            });
            inline.0.push(Run::Text(after.to_owned()));
        }
    }

    fn photo(&mut self) -> Photo {
        let (stem, alt) = self.pick(self.act.photos);
        let ext = *self.weighted(&[("jpg", 85), ("webp", 10), ("png", 5)]);
        let dir = if self.media.is_empty() {
            self.chance(0.3)
        } else {
            self.media[0].starts_with("photos/")
        };
        let mut k = 1;
        let src = loop {
            let suffix = if k == 1 {
                String::new()
            } else {
                format!("-{k}")
            };
            let dir = if dir { "photos/" } else { "" };
            let src = format!("{dir}{stem}{suffix}.{ext}");
            if !self.media.contains(&src) {
                break src;
            }
            k += 1;
        };
        self.media.push(src.clone());
        let (width, height) = if self.chance(0.1) {
            (None, None)
        } else {
            let (w, h) = self.pick(&[
                (800, 600),
                (1200, 800),
                (1024, 768),
                (600, 800),
                (1600, 1067),
            ]);
            (Some(w), Some(h))
        };
        Photo {
            src,
            alt: alt.to_owned(),
            width,
            height,
            caption: self.chance(0.5).then(|| alt.to_owned()),
        }
    }

    fn home(&mut self, photos: u64, video: bool) -> Vec<Section> {
        let mut sections = Vec::new();
        let title = self.pick(self.w.welcome);
        let mut blocks = Vec::new();
        let paragraphs = self.scaled(1.8, 1, 7);
        for i in 0..paragraphs {
            let k = self.scaled(2.6, 2, 7);
            let Some(mut p) = self.paragraph(k) else {
                break;
            };
            if i + 1 == paragraphs && self.chance(0.5) {
                self.see_page(&mut p, PageKind::Prices);
            }
            blocks.push(Block::P(p));
        }
        if photos > 0 {
            let gallery = (0..photos).map(|_| self.photo()).collect();
            blocks.push(Block::Gallery(gallery));
        }
        sections.push(Section {
            title: self.chance(0.9).then(|| self.fill(title)),
            blocks,
        });
        if self.chance(0.65) {
            let title = self.pick(self.w.strengths);
            let k = (3 + self.below(3)).min(self.act.highlights.len() as u64);
            let mut items = Vec::new();
            for _ in 0..k {
                let h = self.fresh(self.act.highlights);
                items.push(marks(h));
            }
            sections.push(Section {
                title: Some(title.to_owned()),
                blocks: vec![Block::List(items)],
            });
        }
        if self.chance(0.4) {
            // A teaser of the price list, pointing to it.
            let title = self.pick(self.w.offer);
            let names: Vec<&str> = self
                .act
                .groups
                .iter()
                .flat_map(|g| g.services.iter().map(|s| s.name))
                .collect();
            let k = self.scaled(3.0, 2, 8).min(names.len() as u64) as usize;
            // k distinct names (partial Fisher-Yates), then in price-list order.
            let mut order: Vec<usize> = (0..names.len()).collect();
            for i in 0..k {
                let j = i + self.below((names.len() - i) as u64) as usize;
                order.swap(i, j);
            }
            order.truncate(k);
            order.sort_unstable();
            order.dedup_by_key(|&mut i| names[i]);
            let items: Vec<Inline> = order.iter().map(|&i| Inline::text(names[i])).collect();
            let mut more = Inline::default();
            self.see_page(&mut more, PageKind::Prices);
            let mut blocks = vec![Block::List(items)];
            if let Some(Run::Text(t)) = more.0.first_mut() {
                *t = t.trim_start().to_owned();
                blocks.push(Block::P(more));
            }
            sections.push(Section {
                title: Some(title.to_owned()),
                blocks,
            });
        }
        if video {
            let caption = self.pick(self.w.video_captions);
            sections.push(Section {
                title: Some(self.w.video.to_owned()),
                blocks: vec![Block::Video(Video {
                    src: "video/presentation.mp4".to_owned(),
                    mime: VideoType::Mp4,
                    poster: Some("video/presentation.jpg".to_owned()),
                    width: Some(1280),
                    height: Some(720),
                    caption: Some(self.fill(caption)),
                })],
            });
        }
        sections
    }

    fn prices(&mut self) -> Vec<Section> {
        let groups: &'static [Group] = self.act.groups;
        let g = self.scaled(1.4, 1, groups.len() as u64) as usize;
        let first = self.below((groups.len() - g + 1) as u64) as usize;
        let mut sections = Vec::new();
        for group in &groups[first..first + g] {
            let mut blocks = Vec::new();
            if self.chance(0.35) {
                let k = 1 + self.below(2);
                blocks.extend(self.paragraph(k).map(Block::P));
            }
            let all = group.services;
            let min = all.len().min(3) as u64;
            let k = min + self.below(all.len() as u64 - min + 1);
            // Keep `k` services, in list order.
            let mut keep: Vec<usize> = (0..all.len()).collect();
            while keep.len() as u64 > k {
                let i = self.below(keep.len() as u64) as usize;
                keep.remove(i);
            }
            let services = keep.iter().map(|&i| self.service(&all[i])).collect();
            blocks.push(Block::Services(services));
            sections.push(Section {
                title: Some(group.title.to_owned()),
                blocks,
            });
        }
        if self.chance(0.5) {
            let k = 1 + self.below(3);
            let mut text = String::new();
            for i in 0..k {
                let s = self.fresh(self.w.practical);
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(s);
            }
            sections.push(Section {
                title: Some(self.w.practical_title.to_owned()),
                blocks: vec![Block::P(marks(&text))],
            });
        }
        sections
    }

    fn service(&mut self, s: &Svc) -> Service {
        let price = if s.hi == 0.0 || self.chance(0.04) {
            Price {
                amount: None,
                currency: None,
                unit: None,
                from: false,
                on_request: true,
            }
        } else {
            let v = s.lo + self.u() * (s.hi - s.lo);
            Price {
                amount: Some(Decimal(amount(v))),
                currency: Some(if self.english { "GBP" } else { "EUR" }.to_owned()),
                unit: (!s.unit.is_empty()).then(|| s.unit.to_owned()),
                from: (self.act.builder || v >= 200.0) && self.chance(0.3),
                on_request: false,
            }
        };
        Service {
            name: s.name.to_owned(),
            description: (!s.desc.is_empty()).then(|| Inline::text(self.fill(s.desc))),
            price: Some(price),
        }
    }

    fn about(&mut self, photo: bool) -> Vec<Section> {
        let title = self.pick(self.w.story);
        let mut blocks = Vec::new();
        let paragraphs = self.scaled(2.0, 1, 7);
        for _ in 0..paragraphs {
            let k = self.scaled(2.6, 2, 7);
            let history = self.w.history;
            match self.sentences(k, history, 0.6, self.w.generic) {
                Some(p) => blocks.push(Block::P(p)),
                None => break,
            }
        }
        if blocks.is_empty() {
            // Everything was said elsewhere already; a section needs a block.
            let s = self.pick(self.w.history);
            blocks.push(Block::P(marks(&self.fill(s))));
        }
        if photo {
            blocks.push(Block::Photo(self.photo()));
        }
        let mut sections = vec![Section {
            title: Some(self.fill(title)),
            blocks,
        }];
        if self.chance(0.4) {
            let k = (3 + self.below(2)).min(self.act.highlights.len() as u64);
            let items = (0..k)
                .map(|_| marks(self.fresh(self.act.highlights)))
                .collect();
            sections.push(Section {
                title: Some(self.w.values_title.to_owned()),
                blocks: vec![Block::List(items)],
            });
        }
        sections
    }

    fn team(&mut self) -> Vec<Section> {
        let intro = self.pick(self.w.team_intro);
        let mut members = vec![Inline(vec![
            Run::Strong(Inline::text(format!("{} {}", self.first, self.surname))),
            Run::Text(format!(", {}", self.act.roles[0])),
        ])];
        let (firsts, surnames) = if self.english {
            (bank::FIRST_EN, bank::SURNAMES_EN)
        } else {
            (bank::FIRST_FR, bank::SURNAMES_FR)
        };
        for _ in 0..self.scaled(2.0, 1, 6) {
            let first = self.pick(firsts);
            let surname = self.pick(surnames);
            let role = self.pick(self.act.roles);
            members.push(Inline(vec![
                Run::Strong(Inline::text(format!("{first} {surname}"))),
                Run::Text(format!(", {role}")),
            ]));
        }
        let mut blocks = vec![
            Block::P(Inline::text(self.fill(intro))),
            Block::List(members),
        ];
        if self.chance(0.5) {
            let k = 1 + self.below(3);
            blocks.extend(self.paragraph(k).map(Block::P));
        }
        vec![Section {
            title: None,
            blocks,
        }]
    }

    fn gallery(&mut self, photos: u64) -> Vec<Section> {
        let title = self.pick(self.w.gallery_titles);
        let mut blocks = Vec::new();
        if self.chance(0.5) {
            blocks.extend(self.paragraph(1).map(Block::P));
        }
        blocks.push(Block::Gallery(
            (0..photos.max(1)).map(|_| self.photo()).collect(),
        ));
        vec![Section {
            title: Some(title.to_owned()),
            blocks,
        }]
    }

    fn news(&mut self) -> Vec<Section> {
        const MONTHS_FR: [&str; 6] = ["Janvier", "Février", "Mars", "Avril", "Mai", "Juin"];
        const MONTHS_EN: [&str; 6] = ["January", "February", "March", "April", "May", "June"];
        let k = self.scaled(2.2, 1, 6) as usize;
        let mut sections = Vec::new();
        let mut months: Vec<usize> = (0..6).collect();
        let items = self.w.news_items;
        let start = self.below(items.len() as u64) as usize;
        for i in 0..k.min(items.len()) {
            let (title, text) = items[(start + i) % items.len()];
            let m = months.remove(self.below(months.len() as u64) as usize);
            let month = if self.english {
                MONTHS_EN[m]
            } else {
                MONTHS_FR[m]
            };
            let sep = if self.english { ": " } else { " : " };
            let mut body = self.fill(text);
            if self.chance(0.4) {
                body.push(' ');
                let s = self.fresh(self.w.generic);
                body.push_str(&self.fill(s));
            }
            sections.push(Section {
                title: Some(format!("{month} 2026{sep}{title}")),
                blocks: vec![Block::P(marks(&body))],
            });
        }
        sections
    }

    fn faq(&mut self) -> Vec<Section> {
        let mut qa: Vec<(&str, &str)> = self.act.faq.to_vec();
        qa.extend_from_slice(self.w.faq_generic);
        let k = (self.scaled(3.0, 2, 8) as usize).min(qa.len());
        let mut sections = Vec::new();
        for _ in 0..k {
            let i = self.below(qa.len() as u64) as usize;
            let (q, a) = qa.remove(i);
            sections.push(Section {
                title: Some(self.fill(q)),
                blocks: vec![Block::P(Inline::text(self.fill(a)))],
            });
        }
        sections
    }

    fn contact_page(&mut self) -> Vec<Section> {
        let mut text = format!("{}, {} {}.", self.street, self.postcode, self.city.name);
        for _ in 0..self.scaled(1.5, 1, 3) {
            text.push(' ');
            let s = self.fresh(self.w.access);
            text.push_str(&self.fill(s));
        }
        let mut find = vec![Block::P(marks(&text))];
        if self.chance(0.3) {
            let k = self.scaled(1.5, 1, 3);
            let items = (0..k)
                .map(|_| {
                    let s = self.fresh(self.w.access);
                    Inline::text(self.fill(s))
                })
                .collect();
            find.push(Block::List(items));
        }
        let mut runs = Vec::new();
        if let Some((display, number)) = self.phone.clone() {
            runs.push(Run::Text(self.w.call.to_owned()));
            runs.push(Run::Link {
                label: Inline::text(display),
                href: format!("tel:{number}"),
            });
        }
        if let Some(email) = self.email.clone() {
            runs.push(Run::Text(format!(" {}", self.w.write)));
            runs.push(Run::Link {
                label: Inline::text(email.clone()),
                href: format!("mailto:{email}"),
            });
        }
        runs.push(Run::Text(".".to_owned()));
        vec![
            Section {
                title: Some(self.w.find_us.to_owned()),
                blocks: find,
            },
            Section {
                title: Some(self.w.reach_us.to_owned()),
                blocks: vec![Block::P(Inline(runs))],
            },
        ]
    }
}

// ---------------------------------------------------------------------------------------
// Text helpers
// ---------------------------------------------------------------------------------------

/// Appends a proper name, with French elision and contraction of the preposition before
/// it: `de Albi` -> `d’Albi`, `de Le Havre` -> `du Havre`, `à Le Mans` -> `au Mans`.
fn push_name(out: &mut String, name: &str, french: bool) {
    let after_word = |out: &str, word: &str| {
        out.strip_suffix(word)
            .is_some_and(|before| before.is_empty() || before.ends_with(' '))
    };
    if french {
        if let Some(rest) = name.strip_prefix("Le ") {
            for (prep, contracted) in [("de ", "du "), ("à ", "au ")] {
                if after_word(out, prep) {
                    out.truncate(out.len() - prep.len());
                    out.push_str(contracted);
                    out.push_str(rest);
                    return;
                }
            }
        }
        let vowel = name
            .chars()
            .next()
            .is_some_and(|c| "AEIOUYÂÊÎÔÉÈH".contains(c));
        if vowel && after_word(out, "de ") {
            out.truncate(out.len() - 1);
            out.pop();
            out.push('’');
        }
    }
    out.push_str(name);
}

/// `HH:MM` of minutes after midnight (1440 is `24:00`).
fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A price as a back office would type it: cents below 10, halves below 100, units below
/// 1,000, tens above.
fn amount(v: f64) -> String {
    if v < 10.0 {
        format!("{:.2}", (v * 20.0).round() / 20.0)
    } else if v < 100.0 {
        let h = (v * 2.0).round() / 2.0;
        if h.fract() == 0.0 {
            format!("{h:.0}")
        } else {
            format!("{h:.2}")
        }
    } else if v < 1000.0 {
        format!("{:.0}", v.round())
    } else {
        format!("{:.0}", (v / 10.0).round() * 10.0)
    }
}

/// Inline runs of a template's `**strong**` and `*emphasis*` marks.
fn marks(text: &str) -> Inline {
    let mut runs = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('*') {
        let strong = rest[i..].starts_with("**");
        let mark = if strong { "**" } else { "*" };
        let body = &rest[i + mark.len()..];
        let Some(end) = body.find(mark) else { break };
        if i > 0 {
            runs.push(Run::Text(rest[..i].to_owned()));
        }
        let inner = Inline::text(&body[..end]);
        runs.push(if strong {
            Run::Strong(inner)
        } else {
            Run::Em(inner)
        });
        rest = &body[end + mark.len()..];
    }
    if !rest.is_empty() {
        runs.push(Run::Text(rest.to_owned()));
    }
    Inline(runs)
}

/// The ASCII letter(s) of a Latin letter with diacritics, or `None` to keep it.
fn fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'ç' => "c",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => "o",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'ý' | 'ÿ' => "y",
        'œ' => "oe",
        'æ' => "ae",
        _ => return None,
    })
}

/// `Pâtisserie L’Été & Fils` to `patisserie-l-ete-fils`: ASCII letters and digits, one
/// hyphen between words.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.to_lowercase().chars() {
        match fold(c) {
            Some(s) => out.push_str(s),
            None if c.is_ascii_alphanumeric() => out.push(c),
            // Apostrophes join (`o'brien` -> `obrien`), everything else separates.
            None if c == '\'' || c == '’' => {}
            None if !out.is_empty() && !out.ends_with('-') => out.push('-'),
            None => {}
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The accented domain label of a name and city (`pâtisserie-lefèvre-nîmes`).
fn idn_label(name: &str, city: &str) -> String {
    let mut out = String::new();
    let text = if slug(name).contains(&slug(city)) {
        name.to_lowercase()
    } else {
        format!("{name} {city}").to_lowercase()
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') && c != '\'' && c != '’' {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// `digits` followed by its Luhn check digit (SIREN and SIRET numbers carry one).
fn luhn_complete(digits: &str) -> String {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

#[cfg(test)]
mod tests;
