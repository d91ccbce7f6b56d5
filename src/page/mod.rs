//! The page room: one page of one site, made the same way wherever it is asked for. The
//! server's request pipeline, `vitrine render HOST [PAGE]`, `vitrine render --all` (the
//! static tree, [`static_tree`]) and `vitrine check` go through these steps, so that the
//! bytes, the ETag and the 304 decision cannot drift between them:
//!
//! 1. **Resolve** ([`Pages::resolve`]): host -> site file, through the domain map.
//! 2. **Read** ([`Pages::open`]): the site XML read fresh beneath the sites root, its theme
//!    chosen from its prolog.
//! 3. **Policy** ([`SitePolicy`], from the head of the XML): a declared alias of a site whose
//!    aliases redirect is sent to the main domain here; the HSTS value is kept for the answer.
//! 4. **Validators** ([`Site::validators`]): ETag and Last-Modified of the page; a client
//!    whose copy still matches gets 304 here, before any parse.
//! 5. **Render** ([`render_file`], [`render_parsed_file`]): parse, transform.
//! 6. **Encode** ([`Coding::encode`]): the content coding the client accepts.
//!
//! [`Pages::page`] runs steps 2-6 on the render pool (never on the reactor) for the server;
//! [`Pages::render_host_page`] runs 1, 2, 4 and 5 for the command line (which renders what
//! the main domain would show, so an alias renders too). The walk over every site of a
//! folder is in [`walk`].

pub mod coding;
pub mod static_tree;
pub mod validators;
pub mod walk;

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

pub use coding::Coding;
pub use validators::not_modified;
pub use walk::{default_threads, for_each_site, Visit};

use crate::fsx::{RelPath, Root};
use crate::map::{DomainMap, MapError};
use crate::render::{
    self, Limits, Outline, Overloaded, PageRequest, RenderError, RenderPool, Rendered, Theme,
    Themes,
};
use crate::site::{self, Host, HostError, SiteError, SiteFile, SitePolicy};

/// Longest page id taken from a request path; longer ones are cut (no page id is that long).
const MAX_PAGE_ID: usize = 100;

/// Why a page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The host name given on the command line is not a valid host.
    #[error("{input:?} is not a valid host name: {source}")]
    BadHost {
        /// What was given.
        input: String,
        /// Why it was refused.
        source: HostError,
    },
    /// The map does not know the host.
    #[error("no site for host {host}{hint}")]
    UnknownHost {
        /// The normalised host.
        host: String,
        /// What to do, for an operator (empty on the request path: visitors get a neutral
        /// page and the log stays quiet).
        hint: String,
    },
    /// The map could not answer.
    #[error("{0}")]
    Map(#[from] MapError),
    /// The map's entry or the file it names is bad.
    #[error("{0}")]
    Site(#[from] SiteError),
    /// Parsing or transforming failed.
    #[error("host {host}, site file {file}: {source}")]
    Render {
        /// The host.
        host: String,
        /// The site file (relative to the sites root).
        file: String,
        /// What failed.
        source: RenderError,
    },
    /// Compressing the page failed.
    #[error("host {host}, site file {file}: cannot compress the page: {source}")]
    Encode {
        /// The host.
        host: String,
        /// The site file.
        file: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The site has no such page (for the command line; the server answers the theme's
    /// not-found page with 404).
    #[error("site file {file} (host {host}) has no page {page:?}; its pages are: {}", list_pages(.pages))]
    UnknownPage {
        /// The host.
        host: String,
        /// The site file.
        file: String,
        /// The page asked for.
        page: String,
        /// The site's page ids, home first.
        pages: Vec<String>,
    },
    /// No render thread could take the job.
    #[error("{0}")]
    Overloaded(#[from] Overloaded),
}

fn list_pages(pages: &[String]) -> String {
    if pages.is_empty() {
        return "none (the site XML declares no <page>)".to_owned();
    }
    pages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i == 0 {
                format!("{p} (home, also at /)")
            } else {
                p.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page id of a request path: no leading or trailing slash, at most 100 characters
/// (`/` and `` are the home page, ``).
pub fn page_id(path: &str) -> String {
    let page = path.trim_start_matches('/');
    let page = page.strip_suffix('/').unwrap_or(page);
    page.chars().take(MAX_PAGE_ID).collect()
}

/// Renders `page` ("" for home) of a site file read beneath `sites`, with `theme`, for `host`.
/// The server's request pipeline, `vitrine render`, the static export and `vitrine check` all
/// call this (or [`render_parsed_file`]), so they produce the same bytes.
pub fn render_file(
    sites: &Root,
    themes: &Themes,
    file: &SiteFile,
    theme: &Theme,
    page: &str,
    host: &str,
    limits: Limits,
) -> Result<Rendered, RenderError> {
    let (site_dir, file_name) = site_paths(sites, file);
    let req = page_request(file, &site_dir, &file_name, page, host);
    render::render_page(req, theme, themes.dir(), limits)
}

/// [`render_file`] for a document already parsed from `file` (see [`render::render_parsed`]).
#[allow(clippy::too_many_arguments)]
pub fn render_parsed_file(
    sites: &Root,
    themes: &Themes,
    file: &SiteFile,
    doc: render::Document,
    outline: render::Outline,
    theme: &Theme,
    page: &str,
    host: &str,
    limits: Limits,
) -> Result<Rendered, RenderError> {
    let (site_dir, file_name) = site_paths(sites, file);
    let req = page_request(file, &site_dir, &file_name, page, host);
    render::render_parsed(doc, outline, req, theme, themes.dir(), limits)
}

/// The render request for `file`, the one shape both render entry points use.
fn page_request<'a>(
    file: &'a SiteFile,
    site_dir: &'a std::path::Path,
    file_name: &'a str,
    page: &'a str,
    host: &'a str,
) -> PageRequest<'a> {
    PageRequest {
        xml: &file.bytes,
        file_name,
        site_dir,
        page,
        host,
    }
}

/// The site's folder (a `document()` root) and the file's path (messages, base URI).
fn site_paths(sites: &Root, file: &SiteFile) -> (std::path::PathBuf, String) {
    (
        sites.path().join(file.dir()),
        sites
            .path()
            .join(file.rel.as_str())
            .to_string_lossy()
            .into_owned(),
    )
}

/// Which page of a site [`render_every_page`] rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which<'a> {
    /// The home page, what `/` returns (rendered from the document already parsed).
    Home,
    /// Another page, what `/<id>` returns.
    Page(&'a str),
    /// The theme's not-found page, what an unknown page id returns.
    NotFound,
}

/// The page id asked for to render the not-found page (no site has a page of that id: the
/// exporter and the static tree reserve it).
pub const NOT_FOUND_PAGE: &str = "404";

/// Renders every page of a site file once, as its main domain `host` gets them: the home
/// page from `doc` (already parsed, so a site costs one parse more than its page count, not
/// two), every other page but those `skip` names, then the theme's not-found page. `each`
/// gets every outcome in that order. What the static tree writes and what `vitrine check`
/// renders.
#[allow(clippy::too_many_arguments)]
pub fn render_every_page(
    sites: &Root,
    themes: &Themes,
    file: &SiteFile,
    doc: render::Document,
    outline: Outline,
    theme: &Theme,
    host: &str,
    limits: Limits,
    skip: impl Fn(&str) -> bool,
    mut each: impl FnMut(Which<'_>, Result<Rendered, RenderError>),
) {
    let pages = outline.pages.clone();
    let home = render_parsed_file(sites, themes, file, doc, outline, theme, "", host, limits);
    each(Which::Home, home);
    for page in pages.iter().skip(1).filter(|p| !skip(p)) {
        let r = render_file(sites, themes, file, theme, page, host, limits);
        each(Which::Page(page), r);
    }
    let r = render_file(sites, themes, file, theme, NOT_FOUND_PAGE, host, limits);
    each(Which::NotFound, r);
}

/// What a client already has, from its conditional headers.
#[derive(Debug, Clone, Default)]
pub struct Conditional {
    /// `If-None-Match`.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<String>,
}

/// A page's validators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// The strong ETag, quoted.
    pub etag: String,
    /// The later of the site file's and the theme's modification times.
    pub last_modified: SystemTime,
}

/// A site file read fresh, with the theme it names.
pub struct Site {
    /// The file.
    pub file: SiteFile,
    /// Its theme.
    pub theme: Arc<Theme>,
    /// Its serving policy.
    pub policy: SitePolicy,
}

impl Site {
    /// The validators of its pages in `coding`. The engine's tag is part of the ETag because
    /// a library update or a fast path turned off can change a page's bytes with neither
    /// file changing.
    pub fn validators(&self, coding: Coding) -> Validators {
        Validators {
            etag: format!(
                "\"{:016x}{:016x}{:08x}{}\"",
                self.file.stamp,
                self.theme.version,
                render::engine_tag(),
                coding.etag_suffix()
            ),
            last_modified: self.file.modified.max(self.theme.modified),
        }
    }
}

/// A page made: what the server sends and `vitrine render` prints.
#[derive(Debug)]
pub struct Page {
    /// Its bytes, in `coding`.
    pub body: Bytes,
    /// From the theme's `xsl:output`.
    pub content_type: String,
    /// Whether the page exists (else it is the theme's not-found page).
    pub found: bool,
    /// The content coding of `body`.
    pub coding: Coding,
    /// Its validators.
    pub validators: Validators,
    /// The site's `Strict-Transport-Security` value, for an HTTPS answer.
    pub hsts: Option<String>,
    /// The site's pages and domains.
    pub outline: Outline,
    /// The site file, relative to the sites root.
    pub file: String,
}

/// What [`Pages::page`] answers.
#[derive(Debug)]
pub enum Answer {
    /// The client's copy is current (with the site's HSTS value, as for a page).
    NotModified(Validators, Option<String>),
    /// The page.
    Page(Page),
    /// The host is an alias of a site whose aliases redirect: this is its main domain.
    ToMain(String),
}

/// Everything a page needs: the map, the sites, the themes, the render pool and budgets.
/// Cheap to clone.
#[derive(Clone)]
pub struct Pages {
    /// Host -> site file.
    pub map: Arc<DomainMap>,
    /// The sites root.
    pub sites: Arc<Root>,
    /// Compiled themes.
    pub themes: Arc<Themes>,
    /// Where the CPU-bound work runs (libxslt wants the pool's large stacks).
    pub pool: RenderPool,
    /// Budgets of one transform.
    pub limits: Limits,
}

/// A page as `vitrine render` prints it.
#[derive(Debug)]
pub struct PageOutput {
    /// The normalised host.
    pub host: Host,
    /// The main domain, when `host` is an alias the server redirects there: the page is
    /// then the one the visitor lands on, rendered for the main domain.
    pub redirected_to: Option<Host>,
    /// The page.
    pub page: Page,
}

impl Pages {
    /// Step 1: the site file of `host`, or [`PageError::UnknownHost`] (without a hint).
    pub async fn resolve(&self, host: &Host) -> Result<RelPath, PageError> {
        let value = self
            .map
            .resolve(host)
            .await?
            .ok_or_else(|| PageError::UnknownHost {
                host: host.to_string(),
                hint: String::new(),
            })?;
        Ok(site::parse_map_value(host, &value)?)
    }

    /// Step 2: reads the site file `rel` of `host` and picks its theme.
    pub fn open(&self, host: &Host, rel: RelPath) -> Result<Site, PageError> {
        let file = site::read_site(&self.sites, host, rel)?;
        let theme = self
            .themes
            .for_site(file.rel.as_str(), &file.bytes)
            .map_err(|source| PageError::Render {
                host: host.to_string(),
                file: file.rel.to_string(),
                source,
            })?;
        let policy = SitePolicy::read(&file.bytes);
        Ok(Site {
            file,
            theme,
            policy,
        })
    }

    /// Steps 2-5 for `page` of the site file `rel`, on the render pool.
    pub async fn page(
        &self,
        host: Host,
        rel: RelPath,
        page: String,
        coding: Coding,
        conditional: Conditional,
    ) -> Result<Answer, PageError> {
        let pages = self.clone();
        self.pool
            .run(move || pages.page_now(&host, rel, &page, coding, &conditional))
            .await?
    }

    /// [`Pages::page`] on the calling thread (a render thread).
    fn page_now(
        &self,
        host: &Host,
        rel: RelPath,
        page: &str,
        coding: Coding,
        conditional: &Conditional,
    ) -> Result<Answer, PageError> {
        let site = self.open(host, rel)?;
        if let Some(main) = site.policy.redirect_for(host) {
            return Ok(Answer::ToMain(main.to_owned()));
        }
        let validators = site.validators(coding);
        if not_modified(
            conditional.if_none_match.as_deref(),
            conditional.if_modified_since.as_deref(),
            &validators.etag,
            validators.last_modified,
        ) {
            return Ok(Answer::NotModified(validators, site.policy.hsts));
        }
        Ok(Answer::Page(
            self.make(host, &site, page, coding, validators)?,
        ))
    }

    /// Steps 5 and 6: renders `page` of `site` and encodes it.
    fn make(
        &self,
        host: &Host,
        site: &Site,
        page: &str,
        coding: Coding,
        validators: Validators,
    ) -> Result<Page, PageError> {
        let file = site.file.rel.to_string();
        let rendered = render_file(
            &self.sites,
            &self.themes,
            &site.file,
            &site.theme,
            page,
            host.as_str(),
            self.limits,
        )
        .map_err(|source| PageError::Render {
            host: host.to_string(),
            file: file.clone(),
            source,
        })?;
        let body = match coding {
            Coding::Identity => rendered.body,
            c => c
                .encode(&rendered.body)
                .map_err(|source| PageError::Encode {
                    host: host.to_string(),
                    file: file.clone(),
                    source,
                })?,
        };
        Ok(Page {
            body,
            content_type: rendered.content_type,
            found: rendered.found,
            coding,
            validators,
            hsts: site.policy.hsts.clone(),
            outline: rendered.outline,
            file,
        })
    }

    /// The outline (pages, domains), modification time and policy of the site file `rel`,
    /// parsed without a transform, on the render pool: what `robots.txt` and `sitemap.xml`
    /// need.
    pub async fn outline(
        &self,
        host: Host,
        rel: RelPath,
    ) -> Result<(Outline, SystemTime, SitePolicy), PageError> {
        let sites = self.sites.clone();
        self.pool
            .run(move || {
                let file = site::read_site(&sites, &host, rel)?;
                let name = sites.path().join(file.rel.as_str());
                let outline =
                    render::outline_of(&file.bytes, &name.to_string_lossy()).map_err(|source| {
                        PageError::Render {
                            host: host.to_string(),
                            file: file.rel.to_string(),
                            source,
                        }
                    })?;
                Ok((outline, file.modified, SitePolicy::read(&file.bytes)))
            })
            .await?
    }

    /// Renders one page for a host name the way the server answers `GET /PAGE` with that
    /// `Host` (steps 1-4, identity coding): same normalisation, map, file read, theme and
    /// parameters. `page` is a page id or a path (`tarifs`, `/tarifs`, `/`); empty means the
    /// home page. An unknown host says what to do; an unknown page lists the site's pages.
    pub async fn render_host_page(
        &self,
        host: &str,
        page_arg: &str,
    ) -> Result<PageOutput, PageError> {
        let parsed = Host::parse(host.as_bytes()).map_err(|source| PageError::BadHost {
            input: host.to_owned(),
            source,
        })?;
        let rel = match self.resolve(&parsed).await {
            Err(PageError::UnknownHost { host, .. }) => {
                return Err(PageError::UnknownHost {
                    hint: format!(
                        " in the {}: {}",
                        self.map.describe(),
                        self.map.unknown_host_hint(&parsed)
                    ),
                    host,
                })
            }
            other => other?,
        };
        let page = page_id(page_arg);
        let pages = self.clone();
        let host = parsed.clone();
        let (made, redirected_to) = self
            .pool
            .run(move || -> Result<(Page, Option<Host>), PageError> {
                let site = pages.open(&host, rel)?;
                let main = site
                    .policy
                    .redirect_for(&host)
                    .and_then(|m| Host::parse(m.as_bytes()).ok());
                let validators = site.validators(Coding::Identity);
                let for_host = main.as_ref().unwrap_or(&host);
                let made = pages.make(for_host, &site, &page, Coding::Identity, validators)?;
                Ok((made, main))
            })
            .await??;
        if !made.found {
            return Err(PageError::UnknownPage {
                host: parsed.to_string(),
                file: made.file,
                page: page_id(page_arg),
                pages: made.outline.pages,
            });
        }
        Ok(PageOutput {
            host: parsed,
            redirected_to,
            page: made,
        })
    }
}
