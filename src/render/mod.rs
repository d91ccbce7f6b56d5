//! Rendering: a site's XML plus its theme becomes a page.
//!
//! This module owns the compiled themes ([`Themes`]: compiled once, swapped atomically on
//! reload, last good version kept on failure), the bounded pool of threads that run the
//! CPU-bound parse and transform off the async reactor ([`pool::RenderPool`]), and the rules of a
//! page render ([`render_page`]). The libxml2/libxslt binding itself lives in [`xslt`], and what
//! a theme may contain is checked by [`lint`].

pub mod lint;
pub mod pool;
pub mod xslt;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use bytes::Bytes;

pub use pool::{Overloaded, RenderPool};
pub use xslt::{Document, Limits, XmlError};

/// Errors of the rendering domain.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The site names a theme that is not loaded.
    #[error("{site}: theme {theme:?} does not exist in the stylesheets folder")]
    UnknownTheme {
        /// The site XML file.
        site: String,
        /// The requested theme.
        theme: String,
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
    /// Its main file is gone; removed.
    Removed(String),
}

/// The compiled themes of one stylesheets folder.
pub struct Themes {
    dir: PathBuf,
    current: ArcSwap<HashMap<String, Arc<Theme>>>,
    /// Serialises reloads so two watchers' events cannot interleave their swaps.
    reload_lock: Mutex<()>,
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

    /// Recompiles the themes that depend on any of `changed` (or are new); themes whose main
    /// file disappeared are removed. A theme that fails keeps its previous version.
    pub fn reload_changed(&self, changed: &[PathBuf]) -> Result<Vec<ReloadOutcome>, RenderError> {
        let on_disk = self.theme_names_on_disk()?;
        let current = self.current.load();
        let affected: Vec<String> = on_disk
            .iter()
            .filter(|name| match current.get(*name) {
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
        for name in &names {
            match Theme::compile(&self.dir, name) {
                Ok(theme) => {
                    next.insert(name.clone(), Arc::new(theme));
                    outcomes.push(ReloadOutcome::Loaded(name.clone()));
                }
                Err(e) => outcomes.push(ReloadOutcome::Failed(name.clone(), e)),
            }
        }
        let on_disk = self.theme_names_on_disk().unwrap_or_default();
        next.retain(|name, _| {
            let keep = on_disk.contains(name);
            if !keep {
                outcomes.push(ReloadOutcome::Removed(name.clone()));
            }
            keep
        });
        if full || !outcomes.is_empty() {
            self.current.store(Arc::new(next));
        }
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
    let PageRequest {
        xml,
        file_name,
        site_dir,
        page,
        host,
    } = req;
    let doc = xslt::parse_document(xml, file_name)?;
    let outline = Outline::of(&doc);
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

    #[test]
    fn theme_names() {
        assert!(valid_theme_name("light-2"));
        assert!(!valid_theme_name("-x"));
        assert!(!valid_theme_name("a/b"));
        assert!(!valid_theme_name(""));
    }
}
