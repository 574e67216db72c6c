//! Turns plugin bytes into a [`LoadedPlugin`]: checked to be a component of the right
//! world and version, compiled and linked once, ready to instantiate cheaply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Component;

use super::PluginError;
use super::bindings::{HANDLER_INTERFACE, v0_1, v0_2};
use super::engine::PluginEngine;
use super::events::export_index;
use super::packed::{HANDLE_PACKED, PACKED_EXPORT};
use super::shared::Compiled;
use super::state::StoreState;
use crate::config::PluginSource;

/// The bytes of a plugin component: read from its file, or built into the binary.
///
/// # Errors
/// [`PluginError::Read`] if the file cannot be read.
pub(crate) fn read(source: &PluginSource) -> Result<std::borrow::Cow<'static, [u8]>, PluginError> {
    match source {
        PluginSource::File(path) => {
            std::fs::read(path)
                .map(std::borrow::Cow::Owned)
                .map_err(|source| PluginError::Read {
                    path: path.clone(),
                    source,
                })
        }
        PluginSource::Embedded { bytes, .. } => Ok(std::borrow::Cow::Borrowed(bytes)),
    }
}

/// A compiled, linked and type-checked plugin. Cheap to clone; instantiate it with
/// [`PluginInstance::new`](super::PluginInstance::new).
#[derive(Clone)]
pub struct LoadedPlugin {
    pub(crate) engine: PluginEngine,
    /// The compiled code, shared with every app of the same bytes.
    pub(crate) compiled: Arc<Compiled>,
    /// The contract version it was built against.
    pub contract: Contract,
    /// Whether messages may go to it several per call (`max_batch_events`): it
    /// imports `commit` (see `batches_safely`).
    pub batches_safely: bool,
    /// How long compiling and linking took.
    pub compile_time: Duration,
    /// Size of the component in bytes.
    pub size: usize,
    /// A hash of the component's bytes, to tell versions apart.
    pub hash: u64,
    pub(crate) _origin: Arc<str>,
}

/// A contract version this host speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    /// `wsgate:plugin@0.1.0`.
    V0_1,
    /// `wsgate:plugin@0.2.0`.
    V0_2,
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V0_1 => "0.1.0",
            Self::V0_2 => "0.2.0",
        })
    }
}

/// A plugin linked and type-checked against its contract version.
#[derive(Clone)]
pub(crate) enum Pre {
    V0_1(v0_1::PluginPre<StoreState>),
    /// With the bindings' export indices and `handle`'s (see `events`), looked up
    /// once here rather than at every instance's start.
    V0_2 {
        instance_pre: wasmtime::component::InstancePre<StoreState>,
        indices: v0_2::PluginIndices,
        handle: wasmtime::component::ComponentExportIndex,
        /// `handle-packed`'s, if the plugin exports it (see `packed`).
        packed: Option<wasmtime::component::ComponentExportIndex>,
    },
}

/// The kind of WebAssembly binary, from its 8-byte preamble.
#[derive(Debug, PartialEq, Eq)]
enum Preamble {
    Component,
    CoreModule,
    NotWasm,
}

fn preamble(bytes: &[u8]) -> Preamble {
    match bytes {
        [0x00, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00, ..] => Preamble::CoreModule,
        // Components have layer 1 in bytes 6-7 (the version in bytes 4-5 changes).
        [0x00, b'a', b's', b'm', _, _, 0x01, 0x00, ..] => Preamble::Component,
        _ => Preamble::NotWasm,
    }
}

impl LoadedPlugin {
    /// Whether the plugin takes its messages packed (contract 0.2's optional
    /// `handle-packed`; see `packed`).
    pub fn takes_packed(&self) -> bool {
        matches!(
            &self.compiled.pre,
            Pre::V0_2 {
                packed: Some(_),
                ..
            }
        )
    }

    /// Compiles `bytes` (a component) and checks it against the plugin world.
    /// `origin` names it in logs (a path, or `embedded:chat`).
    ///
    /// # Errors
    /// Every [`PluginError`] but `Read` and `Engine`.
    pub fn compile(engine: &PluginEngine, origin: &str, bytes: &[u8]) -> Result<Self, PluginError> {
        let started = Instant::now();
        let hash = content_hash(bytes);
        let compiled = match engine.shared.get(hash, bytes) {
            Some(compiled) => compiled,
            None => {
                let (pre, contract, batches_safely) = compile_and_link(engine, bytes)?;
                engine
                    .shared
                    .insert(hash, bytes, pre, contract, batches_safely)
            }
        };
        Ok(Self {
            engine: engine.clone(),
            contract: compiled.contract,
            batches_safely: compiled.batches_safely,
            compiled,
            compile_time: started.elapsed(),
            size: bytes.len(),
            hash,
            _origin: origin.into(),
        })
    }
}

/// Compiles `bytes` and links it against its contract version; tells whether it
/// batches safely.
fn compile_and_link(
    engine: &PluginEngine,
    bytes: &[u8],
) -> Result<(Pre, Contract, bool), PluginError> {
    match preamble(bytes) {
        Preamble::Component => {}
        Preamble::CoreModule => return Err(PluginError::CoreModule),
        Preamble::NotWasm => return Err(PluginError::NotWasm),
    }
    let component = Component::new(&engine.engine, bytes)
        .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
    let contract = check_exports(engine, &component)?;
    let link = |e: wasmtime::Error| PluginError::Link(format!("{e:#}"));
    let instance_pre = engine.linker.instantiate_pre(&component).map_err(link)?;
    let pre = match contract {
        Contract::V0_1 => Pre::V0_1(v0_1::PluginPre::new(instance_pre).map_err(link)?),
        Contract::V0_2 => Pre::V0_2 {
            indices: v0_2::PluginIndices::new(&instance_pre).map_err(link)?,
            handle: export_index(&instance_pre, v0_2::HANDLER_EXPORT, "handle").ok_or_else(
                || PluginError::Link(format!("it has no `handle` in `{}`", v0_2::HANDLER_EXPORT)),
            )?,
            packed: export_index(&instance_pre, PACKED_EXPORT, HANDLE_PACKED),
            instance_pre,
        },
    };
    let safely = contract == Contract::V0_2 && batches_safely(engine, &component);
    Ok((pre, contract, safely))
}

/// Whether a 0.2 `component` takes several messages per call: it imports `commit`
/// (a component imports only the functions it calls), which says that it commits
/// what it answered before it reads the host or handles a message whose
/// connection's context (attachment, open) an earlier one's commands changed, as
/// the SDKs do. Without it the reads and contexts within a call would not show what
/// the call's earlier messages' commands changed.
fn batches_safely(engine: &PluginEngine, component: &Component) -> bool {
    use wasmtime::component::types::ComponentItem;
    let ty = component.component_type();
    ty.imports(&engine.engine)
        .any(|(name, item)| match item.ty {
            ComponentItem::ComponentInstance(host) if name == v0_2::HOST_IMPORT => host
                .exports(&engine.engine)
                .any(|(function, _)| function == "commit"),
            _ => false,
        })
}

/// A hash of plugin bytes that is the same for the same bytes within a process.
pub(crate) fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// The contract version `component` exports its handler for.
fn check_exports(engine: &PluginEngine, component: &Component) -> Result<Contract, PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(&engine.engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    if exports.iter().any(|e| e == v0_2::HANDLER_EXPORT) {
        return Ok(Contract::V0_2);
    }
    if exports.iter().any(|e| e == v0_1::HANDLER_EXPORT) {
        return Ok(Contract::V0_1);
    }
    let prefix = format!("{HANDLER_INTERFACE}@");
    match exports.iter().find(|e| e.starts_with(&prefix)) {
        Some(found) => Err(PluginError::WrongVersion {
            found: found.clone(),
        }),
        None => Err(PluginError::MissingHandler { exports }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_share_one_compiled_plugin_until_its_last_user_goes() {
        let engine = PluginEngine::new().unwrap_or_else(|e| panic!("{e}"));
        let testbed = std::fs::read(env!("WSGATE_FIXTURE_TESTBED_WASM")).unwrap_or_default();
        let hostile = std::fs::read(env!("WSGATE_FIXTURE_HOSTILE_WASM")).unwrap_or_default();
        let compile = |bytes: &[u8]| {
            LoadedPlugin::compile(&engine, "test", bytes).unwrap_or_else(|e| panic!("{e}"))
        };
        let a = compile(&testbed);
        let b = compile(&testbed);
        let other = compile(&hostile);
        assert!(Arc::ptr_eq(&a.compiled, &b.compiled), "compiled once");
        assert!(!Arc::ptr_eq(&a.compiled, &other.compiled));
        assert_eq!(engine.shared.len(), 2);
        assert!(
            engine.shared.get(a.hash, &hostile).is_none(),
            "a hash is confirmed by the bytes: another plugin with the same hash gets its own"
        );
        drop((a, b));
        assert_eq!(engine.shared.len(), 1, "dropped with its last user");
        let again = compile(&testbed);
        assert_eq!(engine.shared.len(), 2);
        drop((again, other));
        assert_eq!(engine.shared.len(), 0);
    }

    #[test]
    fn a_plugin_built_with_the_sdk_imports_commit_and_so_batches_safely() {
        let engine = PluginEngine::new().unwrap_or_else(|e| panic!("{e}"));
        for fixture in [
            env!("WSGATE_FIXTURE_TESTBED_WASM"),
            env!("WSGATE_FIXTURE_HOSTILE_WASM"),
        ] {
            let bytes = std::fs::read(fixture).unwrap_or_default();
            let plugin =
                LoadedPlugin::compile(&engine, "test", &bytes).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(plugin.contract, Contract::V0_2);
            assert!(plugin.batches_safely, "{fixture}");
        }
    }

    #[test]
    fn preamble_tells_components_from_modules_and_junk() {
        assert_eq!(preamble(b"\0asm\x0d\0\x01\0rest"), Preamble::Component);
        assert_eq!(preamble(b"\0asm\x01\0\0\0rest"), Preamble::CoreModule);
        assert_eq!(preamble(b"\0asm"), Preamble::NotWasm);
        assert_eq!(preamble(b"hello world"), Preamble::NotWasm);
        assert_eq!(preamble(b""), Preamble::NotWasm);
    }
}
