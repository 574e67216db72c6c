//! Builds the demo plugins (chat, echo, relay) that `wsgate serve` embeds when it runs without
//! a config file (feature `demo`, on by default), and the testbed plugin that the
//! actor's unit tests drive (built in the same cargo run: a few seconds more).
#![allow(clippy::panic, reason = "a build script reports failure by panicking")]

#[path = "build/plugins.rs"]
mod plugins;

fn main() {
    if std::env::var_os("CARGO_FEATURE_DEMO").is_none() {
        return;
    }
    let manifest =
        std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest.parent().unwrap_or(&manifest).to_path_buf();
    let paths = plugins::build(&workspace, &["chat", "echo", "relay", "testbed"]);
    for (name, path) in ["CHAT", "ECHO", "RELAY", "TESTBED"].iter().zip(paths) {
        println!("cargo:rustc-env=WSGATE_DEMO_{name}_WASM={}", path.display());
    }
}
