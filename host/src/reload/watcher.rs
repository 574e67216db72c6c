//! Watches the folders of the plugin files (not the files: `mv` and many editors
//! replace a file with a new inode) and reports the paths that changed, after a quiet
//! period so that a file being written in several steps is reported once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::WatchError;

/// How long a plugin file must stay quiet before it is read.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Paths that changed, and when the first change was seen.
pub(crate) struct Changes {
    pub(crate) paths: BTreeSet<PathBuf>,
    pub(crate) seen: Instant,
}

/// The watch on the folders of a set of plugin files.
pub(crate) struct PluginWatcher {
    debouncer: Debouncer<RecommendedWatcher, RecommendedCache>,
    folders: BTreeSet<PathBuf>,
}

/// The absolute form of `path` (without resolving links), as change events name it.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

impl PluginWatcher {
    /// Starts watching nothing yet; changes go to `changes`.
    pub(crate) fn new(changes: mpsc::Sender<Changes>) -> Result<Self, WatchError> {
        let debouncer =
            new_debouncer(
                DEBOUNCE,
                None,
                move |result: DebounceEventResult| match result {
                    Ok(events) => {
                        let seen = events
                            .iter()
                            .map(|e| e.time)
                            .min()
                            .unwrap_or_else(Instant::now);
                        let paths: BTreeSet<PathBuf> = events
                            .iter()
                            .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                            .flat_map(|e| e.paths.iter().cloned())
                            .collect();
                        if !paths.is_empty() {
                            let _ = changes.send(Changes { paths, seen });
                        }
                    }
                    Err(errors) => {
                        for e in errors {
                            tracing::warn!("watching plugin files: {e}");
                        }
                    }
                },
            )
            .map_err(|e| WatchError::new(e.to_string()))?;
        Ok(Self {
            debouncer,
            folders: BTreeSet::new(),
        })
    }

    /// Watches the folders of exactly `files` (absolute paths).
    pub(crate) fn watch(&mut self, files: &[PathBuf]) -> Result<(), WatchError> {
        let wanted: BTreeSet<PathBuf> = files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_path_buf))
            .collect();
        for gone in self.folders.difference(&wanted) {
            let _ = self.debouncer.unwatch(gone);
        }
        for folder in wanted.difference(&self.folders) {
            self.debouncer
                .watch(folder, RecursiveMode::NonRecursive)
                .map_err(|e| WatchError::new(format!("{}: {e}", folder.display())))?;
            tracing::debug!(folder = %folder.display(), "watching for plugin changes");
        }
        self.folders = wanted;
        Ok(())
    }
}
