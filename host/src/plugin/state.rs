//! What a plugin's `Store` holds: its WASI context (clocks and random only), its
//! memory limits, and the app it belongs to for the `log` import.

use std::sync::Arc;

use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{v0_1, v0_2};
use super::budget::{Budget, MAX_RANDOM_BYTES};
use super::commit::{Batch, NOT_IN_A_BATCH};
use super::output::Level;
use super::output::{LogOutput, PluginLog, Stream};
use crate::directory::Directory;
use crate::model::Command;

/// The data of one plugin instance's store.
pub(crate) struct StoreState {
    log: Arc<PluginLog>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// The running hook's time budget (see `budget`).
    pub(crate) budget: Budget,
    /// The app's directory while a hook runs (lent by the actor); empty otherwise.
    pub(crate) directory: Directory,
    /// While a call of several events runs: the app's side of the host (the reads
    /// answer from its directory, `commit` runs commands with it).
    pub(crate) batch: Option<Batch>,
}

impl StoreState {
    /// A fresh state for a plugin logging to `log`, whose linear memories may grow to
    /// `memory_bytes` in all.
    pub(crate) fn new(log: Arc<PluginLog>, memory_bytes: usize, budget: Budget) -> Self {
        // No preopened directories, environment, arguments or network: a plugin
        // reaches the world only through its commands and the `log` import.
        let wasi = WasiCtxBuilder::new()
            .stdout(LogOutput::new(log.clone(), Stream::Stdout))
            .stderr(LogOutput::new(log.clone(), Stream::Stderr))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        Self {
            log,
            wasi,
            table: ResourceTable::new(),
            limits: limits(memory_bytes),
            budget,
            directory: Directory::default(),
            batch: None,
        }
    }

    /// The store's resource table (WASI's pollables and streams live there).
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The guest's monotonic clock now, in nanoseconds (what its `now()` returns).
    pub(crate) fn monotonic_now(&mut self) -> u64 {
        use wasmtime_wasi::clocks::WasiClocksView as _;
        use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host as _;
        self.clocks().now().unwrap_or(0)
    }

    /// What the reads answer from: the lent host's directory during a call of several
    /// events, else the directory lent for the call.
    fn dir(&self) -> &Directory {
        self.batch
            .as_ref()
            .map_or(&self.directory, |batch| batch.host.directory())
    }

    /// Caps the linear memories at `memory_bytes` from now on.
    pub(crate) fn set_memory_limit(&mut self, memory_bytes: usize) {
        self.limits = limits(memory_bytes);
    }
}

/// Core module instances one plugin instance may create. A Rust component makes 3,
/// a JavaScript one (componentize-qjs 0.4) 11, a Python one (componentize-py) 38:
/// room for those, and a bound on what a hostile component can make the host
/// allocate (what each instance holds is bounded by `memory` anyway).
pub const MAX_CORE_INSTANCES: usize = 64;
/// Linear memories one plugin instance may have (each counts toward `memory`).
pub const MAX_MEMORIES: usize = 16;
/// Tables one plugin instance may have.
pub const MAX_TABLES: usize = 128;

fn limits(memory_bytes: usize) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(memory_bytes)
        .instances(MAX_CORE_INSTANCES)
        .tables(MAX_TABLES)
        .memories(MAX_MEMORIES)
        .trap_on_grow_failure(true)
        .build()
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl v0_1::types::Host for StoreState {}

impl v0_1::wsgate::plugin::host::Host for StoreState {
    fn log(&mut self, level: v0_1::types::LogLevel, message: String) {
        self.log.write(Level::from(level), &message);
    }
}

impl v0_2::types::Host for StoreState {}

/// Contract 0.2's reads answer from the app's directory, which the actor lends to
/// the store for the length of each hook call.
impl v0_2::wsgate::plugin::host::Host for StoreState {
    fn log(&mut self, level: v0_2::types::LogLevel, message: String) {
        self.log.write(Level::from(level), &message);
    }

    fn room_size(&mut self, room: String) -> u32 {
        u32::try_from(self.dir().room_size(&room)).unwrap_or(u32::MAX)
    }

    fn room_members(&mut self, room: String) -> Vec<u64> {
        self.dir().members(&room).collect()
    }

    fn rooms_of(&mut self, conn: u64) -> Vec<String> {
        self.dir().rooms_of(conn)
    }

    fn user_connections(&mut self, user: String) -> Vec<u64> {
        self.dir().user_connections(&user).collect()
    }

    fn connection_info(&mut self, conn: u64) -> Option<v0_2::types::ConnectionDetails> {
        self.dir().info(conn).map(Into::into)
    }

    fn commit(
        &mut self,
        handled: u32,
        commands: Vec<v0_2::types::Command>,
    ) -> wasmtime::Result<()> {
        let Some(batch) = self.batch.as_mut() else {
            return Err(wasmtime::format_err!("{NOT_IN_A_BATCH}"));
        };
        batch
            .take(handled, commands.len())
            .map_err(|why| wasmtime::format_err!("{why}"))?;
        batch.host.run(&mut commands.into_iter().map(Command::from));
        Ok(())
    }
}
