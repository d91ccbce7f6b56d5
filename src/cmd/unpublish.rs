//! `vitrine unpublish ID`: the site's domains leave the map, then its folder goes to the
//! archive (see [`crate::export::unpublish`]).

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::UnpublishArgs;
use crate::export::files::SiteFiles;
use crate::export::unpublish::unpublish;

/// Runs `vitrine unpublish`.
pub async fn run(args: UnpublishArgs) -> anyhow::Result<ExitCode> {
    let sites = super::export::sites_given(args.sites.as_deref(), "unpublish")?;
    let files = SiteFiles::new(&sites, args.archive.as_deref());
    let id = args.id.clone();
    let redis = args.redis.clone();
    let done = tokio::task::spawn_blocking(move || unpublish(&id, &files, redis.as_deref()))
        .await
        .context("the unpublish task panicked")?
        .with_context(|| format!("cannot unpublish {}", args.id))?;
    match &done.removed {
        Some(removed) if removed.is_empty() => crate::outln!("{}: no domain was mapped to it", args.id)?,
        Some(removed) => crate::outln!(
            "{}: {} domains removed from the map: {}",
            args.id,
            removed.len(),
            removed.join(" ")
        )?,
        None => crate::errln!(
            "warning: no --redis: the domain map was NOT updated; domains still mapped to {} answer 503 until removed (vitrine domains rm HOST)",
            args.id
        ),
    }
    match &done.archived {
        Some(path) => crate::outln!("{}: folder moved to {}", args.id, path.display())?,
        None => crate::outln!("{}: had no folder under {}", args.id, sites.display())?,
    }
    Ok(ExitCode::SUCCESS)
}
