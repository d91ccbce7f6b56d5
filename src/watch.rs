//! Watching the stylesheets folder: a changed theme (or any file it imports or includes) is
//! recompiled and swapped in within a second; a theme that fails to compile is not swapped
//! and the error is logged with its file and line, while the last good version keeps serving.
//!
//! notify reports editor saves in many shapes (write in place, write a temp file then rename,
//! delete then create); they are normalised here into "these paths changed", debounced, and
//! temp files are ignored. Compilation runs on the watcher's own thread, never on a request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};

use crate::render::{ReloadOutcome, Themes};

/// How long to wait for more events after the first before reloading: editors emit bursts.
const DEBOUNCE: Duration = Duration::from_millis(100);

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
        || name.ends_with(".tmp")
        || name.ends_with(".part")
}

/// Starts watching `themes.dir()` recursively; `on_reload` is called with each batch of
/// outcomes (the serve command logs them).
pub fn watch_themes(
    themes: Arc<Themes>,
    on_reload: impl Fn(&[ReloadOutcome]) + Send + 'static,
) -> notify::Result<ThemeWatcher> {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<PathBuf>>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            let relevant = matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
            );
            let paths: Vec<PathBuf> = event
                .paths
                .into_iter()
                .filter(|p| !is_temp_file(p))
                .collect();
            if relevant && !paths.is_empty() {
                let _ = tx.send(paths);
            }
        }
    })?;
    watcher.watch(themes.dir(), RecursiveMode::Recursive)?;
    std::thread::Builder::new()
        .name("vitrine-theme-watch".into())
        .spawn(move || {
            while let Ok(mut changed) = rx.recv() {
                while let Ok(more) = rx.recv_timeout(DEBOUNCE) {
                    changed.extend(more);
                }
                changed.sort();
                changed.dedup();
                match themes.reload_changed(&changed) {
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
            ReloadOutcome::Failed(name, e) => tracing::error!(
                "theme {name} NOT reloaded, the previous version keeps serving: {e}"
            ),
            ReloadOutcome::Removed(name) => {
                tracing::warn!("theme {name} removed: its .xsl file is gone")
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
        ] {
            assert!(is_temp_file(Path::new(t)), "{t}");
        }
        assert!(!is_temp_file(Path::new("stylesheets/classic.xsl")));
        assert!(!is_temp_file(Path::new("stylesheets/common/base.xsl")));
    }
}
