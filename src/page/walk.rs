//! The walk over every site of a sites folder, in parallel with bounded memory
//! ([`for_each_site`]): what `vitrine render --all`, `vitrine check` and the static tree run
//! their per-site work through.

use std::path::Path;

use crossbeam_channel::bounded;

use crate::render;
use crate::site;

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
