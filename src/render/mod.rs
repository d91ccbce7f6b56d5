//! Rendering: a site's XML plus its theme becomes a page.
//!
//! This module owns the compiled themes ([`Themes`]: compiled once, swapped atomically on
//! reload, last good version kept on failure), the bounded pool of threads that run the
//! CPU-bound parse and transform off the async reactor ([`pool::RenderPool`]), and the rules of a
//! page render ([`render_page`]). The libxml2/libxslt binding itself lives in [`xslt`], and what
//! a theme may contain is checked by [`lint`].

pub use xslt::lint;
pub mod pool;
pub mod xslt;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use bytes::Bytes;

pub use pool::{Overloaded, RenderPool};
pub use xslt::Location;
pub use xslt::{Document, Limits, XmlError};

/// Errors of the rendering domain.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The site names a theme that is not loaded.
    #[error("{site}: theme {theme:?} does not exist in the stylesheets folder: add {theme}.xsl there or name an existing theme in the site's <?xml-stylesheet href=\"NAME.xsl\"?>")]
    UnknownTheme {
        /// The site XML file.
        site: String,
        /// The requested theme.
        theme: String,
    },
    /// The site's prolog names no usable theme.
    #[error("{site}: no usable theme: {why}; the prolog must hold <?xml-stylesheet type=\"text/xsl\" href=\"NAME.xsl\"?> before the root element")]
    NoTheme {
        /// The site XML file.
        site: String,
        /// What is wrong with the prolog.
        why: &'static str,
    },
    /// The site's theme exists but has never compiled since start-up.
    #[error("{site}: theme {theme:?} does not compile ({failure}): fix the stylesheet")]
    BrokenTheme {
        /// The site XML file.
        site: String,
        /// The theme.
        theme: String,
        /// Its compile error.
        failure: String,
    },
    /// The site XML did not parse.
    #[error("{0}")]
    Xml(#[from] XmlError),
    /// The stylesheets folder could not be read.
    #[error("stylesheets folder {dir}: {source}")]
    Dir {
        /// The folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A compiled theme and what identifies its version.
#[derive(Debug)]
pub struct Theme {
    /// Name, as used in `<?xml-stylesheet href="NAME.xsl"?>`.
    pub name: String,
    /// The compiled stylesheet.
    pub style: xslt::Stylesheet,
    /// Hash of the bytes of every file the theme was compiled from; part of page ETags.
    pub version: u64,
    /// Latest modification time of those files; part of page Last-Modified.
    pub modified: SystemTime,
}

/// Whether `name` is a valid theme name (`[a-z0-9][a-z0-9-]*`, at most 63 bytes).
pub fn valid_theme_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

impl Theme {
    /// Compiles the theme `NAME.xsl` of `dir`.
    pub fn compile(dir: &Path, name: &str) -> Result<Theme, XmlError> {
        let path = dir.join(format!("{name}.xsl"));
        let style = xslt::Stylesheet::compile(&path, dir)?;
        tracing::debug!(
            theme = name,
            paths = style.unstreamed(),
            "multi-step paths set to be evaluated step by step"
        );
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let mut modified = SystemTime::UNIX_EPOCH;
        for file in style.files() {
            // A file that vanished since compilation just weakens the version; the next
            // change event recompiles anyway.
            if let Ok(bytes) = std::fs::read(file) {
                bytes.hash(&mut hasher);
            }
            if let Ok(m) = std::fs::metadata(file).and_then(|m| m.modified()) {
                modified = modified.max(m);
            }
        }
        Ok(Theme {
            name: name.to_owned(),
            style,
            version: hasher.finish(),
            modified,
        })
    }
}

/// What a reload did to one theme.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// Compiled and swapped in.
    Loaded(String),
    /// Failed to compile; the previous version (if any) keeps serving.
    Failed(String, XmlError),
    /// Its main file is gone; its last good version keeps serving.
    Removed(String),
}

/// Why a theme's latest compile failed, kept until it compiles again.
#[derive(Debug, Clone)]
pub struct ThemeFailure {
    /// The full error.
    pub message: String,
    /// Where to fix it (the theme or one of the files it imports).
    pub location: Option<Location>,
    /// The theme's main file is gone (its last good version keeps serving).
    pub gone: bool,
}

impl ThemeFailure {
    fn of(err: &XmlError) -> ThemeFailure {
        ThemeFailure {
            message: err.to_string(),
            location: err.location(),
            gone: false,
        }
    }
}

impl std::fmt::Display for ThemeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(at) => write!(f, "at {at}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The compiled themes of one stylesheets folder.
pub struct Themes {
    dir: PathBuf,
    current: ArcSwap<HashMap<String, Arc<Theme>>>,
    /// Serialises reloads so two watchers' events cannot interleave their swaps.
    reload_lock: Mutex<()>,
    /// Themes whose latest compile failed (whether or not an older version still serves).
    failures: Mutex<BTreeMap<String, ThemeFailure>>,
    /// Reloads completed; lets a caller wait for the effect of a change it made.
    generation: AtomicU64,
}

impl Themes {
    /// Compiles every `*.xsl` directly inside `dir`. Themes that fail are reported in the
    /// outcomes and left out.
    pub fn load(dir: &Path) -> Result<(Themes, Vec<ReloadOutcome>), RenderError> {
        let dir = dir.canonicalize().map_err(|source| RenderError::Dir {
            dir: dir.to_owned(),
            source,
        })?;
        let themes = Themes {
            dir,
            current: ArcSwap::from_pointee(HashMap::new()),
            reload_lock: Mutex::new(()),
            failures: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
        };
        let outcomes = themes.reload_all()?;
        Ok((themes, outcomes))
    }

    /// The stylesheets folder (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The theme called `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<Arc<Theme>> {
        self.current.load().get(name).cloned()
    }

    /// The theme a site XML names in its prolog, as every render picks it. `site` names the
    /// file in errors.
    pub fn for_site(&self, site: &str, xml: &[u8]) -> Result<Arc<Theme>, RenderError> {
        let name = sniff_theme(xml).map_err(|why| RenderError::NoTheme {
            site: site.to_owned(),
            why,
        })?;
        self.get(name).ok_or_else(|| match self.failure(name) {
            Some(failure) => RenderError::BrokenTheme {
                site: site.to_owned(),
                theme: name.to_owned(),
                failure: failure.to_string(),
            },
            None => RenderError::UnknownTheme {
                site: site.to_owned(),
                theme: name.to_owned(),
            },
        })
    }

    /// Why `name`'s latest compile failed, if it did.
    pub fn failure(&self, name: &str) -> Option<ThemeFailure> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Every theme whose latest compile failed, by name.
    pub fn failures(&self) -> BTreeMap<String, ThemeFailure> {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Number of reloads completed so far (the initial load is the first).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Names of the loaded themes, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.current.load().keys().cloned().collect();
        names.sort();
        names
    }

    fn theme_names_on_disk(&self) -> Result<Vec<String>, RenderError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| RenderError::Dir {
            dir: self.dir.clone(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".xsl")?;
                valid_theme_name(stem).then(|| stem.to_owned())
            })
            .collect();
        names.sort();
        Ok(names)
    }

    /// Recompiles every theme on disk.
    pub fn reload_all(&self) -> Result<Vec<ReloadOutcome>, RenderError> {
        let names = self.theme_names_on_disk()?;
        Ok(self.reload_names(names, true))
    }

    /// Recompiles the themes that depend on any of `changed` (or are new, or failed last
    /// time: their new imports are not known yet). A theme that fails, or whose main file
    /// disappeared, keeps its previous version.
    pub fn reload_changed(&self, changed: &[PathBuf]) -> Result<Vec<ReloadOutcome>, RenderError> {
        let on_disk = self.theme_names_on_disk()?;
        let current = self.current.load();
        let failed = self.failures();
        let affected: Vec<String> = on_disk
            .iter()
            .filter(|name| match current.get(*name) {
                _ if failed.contains_key(*name) => true,
                None => true,
                Some(theme) => theme.style.files().iter().any(|f| {
                    changed
                        .iter()
                        .any(|c| c == f || c.canonicalize().is_ok_and(|c| &c == f))
                }),
            })
            .cloned()
            .collect();
        drop(current);
        Ok(self.reload_names(affected, false))
    }

    fn reload_names(&self, names: Vec<String>, full: bool) -> Vec<ReloadOutcome> {
        let _guard = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut outcomes = Vec::new();
        let mut next: HashMap<String, Arc<Theme>> = (**self.current.load()).clone();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for name in &names {
            match Theme::compile(&self.dir, name) {
                Ok(theme) => {
                    next.insert(name.clone(), Arc::new(theme));
                    failures.remove(name);
                    outcomes.push(ReloadOutcome::Loaded(name.clone()));
                }
                Err(e) => {
                    failures.insert(name.clone(), ThemeFailure::of(&e));
                    outcomes.push(ReloadOutcome::Failed(name.clone(), e));
                }
            }
        }
        // A theme whose main file is gone keeps serving its last good version: its sites
        // still name it, and a deleted file (a botched deploy, a move) must not turn them
        // into 500s. It is reported once, and listed among the failures until restored.
        let on_disk = self.theme_names_on_disk().unwrap_or_default();
        for name in next.keys() {
            let gone = !on_disk.contains(name);
            if gone && !failures.get(name).is_some_and(|f| f.gone) {
                outcomes.push(ReloadOutcome::Removed(name.clone()));
                failures.insert(
                    name.clone(),
                    ThemeFailure {
                        message: format!(
                            "{name}.xsl is gone; its last good version keeps serving its sites \
                             until the file is restored (or the sites move to another theme)"
                        ),
                        location: Some(Location {
                            file: self.dir.join(format!("{name}.xsl")).display().to_string(),
                            line: None,
                        }),
                        gone: true,
                    },
                );
            }
        }
        failures.retain(|name, _| on_disk.contains(name) || next.contains_key(name));
        drop(failures);
        if full || !outcomes.is_empty() {
            self.current.store(Arc::new(next));
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        outcomes
    }
}

/// Finds the theme a site XML names in its `<?xml-stylesheet href="NAME.xsl"?>` processing
/// instruction, by scanning the prolog only (no parse), so conditional requests can be
/// answered before any parsing. Returns `Err` with a reason when the prolog has no valid one.
pub fn sniff_theme(xml: &[u8]) -> Result<&str, &'static str> {
    let mut rest = xml.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(xml);
    loop {
        let trimmed = rest.trim_ascii_start();
        if let Some(pi) = trimmed.strip_prefix(b"<?") {
            let end = find(pi, b"?>").ok_or("unterminated processing instruction")?;
            let body = &pi[..end];
            rest = &pi[end + 2..];
            if let Some(args) = body.strip_prefix(b"xml-stylesheet") {
                let Some(href) = pseudo_attr(args, b"href") else {
                    return Err("xml-stylesheet without href");
                };
                if pseudo_attr(args, b"type").is_some_and(|t| t != b"text/xsl") {
                    continue;
                }
                let href = std::str::from_utf8(href).map_err(|_| "href is not UTF-8")?;
                let name = href.strip_suffix(".xsl").ok_or("href must be NAME.xsl")?;
                return if valid_theme_name(name) {
                    Ok(name)
                } else {
                    Err("href must be NAME.xsl with NAME in [a-z0-9-]")
                };
            }
        } else if let Some(c) = trimmed.strip_prefix(b"<!--") {
            let end = find(c, b"-->").ok_or("unterminated comment")?;
            rest = &c[end + 3..];
        } else {
            return Err("no <?xml-stylesheet?> before the root element");
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn pseudo_attr<'a>(args: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut rest = args;
    loop {
        rest = rest.trim_ascii_start();
        let eq = rest.iter().position(|&c| c == b'=')?;
        let key = rest[..eq].trim_ascii();
        let after = rest[eq + 1..].trim_ascii_start();
        let quote = *after.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let close = after[1..].iter().position(|&c| c == quote)?;
        let value = &after[1..1 + close];
        if key == name {
            return Some(value);
        }
        rest = &after[close + 2..];
    }
}

/// What the publisher learns from a parsed site XML without transforming it.
#[derive(Debug, Clone, Default)]
pub struct Outline {
    /// Page ids in order; the first is the home page.
    pub pages: Vec<String>,
    /// Declared domains, main first.
    pub domains: Vec<String>,
}

impl Outline {
    /// Reads the outline of a site document.
    pub fn of(doc: &Document) -> Outline {
        let mut outline = Outline::default();
        let Some(root) = doc.root() else {
            return outline;
        };
        if let Some(pages) = root.child("pages") {
            outline.pages = pages
                .children()
                .filter(|p| p.name() == "page")
                .filter_map(|p| p.attr("id"))
                .collect();
        }
        if let Some(domains) = root.child("domains") {
            for d in domains.children().filter(|d| d.name() == "domain") {
                let name = d.text().trim().to_owned();
                if d.attr("main").as_deref() == Some("true") {
                    outline.domains.insert(0, name);
                } else {
                    outline.domains.push(name);
                }
            }
        }
        outline
    }

    /// The main domain, if any.
    pub fn main_domain(&self) -> Option<&str> {
        self.domains.first().map(String::as_str)
    }
}

/// A rendered page.
#[derive(Debug)]
pub struct Rendered {
    /// The serialised output.
    pub body: Bytes,
    /// Content-Type derived from the theme's `xsl:output`.
    pub content_type: String,
    /// Whether the requested page exists (else the theme rendered its not-found content).
    pub found: bool,
    /// The site's pages and domains, read from the same parse.
    pub outline: Outline,
}

/// Content-Type for a theme's `xsl:output` settings.
pub fn content_type(output: &xslt::OutputSpec) -> String {
    let media = output.media_type.clone().unwrap_or_else(|| {
        match output.method.as_str() {
            "xml" => "application/xml",
            "text" => "text/plain",
            _ => "text/html",
        }
        .to_owned()
    });
    let charset = output.encoding.as_deref().unwrap_or("UTF-8");
    format!("{media}; charset={charset}")
}

/// One page to render.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// The site XML bytes.
    pub xml: &'a [u8],
    /// Its path, for messages and as the document's base URI.
    pub file_name: &'a str,
    /// The site's folder: `document()` may read there besides the stylesheets.
    pub site_dir: &'a Path,
    /// Page id; empty for the home page.
    pub page: &'a str,
    /// The normalised request host.
    pub host: &'a str,
}

/// Parses the site XML and renders the requested page with `theme`.
pub fn render_page(
    req: PageRequest<'_>,
    theme: &Theme,
    stylesheets: &Path,
    limits: Limits,
) -> Result<Rendered, RenderError> {
    xslt::render_scope(|| {
        let doc = xslt::parse_document(req.xml, req.file_name)?;
        let outline = Outline::of(&doc);
        render_parsed(doc, outline, req, theme, stylesheets, limits)
    })
}

impl RenderError {
    /// Where to fix it (file, line), when the libraries said.
    pub fn location(&self) -> Option<Location> {
        match self {
            RenderError::Xml(e) => e.location(),
            _ => None,
        }
    }
}

/// Parses a site file without transforming it (for its [`Outline`], or to render several
/// pages of it with [`render_parsed`]).
pub fn parse_site(xml: &[u8], name: &str) -> Result<Document, RenderError> {
    Ok(xslt::parse_document(xml, name)?)
}

/// The outline (pages, domains) of a site file, parsed without a transform.
pub fn outline_of(xml: &[u8], name: &str) -> Result<Outline, RenderError> {
    Ok(Outline::of(&parse_site(xml, name)?))
}

/// The identity of the render engine (library versions and fast paths on), for validators:
/// it changes whenever the same files could render to other bytes.
pub fn engine_tag() -> u32 {
    xslt::engine().tag() as u32
}

/// [`render_page`] for a document already parsed from `req.xml` (and its outline): what a
/// caller that needed the outline first (the static export, to learn the main domain) uses
/// instead of parsing twice. The document is consumed: libxslt writes into its input.
pub fn render_parsed(
    doc: Document,
    outline: Outline,
    req: PageRequest<'_>,
    theme: &Theme,
    stylesheets: &Path,
    limits: Limits,
) -> Result<Rendered, RenderError> {
    let PageRequest {
        site_dir,
        page,
        host,
        ..
    } = req;
    let (page, found) = if page.is_empty() {
        (outline.pages.first().cloned().unwrap_or_default(), true)
    } else {
        (page.to_owned(), outline.pages.iter().any(|p| p == page))
    };
    let status = if found { "200" } else { "404" };
    let body = xslt::transform(
        &theme.style,
        doc,
        &[("page", &page), ("host", host), ("status", status)],
        &[stylesheets, site_dir],
        limits,
    )?;
    Ok(Rendered {
        body,
        content_type: content_type(theme.style.output()),
        found,
        outline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_theme_from_the_prolog() {
        let xml = b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- c -->\n<?xml-stylesheet type=\"text/xsl\" href=\"classic.xsl\"?><site/>";
        assert_eq!(sniff_theme(xml), Ok("classic"));
        assert_eq!(
            sniff_theme(b"<?xml-stylesheet href='modern.xsl' type='text/xsl'?><a/>"),
            Ok("modern")
        );
        for bad in [
            &b"<site/>"[..],
            b"<?xml-stylesheet href=\"../etc/x.xsl\"?><a/>",
            b"<?xml-stylesheet href=\"http://evil/x.xsl\"?><a/>",
            b"<?xml-stylesheet href=\"Classic.xsl\"?><a/>",
            b"<?xml-stylesheet href=\"classic.xslt\"?><a/>",
            b"<?xml-stylesheet href=\"classic.xsl",
        ] {
            assert!(
                sniff_theme(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The JSON-LD block of every theme stays valid JSON that cannot close its `<script>`,
    /// whatever the site's texts hold, on both paths of the opening hours (the one-expression
    /// path for clean tokens, json-string for anything else).
    #[test]
    fn json_ld_survives_hostile_texts_in_every_theme() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (themes, _) = Themes::load(&repo.join("stylesheets")).unwrap();
        let original =
            std::fs::read_to_string(repo.join("sample-sites/74/fleurs-et-sens/site.xml")).unwrap();
        let name = "Fleurs \"et\" \\ Sens </script><script>alert(1)</script>\u{2028}";
        let xml_name = name.replace('&', "&amp;").replace('<', "&lt;");
        let hostile = original
            .replace(
                "<name>Fleurs et Sens</name>",
                &format!("<name>{xml_name}</name>"),
            )
            .replace(
                r#"<day name="sunday"><open from="09:00" to="13:00"/>"#,
                r#"<day name="sunday"><open from="09&quot;&lt;/script&gt;" to="13:00"/>"#,
            );
        assert_ne!(
            hostile, original,
            "the sample site changed: update this test"
        );
        for theme_name in themes.names() {
            let xml = hostile.replacen("light.xsl", &format!("{theme_name}.xsl"), 1);
            let theme = themes.get(sniff_theme(xml.as_bytes()).unwrap()).unwrap();
            let req = PageRequest {
                xml: xml.as_bytes(),
                file_name: "site.xml",
                site_dir: repo,
                page: "",
                host: "fleurs-et-sens.fr",
            };
            let out = render_page(req, &theme, themes.dir(), Limits::default()).unwrap();
            let html = String::from_utf8(out.body.to_vec()).unwrap();
            let start = html.find(r#"<script type="application/ld+json">"#).unwrap();
            let body = &html[start..];
            let body = &body[body.find('>').unwrap() + 1..body.find("</script>").unwrap()];
            assert!(
                !body.contains('<'),
                "{theme_name}: raw < in JSON-LD: {body}"
            );
            let json: serde_json::Value = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("{theme_name}: invalid JSON-LD ({e}): {body}"));
            assert_eq!(json["name"], name, "{theme_name}");
            let hours = json["openingHoursSpecification"].as_array().unwrap();
            assert_eq!(hours.len(), 6, "{theme_name}");
            assert_eq!(hours[0]["dayOfWeek"], "https://schema.org/Tuesday");
            assert_eq!(hours[0]["opens"], "09:30");
            assert_eq!(hours[5]["opens"], "09\"</script>", "{theme_name}");
            assert_eq!(hours[5]["closes"], "13:00", "{theme_name}");
        }
    }

    const HEAD: &str =
        r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">"#;

    #[test]
    fn a_failed_theme_is_retried_when_a_file_it_newly_imports_changes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("common")).unwrap();
        let write = |name: &str, body: &str| {
            std::fs::write(
                dir.path().join(name),
                format!("{HEAD}{body}</xsl:stylesheet>"),
            )
            .unwrap()
        };
        write("t.xsl", r#"<xsl:template match="/">v1</xsl:template>"#);
        let (themes, _) = Themes::load(dir.path()).unwrap();
        let v1 = themes.get("t").unwrap().version;
        assert_eq!(themes.generation(), 1);

        // The theme now imports a new, broken file: refused, v1 keeps serving.
        write(
            "common/new.xsl",
            r#"<xsl:template match="/"><xsl:value-of select="(("/></xsl:template>"#,
        );
        write("t.xsl", r#"<xsl:import href="common/new.xsl"/>"#);
        let changed = [
            themes.dir().join("t.xsl"),
            themes.dir().join("common/new.xsl"),
        ];
        let outcomes = themes.reload_changed(&changed).unwrap();
        assert!(
            matches!(&outcomes[..], [ReloadOutcome::Failed(n, _)] if n == "t"),
            "{outcomes:?}"
        );
        assert_eq!(themes.get("t").unwrap().version, v1);
        let failure = themes.failure("t").unwrap();
        let at = failure.location.unwrap();
        assert!(at.file.ends_with("new.xsl"), "{at}");
        assert_eq!(at.line, Some(1));
        let err = themes.for_site("s.xml", b"<?xml-stylesheet href=\"gone.xsl\"?><a/>");
        assert!(matches!(err, Err(RenderError::UnknownTheme { .. })));

        // Fixing only new.xsl (not among v1's files) recompiles the theme.
        write(
            "common/new.xsl",
            r#"<xsl:template match="/">v2</xsl:template>"#,
        );
        let outcomes = themes
            .reload_changed(&[themes.dir().join("common/new.xsl")])
            .unwrap();
        assert!(matches!(&outcomes[..], [ReloadOutcome::Loaded(n)] if n == "t"));
        assert_ne!(themes.get("t").unwrap().version, v1);
        assert!(themes.failures().is_empty());
        assert_eq!(themes.generation(), 3);
    }

    #[test]
    fn a_theme_whose_file_is_deleted_keeps_serving_its_last_good_version() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.xsl");
        let body = format!(r#"{HEAD}<xsl:template match="/">v1</xsl:template></xsl:stylesheet>"#);
        std::fs::write(&file, &body).unwrap();
        let (themes, _) = Themes::load(dir.path()).unwrap();
        let v1 = themes.get("t").unwrap().version;
        let site = b"<?xml-stylesheet href=\"t.xsl\"?><a/>";

        std::fs::remove_file(&file).unwrap();
        let outcomes = themes.reload_changed(std::slice::from_ref(&file)).unwrap();
        assert!(
            matches!(&outcomes[..], [ReloadOutcome::Removed(n)] if n == "t"),
            "{outcomes:?}"
        );
        assert_eq!(themes.for_site("s.xml", site).unwrap().version, v1);
        let failure = themes.failure("t").expect("reported while gone");
        assert!(
            failure.gone && failure.message.contains("t.xsl is gone"),
            "{failure}"
        );
        // Reported once: another change elsewhere does not repeat it.
        let again = themes
            .reload_changed(&[dir.path().join("other.xsl")])
            .unwrap();
        assert!(again.is_empty(), "{again:?}");

        std::fs::write(&file, &body).unwrap();
        let outcomes = themes.reload_changed(std::slice::from_ref(&file)).unwrap();
        assert!(
            matches!(&outcomes[..], [ReloadOutcome::Loaded(n)] if n == "t"),
            "{outcomes:?}"
        );
        assert!(themes.failures().is_empty());
    }

    #[test]
    fn a_site_on_a_theme_that_never_compiled_says_so() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("b.xsl"),
            format!("{HEAD}<oops></xsl:stylesheet>"),
        )
        .unwrap();
        let (themes, _) = Themes::load(dir.path()).unwrap();
        let err = themes
            .for_site("s.xml", b"<?xml-stylesheet href=\"b.xsl\"?><a/>")
            .unwrap_err();
        assert!(matches!(err, RenderError::BrokenTheme { .. }), "{err}");
        assert!(err.to_string().contains("b.xsl:1"), "{err}");
        let err = themes.for_site("s.xml", b"<a/>").unwrap_err();
        assert!(matches!(err, RenderError::NoTheme { .. }), "{err}");
    }

    #[test]
    fn theme_names() {
        assert!(valid_theme_name("light-2"));
        assert!(!valid_theme_name("-x"));
        assert!(!valid_theme_name("a/b"));
        assert!(!valid_theme_name(""));
    }
}
