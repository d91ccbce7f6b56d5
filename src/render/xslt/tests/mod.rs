//! Tests of the libxml2/libxslt binding, by concern; this file holds what they share.

use super::*;
pub(super) use std::sync::Arc;

mod budgets;
mod compile;
mod fast_paths;
mod schema;
mod threads;

pub(super) fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub(super) const HEAD: &str =
    r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">"#;

/// One page of a sample site to render: the site file, its XML and theme, a page id
/// (empty: the home page) and the status parameter; every page of every sample site,
/// then a 404 of each.
pub(super) struct SamplePage {
    rel: String,
    xml: Vec<u8>,
    theme: String,
    id: String,
    status: &'static str,
}

impl SamplePage {
    /// Both renders are whole pages, with the same bytes.
    fn assert_same(&self, fast: &[u8], slow: &[u8], today: &str) {
        assert!(
            fast.len() > 1000,
            "{} {}: {} bytes",
            self.rel,
            self.id,
            fast.len()
        );
        assert_eq!(
            String::from_utf8_lossy(fast),
            String::from_utf8_lossy(slow),
            "{} page {:?} today {today:?}",
            self.rel,
            self.id
        );
    }
}

pub(super) fn sample_pages() -> Vec<SamplePage> {
    let sites = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-sites");
    let mut pages = Vec::new();
    for rel in crate::site::list_site_files(&sites).unwrap() {
        let xml = std::fs::read(sites.join(&rel)).unwrap();
        let theme = crate::render::sniff_theme(&xml).unwrap().to_owned();
        let doc = parse_document(&xml, "t.xml").unwrap();
        let mut ids = crate::render::Outline::of(&doc).pages.clone();
        ids.push(String::new());
        let ids = ids.into_iter().map(|id| (id, "200"));
        for (id, status) in ids.chain([("nope".to_owned(), "404")]) {
            pages.push(SamplePage {
                rel: rel.clone(),
                xml: xml.clone(),
                theme: theme.clone(),
                id,
                status,
            });
        }
    }
    pages
}

pub(super) fn repo_stylesheets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stylesheets")
}

/// Writes `modules` and `main.xsl` into `dir` and compiles `main.xsl`.
pub(super) fn compile_in(
    dir: &Path,
    main: &str,
    modules: &[(&str, &str)],
) -> Result<Stylesheet, XmlError> {
    for (name, text) in modules {
        write(dir, name, text);
    }
    let main = write(dir, "main.xsl", main);
    Stylesheet::compile(&main, dir)
}

pub(super) fn apply(style: &Stylesheet, xml: &str) -> Result<String, XmlError> {
    let doc = parse_document(xml.as_bytes(), "t.xml")?;
    let out = transform(style, doc, &[], &[], Limits::default())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Runs the test `name` (its path below `tests`, e.g. `budgets::x`) of this binary alone in a child process (a fresh libxml2 and
/// libxslt) with `env`, and checks it passed.
pub(super) fn run_child(name: &str, env: &[(&str, &std::ffi::OsStr)]) -> std::process::Output {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &format!("render::xslt::tests::{name}"),
            "--test-threads=1",
            "--nocapture",
        ])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{name} child: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{name}: the child ran the test: {out:?}"
    );
    out
}
