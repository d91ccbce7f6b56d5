//! The static export (`vitrine render --all --out DIR`): every page of every site rendered
//! once, as the server would send it to the site's main domain, into a tree nginx serves
//! without Vitrine. It is the fallback when the publisher is down and the upper bound of the
//! benchmark.
//!
//! Layout (the contract with the nginx configuration in README):
//!
//! ```text
//! OUT/hosts.map              "HOST SITE-ID;" per declared domain (an nginx `map` include)
//! OUT/<site-id>/index.html   the home page (what `/` returns)
//! OUT/<site-id>/<page>.html  every page, the home page included (what `/<page>` returns)
//! OUT/<site-id>/404.html     the theme's not-found page (what `/404` returns)
//! OUT/<site-id>/media        symlink to the site's media folder, when it has one
//! ```
//!
//! Sites are streamed through [`super::for_each_site`]; only the domain -> site table for
//! `hosts.map` (needed to catch a domain two sites declare) grows with the number of sites.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{for_each_site, render_every_page, Visit, Which};
use crate::fsx::{RelPath, Root};
use crate::render::{self, Limits, Location, RenderError, Themes};
use crate::site::{self, Host};

/// Page ids that would collide with the tree's own files.
const RESERVED_PAGES: [&str; 2] = ["index", "404"];

pub use super::NOT_FOUND_PAGE;

/// Why the export as a whole could not run.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The output folder already holds files.
    #[error("output folder {0} is not empty: export into a new folder, then point nginx at it (e.g. switch a symlink), so visitors never see a half-written tree")]
    NotEmpty(PathBuf),
    /// A file or folder of the tree could not be written or the sites folder listed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One thing that could not be exported; the rest of the site (or tree) still is.
#[derive(Debug, Clone, Serialize)]
pub struct TreeFailure {
    /// The site file (`SHARD/ID/site.xml`), or the shard folder that could not be listed.
    pub site: String,
    /// The page, when one page failed.
    pub page: Option<String>,
    /// What went wrong and what to do.
    pub message: String,
    /// Where to fix it, when known.
    pub location: Option<Location>,
}

impl std::fmt::Display for TreeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.site)?;
        if let Some(page) = &self.page {
            write!(f, " page {page}")?;
        }
        if let Some(at) = &self.location {
            write!(f, " (at {at})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What an export did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TreeSummary {
    /// Site files found.
    pub sites: u64,
    /// Sites exported without any failure.
    pub sites_ok: u64,
    /// Distinct pages rendered and written (home once, 404 pages not counted).
    pub pages: u64,
    /// Files written (index, pages, 404), `hosts.map` excluded.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Lines of `hosts.map`.
    pub domains: u64,
    /// Failures (every one was passed to the caller's callback).
    pub failures: u64,
    /// Wall time.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Settings of one export.
pub struct StaticTree<'a> {
    /// Compiled themes.
    pub themes: &'a Themes,
    /// The sites root.
    pub sites: &'a Root,
    /// The output folder (created if absent; must be empty).
    pub out: &'a Path,
    /// Worker threads.
    pub threads: usize,
    /// Budgets of one transform.
    pub limits: Limits,
}

/// What one site produced, handed from a worker to the collecting thread.
struct SiteResult {
    id: String,
    domains: Vec<String>,
    pages: u64,
    files: u64,
    bytes: u64,
    failures: Vec<TreeFailure>,
}

impl StaticTree<'_> {
    /// Runs the export. `on_site` is called after each site (progress), `on_failure` for
    /// each failure as it happens; both on the calling thread.
    pub fn run(
        &self,
        mut on_site: impl FnMut(),
        mut on_failure: impl FnMut(&TreeFailure),
    ) -> Result<TreeSummary, TreeError> {
        let start = Instant::now();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| TreeError::Io { path, source }
        };
        std::fs::create_dir_all(self.out).map_err(io(self.out))?;
        if std::fs::read_dir(self.out)
            .map_err(io(self.out))?
            .next()
            .is_some()
        {
            return Err(TreeError::NotEmpty(self.out.to_owned()));
        }
        let map_path = self.out.join("hosts.map");
        let mut hosts_map =
            std::io::BufWriter::new(std::fs::File::create(&map_path).map_err(io(&map_path))?);
        let mut owners: HashMap<String, String> = HashMap::new();
        let mut summary = TreeSummary::default();
        let mut write_error = None;
        for_each_site(
            self.sites.path(),
            self.threads,
            |rel| self.site(rel),
            |visit| {
                let result = match visit {
                    Visit::Site { out, .. } => out,
                    Visit::Unlistable(e) => {
                        summary.failures += 1;
                        on_failure(&TreeFailure {
                            site: e.to_string(),
                            page: None,
                            message: "shard folder cannot be listed; its sites were skipped"
                                .into(),
                            location: None,
                        });
                        return;
                    }
                };
                summary.sites += 1;
                summary.pages += result.pages;
                summary.files += result.files;
                summary.bytes += result.bytes;
                let mut failures = result.failures;
                for domain in result.domains {
                    match owners.get(&domain) {
                        Some(owner) => failures.push(TreeFailure {
                            site: site::site_path(&result.id),
                            page: None,
                            message: format!(
                                "domain {domain} is also declared by site {owner}; hosts.map sends it to {owner}: remove it from one of the two sites"
                            ),
                            location: None,
                        }),
                        None => {
                            if let Err(e) = writeln!(hosts_map, "{domain} {};", result.id) {
                                write_error.get_or_insert(e);
                            }
                            summary.domains += 1;
                            owners.insert(domain, result.id.clone());
                        }
                    }
                }
                if failures.is_empty() {
                    summary.sites_ok += 1;
                }
                summary.failures += failures.len() as u64;
                for f in &failures {
                    on_failure(f);
                }
                on_site();
            },
        )
        .map_err(io(self.sites.path()))?;
        if let Some(e) = write_error {
            return Err(io(&map_path)(e));
        }
        hosts_map
            .into_inner()
            .map_err(|e| io(&map_path)(e.into_error()))?
            .sync_all()
            .map_err(io(&map_path))?;
        summary.elapsed = start.elapsed();
        Ok(summary)
    }

    /// Exports one site; never fails as a whole, every problem is a failure in the result.
    fn site(&self, rel: &str) -> SiteResult {
        let id = site::site_id_of(rel).to_owned();
        let mut result = SiteResult {
            id: id.clone(),
            domains: Vec::new(),
            pages: 0,
            files: 0,
            bytes: 0,
            failures: Vec::new(),
        };
        let fail = |page: Option<&str>, message: String, location: Option<Location>| TreeFailure {
            site: rel.to_owned(),
            page: page.map(str::to_owned),
            message,
            location,
        };
        let render_fail = |page: &str, e: RenderError| {
            let location = match &e {
                RenderError::Xml(x) => x.location(),
                _ => None,
            };
            fail(Some(page), e.to_string(), location)
        };
        // The folder name becomes a path under OUT and a value in hosts.map.
        if !render::valid_theme_name(&id) {
            result.failures.push(fail(
                None,
                format!("site folder name {id:?} is not a site id ([a-z0-9][a-z0-9-]*): rename the folder to the site's id"),
                None,
            ));
            return result;
        }
        let file = match RelPath::parse(rel)
            .map_err(|e| e.to_string())
            .and_then(|rel| site::read_site_file(self.sites, rel).map_err(|e| e.to_string()))
        {
            Ok(file) => file,
            Err(e) => {
                result.failures.push(fail(None, e, None));
                return result;
            }
        };
        let name = self.sites.path().join(rel);
        let doc = match render::parse_site(&file.bytes, &name.to_string_lossy()) {
            Ok(doc) => doc,
            Err(e) => {
                let location = e.location();
                result.failures.push(fail(None, e.to_string(), location));
                return result;
            }
        };
        let outline = render::Outline::of(&doc);
        for declared in &outline.domains {
            match Host::parse(declared.as_bytes()) {
                Ok(host) if host.as_str() == declared => result.domains.push(host.to_string()),
                Ok(host) => result.failures.push(fail(
                    None,
                    format!(
                        "declared domain {declared:?} is not in normal form: write it as {host}"
                    ),
                    None,
                )),
                Err(e) => result.failures.push(fail(
                    None,
                    format!(
                        "declared domain {declared:?} is not a host name ({e}): fix or remove it"
                    ),
                    None,
                )),
            }
        }
        let Some(host) = result.domains.first().cloned() else {
            result.failures.push(fail(
                None,
                "the site declares no valid domain, so no request can reach it: add <domain main=\"true\">".into(),
                None,
            ));
            return result;
        };
        let theme = match self.themes.for_site(rel, &file.bytes) {
            Ok(theme) => theme,
            Err(e) => {
                result.failures.push(fail(None, e.to_string(), None));
                return result;
            }
        };
        let dir = self.out.join(&id);
        if let Err(e) = std::fs::create_dir(&dir) {
            let why = if e.kind() == std::io::ErrorKind::AlreadyExists {
                "another shard holds a site with the same id; only the first was exported: remove the duplicate".to_owned()
            } else {
                e.to_string()
            };
            result
                .failures
                .push(fail(None, format!("{}: {why}", dir.display()), None));
            return result;
        }
        let write = |name: &str, body: &[u8], result: &mut SiteResult| {
            let path = dir.join(name);
            match std::fs::write(&path, body) {
                Ok(()) => {
                    result.files += 1;
                    result.bytes += body.len() as u64;
                    true
                }
                Err(e) => {
                    result.failures.push(fail(
                        None,
                        format!("cannot write {}: {e}", path.display()),
                        None,
                    ));
                    false
                }
            }
        };

        for page in outline.pages.iter().filter(|p| !page_file_ok(p)) {
            result.failures.push(fail(
                Some(page),
                format!(
                    "page id {page:?} cannot be exported (ids are [a-z0-9][a-z0-9-]*, and index and 404 are taken by the static tree): rename the page"
                ),
                None,
            ));
        }
        let first = outline.pages.first().cloned();
        render_every_page(
            self.sites,
            self.themes,
            &file,
            doc,
            outline,
            &theme,
            &host,
            self.limits,
            |page| !page_file_ok(page),
            |which, rendered| match (which, rendered) {
                (Which::Home, Ok(home)) => {
                    if write("index.html", &home.body, &mut result) {
                        result.pages += 1;
                    }
                    // `/<home-id>` renders with the very same parameters as `/`.
                    if let Some(first) = first.as_deref().filter(|p| page_file_ok(p)) {
                        write(&format!("{first}.html"), &home.body, &mut result);
                    }
                }
                (Which::Page(page), Ok(r)) => {
                    if write(&format!("{page}.html"), &r.body, &mut result) {
                        result.pages += 1;
                    }
                }
                (Which::NotFound, Ok(r)) => {
                    // Found: a page called "404", already reported above.
                    if !r.found {
                        write("404.html", &r.body, &mut result);
                    }
                }
                (Which::Home, Err(e)) => result.failures.push(render_fail("(home)", e)),
                (Which::Page(page), Err(e)) => result.failures.push(render_fail(page, e)),
                (Which::NotFound, Err(e)) => result.failures.push(render_fail("(not found)", e)),
            },
        );
        let media = self.sites.path().join(file.dir()).join("media");
        if media.is_dir() {
            if let Err(e) = std::os::unix::fs::symlink(&media, dir.join("media")) {
                result.failures.push(fail(
                    None,
                    format!("cannot link {}/media: {e}", dir.display()),
                    None,
                ));
            }
        }
        result
    }
}

fn page_file_ok(page: &str) -> bool {
    render::valid_theme_name(page) && !RESERVED_PAGES.contains(&page)
}
