//! `wsgate dev`: the edit-and-see loop. Builds the plugin projects a config points
//! at, then watches their sources and builds again at every change; the gateway's
//! own plugin watcher hot-reloads each new build. A build that fails is shown (the
//! build tool's own output) and the previous version keeps serving.
//!
//! A plugin's project is found from its path: `CRATE/target/wasm32-wasip2/release/NAME.wasm`
//! is a Rust crate's build, made with `cargo build --release --target wasm32-wasip2`
//! in `CRATE`; a plugin file in a folder whose `package.json` has a `build` script is
//! a JavaScript project's, made with `npm run build` there (both as `wsgate new`
//! writes them).

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
    /// A project's first build failed and there is no earlier build to serve.
    #[error(
        "the plugin project {0} does not build (the errors are above): fix it and run `wsgate dev` again"
    )]
    FirstBuild(PathBuf),
    /// The OS refused to watch the sources.
    #[error("cannot watch the plugin sources: {0}")]
    Watch(#[from] notify::Error),
}

/// What builds a plugin project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Toolchain {
    /// A Rust crate: cargo.
    Cargo,
    /// A JavaScript package: `npm run build`.
    Npm,
}

/// A folder whose build an app serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Project {
    /// The crate's or package's folder.
    pub dir: PathBuf,
    /// What builds it.
    pub toolchain: Toolchain,
}

/// The projects whose builds the apps of `config` serve.
pub fn plugin_projects(config: &Config) -> Vec<Project> {
    let mut projects: Vec<Project> = config
        .apps
        .iter()
        .filter_map(|app| match &app.plugin {
            PluginSource::File(path) => project_of(path),
            PluginSource::Embedded { .. } => None,
        })
        .collect();
    projects.sort();
    projects.dedup();
    projects
}

/// The project a build output belongs to.
fn project_of(plugin: &Path) -> Option<Project> {
    if let Some(dir) = crate_of(plugin) {
        return Some(Project {
            dir,
            toolchain: Toolchain::Cargo,
        });
    }
    npm_package_of(plugin).map(|dir| Project {
        dir,
        toolchain: Toolchain::Npm,
    })
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

/// The npm package a plugin file is built by: its folder or the one above, with a
/// `package.json` that has a `build` script.
fn npm_package_of(plugin: &Path) -> Option<PathBuf> {
    let dir = plugin.parent()?;
    [Some(dir), dir.parent()]
        .into_iter()
        .flatten()
        .find_map(|dir| {
            let manifest = std::fs::read_to_string(dir.join("package.json")).ok()?;
            let manifest: serde_json::Value = serde_json::from_str(&manifest).ok()?;
            manifest["scripts"]["build"]
                .is_string()
                .then(|| dir.to_path_buf())
        })
}

/// Builds `project` (the tool's output goes to this process's); true if it built.
pub fn build(project: &Project) -> bool {
    let dir = &project.dir;
    tracing::info!(project = %dir.display(), "building the plugin");
    let (tool, args): (std::ffi::OsString, &[&str]) = match project.toolchain {
        Toolchain::Cargo => (
            std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            &["build", "--release", "--target", "wasm32-wasip2"],
        ),
        Toolchain::Npm => ("npm".into(), &["run", "--silent", "build"]),
    };
    match Command::new(&tool).args(args).current_dir(dir).status() {
        Ok(status) if status.success() => true,
        Ok(_) => {
            tracing::error!(
                project = %dir.display(),
                "the build failed (above); the previous version keeps serving"
            );
            false
        }
        Err(e) => {
            tracing::error!("cannot run {}: {e}", tool.to_string_lossy());
            false
        }
    }
}

/// Builds every project once: an error when one fails with nothing built before.
///
/// # Errors
/// [`DevError::FirstBuild`] naming the project.
pub fn build_all(config: &Config, projects: &[Project]) -> Result<(), DevError> {
    for project in projects {
        let served_before = config.apps.iter().any(|app| {
            matches!(&app.plugin, PluginSource::File(p) if p.starts_with(&project.dir) && p.is_file())
        });
        if !build(project) && !served_before {
            return Err(DevError::FirstBuild(project.dir.clone()));
        }
    }
    Ok(())
}

/// Whether a change to `path` is a change to `project`'s sources: a crate's `src/`
/// and `Cargo.toml`; a package's JavaScript, TypeScript and JSON files outside
/// `node_modules` (not its build's output, nor the build's own entry file).
fn is_source(project: &Project, path: &Path) -> bool {
    let Ok(inside) = path.strip_prefix(&project.dir) else {
        return false;
    };
    match project.toolchain {
        Toolchain::Cargo => inside.starts_with("src") || inside == Path::new("Cargo.toml"),
        Toolchain::Npm => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let source = [".js", ".mjs", ".cjs", ".ts", ".json"]
                .iter()
                .any(|ext| name.ends_with(ext));
            source
                && !name.starts_with(".wsgate-entry")
                && name != "package-lock.json"
                && !inside.components().any(|c| c.as_os_str() == "node_modules")
        }
    }
}

/// Watches each project's sources and builds it again after every change, on a
/// thread of its own, for as long as the process runs.
///
/// # Errors
/// [`DevError::Watch`] if a folder cannot be watched.
pub fn rebuild_on_change(projects: Vec<Project>) -> Result<(), DevError> {
    let (tx, rx) = mpsc::channel::<DebounceEventResult>();
    let mut debouncer = new_debouncer(QUIET, None, tx)?;
    for project in &projects {
        match project.toolchain {
            Toolchain::Cargo => {
                debouncer.watch(project.dir.join("src"), RecursiveMode::Recursive)?;
                debouncer.watch(project.dir.join("Cargo.toml"), RecursiveMode::NonRecursive)?;
            }
            Toolchain::Npm => debouncer.watch(&project.dir, RecursiveMode::Recursive)?,
        }
    }
    std::thread::Builder::new()
        .name("wsgate-dev".into())
        .spawn(move || {
            // The watcher lives as long as this thread.
            let _debouncer = debouncer;
            for events in rx {
                let Ok(events) = events else { continue };
                let touched: Vec<&Project> = projects
                    .iter()
                    .filter(|project| {
                        events
                            .iter()
                            .flat_map(|e| &e.paths)
                            .any(|p| is_source(project, p))
                    })
                    .collect();
                for project in touched {
                    build(project);
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

    #[test]
    fn a_plugin_beside_a_package_json_with_a_build_script_is_an_npm_project() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let package = dir.path().join("hello");
        std::fs::create_dir_all(package.join("dist")).unwrap_or_else(|e| panic!("{e}"));
        let write = |path: PathBuf, text: &str| {
            std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        };
        write(
            package.join("package.json"),
            r#"{"scripts":{"build":"wsgate-plugin build hello.js"}}"#,
        );
        let npm = Some(Project {
            dir: package.clone(),
            toolchain: Toolchain::Npm,
        });
        assert_eq!(project_of(&package.join("hello.wasm")), npm);
        assert_eq!(
            project_of(&package.join("dist/hello.wasm")),
            npm,
            "one folder down"
        );
        write(
            package.join("package.json"),
            r#"{"scripts":{"test":"node --test"}}"#,
        );
        assert_eq!(
            project_of(&package.join("hello.wasm")),
            None,
            "no build script"
        );
    }

    #[test]
    fn only_sources_trigger_a_build() {
        let npm = Project {
            dir: PathBuf::from("/p"),
            toolchain: Toolchain::Npm,
        };
        for source in [
            "/p/hello.js",
            "/p/lib/util.mjs",
            "/p/package.json",
            "/p/types.ts",
        ] {
            assert!(is_source(&npm, Path::new(source)), "{source}");
        }
        for other in [
            "/p/hello.wasm",
            "/p/.wsgate-entry-42.mjs",
            "/p/package-lock.json",
            "/p/node_modules/x/index.js",
            "/q/hello.js",
        ] {
            assert!(!is_source(&npm, Path::new(other)), "{other}");
        }
        let krate = Project {
            dir: PathBuf::from("/c"),
            toolchain: Toolchain::Cargo,
        };
        assert!(is_source(&krate, Path::new("/c/src/lib.rs")));
        assert!(is_source(&krate, Path::new("/c/Cargo.toml")));
        assert!(!is_source(&krate, Path::new("/c/target/x.wasm")));
    }
}
