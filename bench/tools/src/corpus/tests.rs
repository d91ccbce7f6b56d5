//! Tests of the corpus generator: determinism, validity of every record against the data
//! contract, the XML schema and the themes, and the realism of the mix.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::text::{amount, hhmm, idn_label, luhn_complete, marks};
use super::*;
use vitrine::export::record::{parse_line, Day, Hours, Inline, Rules, Run};
use vitrine::export::xml::site_xml;
use vitrine::render::xslt::{parse_document, Limits, Schema};
use vitrine::render::{render_page, PageRequest, Theme};

/// The repository's root (this crate is bench/tools), where the themes are.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus_bytes(count: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let s = write_corpus(count, seed, &mut out).unwrap();
    assert_eq!(s.records, count);
    assert_eq!(s.bytes, out.len() as u64);
    out
}

/// The first 2,000 records of seed 1 (the default corpus's first sites).
fn sample() -> Vec<Record> {
    Corpus::new(2_000, 1).collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = corpus_bytes(300, 7);
    assert_eq!(a, corpus_bytes(300, 7));
    let c = corpus_bytes(300, 8);
    assert_ne!(a, c);
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 300);
    // A record depends only on the seed and its number: a smaller corpus is a prefix.
    let small = corpus_bytes(120, 7);
    assert!(a.starts_with(&small));
    // Different seeds differ record by record, not just somewhere.
    let first = |b: &[u8]| b.split(|&x| x == b'\n').next().unwrap().to_vec();
    assert_ne!(first(&a), first(&c));
}

#[test]
fn every_record_checks_writes_valid_xml_and_is_unique() {
    let rules = Rules::from_stylesheets(&repo().join("stylesheets")).unwrap();
    let schema = Schema::site().unwrap();
    let mut ids = HashSet::new();
    let mut domains = HashSet::new();
    for r in sample() {
        let line = serde_json::to_vec(&r).unwrap();
        let mut back = parse_line(&line).unwrap_or_else(|e| panic!("{}: {e}", r.id));
        assert_eq!(back, r, "JSON round trip of {}", r.id);
        back.check(&rules)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", r.id, String::from_utf8_lossy(&line)));
        // Checking normalises domains: the generator already writes them normalised.
        assert_eq!(back, r, "{} was not in canonical form", r.id);
        assert!(r.id.len() <= 63, "{}", r.id);
        assert!(ids.insert(r.id.clone()), "duplicate id {}", r.id);
        for d in &r.domains {
            assert!(domains.insert(d.clone()), "duplicate domain {d}");
        }
        assert!((2..=7).contains(&r.pages.len()), "{}", r.id);
        assert!(photo_count(&r) <= 12, "{}", r.id);
        let xml = site_xml(&r).unwrap();
        let doc = parse_document(&xml, &r.id).unwrap();
        schema
            .validate(&doc)
            .unwrap_or_else(|e| panic!("{}: {e}", r.id));
    }
}

#[test]
fn sample_renders_every_page_with_every_theme() {
    let dir = repo().join("stylesheets");
    let themes: Vec<Theme> = THEMES
        .iter()
        .map(|t| Theme::compile(&dir, t).unwrap())
        .collect();
    let site_dir = tempfile::tempdir().unwrap();
    // Every 40th record: 50 sites, about 200 pages, each through the three themes.
    for r in sample().iter().step_by(40) {
        let xml = site_xml(r).unwrap();
        for page in &r.pages {
            for theme in &themes {
                let out = render_page(
                    PageRequest {
                        xml: &xml,
                        file_name: &r.id,
                        site_dir: site_dir.path(),
                        page: &page.id,
                        host: &r.domains[0],
                    },
                    theme,
                    &dir,
                    Limits::default(),
                )
                .unwrap_or_else(|e| panic!("{} /{} with {}: {e}", r.id, page.id, theme.name));
                assert!(out.found, "{} /{}", r.id, page.id);
                let html = std::str::from_utf8(&out.body).unwrap();
                assert!(
                    html.contains(&r.identity.name)
                        || html.contains(&escape_html(&r.identity.name)),
                    "{} /{} with {}: name missing",
                    r.id,
                    page.id,
                    theme.name
                );
            }
        }
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;")
}

#[test]
fn exported_xml_is_mostly_3_to_20_kb() {
    let mut sizes: Vec<usize> = sample()
        .iter()
        .map(|r| site_xml(r).unwrap().len())
        .collect();
    sizes.sort_unstable();
    let within = sizes
        .iter()
        .filter(|&&s| (3_000..=20_000).contains(&s))
        .count();
    let median = sizes[sizes.len() / 2];
    assert!(
        within * 100 >= sizes.len() * 95,
        "{within} of {} in 3-20 KB (min {}, median {median}, max {})",
        sizes.len(),
        sizes[0],
        sizes[sizes.len() - 1]
    );
    assert!((5_000..=12_000).contains(&median), "median {median}");
    assert!(
        sizes[sizes.len() - 1] < 40_000,
        "max {}",
        sizes[sizes.len() - 1]
    );
}

#[test]
fn the_mix_is_varied() {
    let records = sample();
    let n = records.len() as f64;
    let mut summary = CorpusSummary::default();
    for r in &records {
        summary.add(r, 0);
    }
    let share = |x: u64| x as f64 / n;
    // Themes in uneven shares, most used first.
    let [classic, modern, light] = summary.themes;
    assert!(
        classic > modern && modern > light && share(light) > 0.1,
        "{:?}",
        summary.themes
    );
    assert!(
        (0.01..0.06).contains(&share(summary.english)),
        "{}",
        summary.english
    );
    assert!(
        share(summary.multi_domain) > 0.5,
        "{}",
        summary.multi_domain
    );
    assert!(summary.idn > 10, "{}", summary.idn);

    let activities: HashSet<&str> = records
        .iter()
        .map(|r| r.identity.activity.as_str())
        .collect();
    assert!(activities.len() >= 20, "{activities:?}");
    let cities: HashSet<&str> = records
        .iter()
        .map(|r| r.contact.address.city.as_str())
        .collect();
    assert!(cities.len() >= 60, "{}", cities.len());
    let paris: HashSet<&str> = records
        .iter()
        .filter(|r| r.contact.address.city == "Paris")
        .map(|r| r.contact.address.postcode.as_str())
        .collect();
    assert!(paris.len() >= 15 && paris.iter().all(|p| ("75001"..="75020").contains(p)));

    let photos: Vec<usize> = records.iter().map(photo_count).collect();
    assert!(photos.contains(&0) && photos.iter().any(|&p| p >= 10));
    let pages: HashSet<usize> = records.iter().map(|r| r.pages.len()).collect();
    assert_eq!(pages, (2..=7).collect());

    let hours: Vec<&Hours> = records.iter().filter_map(|r| r.hours.as_ref()).collect();
    assert!(hours.len() as f64 > 0.85 * n);
    let lunch_break = hours
        .iter()
        .filter(|h| {
            h.days()
                .iter()
                .any(|(_, d)| matches!(d, Day::Open(p) if p.len() == 2))
        })
        .count();
    assert!(
        lunch_break as f64 > 0.5 * hours.len() as f64,
        "{lunch_break}"
    );
    let closures = hours.iter().filter(|h| !h.closures.is_empty()).count();
    assert!(
        (0.4..0.7).contains(&(closures as f64 / hours.len() as f64)),
        "{closures}"
    );

    // English sites are UK businesses priced in pounds.
    for r in records.iter().filter(|r| r.lang == "en") {
        assert_eq!(r.contact.address.country.code, "GB");
        assert!(r.contact.phones.iter().all(|p| p.number.starts_with("+44")));
    }
    let gbp = records
        .iter()
        .filter(|r| r.lang == "en")
        .flat_map(|r| &r.pages)
        .flat_map(|p| &p.sections)
        .flat_map(|s| &s.blocks)
        .filter_map(|b| match b {
            Block::Services(s) => Some(s),
            _ => None,
        })
        .flatten()
        .filter_map(|s| s.price.as_ref()?.currency.as_deref())
        .collect::<HashSet<_>>();
    assert_eq!(gbp, HashSet::from(["GBP"]));
}

#[test]
fn helpers() {
    assert_eq!(slug("Pâtisserie L’Été & Fils"), "patisserie-lete-fils");
    assert_eq!(slug("O'Brien's  Bakery!"), "obriens-bakery");
    assert_eq!(slug("Saint-Étienne"), "saint-etienne");
    assert_eq!(
        idn_label("Boulangerie Lefèvre", "Nîmes"),
        "boulangerie-lefèvre-nîmes"
    );
    assert_eq!(
        idn_label("Le Pétrin de Nîmes", "Nîmes"),
        "le-pétrin-de-nîmes"
    );
    // Luhn: doubling every second digit from the right, the total is a multiple of 10.
    for payload in ["73282932", "1234567800012", "00000000"] {
        let full = luhn_complete(payload);
        let sum: u32 = full
            .bytes()
            .rev()
            .enumerate()
            .map(|(i, b)| {
                let d = u32::from(b - b'0') * if i % 2 == 1 { 2 } else { 1 };
                d / 10 + d % 10
            })
            .sum();
        assert_eq!(sum % 10, 0, "{full}");
    }
    let fill = |before: &str, name: &str| {
        let mut out = before.to_owned();
        push_name(&mut out, name, true);
        out
    };
    assert_eq!(
        fill("Avocat au barreau de ", "Albi"),
        "Avocat au barreau d’Albi"
    );
    assert_eq!(fill("Le Bistrot de ", "Émilie"), "Le Bistrot d’Émilie");
    assert_eq!(fill("La Table de ", "Le Havre"), "La Table du Havre");
    assert_eq!(fill("installés à ", "Le Mans"), "installés au Mans");
    assert_eq!(fill("de ", "Paris"), "de Paris");
    assert_eq!(fill("monde ", "Albi"), "monde Albi");
    assert_eq!(amount(1.312), "1.30");
    assert_eq!(amount(12.1), "12");
    assert_eq!(amount(12.4), "12.50");
    assert_eq!(amount(145.4), "145");
    assert_eq!(amount(1234.0), "1230");
    assert_eq!(hhmm(1440), "24:00");
    assert_eq!(hhmm(450), "07:30");
    let m = marks("a **b** c *d*");
    assert_eq!(
        m.0,
        [
            Run::Text("a ".into()),
            Run::Strong(Inline::text("b")),
            Run::Text(" c ".into()),
            Run::Em(Inline::text("d")),
        ]
    );
}

#[test]
fn gen_corpus_writes_gzip_and_refuses_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("records.jsonl.gz");
    let args = GenCorpusArgs {
        output: out.clone(),
        count: 50,
        seed: 3,
    };
    let s = generate(&args).unwrap();
    let mut text = String::new();
    io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap()),
        &mut text,
    )
    .unwrap();
    assert_eq!(text.as_bytes(), corpus_bytes(50, 3));
    assert_eq!(s.bytes, text.len() as u64);
    let zero = GenCorpusArgs { count: 0, ..args };
    assert!(matches!(generate(&zero), Err(BenchError::Argument { .. })));
    assert!(!Path::new(&dir.path().join("none")).exists());
}
