//! Export micro-benchmark: what one record costs on a builder thread, per sample site:
//! decode the JSON line, check it, write the XML, parse it back and validate it against the
//! schema (no disk, no Redis). Also each step alone on one site, to see where the time goes.
//!
//! Run: `cargo bench --bench export` (add `-- --quick` for a faster, rougher pass).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use vitrine::export::record::{parse_line, Rules};
use vitrine::export::xml::site_xml;
use vitrine::render::xslt::{parse_document, Schema};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench_export(c: &mut Criterion) {
    let rules = Rules::from_stylesheets(&repo().join("stylesheets")).unwrap();
    let schema = Schema::site().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(repo().join("sample-sites/records.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();

    let mut group = c.benchmark_group("export_record");
    for line in &lines {
        let id = parse_line(line.as_bytes()).unwrap().id;
        group.bench_function(&id, |b| {
            b.iter(|| {
                let mut r = parse_line(black_box(line.as_bytes())).unwrap();
                r.check(&rules).unwrap();
                let xml = site_xml(&r).unwrap();
                let doc = parse_document(&xml, "site.xml").unwrap();
                schema.validate(&doc).unwrap();
                black_box(xml.len())
            })
        });
    }
    group.finish();

    let line = lines
        .iter()
        .find(|l| l.contains("\"id\":\"boulangerie-martin\""))
        .unwrap();
    let mut record = parse_line(line.as_bytes()).unwrap();
    record.check(&rules).unwrap();
    let xml = site_xml(&record).unwrap();
    let mut group = c.benchmark_group("export_steps_boulangerie-martin");
    group.bench_function("decode_json", |b| {
        b.iter(|| black_box(parse_line(black_box(line.as_bytes())).unwrap()))
    });
    group.bench_function("check", |b| {
        b.iter(|| {
            let mut r = record.clone();
            r.check(&rules).unwrap();
            black_box(r)
        })
    });
    group.bench_function("write_xml", |b| {
        b.iter(|| black_box(site_xml(black_box(&record)).unwrap()))
    });
    group.bench_function("parse_xml", |b| {
        b.iter(|| black_box(parse_document(black_box(&xml), "site.xml").unwrap()))
    });
    group.bench_function("schema_validate", |b| {
        let doc = parse_document(&xml, "site.xml").unwrap();
        b.iter(|| schema.validate(black_box(&doc)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_export);
criterion_main!(benches);
