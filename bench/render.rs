//! Render-path micro-benchmark: for every sample site, the work one page view costs on a
//! render thread (read nothing from disk: the XML bytes are in memory; parse + transform +
//! serialise with the compiled theme), plus gzip on top, and the cost of compiling a theme
//! per request (what Vitrine avoids) for contrast.
//!
//! Run: `cargo bench --bench render` (add `-- --quick` for a faster, rougher pass).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use vitrine::page::Coding;
use vitrine::render::{self, Limits, PageRequest, Themes};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A site's XML and the names a render needs, loaded once outside the timed loop.
struct Loaded {
    xml: Vec<u8>,
    file_name: String,
    site_dir: PathBuf,
}

impl Loaded {
    fn new(path: PathBuf) -> Loaded {
        Loaded {
            xml: std::fs::read(&path).unwrap(),
            file_name: path.to_string_lossy().into_owned(),
            site_dir: path.parent().unwrap().to_owned(),
        }
    }

    fn home(&self) -> PageRequest<'_> {
        PageRequest {
            xml: &self.xml,
            file_name: &self.file_name,
            site_dir: &self.site_dir,
            page: "",
            host: "bench.example",
        }
    }
}

fn bench_render(c: &mut Criterion) {
    let sites = repo().join("sample-sites");
    let (themes, _) = Themes::load(&repo().join("stylesheets")).expect("themes compile");
    let mut group = c.benchmark_group("render_home_page");
    for rel in vitrine::site::list_site_files(&sites).unwrap() {
        let site = Loaded::new(sites.join(&rel));
        let theme = themes
            .get(render::sniff_theme(&site.xml).unwrap())
            .expect("theme loaded");
        let id = rel.split('/').nth(1).unwrap().to_owned();
        let req = site.home();
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

    let site = Loaded::new(sites.join(vitrine::site::site_path("boulangerie-martin")));
    let req = site.home();
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
        b.iter(|| black_box(render::xslt::parse_document(&site.xml, &site.file_name).unwrap()))
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
