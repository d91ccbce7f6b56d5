//! Synthetic back-office records: `vitrine-bench gen-corpus` writes one JSON line per
//! professional, built as [`Record`] values and serialised by serde, which `vitrine export`
//! turns into the benchmark's site XML files and domain map.
//!
//! The model (word bank in [`bank`]):
//!
//! * **Trades** ([`bank::Bank::activities_fr`]): restaurants, hairdressers, bakeries, plumbers,
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
//!
//! This file holds the corpus and the state of one record being built; the parts of a record
//! are built in `identity.rs` (id, domains, identity, legal notice, contact), `hours.rs` and
//! `pages.rs`, with the text helpers of `text.rs`.

pub mod bank;
mod hours;
mod identity;
mod pages;
mod text;

use std::io::{self, Write};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use vitrine::export::record::{Block, Record};

use self::bank::{Activity, City, Words};
use crate::args::GenCorpusArgs;
use crate::loggen::{pick, range, write_output, Zipf};
use crate::BenchError;

use self::text::push_name;
pub use self::text::slug;

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
            activities_fr: Zipf::new(bank::bank().activities_fr.len(), ACTIVITY_ZIPF),
            activities_en: Zipf::new(bank::bank().activities_en.len(), ACTIVITY_ZIPF),
            cities_fr: Zipf::new(bank::bank().cities_fr.len(), CITY_ZIPF),
            cities_uk: Zipf::new(bank::bank().cities_uk.len(), 1.0),
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
            let a = &bank::bank().activities_en[self.activities_en.sample(rng.random())];
            let c = &bank::bank().cities_uk[self.cities_uk.sample(rng.random())];
            (&bank::bank().en, a, c)
        } else {
            let a = &bank::bank().activities_fr[self.activities_fr.sample(rng.random())];
            let c = &bank::bank().cities_fr[self.cities_fr.sample(rng.random())];
            (&bank::bank().fr, a, c)
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
            (&bank::bank().first_en, &bank::bank().surnames_en)
        } else {
            (&bank::bank().first_fr, &bank::bank().surnames_fr)
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
        let pattern = site.pick(&act.names);
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

    /// An item drawn with the weights given beside each.
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
            https: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests;
