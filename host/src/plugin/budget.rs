//! A hook's time budget, and the WASI clock waits bounded by it.
//!
//! The epoch deadline interrupts WebAssembly code, not a host call: a plugin that
//! sleeps (Rust's `std::thread::sleep` is WASI `monotonic-clock.subscribe-duration`
//! then `pollable.block`) would hold its app's actor for as long as it asks. So the
//! gateway answers the two clock subscriptions itself, against the hook's budget
//! (`hook_timeout_ms` from the call's start): a wait that ends within it runs; one
//! that would end past it traps at once ("the hook would wait past its time limit"),
//! so the hook never waits longer than its deadline. (Cutting the wait at the deadline
//! instead left it to the epoch to trap the guest afterwards, which a hook that
//! returned right after its wait could beat.) Every other WASI import either returns
//! at once here (no files, sockets, stdin) or is bounded in size
//! (`get-random-bytes`, [`MAX_RANDOM_BYTES`]).

use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::state::StoreState;

/// The WASI clocks interface the gateway answers (the version wasmtime-wasi links;
/// guests importing an earlier 0.2 version are matched to it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The most random bytes one `get-random-bytes` call may ask for (the host
/// allocates them before copying them into the guest).
pub(crate) const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// When the running hook started and how long it may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    started: quanta::Instant,
    timeout: Duration,
    /// How many events the running call carries (its budget is one timeout each).
    events: u32,
}

impl Budget {
    /// A budget of `timeout`, starting now.
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            started: quanta::Instant::now(),
            timeout,
            events: 1,
        }
    }

    /// Starts the next hook call's budget now, for a call carrying `events` events.
    pub(crate) fn restart(&mut self, events: u32) {
        self.started = quanta::Instant::now();
        self.events = events.max(1);
    }

    /// Sets how long a hook may take from the next call on.
    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// What is left of the budget now.
    fn remaining(&self) -> Duration {
        (self.timeout * self.events)
            .saturating_sub(quanta::Instant::now().duration_since(self.started))
    }
}

/// The budget is spent and the guest asks to wait: the hook traps with this.
#[derive(Debug, thiserror::Error)]
#[error("the hook would wait past its time limit (hook_timeout_ms) in a WASI clock wait")]
struct Overrun;

/// A clock wait within the hook's budget.
struct Wait {
    until: tokio::time::Instant,
}

#[wasmtime_wasi::async_trait]
impl Pollable for Wait {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.until).await;
    }
}

/// A pollable that becomes ready after `wanted`; a trap when that is past the end of
/// the hook's budget.
fn wait(
    mut store: StoreContextMut<'_, StoreState>,
    wanted: Duration,
) -> wasmtime::Result<Resource<DynPollable>> {
    let state = store.data_mut();
    if wanted > state.budget.remaining() {
        return Err(Overrun.into());
    }
    let until = tokio::time::Instant::now() + wanted;
    let table = state.table();
    let wait = table.push(Wait { until })?;
    subscribe(table, wait)
}

/// Replaces wasmtime-wasi's `subscribe-duration` and `subscribe-instant` with
/// waits checked against the hook's budget (`now` and `resolution` stay its own).
pub(crate) fn bound_clock_waits(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |store: StoreContextMut<'_, StoreState>, (nanos,): (u64,)| {
            wait(store, Duration::from_nanos(nanos)).map(|p| (p,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, StoreState>, (when,): (u64,)| {
            let now = store.data_mut().monotonic_now();
            wait(store, Duration::from_nanos(when.saturating_sub(now))).map(|p| (p,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
