//! Tests of the log generator: the Zipf sampler and the daily curve against their laws, the
//! sites it reads, determinism, and the shape of a generated day read back by the replayer's
//! own parser.

use super::*;
use vitrine::replay::access_log::{parse_line, LogFormat};

fn site_xml(id: &str, pages: usize, extra_domain: bool) -> String {
    let www = if extra_domain {
        format!("<domain>www.{id}.fr</domain>")
    } else {
        String::new()
    };
    let pages: String = (0..pages)
        .map(|p| {
            let pid = if p == 0 { "accueil".to_owned() } else { format!("page-{p}") };
            format!(
                r#"<page id="{pid}" title="P"><section><p>x &amp; y</p><gallery><photo src="photo {p}.jpg" alt="a" width="1" height="1"/></gallery></section></page>"#
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="classic.xsl"?>
<site id="{id}" lang="fr"><domains>{www}<domain main="true">{id}.fr</domain></domains>
<identity><name>N</name><activity>A</activity><logo src="logo.png" alt="l"/><legal><company>C</company><registration kind="SIRET">1</registration></legal></identity>
<contact><address><street>s</street><postcode>1</postcode><city>c</city><country code="FR">France</country></address></contact>
<pages>{pages}</pages></site>"#
    )
}

fn corpus(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        let id = format!("site-{i:03}");
        let d = dir.path().join(format!("{:02x}", i % 7)).join(&id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("site.xml"), site_xml(&id, 1 + i % 6, i % 3 == 0)).unwrap();
    }
    // Ignored: no site.xml; left out: no domain.
    std::fs::create_dir_all(dir.path().join("00/empty")).unwrap();
    let d = dir.path().join("01/nodomain");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("site.xml"),
        "<site id=\"nodomain\"><domains/><pages><page id=\"a\"/></pages></site>",
    )
    .unwrap();
    dir
}

fn opts(count: u64, seed: u64, format: GenFormat) -> GenOptions {
    GenOptions::from_args(&GenLogArgs {
        sites: PathBuf::new(),
        output: PathBuf::new(),
        count,
        zipf: 0.9,
        page_zipf: 1.0,
        seed,
        format,
        date: "2026-03-10".into(),
        utc_offset: "+0100".into(),
    })
    .unwrap()
}

fn log(sites: &[SiteInfo], o: GenOptions) -> (String, GenSummary) {
    let mut out = Vec::new();
    let s = write_log(sites, o, &mut out).unwrap();
    (String::from_utf8(out).unwrap(), s)
}

#[test]
fn reads_only_what_the_model_needs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("site.xml");
    std::fs::write(&p, site_xml("boulangerie", 3, true)).unwrap();
    let s = read_site(&p).unwrap();
    assert_eq!(
        s.domains,
        ["boulangerie.fr", "www.boulangerie.fr"],
        "main first"
    );
    assert_eq!(s.pages, ["accueil", "page-1", "page-2"]);
    assert_eq!(
        s.media,
        ["logo.png", "photo 0.jpg", "photo 1.jpg", "photo 2.jpg"]
    );
    assert_eq!(s.theme.as_deref(), Some("classic"));
    std::fs::write(
        &p,
        "<site><domains><domain>a.fr</domain></domains><pages><page id='x'></site>",
    )
    .unwrap();
    assert!(matches!(read_site(&p), Err(BenchError::Site { .. })));
}

#[test]
fn loads_sites_in_path_order_and_skips_incomplete_ones() {
    let dir = corpus(20);
    let (sites, skipped) = load_sites(dir.path()).unwrap();
    assert_eq!((sites.len(), skipped), (20, 1));
    let mut ids: Vec<&str> = sites.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids[0], "site-000");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

#[test]
fn same_seed_same_log_other_seed_other_log() {
    let dir = corpus(30);
    let (sites, _) = load_sites(dir.path()).unwrap();
    let (a, _) = log(&sites, opts(3000, 7, GenFormat::VhostCombined));
    let (b, _) = log(&sites, opts(3000, 7, GenFormat::VhostCombined));
    let (c, _) = log(&sites, opts(3000, 8, GenFormat::VhostCombined));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(a.lines().count(), 3000);
}

#[test]
fn zipf_sampler_matches_the_law() {
    let z = Zipf::new(1000, 0.9);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
    let mut counts = vec![0u64; 1000];
    for _ in 0..400_000 {
        counts[z.sample(rng.random::<f64>())] += 1;
    }
    let ratio = counts[0] as f64 / counts[9] as f64;
    let expected = 10f64.powf(0.9);
    assert!(
        (ratio / expected - 1.0).abs() < 0.1,
        "{ratio} vs {expected}"
    );
    let p0 = counts[0] as f64 / 400_000.0;
    assert!((p0 / z.probability(0) - 1.0).abs() < 0.03, "{p0}");
    assert_eq!(z.sample(0.0), 0);
    assert_eq!(z.sample(0.999_999_999_9), 999);
}

#[test]
fn diurnal_peak_is_two_and_a_half_times_the_mean() {
    let d = Diurnal::default();
    let ratio = d.peak_to_mean();
    assert!((ratio - 2.5).abs() < 0.05, "{ratio}");
    let shares = d.hourly_shares();
    assert!(shares[3] * 24.0 < 0.15, "quiet night: {}", shares[3] * 24.0);
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // The inverse is monotone and hits the hour boundaries.
    let mut last = -1.0;
    for i in 0..=1000 {
        let t = d.time_of(i as f64 / 1000.0);
        assert!(t >= last && (0.0..86_400.0).contains(&t));
        last = t;
    }
    let q10 = d.cum[10] / d.cum[24];
    assert!((d.time_of(q10) - 36_000.0).abs() < 1e-6);
}

#[test]
fn generated_log_has_the_modelled_shape_and_parses_back() {
    let dir = corpus(60);
    let (sites, _) = load_sites(dir.path()).unwrap();
    for format in [GenFormat::VhostCombined, GenFormat::NginxHost] {
        let o = opts(40_000, 1, format);
        let day_start = o.day_start;
        let (text, sum) = log(&sites, o);
        let parse_as = match format {
            GenFormat::VhostCombined => LogFormat::VhostCombined,
            GenFormat::NginxHost => LogFormat::NginxHost,
        };
        let known: HashSet<&str> = sites
            .iter()
            .flat_map(|s| s.domains.iter().map(String::as_str))
            .collect();
        let site_of: HashMap<&str, usize> = sites
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.domains.iter().map(move |d| (d.as_str(), i)))
            .collect();
        let (mut last, mut n, mut s404, mut unknown, mut media, mut v6, mut quoted, mut head) =
            (i64::MIN, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        let mut hours = [0u64; 24];
        let mut per_site = vec![0u64; sites.len()];
        for line in text.lines() {
            let l = parse_line(line, parse_as).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(l.time >= last, "timestamps increase");
            last = l.time;
            assert!((0..86_400).contains(&(l.time - day_start)));
            hours[((l.time - day_start) / 3600) as usize] += 1;
            n += 1;
            s404 += u64::from(l.status == 404);
            media += u64::from(l.target.starts_with("/media/"));
            v6 += u64::from(l.client.contains(':'));
            head += u64::from(l.method == "HEAD");
            quoted += u64::from(
                l.user_agent
                    .is_some_and(|u| u.contains("\\\"") || u.contains("\\x22")),
            );
            let host = l.host.unwrap();
            if known.contains(host) {
                per_site[site_of[host]] += 1;
            } else {
                unknown += 1;
            }
        }
        let share = |x: u64| x as f64 / n as f64;
        assert_eq!(n, 40_000);
        assert!((share(media) - 0.15).abs() < 0.01, "media {}", share(media));
        assert!(
            (share(unknown) - 0.01).abs() < 0.003,
            "unknown hosts {}",
            share(unknown)
        );
        assert!((share(s404) - 0.03).abs() < 0.005, "404 {}", share(s404));
        assert!(
            share(v6) > 0.1 && quoted > 0 && head > 0,
            "{v6} {quoted} {head}"
        );
        assert_eq!(sum.unknown_hosts, unknown);
        let peak = *hours.iter().max().unwrap() as f64 / (n as f64 / 24.0);
        assert!((peak - 2.5).abs() < 0.15, "peak/mean {peak}");
        // Popularity: a log-log fit of requests against popularity rank has slope ≈ −s.
        per_site.sort_unstable_by(|a, b| b.cmp(a));
        let pts: Vec<(f64, f64)> = per_site[..20]
            .iter()
            .enumerate()
            .map(|(r, &c)| (((r + 1) as f64).ln(), (c as f64).ln()))
            .collect();
        let (mx, my) = pts
            .iter()
            .fold((0.0, 0.0), |a, p| (a.0 + p.0 / 20.0, a.1 + p.1 / 20.0));
        let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
            / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
        assert!((slope + 0.9).abs() < 0.15, "slope {slope}");
    }
}

#[test]
fn home_page_is_the_most_visited() {
    let dir = corpus(6);
    let (sites, _) = load_sites(dir.path()).unwrap();
    let (text, _) = log(&sites, opts(20_000, 2, GenFormat::VhostCombined));
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in text.lines() {
        let l = parse_line(line, LogFormat::VhostCombined).unwrap();
        if l.status == 200 && !l.target.starts_with("/media") && !l.target.starts_with("/assets") {
            *counts
                .entry(format!("{}{}", l.host.unwrap(), l.target))
                .or_default() += 1;
        }
    }
    // site-005 has 6 pages: home, then page-1 .. page-5 in decreasing popularity.
    let c = |p: &str| counts.get(&format!("site-005.fr{p}")).copied().unwrap_or(0);
    assert!(c("/") > c("/page-1") && c("/page-1") > c("/page-3") && c("/page-3") > c("/page-5"));
}

#[test]
fn gen_log_writes_gzip_when_asked() {
    let dir = corpus(5);
    let out = dir.path().join("day.log.gz");
    let args = GenLogArgs {
        sites: dir.path().to_owned(),
        output: out.clone(),
        count: 500,
        zipf: 0.9,
        page_zipf: 1.0,
        seed: 1,
        format: GenFormat::NginxHost,
        date: "2026-03-10".into(),
        utc_offset: "-0500".into(),
    };
    let s = generate(&args).unwrap();
    assert_eq!(s.lines, 500);
    let (mut r, gz) = vitrine::replay::access_log::open_log(&out).unwrap();
    assert!(gz);
    let mut text = String::new();
    io::Read::read_to_string(&mut r, &mut text).unwrap();
    assert_eq!(text.lines().count(), 500);
    assert!(text
        .lines()
        .all(|l| l.contains("/Mar/2026:") && l.contains(" -0500]")));
    let bad = GenLogArgs {
        date: "2026-13-01".into(),
        ..args
    };
    assert!(matches!(generate(&bad), Err(BenchError::Argument { .. })));
}
