//! `vitrine export`: records in, site files and map entries out. The work is in
//! [`crate::export`]; this module opens the input, runs it off the async reactor and reports.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context};

use crate::cli::ExportArgs;
use crate::export::{self, Input, Options, Summary};

/// The sites folder a command that writes there was given: it has no default, since
/// `sample-sites` (the default of the commands that only read) would be overwritten by an
/// export run from the repository.
pub fn sites_given(sites: Option<&Path>, command: &str) -> anyhow::Result<PathBuf> {
    sites.map(Path::to_path_buf).ok_or_else(|| {
        anyhow!(
            "no sites folder given: pass --sites DIR or set VITRINE_SITES (`vitrine {command}` \
             writes there, so it has no default; the samples are --sites sample-sites)"
        )
    })
}

/// The run settings from the command line.
pub fn options(args: &ExportArgs) -> anyhow::Result<Options> {
    let sites = sites_given(args.sites.as_deref(), "export")?;
    let mut opts = Options::new(sites, args.stylesheets.clone());
    opts.archive = args.archive.clone();
    opts.redis = args.redis.clone();
    opts.only = args.only.clone();
    if let Some(n) = args.threads {
        opts.build_threads = n.max(1);
    }
    if let Some(n) = args.writers {
        opts.write_threads = n.max(1);
    }
    opts.progress = std::io::stderr().is_terminal();
    Ok(opts)
}

/// Prints the summary: JSON on stdout with `--json`, else one line on stdout.
pub fn print_summary(summary: &Summary, json: bool) -> anyhow::Result<()> {
    if json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(summary).context("encoding the summary")?
        )?;
    } else {
        crate::outln!("{summary}")?;
    }
    Ok(())
}

/// Runs `vitrine export`.
pub async fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let opts = options(&args)?;
    let Some(from) = args.from.clone() else {
        let inbox = args
            .watch
            .clone()
            .context("--from FILE or --watch INBOX is required")?;
        return watch(inbox, opts, args.json).await;
    };
    let input = if from.as_os_str() == "-" {
        Input {
            name: "stdin".to_owned(),
            reader: Box::new(std::io::stdin()),
            size: None,
        }
    } else {
        let file = std::fs::File::open(&from)
            .with_context(|| format!("cannot open {}", from.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        Input {
            name: from.display().to_string(),
            reader: Box::new(file),
            size,
        }
    };
    let summary = tokio::task::spawn_blocking(move || export::run(input, &opts))
        .await
        .context("the export task panicked")??;
    print_summary(&summary, args.json)?;
    Ok(if summary.failed > 0 || !summary.not_found.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--watch INBOX`: runs until SIGINT or SIGTERM (the file being exported is finished first).
async fn watch(inbox: PathBuf, opts: Options, json: bool) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
    crate::errln!(
        "watching {} for *.jsonl files (write NAME.jsonl.tmp, then rename it to NAME.jsonl)",
        inbox.display()
    );
    let done = tokio::task::spawn_blocking(move || {
        export::inbox::watch(&inbox, &opts, &stop, |outcome| {
            let printed = if json {
                let line = serde_json::json!({
                    "file": outcome.name,
                    "moved_to": outcome.moved_to,
                    "ok": outcome.ok(),
                    "error": outcome.error,
                    "summary": outcome.summary,
                });
                crate::outln!("{line}")
            } else {
                match (&outcome.summary, &outcome.error) {
                    (_, Some(e)) => crate::outln!("{}: {e}", outcome.name),
                    (Some(s), None) => crate::outln!("{s}"),
                    (None, None) => Ok(()),
                }
                .and_then(|()| crate::outln!("{} -> {}", outcome.name, outcome.moved_to.display()))
            };
            // The file is exported and moved whatever stdout does; the watch goes on, and
            // the outcome is still in done/ or failed/ (with its errors file).
            if let Err(e) = printed {
                tracing::warn!("{}: {e:#}", outcome.name);
            }
        })
    })
    .await
    .context("the inbox task panicked")?;
    done?;
    Ok(ExitCode::SUCCESS)
}
