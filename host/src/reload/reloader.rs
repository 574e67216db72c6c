//! The reloader thread: for each changed plugin file, waits until it is stable, reads
//! and compiles it (off the async runtime), then hands the new version to every app
//! that uses the file. A file that does not compile or does not fit the plugin world
//! is refused here with one log line; the running version keeps serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use super::watcher::Changes;
use crate::app::AppHandle;
use crate::plugin::loader::content_hash;
use crate::plugin::{LoadedPlugin, PluginEngine};

/// How long a file's size and modification time must hold still while it is read.
const SETTLE: Duration = Duration::from_millis(50);

/// Which apps use a plugin file (absolute path); asked at each change.
pub(crate) type AppsByFile = Box<dyn Fn(&Path) -> Vec<AppHandle> + Send>;

/// Starts the reloader thread; it ends when `changes` has no sender left.
pub(crate) fn spawn(
    engine: PluginEngine,
    apps_using: AppsByFile,
    changes: mpsc::Receiver<Changes>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("wsgate-reloader".into())
        .spawn(move || {
            let mut last_seen: HashMap<PathBuf, u64> = HashMap::new();
            while let Ok(batch) = changes.recv() {
                for path in &batch.paths {
                    let apps = apps_using(path);
                    if !apps.is_empty() {
                        reload_file(&engine, path, &apps, batch.seen, &mut last_seen);
                    }
                }
            }
        })?;
    Ok(())
}

fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

/// Reads `path` once its size and modification time hold still across the read.
fn read_stable(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    for _ in 0..20 {
        let before = stamp(path);
        std::thread::sleep(SETTLE);
        let bytes = std::fs::read(path)?;
        if before.is_some()
            && before == stamp(path)
            && before.map(|(len, _)| len) == Some(bytes.len() as u64)
        {
            return Ok(Some(bytes));
        }
    }
    Ok(None)
}

fn reload_file(
    engine: &PluginEngine,
    path: &Path,
    apps: &[AppHandle],
    seen: std::time::Instant,
    last_seen: &mut HashMap<PathBuf, u64>,
) {
    let file = path.display();
    let bytes = match read_stable(path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            tracing::warn!(%file, "plugin file keeps changing; waiting for the next change");
            return;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!(%file, "plugin file removed; the running version keeps serving");
            return;
        }
        Err(e) => {
            tracing::warn!(%file, "cannot read the changed plugin file: {e}");
            return;
        }
    };
    let hash = content_hash(&bytes);
    // The last version handed over for this file (or refused), else the one serving.
    let previous = last_seen
        .get(path)
        .copied()
        .or_else(|| apps.first().map(|app| app.stats.plugin_hash()));
    if previous == Some(hash) {
        tracing::debug!(%file, "plugin file touched but its content is the one already seen");
        return;
    }
    last_seen.insert(path.to_path_buf(), hash);
    let origin = path.display().to_string();
    match LoadedPlugin::compile(engine, &origin, &bytes) {
        Ok(plugin) => {
            // Never waits on an app: a stuck one takes its version when it can.
            for app in apps {
                app.reload(plugin.clone(), origin.clone(), seen);
            }
        }
        Err(e) => {
            for app in apps {
                app.stats.reload_refused();
                tracing::warn!(app = %app.name, %file, "reload refused, the previous version keeps serving: {e}");
            }
        }
    }
}
