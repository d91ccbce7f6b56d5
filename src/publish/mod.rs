//! Rendering outside a request, byte for byte as the server renders: the one render step
//! shared by the server, the CLI, the static export and the check ([`render_file`]); one page
//! for a host name, resolved through the same domain map as the server
//! ([`render_host_page`], `vitrine render HOST [PAGE]`); and the driver that runs a task over
//! every site of a sites folder in parallel with bounded memory ([`for_each_site`]). The static
//! tree that nginx serves without Vitrine is in [`export`].

pub mod export;

use std::path::Path;
use std::sync::Arc;

use crossbeam_channel::bounded;

use crate::fsx::Root;
use crate::render::{self, Limits, PageRequest, RenderError, RenderPool, Rendered, Theme, Themes};
use crate::site::{self, DomainMap, Host, HostError, MapError, SiteError, SiteFile};

/// Why one page could not be rendered for a host.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The host name given is not a valid host.
    #[error("{input:?} is not a valid host name: {source}")]
    BadHost {
        /// What was given.
        input: String,
        /// Why it was refused.
        source: HostError,
    },
    /// The map does not know the host.
    #[error("no site for host {host} in the {map}: {hint}")]
    UnknownHost {
        /// The normalised host.
        host: String,
        /// Which map was asked.
        map: String,
        /// What to do.
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
    /// The site has no such page.
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
    Overloaded(#[from] render::Overloaded),
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

/// Everything a one-off render needs.
#[derive(Clone)]
pub struct Publisher {
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
    /// The site file it resolved to.
    pub file: String,
    /// The render.
    pub rendered: Rendered,
}

/// Renders one page for a host name the way the server answers `GET /PAGE` with that
/// `Host`: same normalisation, same map, same file read, same theme choice, same parameters.
/// `page` is a page id or a path (`tarifs`, `/tarifs`, `/`); empty means the home page. An
/// unknown page is an error listing the site's pages.
pub async fn render_host_page(
    publisher: &Publisher,
    host: &str,
    page: &str,
) -> Result<PageOutput, PublishError> {
    let parsed = Host::parse(host.as_bytes()).map_err(|source| PublishError::BadHost {
        input: host.to_owned(),
        source,
    })?;
    let value = publisher
        .map
        .resolve(&parsed)
        .await?
        .ok_or_else(|| PublishError::UnknownHost {
            host: parsed.to_string(),
            map: publisher.map.describe(),
            hint: publisher.map.unknown_host_hint(&parsed),
        })?;
    let rel = site::parse_map_value(&parsed, &value)?;
    // The server's page id from a path: no leading or trailing slash, at most 100 chars.
    let page = page.trim_start_matches('/');
    let page: String = page
        .strip_suffix('/')
        .unwrap_or(page)
        .chars()
        .take(100)
        .collect();
    let p = publisher.clone();
    let host = parsed.clone();
    let (file, rendered) = publisher
        .pool
        .run(move || -> Result<(String, Rendered), PublishError> {
            let file = site::read_site(&p.sites, &host, rel)?;
            let render_err = |source| PublishError::Render {
                host: host.to_string(),
                file: file.rel.to_string(),
                source,
            };
            let theme = p
                .themes
                .for_site(file.rel.as_str(), &file.bytes)
                .map_err(render_err)?;
            let rendered = render_file(
                &p.sites,
                &p.themes,
                &file,
                &theme,
                &page,
                host.as_str(),
                p.limits,
            )
            .map_err(render_err)?;
            if !rendered.found {
                return Err(PublishError::UnknownPage {
                    host: host.to_string(),
                    file: file.rel.to_string(),
                    page,
                    pages: rendered.outline.pages,
                });
            }
            Ok((file.rel.to_string(), rendered))
        })
        .await??;
    Ok(PageOutput {
        host: parsed,
        file,
        rendered,
    })
}

/// What the walk of the sites folder hands to the caller, one item per site file.
#[derive(Debug)]
pub enum Visit<T> {
    /// The task's result for the site file `rel` (`SHARD/ID/site.xml`).
    Site {
        /// The site file, relative to the sites root.
        rel: String,
        /// What the task returned.
        out: T,
    },
    /// A shard folder could not be listed; its sites were skipped.
    Unlistable(std::io::Error),
}

/// Runs `task` on every site file beneath `sites` on `threads` threads with the render pool's
/// stack size (libxslt recurses), and hands each result to `fold` on the calling thread, in
/// completion order. The folder is streamed ([`site::walk_site_files`]) through bounded
/// queues, so memory stays flat whatever the number of sites; only what `fold` keeps grows.
pub fn for_each_site<T, F, G>(
    sites: &Path,
    threads: usize,
    task: F,
    mut fold: G,
) -> std::io::Result<()>
where
    T: Send,
    F: Fn(&str) -> T + Sync,
    G: FnMut(Visit<T>),
{
    render::xslt::init();
    let walk = site::walk_site_files(sites)?;
    let threads = threads.max(1);
    let (work_tx, work_rx) = bounded::<String>(threads * 4);
    let (done_tx, done_rx) = bounded::<Visit<T>>(threads * 4);
    std::thread::scope(|scope| -> std::io::Result<()> {
        let walker_done = done_tx.clone();
        std::thread::Builder::new()
            .name("vitrine-walk".into())
            .spawn_scoped(scope, move || {
                for item in walk {
                    let sent = match item {
                        Ok(rel) => work_tx.send(rel).is_ok(),
                        Err(e) => walker_done.send(Visit::Unlistable(e)).is_ok(),
                    };
                    if !sent {
                        return;
                    }
                }
            })?;
        for i in 0..threads {
            let work_rx = work_rx.clone();
            let done_tx = done_tx.clone();
            let task = &task;
            std::thread::Builder::new()
                .name(format!("vitrine-site-{i}"))
                .stack_size(render::pool::STACK_SIZE)
                .spawn_scoped(scope, move || {
                    while let Ok(rel) = work_rx.recv() {
                        let out = task(&rel);
                        if done_tx.send(Visit::Site { rel, out }).is_err() {
                            return;
                        }
                    }
                })?;
        }
        // The loop below ends when the walker and every worker have dropped their senders.
        drop(done_tx);
        drop(work_rx);
        for visit in done_rx {
            fold(visit);
        }
        Ok(())
    })
}

/// Threads to use when the operator does not say: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
