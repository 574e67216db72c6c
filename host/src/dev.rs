//! `wsgate dev`: the edit-and-see loop. Builds the plugin crates a config points at
//! (for `wasm32-wasip2`, release), then watches their sources and builds again at
//! every change; the gateway's own plugin watcher hot-reloads each new build. A
//! build that fails is shown (cargo's own output) and the previous version keeps
//! serving.
//!
//! A plugin's crate is found from its path: `CRATE/target/wasm32-wasip2/release/NAME.wasm`
//! (what `wsgate new` writes) is built in `CRATE`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::config::{Config, PluginSource};

/// How long sources must be quiet before a build starts (an editor writes a file in
/// several steps).
const QUIET: Duration = Duration::from_millis(300);

/// Why the loop cannot run.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// A crate's first build failed and there is no earlier build to serve.
    #[error(
        "the plugin crate {0} does not build (cargo's errors are above): fix it and run `wsgate dev` again"
    )]
    FirstBuild(PathBuf),
    /// The OS refused to watch the sources.
    #[error("cannot watch the plugin sources: {0}")]
    Watch(#[from] notify::Error),
}

/// The crates (folders with a `Cargo.toml`) whose builds the apps of `config` serve.
pub fn plugin_crates(config: &Config) -> Vec<PathBuf> {
    let mut crates: Vec<PathBuf> = config
        .apps
        .iter()
        .filter_map(|app| match &app.plugin {
            PluginSource::File(path) => crate_of(path),
            PluginSource::Embedded { .. } => None,
        })
        .collect();
    crates.sort();
    crates.dedup();
    crates
}

/// The crate a build output belongs to: the folder above `target/wasm32-wasip2/`.
fn crate_of(plugin: &Path) -> Option<PathBuf> {
    let mut dir = plugin.parent()?;
    while let Some(parent) = dir.parent() {
        if dir.file_name().is_some_and(|n| n == "wasm32-wasip2")
            && parent.file_name().is_some_and(|n| n == "target")
        {
            let krate = parent.parent()?;
            return krate
                .join("Cargo.toml")
                .is_file()
                .then(|| krate.to_path_buf());
        }
        dir = parent;
    }
    None
}

/// Builds the crate at `dir` (cargo's output goes to this process's); true if it
/// built.
pub fn build(dir: &Path) -> bool {
    tracing::info!(krate = %dir.display(), "building the plugin");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(dir)
        .status();
    match status {
        Ok(status) if status.success() => true,
        Ok(_) => {
            tracing::error!(
                krate = %dir.display(),
                "the build failed (above); the previous version keeps serving"
            );
            false
        }
        Err(e) => {
            tracing::error!("cannot run cargo: {e}");
            false
        }
    }
}

/// Builds every crate once: an error when one fails with nothing built before.
///
/// # Errors
/// [`DevError::FirstBuild`] naming the crate.
pub fn build_all(config: &Config, crates: &[PathBuf]) -> Result<(), DevError> {
    for dir in crates {
        let served_before = config.apps.iter().any(
            |app| matches!(&app.plugin, PluginSource::File(p) if p.starts_with(dir) && p.is_file()),
        );
        if !build(dir) && !served_before {
            return Err(DevError::FirstBuild(dir.clone()));
        }
    }
    Ok(())
}

/// Watches each crate's `src/` and `Cargo.toml` and builds it again after every
/// change, on a thread of its own, for as long as the process runs.
///
/// # Errors
/// [`DevError::Watch`] if a folder cannot be watched.
pub fn rebuild_on_change(crates: Vec<PathBuf>) -> Result<(), DevError> {
    let (tx, rx) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(QUIET, None, tx)?;
    for dir in &crates {
        debouncer.watch(dir.join("src"), RecursiveMode::Recursive)?;
        debouncer.watch(dir.join("Cargo.toml"), RecursiveMode::NonRecursive)?;
    }
    std::thread::Builder::new()
        .name("wsgate-dev".into())
        .spawn(move || {
            // The watcher lives as long as this thread.
            let _debouncer = debouncer;
            for events in rx {
                let Ok(events) = events else { continue };
                let touched: Vec<&PathBuf> = crates
                    .iter()
                    .filter(|dir| {
                        events
                            .iter()
                            .flat_map(|e| &e.paths)
                            .any(|p| p.starts_with(dir))
                    })
                    .collect();
                for dir in touched {
                    build(dir);
                }
            }
        })
        .map_err(|e| DevError::Watch(notify::Error::io(e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_output_names_its_crate() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let krate = dir.path().join("hello");
        std::fs::create_dir_all(krate.join("src")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(krate.join("Cargo.toml"), "").unwrap_or_else(|e| panic!("{e}"));
        let wasm = krate.join("target/wasm32-wasip2/release/hello.wasm");
        assert_eq!(crate_of(&wasm), Some(krate.clone()));
        assert_eq!(
            crate_of(&krate.join("plugin.wasm")),
            None,
            "not a build output"
        );
        let elsewhere = dir.path().join("x/target/wasm32-wasip2/release/x.wasm");
        assert_eq!(crate_of(&elsewhere), None, "no Cargo.toml there");
    }
}
