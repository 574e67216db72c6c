//! Builds every plugin under `plugins/` for the tests and exports their paths as
//! `WSGATE_PLUGIN_<NAME>` (for `wsgate_tests::plugins`).
#![allow(clippy::panic, reason = "a build script reports failure by panicking")]

#[path = "../host/build/plugins.rs"]
mod plugins;

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let mut names: Vec<String> = std::fs::read_dir(workspace.join("plugins"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| e.path().join("Cargo.toml").exists())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let crates: Vec<&str> = names.iter().map(String::as_str).collect();
    let paths = plugins::build(&workspace, &crates);
    let mut consts = String::new();
    for (name, path) in names.iter().zip(paths) {
        let ident = name.to_uppercase().replace('-', "_");
        consts.push_str(&format!(
            "/// The `{name}` plugin component, built from `plugins/{name}`.\npub const {ident}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("plugins.rs");
    if let Err(e) = std::fs::write(&out, consts) {
        panic!("cannot write {}: {e}", out.display());
    }
}
