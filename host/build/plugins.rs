//! Builds the plugin crates under `plugins/` for `wasm32-wasip2`, for a build script.
//!
//! Shared by the host's build script (the embedded demo plugins) and the tests' (every
//! plugin). Both build into `target/plugins` with the `plugin` profile, so the second
//! build finds the first one's work done; cargo's lock on that directory orders them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugins are built for.
pub(crate) const TARGET: &str = "wasm32-wasip2";

/// Builds `crates` (package names under `plugins/`) and returns the path of each
/// component, in order. Panics with a message that says how to fix the machine when
/// the build cannot run: a build script has no better way to report.
pub(crate) fn build(workspace: &Path, crates: &[&str]) -> Vec<PathBuf> {
    for dir in ["plugins", "plugin-sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    check_target_installed();

    let target_dir = workspace.join("target").join("plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .args([
            "build",
            "--profile",
            "plugin",
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for name in crates {
        cmd.args(["-p", name]);
    }
    // The outer build's settings are for the host, not for wasm (and clippy's wrapper
    // would lint the plugins a second time).
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the plugins: {e}"));
    assert!(
        status.success(),
        "building the plugins {crates:?} for {TARGET} failed (see the errors above)"
    );
    let out = target_dir.join(TARGET).join("plugin");
    crates
        .iter()
        .map(|name| out.join(format!("{}.wasm", name.replace('-', "_"))))
        .collect()
}

fn check_target_installed() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    if let Some(sysroot) = sysroot {
        let lib = sysroot.join("lib").join("rustlib").join(TARGET);
        assert!(
            lib.exists(),
            "the Rust target {TARGET} is not installed, and the plugins are built for it: \
             run `rustup target add {TARGET}` (the scripts in scripts/ do this for you)"
        );
    }
}
