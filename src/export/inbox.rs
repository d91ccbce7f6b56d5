//! `vitrine export --watch INBOX`: an inbox folder where the back office drops record files.
//!
//! Every `*.jsonl` file that appears in the inbox *complete* is exported, then moved to
//! `INBOX/done/` when every record went through, or to `INBOX/failed/` with a report beside it
//! (`NAME.errors.json`: the run's JSON summary with its failures, or the error that stopped the
//! run). Complete means renamed into the inbox (the recommended way: write `NAME.jsonl.tmp`
//! or a hidden `.NAME.jsonl`, then rename it to `NAME.jsonl`) or closed after writing (a file
//! written in place under its final name is taken at its first close). Hidden files and other
//! extensions are ignored, so a file being written under a temporary name is never read half
//! done. Files already in the inbox at start are exported first, in name order; then files
//! are taken one at a time, in the order they arrive.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};

use super::files::utc_stamp;
use super::{run, Input, Options, Summary};

/// Why the inbox cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The inbox or its `done/` and `failed/` folders cannot be used.
    #[error("inbox {path}: {cause}: the inbox must be an existing, writable folder")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file system watch could not be set up.
    #[error("cannot watch {path}: {cause}")]
    Watch {
        /// The inbox.
        path: PathBuf,
        /// notify's error.
        cause: notify::Error,
    },
}

/// What happened to one inbox file.
#[derive(Debug)]
pub struct FileOutcome {
    /// The file's name in the inbox.
    pub name: String,
    /// Where it was moved (`done/…` or `failed/…`).
    pub moved_to: PathBuf,
    /// The run's summary, when the run completed.
    pub summary: Option<Summary>,
    /// The error that stopped the run, if any.
    pub error: Option<String>,
}

impl FileOutcome {
    /// Whether every record of the file went through.
    pub fn ok(&self) -> bool {
        self.error.is_none()
            && self
                .summary
                .as_ref()
                .is_some_and(|s| s.failed == 0 && s.not_found.is_empty())
    }
}

/// Whether `path` names a record file to take (`*.jsonl`, not hidden).
pub fn is_record_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".jsonl") && !n.starts_with('.') && n.len() > 6)
}

/// A free name for `name` in `dir`: `name` itself, else `STEM.<UTC time>[.n].jsonl`.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let candidate = dir.join(name);
    if !candidate.exists() {
        return candidate;
    }
    let stem = name.strip_suffix(".jsonl").unwrap_or(name);
    let stamp = utc_stamp(SystemTime::now());
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!(".{n}")
        };
        let candidate = dir.join(format!("{stem}.{stamp}{suffix}.jsonl"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// Exports one inbox file and moves it to `done/` or `failed/` (with its report).
pub fn process_file(inbox: &Path, path: &Path, opts: &Options) -> Option<FileOutcome> {
    let name = path.file_name()?.to_str()?.to_owned();
    let file = match fs::File::open(path) {
        Ok(f) => f,
        // Already taken (a duplicate event) or removed by its writer.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            return Some(finish(
                inbox,
                path,
                &name,
                None,
                Some(format!("cannot open {}: {e}", path.display())),
            ))
        }
    };
    let size = file.metadata().ok().map(|m| m.len());
    let input = Input {
        name: name.clone(),
        reader: Box::new(file),
        size,
    };
    match run(input, opts) {
        Ok(summary) => Some(finish(inbox, path, &name, Some(summary), None)),
        Err(e) => Some(finish(inbox, path, &name, None, Some(e.to_string()))),
    }
}

fn finish(
    inbox: &Path,
    path: &Path,
    name: &str,
    summary: Option<Summary>,
    error: Option<String>,
) -> FileOutcome {
    let mut outcome = FileOutcome {
        name: name.to_owned(),
        moved_to: PathBuf::new(),
        summary,
        error,
    };
    let dir = inbox.join(if outcome.ok() { "done" } else { "failed" });
    let target = free_name(&dir, name);
    if let Err(e) = fs::rename(path, &target) {
        let msg = format!("could not move it to {}: {e}", target.display());
        outcome.error = Some(match outcome.error.take() {
            Some(prev) => format!("{prev}; {msg}"),
            None => msg,
        });
        return outcome;
    }
    if !outcome.ok() {
        let report = match (&outcome.summary, &outcome.error) {
            (Some(summary), _) => serde_json::to_vec_pretty(summary),
            (None, error) => serde_json::to_vec_pretty(&serde_json::json!({
                "input": name,
                "error": error,
            })),
        };
        let report_path = PathBuf::from(format!("{}.errors.json", target.display()));
        if let Err(e) = report
            .map_err(std::io::Error::other)
            .and_then(|bytes| fs::write(&report_path, bytes))
        {
            outcome.error = Some(format!(
                "{}; the report {} could not be written: {e}",
                outcome.error.take().unwrap_or_default(),
                report_path.display()
            ));
        }
    }
    outcome.moved_to = target;
    outcome
}

/// The record files a notify event says are complete.
fn completed_paths(event: notify::Event) -> Vec<PathBuf> {
    let complete = match event.kind {
        EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => {
            // `Both` carries [from, to]: only the destination counts.
            event.paths.last().cloned().into_iter().collect()
        }
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => event.paths,
        _ => Vec::new(),
    };
    complete.into_iter().filter(|p| is_record_file(p)).collect()
}

/// Watches `inbox` until `stop` is set, exporting every complete record file (see the module
/// doc). `on_file` is told about each file handled.
pub fn watch(
    inbox: &Path,
    opts: &Options,
    stop: &AtomicBool,
    mut on_file: impl FnMut(&FileOutcome),
) -> Result<(), InboxError> {
    let folder = |path: &Path| {
        let path = path.to_owned();
        move |cause| InboxError::Folder { path, cause }
    };
    let meta = fs::metadata(inbox).map_err(folder(inbox))?;
    if !meta.is_dir() {
        return Err(folder(inbox)(std::io::Error::other("not a folder")));
    }
    for sub in ["done", "failed"] {
        fs::create_dir_all(inbox.join(sub)).map_err(folder(&inbox.join(sub)))?;
    }
    let (tx, rx) = mpsc::channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            for path in completed_paths(event) {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|cause| InboxError::Watch {
        path: inbox.to_owned(),
        cause,
    })?;
    // Watch first, then list: a file arriving in between is seen twice, which is harmless
    // (the second time it is gone), rather than not at all.
    watcher
        .watch(inbox, RecursiveMode::NonRecursive)
        .map_err(|cause| InboxError::Watch {
            path: inbox.to_owned(),
            cause,
        })?;
    let mut queue: VecDeque<PathBuf> = {
        let mut existing: Vec<PathBuf> = fs::read_dir(inbox)
            .map_err(folder(inbox))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_record_file(p) && p.is_file())
            .collect();
        existing.sort();
        existing.into()
    };
    while !stop.load(Ordering::Relaxed) {
        if let Some(path) = queue.pop_front() {
            if let Some(outcome) = process_file(inbox, &path, opts) {
                on_file(&outcome);
            }
            continue;
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(path) => {
                if !queue.contains(&path) {
                    queue.push_back(path);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_jsonl_names_are_taken() {
        assert!(is_record_file(Path::new("/in/batch-1.jsonl")));
        for skip in [
            "/in/.batch.jsonl",
            "/in/batch.jsonl.tmp",
            "/in/batch.json",
            "/in/.jsonl",
            "/in/batch.jsonl.part",
        ] {
            assert!(!is_record_file(Path::new(skip)), "{skip}");
        }
        let both = notify::Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path("/in/b.jsonl.tmp".into())
            .add_path("/in/b.jsonl".into());
        assert_eq!(completed_paths(both), [PathBuf::from("/in/b.jsonl")]);
        let write = notify::Event::new(EventKind::Modify(ModifyKind::Data(
            notify::event::DataChange::Any,
        )))
        .add_path("/in/b.jsonl".into());
        assert!(completed_paths(write).is_empty());
    }

    #[test]
    fn collisions_in_done_get_a_new_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(free_name(dir.path(), "a.jsonl"), dir.path().join("a.jsonl"));
        fs::write(dir.path().join("a.jsonl"), b"").unwrap();
        let other = free_name(dir.path(), "a.jsonl");
        assert_ne!(other, dir.path().join("a.jsonl"));
        assert!(is_record_file(&other), "{}", other.display());
    }
}
