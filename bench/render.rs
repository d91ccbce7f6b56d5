//! Render-path micro-benchmark: for every sample site, the work one page view costs on a
//! render thread (read nothing from disk: the XML bytes are in memory; parse + transform +
//! serialise with the compiled theme), plus gzip on top, and the cost of compiling a theme
//! per request (what Vitrine avoids) for contrast.
//!
//! Run: `cargo bench --bench render` (add `-- --quick` for a faster, rougher pass).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use vitrine::render::{self, Limits, PageRequest, Themes};
use vitrine::server::response::Coding;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench_render(c: &mut Criterion) {
    let sites = repo().join("sample-sites");
    let (themes, _) = Themes::load(&repo().join("stylesheets")).expect("themes compile");
    let mut group = c.benchmark_group("render_home_page");
    for rel in vitrine::site::list_site_files(&sites).unwrap() {
        let path = sites.join(&rel);
        let xml = std::fs::read(&path).unwrap();
        let theme = themes
            .get(render::sniff_theme(&xml).unwrap())
            .expect("theme loaded");
        let id = rel.split('/').nth(1).unwrap().to_owned();
        let file_name = path.to_string_lossy().into_owned();
        let site_dir = path.parent().unwrap().to_owned();
        let req = PageRequest {
            xml: &xml,
            file_name: &file_name,
            site_dir: &site_dir,
            page: "",
            host: "bench.example",
        };
        group.bench_function(&id, |b| {
            b.iter(|| {
                let out =
                    render::render_page(black_box(req), &theme, themes.dir(), Limits::default())
                        .unwrap();
                black_box(out.body.len())
            })
        });
    }
    group.finish();

    let xml = std::fs::read(sites.join(vitrine::site::site_path("boulangerie-martin"))).unwrap();
    let path = sites.join(vitrine::site::site_path("boulangerie-martin"));
    let file_name = path.to_string_lossy().into_owned();
    let site_dir = path.parent().unwrap().to_owned();
    let req = PageRequest {
        xml: &xml,
        file_name: &file_name,
        site_dir: &site_dir,
        page: "",
        host: "bench.example",
    };
    let theme = themes.get("classic").unwrap();
    let mut group = c.benchmark_group("render_variants");
    group.bench_function("boulangerie-martin+gzip", |b| {
        b.iter(|| {
            let out = render::render_page(req, &theme, themes.dir(), Limits::default()).unwrap();
            black_box(Coding::Gzip.encode(&out.body).unwrap().len())
        })
    });
    group.bench_function("boulangerie-martin+brotli", |b| {
        b.iter(|| {
            let out = render::render_page(req, &theme, themes.dir(), Limits::default()).unwrap();
            black_box(Coding::Brotli.encode(&out.body).unwrap().len())
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| black_box(render::xslt::parse_document(&xml, &file_name).unwrap()))
    });
    group.bench_function("compile_theme_per_request", |b| {
        b.iter(|| {
            let t = render::Theme::compile(themes.dir(), "classic").unwrap();
            let out = render::render_page(req, &t, themes.dir(), Limits::default()).unwrap();
            black_box(out.body.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
