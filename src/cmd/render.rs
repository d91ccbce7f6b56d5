//! `vitrine render HOST [PAGE]`: print one page exactly as the server would send it (for a
//! support request, a diff after a theme change); `vitrine render --all --out DIR`: the static
//! export of every page of every site.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{DataArgs, RenderArgs};
use crate::fsx::Root;
use crate::map::{self, DomainMap};
use crate::page::static_tree::StaticTree;
use crate::page::{self, Pages};
use crate::render::{Limits, ReloadOutcome, RenderPool, Themes};
use crate::site;

/// Failures printed one by one before only counting them.
const SHOWN_FAILURES: u64 = 50;

/// Checks that the data folders exist, naming the option to fix otherwise.
pub(crate) fn check_dirs(data: &DataArgs) -> anyhow::Result<()> {
    if !data.sites.is_dir() {
        bail!(
            "sites folder {} does not exist: pass --sites DIR (or VITRINE_SITES)",
            data.sites.display()
        );
    }
    if !data.stylesheets.is_dir() {
        bail!(
            "stylesheets folder {} does not exist: pass --stylesheets DIR (or VITRINE_STYLESHEETS)",
            data.stylesheets.display()
        );
    }
    Ok(())
}

/// Compiles the themes, warning on stderr about those that fail (sites using them fail too).
fn load_themes(dir: &Path) -> anyhow::Result<Themes> {
    let (themes, outcomes) = Themes::load(dir)?;
    for o in &outcomes {
        if let ReloadOutcome::Failed(name, _) = o {
            if let Some(f) = themes.failure(name) {
                eprintln!("warning: theme {name} does not compile, {f}");
            }
        }
    }
    Ok(themes)
}

/// A progress bar on stderr when it is a terminal, else a hidden one. Counting the sites
/// first costs one listing of the folder, worth it only when someone watches.
pub(crate) fn progress(sites: &Path, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total = site::walk_site_files(sites).map_or(0, |w| w.count() as u64);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{what} {{bar:40}} {{pos}}/{{len}} sites, {{per_sec}}, ETA {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Runs `vitrine render`.
pub async fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    check_dirs(&args.data)?;
    let themes = Arc::new(load_themes(&args.data.stylesheets)?);
    let sites = Root::open(&args.data.sites)
        .with_context(|| format!("cannot open sites folder {}", args.data.sites.display()))?;
    if args.all {
        let Some(out) = &args.out else {
            bail!("--all needs --out DIR");
        };
        let threads = args.threads.unwrap_or_else(page::default_threads);
        return export(&themes, &sites, out, threads, &args.data.sites);
    }
    let Some(host) = &args.host else {
        bail!("give a HOST to render, or --all --out DIR");
    };
    let (map, conflicts) = DomainMap::open(
        args.redis.as_deref(),
        &args.data.sites,
        map::MapOptions::once(map::LOOKUP_DEADLINE * 8),
    )
    .await
    .with_context(|| match &args.redis {
        Some(url) => format!("cannot use the domain map at {url}: is redis-server running there? (omit --redis to use the domains the site XMLs declare)"),
        None => format!("cannot build the in-memory domain map of {}", args.data.sites.display()),
    })?;
    for c in conflicts {
        eprintln!("warning: {}", c.0);
    }
    let pages = Pages {
        map: Arc::new(map),
        sites: Arc::new(sites),
        themes,
        pool: RenderPool::new(1, 1).context("cannot start a render thread")?,
        limits: Limits::default(),
    };
    let page = args.page.as_deref().unwrap_or("");
    let out = pages.render_host_page(host, page).await?;
    if let Some(main) = &out.redirected_to {
        crate::errln!(
            "{} is an alias of {main}: the server answers it with a 301 there; this is {main}'s \
             page (set \"https\": {{\"aliases\": \"serve\"}} in the record to serve it as is)",
            out.host
        );
    }
    super::out::bytes(&out.page.body).context("cannot write the page to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn export(
    themes: &Themes,
    sites: &Root,
    out: &Path,
    threads: usize,
    sites_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let bar = progress(sites_dir, "rendering");
    let mut shown = 0u64;
    let summary = StaticTree {
        themes,
        sites,
        out,
        threads,
        limits: Limits::default(),
    }
    .run(
        || bar.inc(1),
        |failure| {
            shown += 1;
            if shown <= SHOWN_FAILURES {
                bar.suspend(|| eprintln!("failed: {failure}"));
            } else if shown == SHOWN_FAILURES + 1 {
                bar.suspend(|| eprintln!("(more failures: only counted from now on)"));
            }
        },
    )?;
    bar.finish_and_clear();
    let secs = summary.elapsed.as_secs_f64();
    eprintln!(
        "exported {} sites ({} without failure), {} pages, {} files, {} bytes, {} domains in hosts.map, {} failures, in {:.2} s ({:.0} pages/s, {} threads) into {}",
        summary.sites,
        summary.sites_ok,
        summary.pages,
        summary.files,
        summary.bytes,
        summary.domains,
        summary.failures,
        secs,
        summary.pages as f64 / secs.max(1e-9),
        threads,
        out.display()
    );
    Ok(if summary.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
