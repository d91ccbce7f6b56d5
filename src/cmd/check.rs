//! `vitrine check`: what an operator runs before deploying a theme or a batch of sites.
//! Prints every problem with its file, line and fix (or JSON with --json) and exits 1 if
//! there is any.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::check::{self, Report, SiteCheck};
use crate::cli::CheckArgs;
use crate::fsx::Root;
use crate::map::redis::RedisMap;
use crate::page;
use crate::render::{Limits, Themes};

/// Runs `vitrine check`.
pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    super::render::check_dirs(&args.data)?;
    // Connect first: a wrong URL should not cost a full scan before it is reported.
    let map = match &args.redis {
        Some(url) => Some(
            RedisMap::connect(url, Duration::from_secs(5))
                .await
                .with_context(|| format!("cannot reach the domain map at {url}: is redis-server running? (omit --redis to check the sites alone)"))?,
        ),
        None => None,
    };
    let (themes, _) = Themes::load(&args.data.stylesheets)?;
    let mut report = Report::default();
    report.summary.themes = (themes.names().len() + themes.failures().len()) as u64;
    report.problems = check::stylesheet_problems(&themes, &args.data.stylesheets);
    report.summary.themes_failed = report.problems.len() as u64;
    let sites = Root::open(&args.data.sites)
        .with_context(|| format!("cannot open sites folder {}", args.data.sites.display()))?;
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        super::render::progress(&args.data.sites, "checking")
    };
    let index = SiteCheck {
        themes: &themes,
        sites: &sites,
        shown: &args.data.sites,
        stylesheets_shown: &args.data.stylesheets,
        threads: args.threads.unwrap_or_else(page::default_threads),
        limits: Limits::default(),
    }
    .run(&mut report, || bar.inc(1))
    .with_context(|| format!("cannot list sites folder {}", args.data.sites.display()))?;
    bar.finish_and_clear();
    if let Some(map) = &map {
        let entries = map.list().await?;
        report.summary.map = Some(format!("Redis map at {}", map.url()));
        report.summary.map_entries = Some(entries.len() as u64);
        report.problems.extend(check::map_problems(
            &entries,
            &index,
            &sites,
            &args.data.sites,
        ));
        report
            .problems
            .extend(check::certs::problems(map, &entries).await?);
    }
    let report = report.finish(start.elapsed());
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        crate::cmd::out::text(format_args!("{report}")).context("cannot write to stdout")?;
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
