//! Builds the demo plugins (chat, echo, relay, dashboard) that `wsgate serve` embeds when it runs without
//! a config file (feature `demo`, on by default), and two test fixtures built in the
//! same cargo run (a few seconds more): `testbed`, which the actor's unit tests drive,
//! and `hostile`, which the command-line tests run under a real `wsgate` process.
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
    let paths = plugins::build(
        &workspace,
        &["chat", "echo", "relay", "dashboard", "testbed", "hostile"],
    );
    let names = [
        "DEMO_CHAT",
        "DEMO_ECHO",
        "DEMO_RELAY",
        "DEMO_DASHBOARD",
        "FIXTURE_TESTBED",
        "FIXTURE_HOSTILE",
    ];
    for (name, path) in names.iter().zip(paths) {
        println!("cargo:rustc-env=WSGATE_{name}_WASM={}", path.display());
    }
}
