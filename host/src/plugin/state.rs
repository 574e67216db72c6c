//! What a plugin's `Store` holds: its WASI context (clocks and random only), its
//! memory limits, and the app it belongs to for the `log` import.

use std::sync::Arc;

use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{types, wsgate::plugin::host};
use super::budget::{Budget, MAX_RANDOM_BYTES};
use super::output::{LogOutput, PluginLog, Stream};

/// The data of one plugin instance's store.
pub(crate) struct StoreState {
    log: Arc<PluginLog>,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// The running hook's time budget (see `budget`).
    pub(crate) budget: Budget,
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

    /// Caps the linear memories at `memory_bytes` from now on.
    pub(crate) fn set_memory_limit(&mut self, memory_bytes: usize) {
        self.limits = limits(memory_bytes);
    }
}

fn limits(memory_bytes: usize) -> StoreLimits {
    StoreLimitsBuilder::new()
        .memory_size(memory_bytes)
        .instances(16)
        .tables(64)
        .memories(4)
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

impl types::Host for StoreState {}

impl host::Host for StoreState {
    fn log(&mut self, level: types::LogLevel, message: String) {
        self.log.write(level, &message);
    }
}
