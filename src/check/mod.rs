//! The pre-deploy check (`vitrine check`): everything that would make a visitor see an error
//! page, found before a visitor does. It owns the kinds of [`Problem`], how each is detected,
//! and the [`Report`] (human and JSON).
//!
//! What is checked:
//! - every theme compiles ([`stylesheet_problems`]), with the file and line at fault, which
//!   may be an imported `common/*.xsl`;
//! - every site XML ([`SiteCheck::run`], in parallel, streaming the sites folder): readable,
//!   well-formed, valid against the RELAX NG schema, in the folder its id implies, naming an
//!   existing theme, with unique page ids, existing media, valid domains; and every page,
//!   plus the not-found page, renders with the site's theme for its main domain, on the same
//!   code path as the server;
//! - domains declared by two sites;
//! - with a Redis map ([`map_problems`]): every entry is a normalised host pointing to an
//!   existing site file that declares that host, and every declared domain is in the map,
//!   pointing to its site.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::fsx::{RelPath, Root};
pub mod certs;

use crate::page::Visit;
use crate::page::{for_each_site, render_every_page, Which, NOT_FOUND_PAGE};
use crate::render::xslt::{self, Document, Schema, SchemaError};
use crate::render::{self, Limits, Location, RenderError, Themes};
use crate::site::{self, Host};

/// What kind of problem; the `kebab-case` names are the JSON `kind` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A theme does not compile.
    Stylesheet,
    /// A shard folder or a site file cannot be read.
    Unreadable,
    /// A site XML is not well-formed (or has a DOCTYPE, or is too large).
    Xml,
    /// A site XML does not match the RELAX NG schema.
    Schema,
    /// A site's folder does not match its id (`SHARD/ID/site.xml`).
    Misplaced,
    /// A site names no theme, or one that does not exist.
    Theme,
    /// Two pages of a site share an id.
    DuplicatePage,
    /// A photo, video, poster or logo is missing from the site's `media/`.
    MissingMedia,
    /// A declared domain is not a valid, normalised host name, or there is none.
    Domain,
    /// A page (or the not-found page) fails to render.
    Render,
    /// A domain is declared by two sites.
    DuplicateDomain,
    /// A map entry is not a normalised host or not a path beneath the sites folder.
    MapEntry,
    /// A map entry points to a missing file.
    MapMissingFile,
    /// A map entry points to a file that does not declare that host.
    MapUndeclared,
    /// A declared domain is not in the map.
    Unmapped,
    /// A declared domain is in the map but points to another file.
    MappedElsewhere,
    /// A mapped domain has no usable certificate in the store (HTTPS in use).
    NoCertificate,
    /// A certificate expires soon, or has expired.
    CertificateExpiring,
}

impl Kind {
    /// The JSON/text name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Stylesheet => "stylesheet",
            Kind::Unreadable => "unreadable",
            Kind::Xml => "xml",
            Kind::Schema => "schema",
            Kind::Misplaced => "misplaced",
            Kind::Theme => "theme",
            Kind::DuplicatePage => "duplicate-page",
            Kind::MissingMedia => "missing-media",
            Kind::Domain => "domain",
            Kind::Render => "render",
            Kind::DuplicateDomain => "duplicate-domain",
            Kind::MapEntry => "map-entry",
            Kind::MapMissingFile => "map-missing-file",
            Kind::MapUndeclared => "map-undeclared",
            Kind::Unmapped => "unmapped",
            Kind::MappedElsewhere => "mapped-elsewhere",
            Kind::NoCertificate => "no-certificate",
            Kind::CertificateExpiring => "certificate-expiring",
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Kind::Stylesheet => "fix the stylesheet at the file and line given; a running server keeps the last version that compiled, a restarted one drops the theme",
            Kind::Unreadable => "check the file's permissions and that it is a regular file (no symlink), or re-export the site",
            Kind::Xml => "re-export the site, or fix the XML at the line given (no DOCTYPE, at most 1 MiB)",
            Kind::Schema => "fix the exporter or the file so that it matches src/schema/site.rng (see README, \"The data contract\")",
            Kind::Misplaced => "move the file to SHARD/ID/site.xml, where ID is the site's id and SHARD its hash prefix (`vitrine` computes it: see README), and remap its domains",
            Kind::Theme => "name an existing theme in <?xml-stylesheet type=\"text/xsl\" href=\"NAME.xsl\"?>, or add NAME.xsl to the stylesheets folder",
            Kind::DuplicatePage => "give every page of the site its own id",
            Kind::MissingMedia => "copy the file into the site's media/ folder, or fix the src",
            Kind::Domain => "write declared domains in normal form (lower case, punycode for IDN, no port or trailing dot), main domain first",
            Kind::Render => "fix the theme template at the file and line given, or the content that trips it (transform budgets: depth 250, 5 million operations)",
            Kind::DuplicateDomain => "remove the domain from one of the two sites; the map can only send it to one",
            Kind::MapEntry => "fix it with `vitrine domains set HOST SHARD/ID/site.xml`, or remove it with `vitrine domains rm HOST`",
            Kind::MapMissingFile => "re-export the site, or remap the host with `vitrine domains set HOST SHARD/ID/site.xml` (visitors get 503 meanwhile)",
            Kind::MapUndeclared => "add the host to the site's <domains>, or remap it to the site that declares it",
            Kind::Unmapped => "map it with `vitrine domains set HOST SHARD/ID/site.xml` (visitors get 404 meanwhile)",
            Kind::MappedElsewhere => "remap it with `vitrine domains set HOST SHARD/ID/site.xml`, or remove it from this site's <domains>",
            Kind::NoCertificate => "see why with `vitrine certs status HOST` (last error, next attempt); `vitrine certs renew HOST` orders it now from a publisher with --acme-directory",
            Kind::CertificateExpiring => "renewal has failed so far: see `vitrine certs status HOST`, fix the cause (the CA must reach http://HOST/.well-known/acme-challenge/ on a publisher), then `vitrine certs renew HOST`",
        }
    }
}

/// One problem, with everything needed to find and fix it.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// What kind.
    pub kind: Kind,
    /// The site file concerned (`SHARD/ID/site.xml`, relative to the sites folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The host concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The theme concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// The page concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The file to open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: &'static str,
}

impl Problem {
    fn new(kind: Kind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            site: None,
            host: None,
            theme: None,
            page: None,
            file: None,
            line: None,
            message: message.into(),
            fix: kind.fix(),
        }
    }
    fn site(mut self, rel: &str) -> Problem {
        self.site = Some(rel.to_owned());
        self
    }
    fn host(mut self, host: &str) -> Problem {
        self.host = Some(host.to_owned());
        self
    }
    fn page(mut self, page: &str) -> Problem {
        self.page = Some(page.to_owned());
        self
    }
    fn at(mut self, file: impl Into<String>, line: Option<u32>) -> Problem {
        self.file = Some(file.into());
        self.line = line;
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}]", self.kind.name())?;
        if let Some(file) = &self.file {
            write!(f, " {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        let mut about = Vec::new();
        if let Some(s) = &self.site {
            about.push(format!("site {s}"));
        }
        if let Some(h) = &self.host {
            about.push(format!("host {h}"));
        }
        if let Some(t) = &self.theme {
            about.push(format!("theme {t}"));
        }
        if let Some(p) = &self.page {
            about.push(format!("page {p}"));
        }
        if !about.is_empty() {
            write!(f, " ({})", about.join(", "))?;
        }
        write!(f, "\n    {}\n    fix: {}", self.message, self.fix)
    }
}

/// Counts of what was checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Themes in the stylesheets folder.
    pub themes: u64,
    /// Of which do not compile.
    pub themes_failed: u64,
    /// Site files found.
    pub sites: u64,
    /// Pages rendered without error (not-found pages included).
    pub renders: u64,
    /// Valid declared domains.
    pub domains: u64,
    /// The map checked, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<String>,
    /// Its entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_entries: Option<u64>,
    /// Problems found.
    pub problems: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The outcome of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Whether no problem was found.
    pub ok: bool,
    /// What was checked.
    pub summary: Summary,
    /// Every problem, sorted by kind, then site, host, page, file and line.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Sorts the problems and fills in the totals.
    pub fn finish(mut self, elapsed: Duration) -> Report {
        self.problems.sort_by(|a, b| {
            (a.kind, &a.site, &a.host, &a.page, &a.file, a.line)
                .cmp(&(b.kind, &b.site, &b.host, &b.page, &b.file, b.line))
        });
        self.summary.problems = self.problems.len() as u64;
        self.summary.seconds = elapsed.as_secs_f64();
        self.ok = self.problems.is_empty();
        self
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}\n")?;
        }
        let s = &self.summary;
        write!(
            f,
            "checked {} themes ({} failing), {} sites, {} renders, {} domains",
            s.themes, s.themes_failed, s.sites, s.renders, s.domains
        )?;
        if let (Some(map), Some(n)) = (&s.map, s.map_entries) {
            write!(f, ", {n} entries of the {map}")?;
        }
        write!(f, " in {:.2} s: ", s.seconds)?;
        if self.ok {
            writeln!(f, "no problem")
        } else {
            let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
            for p in &self.problems {
                *by_kind.entry(p.kind).or_default() += 1;
            }
            let kinds: Vec<String> = by_kind
                .iter()
                .map(|(k, n)| format!("{n} {}", k.name()))
                .collect();
            writeln!(f, "{} problems ({})", self.problems.len(), kinds.join(", "))
        }
    }
}

/// Shows a path beneath `root` (canonical) as beneath `shown` (what the operator typed).
fn display_path(path: &str, root: &Path, shown: &Path) -> String {
    match Path::new(path).strip_prefix(root) {
        Ok(rest) => shown.join(rest).display().to_string(),
        Err(_) => path.to_owned(),
    }
}

/// One problem per theme that does not compile. `shown` is the stylesheets folder as the
/// operator named it, so that file names in the report can be opened as printed.
pub fn stylesheet_problems(themes: &Themes, shown: &Path) -> Vec<Problem> {
    themes
        .failures()
        .into_iter()
        .map(|(name, failure)| {
            let mut p = Problem::new(
                Kind::Stylesheet,
                format!("theme {name} does not compile: {}", failure.message),
            );
            p.theme = Some(name.clone());
            match &failure.location {
                Some(at) => p.at(display_path(&at.file, themes.dir(), shown), at.line),
                None => p.at(
                    shown.join(format!("{name}.xsl")).display().to_string(),
                    None,
                ),
            }
        })
        .collect()
}

/// What the site scan learnt, for the map checks.
#[derive(Debug, Default)]
pub struct SiteIndex {
    /// Valid declared domains of every site that parsed, by site file.
    pub declared: HashMap<String, Vec<String>>,
    /// Site files found that could not be read or parsed (their domains are unknown).
    pub unparsed: HashSet<String>,
}

/// Everything one site scan needs.
pub struct SiteCheck<'a> {
    /// Compiled themes.
    pub themes: &'a Themes,
    /// The sites root.
    pub sites: &'a Root,
    /// The sites folder as the operator named it.
    pub shown: &'a Path,
    /// The stylesheets folder as the operator named it.
    pub stylesheets_shown: &'a Path,
    /// Worker threads.
    pub threads: usize,
    /// Budgets of one transform (the server's).
    pub limits: Limits,
}

/// What one site produced.
struct SiteOutcome {
    problems: Vec<Problem>,
    domains: Option<Vec<String>>,
    renders: u64,
    broken_theme: Option<String>,
}

impl SiteCheck<'_> {
    /// Checks every site file in parallel; problems go into `report`, `on_site` is called
    /// after each site (progress). Domains declared twice are found here.
    pub fn run(
        &self,
        report: &mut Report,
        mut on_site: impl FnMut(),
    ) -> std::io::Result<SiteIndex> {
        // A schema that does not compile is a bug of this build, reported once.
        let schema = match Schema::site() {
            Ok(schema) => Some(schema),
            Err(e) => {
                report
                    .problems
                    .push(Problem::new(Kind::Schema, e.to_string()));
                None
            }
        };
        let mut index = SiteIndex::default();
        let mut owners: HashMap<String, String> = HashMap::new();
        let mut broken_users: BTreeMap<String, u64> = BTreeMap::new();
        for_each_site(
            self.sites.path(),
            self.threads,
            |rel| self.site(rel, schema),
            |visit| {
                let (rel, out) = match visit {
                    Visit::Site { rel, out } => (rel, out),
                    Visit::Unlistable(e) => {
                        report.problems.push(Problem::new(
                            Kind::Unreadable,
                            format!("{e}: its sites were not checked"),
                        ));
                        return;
                    }
                };
                report.summary.sites += 1;
                report.summary.renders += out.renders;
                report.problems.extend(out.problems);
                if let Some(theme) = out.broken_theme {
                    *broken_users.entry(theme).or_default() += 1;
                }
                match out.domains {
                    Some(domains) => {
                        for d in &domains {
                            report.summary.domains += 1;
                            match owners.get(d) {
                                Some(owner) => {
                                    let (a, b) = if owner.as_str() < rel.as_str() {
                                        (owner.as_str(), rel.as_str())
                                    } else {
                                        (rel.as_str(), owner.as_str())
                                    };
                                    report.problems.push(
                                        Problem::new(
                                            Kind::DuplicateDomain,
                                            format!("{d} is declared by {a} and by {b}"),
                                        )
                                        .site(b)
                                        .host(d)
                                        .at(self.shown.join(b).display().to_string(), None),
                                    );
                                }
                                None => {
                                    owners.insert(d.clone(), rel.clone());
                                }
                            }
                        }
                        index.declared.insert(rel, domains);
                    }
                    None => {
                        index.unparsed.insert(rel);
                    }
                }
                on_site();
            },
        )?;
        // Sites with a broken theme are not rendered; say how many on the theme's problem.
        for p in &mut report.problems {
            if let (Kind::Stylesheet, Some(theme)) = (p.kind, &p.theme) {
                let n = broken_users.get(theme).copied().unwrap_or(0);
                p.message.push_str(&format!(
                    " ({n} sites use this theme; they were not rendered)"
                ));
            }
        }
        Ok(index)
    }

    fn site(&self, rel: &str, schema: Option<&Schema>) -> SiteOutcome {
        let mut out = SiteOutcome {
            problems: Vec::new(),
            domains: None,
            renders: 0,
            broken_theme: None,
        };
        let shown = self.shown.join(rel).display().to_string();
        let problem = |kind, message: String| Problem::new(kind, message).site(rel);
        let file = match RelPath::parse(rel)
            .map_err(|e| e.to_string())
            .and_then(|r| site::read_site_file(self.sites, r).map_err(|e| e.to_string()))
        {
            Ok(file) => file,
            Err(e) => {
                out.problems
                    .push(problem(Kind::Unreadable, e).at(shown, None));
                return out;
            }
        };
        let name = self.sites.path().join(rel).to_string_lossy().into_owned();
        let doc = match xslt::parse_document(&file.bytes, &name) {
            Ok(doc) => doc,
            Err(e) => {
                let line = e.location().and_then(|l| l.line);
                out.problems
                    .push(problem(Kind::Xml, e.to_string()).at(shown, line));
                return out;
            }
        };
        match schema.map_or(Ok(()), |s| s.validate(&doc)) {
            Ok(()) => {}
            Err(SchemaError::Invalid { problems, .. }) => {
                let line = problems.iter().map(|p| p.line).find(|&l| l > 0);
                let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
                out.problems.push(
                    problem(
                        Kind::Schema,
                        format!("does not match the site schema: {}", text.join("; ")),
                    )
                    .at(shown.clone(), line),
                );
            }
            Err(e) => out
                .problems
                .push(problem(Kind::Schema, e.to_string()).at(shown.clone(), None)),
        }
        self.placement(rel, &doc, &shown, &mut out.problems);
        let outline = render::Outline::of(&doc);
        let mut seen = HashSet::new();
        for page in &outline.pages {
            if !seen.insert(page) {
                out.problems.push(
                    problem(
                        Kind::DuplicatePage,
                        format!("two pages have the id {page:?}"),
                    )
                    .page(page)
                    .at(shown.clone(), None),
                );
            }
        }
        self.media(rel, &file, &doc, &shown, &mut out.problems);
        let mut domains = Vec::new();
        for declared in &outline.domains {
            match Host::parse(declared.as_bytes()) {
                Ok(host) if host.as_str() == declared => domains.push(host.to_string()),
                Ok(host) => out.problems.push(
                    problem(
                        Kind::Domain,
                        format!("declared domain {declared:?} is not in normal form; the server looks up {host}"),
                    )
                    .host(declared)
                    .at(shown.clone(), None),
                ),
                Err(e) => out.problems.push(
                    problem(
                        Kind::Domain,
                        format!("declared domain {declared:?} is not a host name: {e}"),
                    )
                    .host(declared)
                    .at(shown.clone(), None),
                ),
            }
        }
        let main = domains.first().cloned();
        out.domains = Some(domains);
        let Some(host) = main else {
            out.problems.push(
                problem(
                    Kind::Domain,
                    "the site declares no valid domain: no request can reach it".into(),
                )
                .at(shown, None),
            );
            return out;
        };
        let theme = match self.themes.for_site(rel, &file.bytes) {
            Ok(theme) => theme,
            Err(RenderError::BrokenTheme { theme, .. }) => {
                // Reported once, on the stylesheet.
                out.broken_theme = Some(theme);
                return out;
            }
            Err(e) => {
                out.problems
                    .push(problem(Kind::Theme, e.to_string()).at(shown, None));
                return out;
            }
        };
        let render_problem = |page: &str, e: RenderError| {
            let mut p = problem(Kind::Render, e.to_string()).host(&host).page(page);
            p.theme = Some(theme.name.clone());
            match &e {
                RenderError::Xml(x) => match x.location() {
                    Some(Location { file, line }) => p.at(
                        display_path(&file, self.themes.dir(), self.stylesheets_shown),
                        line,
                    ),
                    None => p,
                },
                _ => p,
            }
        };
        let has_404 = outline.pages.iter().any(|p| p == NOT_FOUND_PAGE);
        render_every_page(
            self.sites,
            self.themes,
            &file,
            doc,
            outline,
            &theme,
            &host,
            self.limits,
            |_| false,
            |which, rendered| match rendered {
                Ok(_) => out.renders += 1,
                Err(e) => {
                    let shown_page = match which {
                        Which::Home => "(home)",
                        Which::Page(page) => page,
                        Which::NotFound if has_404 => NOT_FOUND_PAGE,
                        Which::NotFound => "(not found)",
                    };
                    out.problems.push(render_problem(shown_page, e));
                }
            },
        );
        out
    }

    /// The file must sit at `SHARD/ID/site.xml` for its own id.
    fn placement(&self, rel: &str, doc: &Document, shown: &str, problems: &mut Vec<Problem>) {
        let Some(id) = doc.root().and_then(|r| r.attr("id")) else {
            return; // the schema reports a missing id
        };
        let expected = site::site_path(&id);
        if rel != expected {
            problems.push(
                Problem::new(
                    Kind::Misplaced,
                    format!(
                        "the site's id is {id:?}, so its file belongs at {expected}, not {rel}"
                    ),
                )
                .site(rel)
                .at(shown.to_owned(), None),
            );
        }
    }

    /// Every `src`/`poster` of a logo, photo or video must be a file of the site's `media/`.
    fn media(
        &self,
        rel: &str,
        file: &site::SiteFile,
        doc: &Document,
        shown: &str,
        problems: &mut Vec<Problem>,
    ) {
        fn walk(node: xslt::Node<'_>, refs: &mut Vec<String>) {
            if matches!(node.name(), "logo" | "photo" | "video") {
                refs.extend(node.attr("src"));
                refs.extend(node.attr("poster"));
            }
            for child in node.children() {
                walk(child, refs);
            }
        }
        let mut refs = Vec::new();
        if let Some(root) = doc.root() {
            walk(root, &mut refs);
        }
        refs.sort();
        refs.dedup();
        for src in refs {
            let found = RelPath::parse(&format!("{}/media/{src}", file.dir()))
                .ok()
                .is_some_and(|p| self.sites.open_file(&p).is_ok());
            if !found {
                problems.push(
                    Problem::new(
                        Kind::MissingMedia,
                        format!("media file {src:?} is not in {}/media/", file.dir()),
                    )
                    .site(rel)
                    .at(shown.to_owned(), None),
                );
            }
        }
    }
}

/// Checks the map's entries against the sites, both ways. `entries` are (key host, value)
/// pairs as stored; `index` comes from the site scan.
pub fn map_problems(
    entries: &[(String, String)],
    index: &SiteIndex,
    sites: &Root,
    shown: &Path,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut map: HashMap<&str, &str> = HashMap::with_capacity(entries.len());
    for (host, value) in entries {
        map.insert(host, value);
        let entry = || Problem::new(Kind::MapEntry, String::new()).host(host);
        match Host::parse(host.as_bytes()) {
            Ok(h) if h.as_str() == host => {}
            Ok(h) => {
                let mut p = entry();
                p.message = format!("key host {host:?} is not normalised, so the server never looks it up (it looks up {h})");
                problems.push(p);
                continue;
            }
            Err(e) => {
                let mut p = entry();
                p.message = format!("key host {host:?} is not a host name: {e}");
                problems.push(p);
                continue;
            }
        }
        let Ok(rel) = RelPath::parse(value) else {
            let mut p = entry();
            p.message = format!("value {value:?} is not a path beneath the sites folder");
            problems.push(p);
            continue;
        };
        let declared = match index.declared.get(rel.as_str()) {
            Some(d) => Some(d.clone()),
            // Reported with the site's own problem; its domains are unknown.
            None if index.unparsed.contains(rel.as_str()) => None,
            // Not found by the walk: outside the SHARD/ID layout, or missing.
            None => match site::read_site_file(sites, rel.clone()) {
                Ok(file) => xslt::parse_document(&file.bytes, rel.as_str())
                    .ok()
                    .map(|doc| render::Outline::of(&doc).domains),
                Err(e) => {
                    problems.push(
                        Problem::new(
                            Kind::MapMissingFile,
                            format!("{host} maps to {value}, which cannot be read: {e}"),
                        )
                        .host(host)
                        .at(shown.join(value).display().to_string(), None),
                    );
                    continue;
                }
            },
        };
        if let Some(declared) = declared {
            if !declared.iter().any(|d| d == host) {
                problems.push(
                    Problem::new(
                        Kind::MapUndeclared,
                        format!(
                            "{host} maps to {value}, which does not declare it (it declares {})",
                            if declared.is_empty() {
                                "no domain".to_owned()
                            } else {
                                declared.join(", ")
                            }
                        ),
                    )
                    .host(host)
                    .site(value)
                    .at(shown.join(value).display().to_string(), None),
                );
            }
        }
    }
    let mut declared: Vec<(&String, &Vec<String>)> = index.declared.iter().collect();
    declared.sort();
    for (rel, domains) in declared {
        for d in domains {
            match map.get(d.as_str()) {
                None => problems.push(
                    Problem::new(
                        Kind::Unmapped,
                        format!("{d} is declared by {rel} but is not in the map"),
                    )
                    .host(d)
                    .site(rel)
                    .at(shown.join(rel).display().to_string(), None),
                ),
                Some(v) if v != rel => problems.push(
                    Problem::new(
                        Kind::MappedElsewhere,
                        format!("{d} is declared by {rel} but the map sends it to {v}"),
                    )
                    .host(d)
                    .site(rel)
                    .at(shown.join(rel).display().to_string(), None),
                ),
                Some(_) => {}
            }
        }
    }
    problems
}
