//! Plugins: WebAssembly components that implement `wit/plugin.wit`.
//!
//! - [`engine`]: the shared wasmtime engine, linker and epoch thread.
//! - [`loader`]: a plugin's bytes (file or embedded) → checked, linked
//!   [`LoadedPlugin`] (compile once).
//! - [`instance`]: one running instance and its typed hook calls.
//! - `budget`: a hook's time budget, and the WASI clock waits cut at its end.
//! - [`state`]: what a store holds (WASI context without ambient authority, limits).
//! - [`output`]: plugin stdout/stderr and `log` → tracing.
//! - `bindings`: the generated host bindings.
//! - `convert`: the host's own types (`crate::model`) to and from the bindings.
//! - `events`: contract 0.2's `handle`, called with the host's own lowering of the
//!   events (an empty attachment costs no call into the plugin).
//! - `packed`: contract 0.2's optional `handle-packed`: a call's messages in one
//!   buffer, its sends in another.
//!
//! Below the runtime: it imports only `config` and `model` of the crate.

mod bindings;
mod budget;
mod commit;
mod convert;
pub mod engine;
mod events;
pub mod instance;
pub mod loader;
pub(crate) mod output;
mod packed;
mod shared;
mod state;

use std::path::PathBuf;

pub(crate) use commit::Committer;
pub use engine::PluginEngine;
pub use instance::{HookTrap, PluginInstance};
pub use loader::{Contract, LoadedPlugin};
pub use state::{MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLES};

/// For a plugin file that is not there: how to build it (the crate is the folder
/// above `target/` when the path is a cargo build's output).
fn build_hint(path: &std::path::Path, error: &std::io::Error) -> String {
    if error.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let text = path.display().to_string();
    match text.split_once("/target/wasm32-wasip2/") {
        Some((krate, _)) => {
            format!("; build it with `cargo build --release --target wasm32-wasip2` in {krate}")
        }
        None => "; build the plugin first (`cargo build --release --target wasm32-wasip2` in \
                 its crate) and point `plugin` at the .wasm it writes"
            .into(),
    }
}

/// Why a plugin cannot be loaded. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The plugin file cannot be read: check the `plugin` path in the config (it is
    /// relative to the config file) and the file's permissions.
    #[error("cannot read the plugin file {}: {source}{}", path.display(), build_hint(path, source))]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not WebAssembly at all.
    #[error(
        "not a WebAssembly file (it does not start with \\0asm): point `plugin` at the .wasm a plugin build produced"
    )]
    NotWasm,
    /// The file is a core module: plugins are components.
    #[error(
        "a core WebAssembly module, not a component: build the plugin with `cargo build --target wasm32-wasip2`"
    )]
    CoreModule,
    /// wasmtime could not compile the component.
    #[error("cannot compile the component: {0}")]
    Compile(String),
    /// The component does not implement the plugin world.
    #[error(
        "the component does not export {expected} (its exports: {found}): build it with the wsgate-plugin SDK, or export the `plugin` world of wit/plugin.wit",
        expected = bindings::SPOKEN,
        found = if .exports.is_empty() { "none".to_owned() } else { .exports.join(", ") }
    )]
    MissingHandler {
        /// What the component exports instead.
        exports: Vec<String>,
    },
    /// The component was built against another version of the contract.
    #[error(
        "the component exports `{found}`, but this host speaks {expected}: rebuild the plugin against this gateway's wsgate-plugin SDK",
        expected = bindings::SPOKEN
    )]
    WrongVersion {
        /// The export name the component has.
        found: String,
    },
    /// The component's imports or exports do not match the contract's types.
    #[error("the component does not fit the plugin world: {0}")]
    Link(String),
    /// Instantiating the component failed (its start code trapped, or a limit hit).
    #[error("cannot instantiate the plugin: {0}")]
    Instantiate(String),
    /// wasmtime could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}
