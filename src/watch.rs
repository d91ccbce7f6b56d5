//! Watching the stylesheets folder: a changed theme (or any file it imports or includes) is
//! recompiled and swapped in within a second; a theme that fails to compile is not swapped
//! and the error is logged with its file and line, while the last good version keeps serving.
//!
//! notify reports editor saves in many shapes (write in place, write a temp file then rename,
//! rename the old file to a backup then write a new one, delete then create); they are
//! normalised here into "these paths changed", debounced, and temp files are ignored. While a
//! theme's main file is briefly absent (the middle of a backup-and-rename save) the reload
//! waits for it rather than dropping the theme. If the kernel's event queue overflowed, every
//! theme is recompiled. Compilation runs on the watcher's own thread, never on a request.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};

use crate::render::{valid_theme_name, ReloadOutcome, Themes};

/// How long to wait for more events after the last one before reloading: editors emit bursts.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// How long a theme's main file may be missing before the theme is dropped: long enough for
/// an editor's rename-then-write save, short enough to stay within the one-second promise.
const REAPPEAR_GRACE: Duration = Duration::from_millis(500);

/// Keeps the watch alive; dropping it stops watching.
pub struct ThemeWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Whether a path is an editor or exporter temporary file rather than a stylesheet change.
pub fn is_temp_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return true;
    };
    name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with(".bak")
        || name.ends_with(".kate-swp")
        // JetBrains "safe write": NAME___jb_tmp___ then NAME___jb_old___.
        || name.ends_with("___")
}

/// What the notify callback hands to the reload thread.
enum Change {
    /// These paths changed.
    Paths(Vec<PathBuf>),
    /// Events were lost (inotify queue overflow): anything may have changed.
    Rescan,
}

/// Whether `path` is the main file of a loaded theme and is missing right now.
fn main_file_missing(themes: &Themes, path: &Path) -> bool {
    path.parent() == Some(themes.dir())
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".xsl"))
            .is_some_and(|name| {
                valid_theme_name(name) && themes.get(name).is_some() && !path.exists()
            })
}

/// Collects a burst of changes: until `DEBOUNCE` passes without an event, then, while a
/// loaded theme's main file is missing, until it reappears or `REAPPEAR_GRACE` runs out.
/// Returns `None` when the watcher is gone.
fn collect_burst(
    rx: &Receiver<Change>,
    first: Change,
    themes: &Themes,
) -> Option<(Vec<PathBuf>, bool)> {
    let mut paths = Vec::new();
    let mut rescan = false;
    let mut add = |change: Change, paths: &mut Vec<PathBuf>| match change {
        Change::Paths(p) => paths.extend(p),
        Change::Rescan => rescan = true,
    };
    add(first, &mut paths);
    let grace_end = Instant::now() + REAPPEAR_GRACE;
    loop {
        match rx.recv_timeout(DEBOUNCE) {
            Ok(more) => add(more, &mut paths),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => {
                let waiting = paths.iter().any(|p| main_file_missing(themes, p));
                if !waiting || Instant::now() >= grace_end {
                    break;
                }
            }
        }
    }
    paths.sort();
    paths.dedup();
    Some((paths, rescan))
}

/// Starts watching `themes.dir()` recursively; `on_reload` is called with each batch of
/// outcomes (the serve command logs them).
pub fn watch_themes(
    themes: Arc<Themes>,
    on_reload: impl Fn(&[ReloadOutcome]) + Send + 'static,
) -> notify::Result<ThemeWatcher> {
    let (tx, rx) = std::sync::mpsc::channel::<Change>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let event = match res {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!("stylesheet watch: {e}; recompiling every theme to be safe");
                let _ = tx.send(Change::Rescan);
                return;
            }
        };
        if event.need_rescan() {
            let _ = tx.send(Change::Rescan);
            return;
        }
        let relevant = matches!(
            event.kind,
            EventKind::Create(_)
                | EventKind::Modify(_)
                | EventKind::Remove(_)
                | EventKind::Access(AccessKind::Close(AccessMode::Write))
                | EventKind::Any
        );
        let paths: Vec<PathBuf> = event
            .paths
            .into_iter()
            .filter(|p| !is_temp_file(p))
            .collect();
        if relevant && !paths.is_empty() {
            let _ = tx.send(Change::Paths(paths));
        }
    })?;
    watcher.watch(themes.dir(), RecursiveMode::Recursive)?;
    std::thread::Builder::new()
        .name("vitrine-theme-watch".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let Some((changed, rescan)) = collect_burst(&rx, first, &themes) else {
                    return;
                };
                let outcomes = if rescan {
                    themes.reload_all()
                } else {
                    themes.reload_changed(&changed)
                };
                match outcomes {
                    Ok(outcomes) => on_reload(&outcomes),
                    Err(e) => tracing::error!("theme reload: {e}"),
                }
            }
        })
        .map_err(|e| notify::Error::generic(&e.to_string()))?;
    Ok(ThemeWatcher { _watcher: watcher })
}

/// Logs reload outcomes the way operators read them.
pub fn log_outcomes(outcomes: &[ReloadOutcome]) {
    for o in outcomes {
        match o {
            ReloadOutcome::Loaded(name) => tracing::info!("theme {name} (re)compiled and live"),
            ReloadOutcome::Failed(name, e) => match e.location() {
                Some(at) => tracing::error!(
                    "theme {name} NOT (re)loaded, error at {at}; the previous version, if any, keeps serving: {e}"
                ),
                None => tracing::error!(
                    "theme {name} NOT (re)loaded; the previous version, if any, keeps serving: {e}"
                ),
            },
            ReloadOutcome::Removed(name) => {
                tracing::warn!(
                    "theme {name}: its .xsl file is gone; the last good version keeps serving \
                     its sites until the file is restored"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_files_are_ignored() {
        for t in [
            ".classic.xsl.swp",
            "classic.xsl~",
            "#classic.xsl#",
            ".tmp123",
            "x.xsl.tmp",
            "classic.xsl___jb_tmp___",
            "classic.xsl.bak",
        ] {
            assert!(is_temp_file(Path::new(t)), "{t}");
        }
        assert!(!is_temp_file(Path::new("stylesheets/classic.xsl")));
        assert!(!is_temp_file(Path::new("stylesheets/common/base.xsl")));
    }
}
