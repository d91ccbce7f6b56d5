//! Synthetic access logs: one day of traffic for the sites of a sites folder, written as
//! Apache `vhost_combined` or nginx `combined` + host, for `vitrine replay` to send back.
//!
//! The model (all draws from one seeded xoshiro256++ stream, so a seed gives the same file):
//!
//! * **Sites**: popularity is Zipf with exponent `--zipf` (P(rank k) ∝ 1/k^s) over a seeded
//!   random permutation of the sites, so popularity does not follow folder order.
//! * **Pages**: Zipf with `--page-zipf` over the site's pages in document order: the home page
//!   (served at `/`) is the most visited.
//! * **Kinds of request** ([`MIX`]): media files, theme stylesheets, unknown pages (404),
//!   unknown hosts, `/robots.txt`, `/sitemap.xml`, and page views for the rest; 0.5% of page
//!   views are `HEAD`.
//! * **Hosts**: the site's main domain 85% of the time, another of its domains otherwise.
//! * **Time**: timestamps increase over one local day following [`Diurnal`]: quiet at night,
//!   a peak hour at 2.5x the mean hourly rate. Arrivals are a Poisson process of that
//!   intensity conditioned on the line count: sorted uniforms generated in order (Bentley &
//!   Saxe, 1980) mapped through the inverse of the daily curve, streaming, without storing
//!   the day.
//! * **Clients**: a pool of visitors (one per ~8 requests), IPv4 and IPv6 addresses from
//!   ISP-like prefixes, browser and crawler user agents (one with escaped quotes), referrers
//!   from search engines, social sites, the same site, or none; client activity is Zipf too.
//!
//! Zipf sampling uses a precomputed CDF and a binary search rather than `rand_distr::Zipf`:
//! it is exact (no rejection loop), O(log n) per draw, costs 8 bytes per site, and keeps the
//! generated files identical across versions of the random crates, which only promise to
//! keep the bit streams of their named generators.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use quick_xml::events::Event;
use quick_xml::XmlVersion;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use vitrine::replay::access_log::{days_from_civil, format_time};

use crate::args::{GenFormat, GenLogArgs};
use crate::BenchError;

/// What a site contributes to the traffic model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteInfo {
    /// Folder name of the site.
    pub id: String,
    /// `/site/domains/domain`, the `main="true"` one first.
    pub domains: Vec<String>,
    /// `/site/pages/page/@id` in document order (the first is the home page).
    pub pages: Vec<String>,
    /// `src` (and video `poster`) of `photo`, `video` and `logo` elements.
    pub media: Vec<String>,
    /// Theme name from the `xml-stylesheet` processing instruction.
    pub theme: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    Site,
    Domains,
    Domain,
    Pages,
    Other,
}

/// Reads the parts of a site.xml the traffic model needs, with a streaming reader.
pub fn read_site(path: &Path) -> Result<SiteInfo, BenchError> {
    let data = std::fs::read(path).map_err(|source| BenchError::Open {
        path: path.to_owned(),
        source,
    })?;
    let id = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut site = SiteInfo {
        id,
        domains: Vec::new(),
        pages: Vec::new(),
        media: Vec::new(),
        theme: None,
    };
    let mut reader = quick_xml::Reader::from_reader(&data[..]);
    let mut buf = Vec::new();
    let mut stack: Vec<Tag> = Vec::new();
    let mut text = String::new();
    let mut main = false;
    let bad = |position: u64, reason: String| BenchError::Site {
        path: path.to_owned(),
        position,
        reason,
    };
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| bad(reader.error_position(), e.to_string()))?;
        let position = reader.buffer_position();
        let attr = |e: &quick_xml::events::BytesStart<'_>,
                    name: &str|
         -> Result<Option<String>, BenchError> {
            match e.try_get_attribute(name) {
                Ok(Some(a)) => a
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map(|v| Some(v.into_owned()))
                    .map_err(|e| bad(position, e.to_string())),
                Ok(None) => Ok(None),
                Err(e) => Err(bad(position, e.to_string())),
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let name = e.name();
                let name = name.as_ref();
                let tag = match (stack.as_slice(), name) {
                    ([], "site") => Tag::Site,
                    ([Tag::Site], "domains") => Tag::Domains,
                    ([Tag::Site, Tag::Domains], "domain") => {
                        main = attr(e, "main")?.as_deref() == Some("true");
                        text.clear();
                        Tag::Domain
                    }
                    ([Tag::Site], "pages") => Tag::Pages,
                    ([Tag::Site, Tag::Pages], "page") => {
                        site.pages.extend(attr(e, "id")?);
                        Tag::Other
                    }
                    (_, "photo" | "logo") => {
                        site.media.extend(attr(e, "src")?);
                        Tag::Other
                    }
                    (_, "video") => {
                        site.media.extend(attr(e, "src")?);
                        site.media.extend(attr(e, "poster")?);
                        Tag::Other
                    }
                    _ => Tag::Other,
                };
                if !empty {
                    stack.push(tag);
                }
            }
            Event::Text(t) if stack.last() == Some(&Tag::Domain) => {
                text.push_str(&t.xml10_content());
            }
            Event::GeneralRef(r) if stack.last() == Some(&Tag::Domain) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else if let Some(v) = quick_xml::escape::resolve_predefined_entity(&r) {
                    text.push_str(v);
                }
            }
            Event::End(_) => {
                let closed = stack.pop();
                if closed == Some(Tag::Domain) {
                    let d = text.trim().to_ascii_lowercase();
                    if !d.is_empty() {
                        if main {
                            site.domains.insert(0, d);
                        } else {
                            site.domains.push(d);
                        }
                    }
                }
            }
            Event::PI(pi) if pi.target() == "xml-stylesheet" => {
                site.theme = stylesheet_name(pi.content());
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(site)
}

/// `href="classic.xsl"` to `classic`.
fn stylesheet_name(content: &str) -> Option<String> {
    let rest = &content[content.find("href=")? + 5..];
    let quote = rest.chars().next()?;
    let value = rest[1..].split(quote).next()?;
    let name = value.strip_suffix(".xsl")?;
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    ok.then(|| name.to_owned())
}

/// Reads every `ROOT/<shard>/<id>/site.xml`, in path order, keeping the sites that have a
/// domain and a page. Returns the sites and how many were left out.
pub fn load_sites(root: &Path) -> Result<(Vec<SiteInfo>, usize), BenchError> {
    let list = |dir: &Path| -> Result<Vec<PathBuf>, BenchError> {
        let open = |source| BenchError::Open {
            path: dir.to_owned(),
            source,
        };
        let mut v = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(open)? {
            let entry = entry.map_err(open)?;
            if entry.file_type().map_err(open)?.is_dir() {
                v.push(entry.path());
            }
        }
        v.sort();
        Ok(v)
    };
    let mut sites = Vec::new();
    let mut skipped = 0;
    for shard in list(root)? {
        for dir in list(&shard)? {
            let file = dir.join("site.xml");
            if !file.is_file() {
                continue;
            }
            let site = read_site(&file)?;
            if site.domains.is_empty() || site.pages.is_empty() {
                skipped += 1;
            } else {
                sites.push(site);
            }
        }
    }
    if sites.is_empty() {
        return Err(BenchError::NoSites {
            root: root.to_owned(),
        });
    }
    Ok((sites, skipped))
}

/// Zipf distribution over ranks `0..n` (rank 0 most likely): P(k) ∝ 1/(k+1)^s.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks (`n` ≥ 1) with exponent `s` (≥ 0).
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n.max(1))
            .map(|k| {
                acc += (k as f64).powf(-s);
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        if let Some(last) = cdf.last_mut() {
            *last = 1.0;
        }
        Zipf { cdf }
    }

    /// The rank for a uniform draw `u` in `[0, 1)`.
    pub fn sample(&self, u: f64) -> usize {
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }

    /// Probability of rank `k`.
    pub fn probability(&self, k: usize) -> f64 {
        self.cdf[k] - if k == 0 { 0.0 } else { self.cdf[k - 1] }
    }
}

/// A uniform draw in `lo..hi` (`lo < hi`) from the generator's own bits. A modulo rather
/// than `random_range`, whose algorithm the random crates may change: generated files must
/// stay the same for a seed. The bias (under `(hi - lo) / 2^64`) is immaterial here.
pub fn range(rng: &mut Xoshiro256PlusPlus, lo: u64, hi: u64) -> u64 {
    lo + rng.random::<u64>() % (hi - lo)
}

/// A uniformly chosen element of a non-empty slice (see [`range`]).
pub fn pick<'t, T>(rng: &mut Xoshiro256PlusPlus, items: &'t [T]) -> &'t T {
    &items[range(rng, 0, items.len() as u64) as usize]
}

/// The daily curve: relative request intensity at each hour (local time, `HOURLY[h]` at
/// h:00, linear in between, wrapping at midnight). Shaped after a single-country professional
/// audience: near nothing at 3-5 am, a morning peak at 10-11 am (2.5x the mean hourly rate,
/// between the 1.6-1.7 of global sites and the 3-4x min/max swing reported for local ones),
/// a lunch dip, a second afternoon peak and a slow evening decline.
pub const HOURLY: [f64; 24] = [
    30.0, 18.0, 12.0, 10.0, 10.0, 15.0, 30.0, 70.0, 140.0, 220.0, 276.0, 286.0, 190.0, 160.0,
    200.0, 210.0, 190.0, 150.0, 110.0, 100.0, 90.0, 80.0, 60.0, 45.0,
];

/// Maps uniform positions in the day to times of day following [`HOURLY`].
#[derive(Debug, Clone)]
pub struct Diurnal {
    /// Integral of the curve up to each hour boundary (25 values).
    cum: [f64; 25],
}

impl Default for Diurnal {
    fn default() -> Self {
        let mut cum = [0.0; 25];
        for h in 0..24 {
            cum[h + 1] = cum[h] + (HOURLY[h] + HOURLY[(h + 1) % 24]) / 2.0;
        }
        Diurnal { cum }
    }
}

impl Diurnal {
    /// Share of the day's requests in each hour.
    pub fn hourly_shares(&self) -> [f64; 24] {
        std::array::from_fn(|h| (self.cum[h + 1] - self.cum[h]) / self.cum[24])
    }

    /// Busiest hour's requests over the mean hourly requests.
    pub fn peak_to_mean(&self) -> f64 {
        self.hourly_shares().into_iter().fold(0.0, f64::max) * 24.0
    }

    /// Second of the day (in `[0, 86400)`) below which a share `q` of the requests fall.
    pub fn time_of(&self, q: f64) -> f64 {
        let target = q.clamp(0.0, 1.0) * self.cum[24];
        let h = (self.cum.partition_point(|&c| c <= target).max(1) - 1).min(23);
        let (a, b) = (HOURLY[h], HOURLY[(h + 1) % 24]);
        let r = target - self.cum[h];
        // Solve a·x + (b−a)·x²/2 = r for x in [0, 1] (the curve is linear within the hour).
        let x = if (b - a).abs() < 1e-12 {
            r / a
        } else {
            ((a * a + 2.0 * (b - a) * r).max(0.0).sqrt() - a) / (b - a)
        };
        ((h as f64 + x.clamp(0.0, 1.0)) * 3600.0).min(86_399.999)
    }
}

/// Share of each kind of request; page views take the rest (77.5%).
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// `/media/<src>` of the site (a page view when the site has no media).
    pub media: f64,
    /// `/assets/<theme>.css`.
    pub asset: f64,
    /// An unknown path on a known host (404).
    pub unknown_page: f64,
    /// A host that is no site's domain (404).
    pub unknown_host: f64,
    /// `/robots.txt`.
    pub robots: f64,
    /// `/sitemap.xml`.
    pub sitemap: f64,
}

/// The request mix of generated logs.
pub const MIX: Mix = Mix {
    media: 0.15,
    asset: 0.03,
    unknown_page: 0.02,
    unknown_host: 0.01,
    robots: 0.01,
    sitemap: 0.005,
};

/// Share of page views sent as `HEAD` (uptime monitors, link checkers).
const HEAD_SHARE: f64 = 0.005;
/// Share of requests to a site's main domain when it has several.
const MAIN_DOMAIN_SHARE: f64 = 0.85;

const PROBES: [&str; 12] = [
    "/wp-login.php",
    "/xmlrpc.php",
    "/.env",
    "/wp-admin/",
    "/index.php",
    "/favicon.ico",
    "/apple-touch-icon.png",
    "/contact.html",
    "/ancien-site/",
    "/promo-2019",
    "/admin",
    "/.git/config",
];

const BROWSERS: [&str; 10] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1",
];

/// Crawlers, with the address prefixes they come from; one has quotes in its user agent,
/// as some scrapers do, to exercise the `\"` escape of the log formats.
const BOTS: [(&str, &str); 5] = [
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "66.249.66.",
    ),
    (
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "40.77.167.",
    ),
    (
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "54.36.148.",
    ),
    (
        "Mozilla/5.0 (compatible; Qwantbot/1.0_4193332; +https://help.qwant.com/bot/)",
        "91.242.162.",
    ),
    (
        "SiteScanner/1.2 (\"audit\" mode; +https://scanner.example/bot)",
        "185.191.171.",
    ),
];

const V4_FIRST_OCTETS: [u8; 28] = [
    2, 5, 31, 37, 46, 62, 77, 78, 79, 80, 81, 82, 83, 84, 86, 88, 90, 91, 92, 109, 176, 178, 188,
    193, 194, 212, 213, 217,
];
const V6_PREFIXES: [&str; 6] = [
    "2a01:cb00",
    "2a01:e0a",
    "2a02:8428",
    "2001:861",
    "2a04:cec0",
    "2a01:cb1d",
];

const SEARCH: [&str; 5] = [
    "https://www.google.com/",
    "https://www.google.fr/",
    "https://www.bing.com/",
    "https://duckduckgo.com/",
    "https://www.qwant.com/",
];
const SOCIAL: [&str; 3] = [
    "https://www.facebook.com/",
    "https://l.instagram.com/",
    "https://www.linkedin.com/",
];

/// Bytes that a browser percent-encodes in a path.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

struct Client {
    ip: String,
    ua: &'static str,
    bot: bool,
}

/// Options of the generator, validated.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// Lines to write.
    pub count: u64,
    /// Site popularity exponent.
    pub zipf: f64,
    /// Page popularity exponent.
    pub page_zipf: f64,
    /// Seed.
    pub seed: u64,
    /// Output format.
    pub format: GenFormat,
    /// Unix time of local midnight starting the day.
    pub day_start: i64,
    /// UTC offset of the timestamps, seconds.
    pub utc_offset: i32,
}

impl GenOptions {
    /// Validates the command-line arguments.
    pub fn from_args(a: &GenLogArgs) -> Result<GenOptions, BenchError> {
        let arg = |option, reason: String| BenchError::Argument { option, reason };
        for (option, v) in [("--zipf", a.zipf), ("--page-zipf", a.page_zipf)] {
            if !(v.is_finite() && (0.0..=10.0).contains(&v)) {
                return Err(arg(option, format!("{v} is not between 0 and 10")));
            }
        }
        let d: Vec<&str> = a.date.split('-').collect();
        let date = match d.as_slice() {
            [y, m, d] => match (y.parse::<i64>(), m.parse::<i64>(), d.parse::<i64>()) {
                (Ok(y), Ok(m @ 1..=12), Ok(d @ 1..=31)) => Some((y, m, d)),
                _ => None,
            },
            _ => None,
        };
        let (y, m, d) =
            date.ok_or_else(|| arg("--date", format!("{:?} is not YYYY-MM-DD", a.date)))?;
        let o = a.utc_offset.as_bytes();
        let utc_offset = match o {
            [s @ (b'+' | b'-'), h1, h2, m1, m2] if o[1..].iter().all(u8::is_ascii_digit) => {
                let v = |x: &u8, y: &u8| i32::from(x - b'0') * 10 + i32::from(y - b'0');
                let secs = v(h1, h2) * 3600 + v(m1, m2) * 60;
                if *s == b'-' {
                    -secs
                } else {
                    secs
                }
            }
            _ => {
                return Err(arg(
                    "--utc-offset",
                    format!("{:?} is not ±HHMM", a.utc_offset),
                ))
            }
        };
        Ok(GenOptions {
            count: a.count,
            zipf: a.zipf,
            page_zipf: a.page_zipf,
            seed: a.seed,
            format: a.format,
            day_start: days_from_civil(y, m, d) * 86_400 - i64::from(utc_offset),
            utc_offset,
        })
    }
}

/// Requests written, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// Sites in the model.
    pub sites: usize,
    /// Sites left out (no domain or no page).
    pub skipped_sites: usize,
    /// Lines written.
    pub lines: u64,
    /// Page views (GET and HEAD).
    pub pages: u64,
    /// Media requests.
    pub media: u64,
    /// Theme asset requests.
    pub assets: u64,
    /// Unknown pages on known hosts.
    pub unknown_pages: u64,
    /// Requests to unknown hosts.
    pub unknown_hosts: u64,
    /// `/robots.txt` and `/sitemap.xml`.
    pub robots_sitemaps: u64,
}

/// The generator's state.
pub struct Generator<'a> {
    sites: &'a [SiteInfo],
    by_rank: Vec<usize>,
    site_zipf: Zipf,
    page_zipf: HashMap<usize, Zipf>,
    page_exponent: f64,
    known_hosts: HashSet<&'a str>,
    clients: Vec<Client>,
    client_zipf: Zipf,
    diurnal: Diurnal,
    rng: Xoshiro256PlusPlus,
    opts: GenOptions,
    /// Running product of the sorted-uniform recurrence (see the module doc).
    x: f64,
    remaining: u64,
    summary: GenSummary,
}

impl<'a> Generator<'a> {
    /// A generator over `sites` (non-empty).
    pub fn new(sites: &'a [SiteInfo], opts: GenOptions) -> Generator<'a> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(opts.seed);
        let mut by_rank: Vec<usize> = (0..sites.len()).collect();
        // Fisher-Yates written out so the permutation depends only on the generator's bits.
        for i in (1..by_rank.len()).rev() {
            let j = (rng.random::<u64>() % (i as u64 + 1)) as usize;
            by_rank.swap(i, j);
        }
        let pool = (opts.count / 8).clamp(200, 500_000) as usize;
        let clients = (0..pool).map(|_| client(&mut rng)).collect();
        Generator {
            sites,
            by_rank,
            site_zipf: Zipf::new(sites.len(), opts.zipf),
            page_zipf: HashMap::new(),
            page_exponent: opts.page_zipf,
            known_hosts: sites
                .iter()
                .flat_map(|s| s.domains.iter().map(String::as_str))
                .collect(),
            clients,
            client_zipf: Zipf::new(pool, 0.6),
            diurnal: Diurnal::default(),
            rng,
            x: 1.0,
            remaining: opts.count,
            opts,
            summary: GenSummary {
                sites: sites.len(),
                ..GenSummary::default()
            },
        }
    }

    fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        pick(&mut self.rng, items)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        range(&mut self.rng, lo, hi)
    }

    /// Writes the next line (with its line end) into `out`; `false` once `count` lines
    /// were written.
    pub fn next_line(&mut self, out: &mut String) -> bool {
        if self.remaining == 0 {
            return false;
        }
        // Largest remaining uniform of `remaining` draws: x·U^(1/remaining); taking 1−x
        // yields the sorted uniforms in increasing order.
        let u = 1.0 - self.uniform();
        self.x *= u.powf(1.0 / self.remaining as f64);
        self.remaining -= 1;
        let second = self.diurnal.time_of(1.0 - self.x);
        let time = self.opts.day_start + second as i64;

        let sites = self.sites;
        let u = self.uniform();
        let site = &sites[self.by_rank[self.site_zipf.sample(u)]];
        let u = self.uniform();
        let c = self.client_zipf.sample(u);
        let (ip, ua, bot) = {
            let c = &self.clients[c];
            (c.ip.clone(), c.ua, c.bot)
        };
        let host = if site.domains.len() > 1 && self.uniform() >= MAIN_DOMAIN_SHARE {
            site.domains[1 + (self.rng.random::<u64>() % (site.domains.len() as u64 - 1)) as usize]
                .clone()
        } else {
            site.domains[0].clone()
        };
        let page = self.page(site);
        let page_path = if page == 0 {
            "/".to_owned()
        } else {
            format!("/{}", site.pages[page])
        };

        let mut k = self.uniform();
        let mut method = "GET";
        let mut referer = String::from("-");
        let mut host = host;
        let (path, status, bytes) = 'kind: {
            k -= MIX.media;
            if k < 0.0 && !site.media.is_empty() {
                self.summary.media += 1;
                let src = self.pick(&site.media).clone();
                let path = format!("/media/{}", utf8_percent_encode(&src, PATH));
                referer = format!("https://{host}{page_path}");
                let (status, bytes) = if self.uniform() < 0.05 {
                    (304, self.range(180, 260))
                } else if src.ends_with(".mp4") || src.ends_with(".webm") {
                    (200, self.range(500_000, 6_000_000))
                } else {
                    (200, self.range(30_000, 400_000))
                };
                break 'kind (path, status, bytes);
            }
            k -= MIX.asset;
            if k < 0.0 {
                self.summary.assets += 1;
                let theme = site.theme.as_deref().unwrap_or("classic");
                referer = format!("https://{host}{page_path}");
                let (status, bytes) = if self.uniform() < 0.1 {
                    (304, self.range(180, 260))
                } else {
                    (200, self.range(6_000, 30_000))
                };
                break 'kind (format!("/assets/{theme}.css"), status, bytes);
            }
            k -= MIX.unknown_page;
            if k < 0.0 {
                self.summary.unknown_pages += 1;
                let mut probe = (*self.pick(&PROBES)).to_owned();
                if site.pages.iter().any(|p| probe[1..] == **p) {
                    probe = "/page-introuvable".to_owned();
                }
                break 'kind (probe, 404, self.range(1_500, 3_000));
            }
            k -= MIX.unknown_host;
            if k < 0.0 {
                self.summary.unknown_hosts += 1;
                host = self.unknown_host(site);
                break 'kind (page_path.clone(), 404, self.range(1_500, 3_000));
            }
            k -= MIX.robots + MIX.sitemap;
            if k < 0.0 {
                self.summary.robots_sitemaps += 1;
                if k < -MIX.sitemap {
                    break 'kind ("/robots.txt".to_owned(), 200, self.range(90, 200));
                }
                let n = site.pages.len() as u64;
                break 'kind ("/sitemap.xml".to_owned(), 200, 300 + 120 * n);
            }
            self.summary.pages += 1;
            referer = self.page_referer(&host, bot);
            if self.uniform() < HEAD_SHARE {
                method = "HEAD";
                break 'kind (page_path.clone(), 200, self.range(200, 400));
            }
            (page_path.clone(), 200, self.range(4_000, 30_000))
        };
        let protocol = if self.uniform() < 0.3 {
            "HTTP/2.0"
        } else {
            "HTTP/1.1"
        };
        let nginx = self.opts.format == GenFormat::NginxHost;
        // nginx's $body_bytes_sent excludes headers, Apache's %O includes them.
        let bytes = if nginx && status == 304 { 0 } else { bytes };
        let mut time_text = String::with_capacity(26);
        format_time(time, self.opts.utc_offset, &mut time_text);
        let port = if self.uniform() < 0.9 { 443 } else { 80 };
        if !nginx {
            let _ = write!(out, "{host}:{port} ");
        }
        let _ = write!(
            out,
            "{ip} - - [{time_text}] \"{method} {path} {protocol}\" {status} {bytes} \""
        );
        escape(&referer, nginx, out);
        out.push_str("\" \"");
        escape(ua, nginx, out);
        out.push('"');
        if nginx {
            let _ = write!(out, " \"{host}\"");
        }
        out.push('\n');
        self.summary.lines += 1;
        true
    }

    fn page(&mut self, site: &SiteInfo) -> usize {
        let n = site.pages.len();
        let s = self.page_exponent;
        let u = self.uniform();
        self.page_zipf
            .entry(n)
            .or_insert_with(|| Zipf::new(n, s))
            .sample(u)
    }

    fn page_referer(&mut self, host: &str, bot: bool) -> String {
        if bot {
            return "-".to_owned();
        }
        let r = self.uniform();
        if r < 0.40 {
            "-".to_owned()
        } else if r < 0.75 {
            (*self.pick(&SEARCH)).to_owned()
        } else if r < 0.95 {
            format!("https://{host}/")
        } else {
            (*self.pick(&SOCIAL)).to_owned()
        }
    }

    /// A host no site serves: an old or mistyped name of this site, or a bare address.
    fn unknown_host(&mut self, site: &SiteInfo) -> String {
        for _ in 0..8 {
            let main = &site.domains[0];
            let bare = main.strip_prefix("www.").unwrap_or(main);
            let candidate = match self.rng.random::<u64>() % 4 {
                0 => format!("old.{bare}"),
                1 => format!("{bare}.com"),
                2 => format!("ww.{bare}"),
                _ => format!("mail.{bare}"),
            };
            if !self.known_hosts.contains(candidate.as_str()) {
                return candidate;
            }
        }
        format!("51.91.{}.{}", self.range(0, 256), self.range(1, 255))
    }

    /// What was written so far.
    pub fn summary(&self) -> &GenSummary {
        &self.summary
    }
}

fn client(rng: &mut Xoshiro256PlusPlus) -> Client {
    let r = rng.random::<f64>();
    if r < 0.05 {
        let (ua, prefix) = BOTS[(rng.random::<u64>() % BOTS.len() as u64) as usize];
        return Client {
            ip: format!("{prefix}{}", 1 + rng.random::<u64>() % 254),
            ua,
            bot: true,
        };
    }
    let ua = BROWSERS[(rng.random::<u64>() % BROWSERS.len() as u64) as usize];
    let ip = if r < 0.77 {
        let first = V4_FIRST_OCTETS[(rng.random::<u64>() % V4_FIRST_OCTETS.len() as u64) as usize];
        let v = rng.random::<u32>();
        format!(
            "{first}.{}.{}.{}",
            (v >> 16) & 255,
            (v >> 8) & 255,
            1 + (v & 255) % 254
        )
    } else {
        let prefix = V6_PREFIXES[(rng.random::<u64>() % V6_PREFIXES.len() as u64) as usize];
        let g: [u16; 6] = std::array::from_fn(|_| rng.random::<u16>());
        if g[0] & 1 == 0 {
            // Router-assigned addresses are often short: prefix, subnet, then `::n`.
            format!("{prefix}:{:x}:{:x}::{:x}", g[1], g[2], g[3] & 0xfff)
        } else {
            format!(
                "{prefix}:{:x}:{:x}:{:x}:{:x}:{:x}",
                g[1], g[2], g[3], g[4], g[5]
            )
        }
    };
    Client { ip, ua, bot: false }
}

/// Escapes a logged string as the server would: Apache writes `\"` and `\\`, nginx `\x22`
/// and `\x5C`.
fn escape(s: &str, nginx: bool, out: &mut String) {
    for c in s.chars() {
        match (c, nginx) {
            ('"', false) => out.push_str("\\\""),
            ('\\', false) => out.push_str("\\\\"),
            ('"', true) => out.push_str("\\x22"),
            ('\\', true) => out.push_str("\\x5C"),
            _ => out.push(c),
        }
    }
}

/// Runs `vitrine-bench gen-log`: reads the sites, writes the log, prints a summary line on
/// standard error.
pub fn generate(args: &GenLogArgs) -> Result<GenSummary, BenchError> {
    let opts = GenOptions::from_args(args)?;
    let (sites, skipped) = load_sites(&args.sites)?;
    let path = &args.output;
    let mut summary = write_output(path, |w| write_log(&sites, opts, w))?;
    summary.skipped_sites = skipped;
    eprintln!(
        "wrote {} lines for {} sites ({} skipped) to {}: {} page views, {} media, {} assets, \
         {} unknown pages, {} unknown hosts, {} robots/sitemap",
        summary.lines,
        summary.sites,
        skipped,
        path.display(),
        summary.pages,
        summary.media,
        summary.assets,
        summary.unknown_pages,
        summary.unknown_hosts,
        summary.robots_sitemaps
    );
    Ok(summary)
}

/// Runs `body` on the output `path` (`-` for standard output), buffered, gzip-compressed
/// when the name ends in `.gz`, flushed (and the gzip stream finished) at the end.
pub fn write_output<T>(
    path: &Path,
    body: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> Result<T, BenchError> {
    let write_err = |source| BenchError::Write {
        path: path.to_owned(),
        source,
    };
    let sink: Box<dyn Write> = if path.as_os_str() == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(File::create(path).map_err(|source| BenchError::Open {
            path: path.to_owned(),
            source,
        })?)
    };
    let mut sink = BufWriter::with_capacity(1 << 20, sink);
    let gz = path.extension().is_some_and(|e| e == "gz");
    let out = if gz {
        let mut enc = flate2::write::GzEncoder::new(&mut sink, flate2::Compression::default());
        let out = body(&mut enc).map_err(write_err)?;
        enc.finish().map_err(write_err)?;
        out
    } else {
        body(&mut sink).map_err(write_err)?
    };
    sink.flush().map_err(write_err)?;
    Ok(out)
}

/// Writes the whole log for `sites` into `w`.
pub fn write_log(
    sites: &[SiteInfo],
    opts: GenOptions,
    w: &mut dyn Write,
) -> io::Result<GenSummary> {
    let mut g = Generator::new(sites, opts);
    let mut buf = String::with_capacity(64 * 1024);
    while g.next_line(&mut buf) {
        if buf.len() > 60 * 1024 {
            w.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    w.write_all(buf.as_bytes())?;
    Ok(g.summary().clone())
}

#[cfg(test)]
mod tests;
