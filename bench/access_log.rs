//! Parsing cost of one access-log line per format, and of format detection: the reader thread
//! must stay far ahead of the replay rate (a 1,000,000-line day in well under a second).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use vitrine::replay::access_log::{detect_format, parse_line, LogFormat};

const LINES: [(LogFormat, &str); 4] = [
    (
        LogFormat::VhostCombined,
        r#"www.boulangerie-martin.fr:443 2a01:cb00:1234:5600::42 - - [10/Mar/2026:10:31:07 +0100] "GET /tarifs HTTP/2.0" 200 14234 "https://www.google.fr/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36""#,
    ),
    (
        LogFormat::NginxHost,
        r#"81.64.12.9 - - [10/Mar/2026:10:31:07 +0100] "GET /media/four%20a%20bois.jpg HTTP/1.1" 200 48213 "https://plombier-durand.fr/" "SiteScanner/1.2 (\x22audit\x22 mode; +https://scanner.example/bot)" "plombier-durand.fr""#,
    ),
    (
        LogFormat::Combined,
        r#"81.64.12.9 - - [10/Mar/2026:10:31:07 +0100] "GET /contact HTTP/1.1" 200 9120 "-" "Mozilla/5.0 (compatible; \"Fetcher\"/1.0)""#,
    ),
    (
        LogFormat::Common,
        r#"81.64.12.9 - - [10/Mar/2026:10:31:07 +0100] "HEAD / HTTP/1.1" 200 312"#,
    ),
];

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_line");
    g.throughput(Throughput::Elements(1));
    for (format, line) in LINES {
        assert!(parse_line(line, format).is_ok(), "{line}");
        g.bench_function(format.name(), |b| {
            b.iter(|| parse_line(black_box(line), format))
        });
    }
    g.finish();
    c.bench_function("detect_format/nginx_host", |b| {
        b.iter(|| detect_format(black_box(LINES[1].1)))
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
