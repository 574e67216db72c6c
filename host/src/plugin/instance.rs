//! One running instance of a plugin and its typed hook calls.
//!
//! Every call runs under the app's limits: the epoch deadline interrupts a hook that
//! runs past its time, the store limiter stops memory growth past the cap. A call that
//! traps returns [`HookTrap`]; the instance is then dead (wasmtime refuses to enter
//! it again) and the owner must make a fresh one.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;

use super::PluginError;
use super::bindings::{v0_1, v0_2};
use super::budget::Budget;
use super::commit::{Batch, Committer};
use super::convert::{self, Commands};
use super::engine::PluginEngine;
use super::events::{self, Handle};
use super::loader::LoadedPlugin;
use super::loader::Pre;
use super::output::PluginLog;
use super::packed::{self, HandlePacked};
use super::state::{MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLES, StoreState};
use crate::config::Limits;
use crate::directory::Directory;
use crate::model::{AcceptDecision, ConnContext, ConnId, Event, Request};

/// The limits one instance runs under.
#[derive(Clone, Copy, Debug)]
pub struct InstanceLimits {
    /// Cap on the instance's linear memory, in bytes.
    pub memory: usize,
    /// Wall-clock deadline of one hook call.
    pub hook_timeout: Duration,
}

impl From<&Limits> for InstanceLimits {
    fn from(limits: &Limits) -> Self {
        Self {
            memory: limits.memory,
            hook_timeout: limits.hook_timeout,
        }
    }
}

/// A hook call that trapped: the plugin panicked, ran out of time or memory, or broke
/// a rule of the component model. The instance that trapped is unusable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("plugin trapped in {hook}: {message}")]
pub struct HookTrap {
    /// The hook, as named in the WIT contract (`on-message`, …).
    pub hook: &'static str,
    /// What wasmtime reported.
    pub message: String,
}

/// The most the buffer of packed events keeps between calls, in bytes.
const PACKED_KEPT: usize = 64 * 1024;

/// A live plugin instance with its own store.
pub struct PluginInstance {
    store: Store<StoreState>,
    plugin: Bound,
    /// One hook call's time limit (`hook_timeout_ms`).
    hook_timeout: Duration,
    /// The events of a `handle-packed` call, packed (kept from call to call).
    packed: Vec<u8>,
}

/// The instance's exports, per contract version.
enum Bound {
    V0_1(v0_1::Plugin),
    /// With `handle`, called with the host's own lowering (see `events`), and
    /// `handle-packed` if the plugin exports it (see `packed`).
    V0_2(v0_2::Plugin, Handle, Option<HandlePacked>),
}

fn trap(hook: &'static str, error: &wasmtime::Error) -> HookTrap {
    let message = match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => {
            "the hook ran past its time limit (hook_timeout_ms)".to_owned()
        }
        Some(code) => code.to_string(),
        None => error.root_cause().to_string(),
    };
    tracing::debug!(hook, "trap details: {error:?}");
    HookTrap { hook, message }
}

impl PluginInstance {
    /// Instantiates `plugin` under `limits`, logging to `log`.
    ///
    /// # Errors
    /// [`PluginError::Instantiate`] if the component's start-up traps or hits a limit.
    pub(crate) fn new(
        plugin: &LoadedPlugin,
        log: Arc<PluginLog>,
        limits: InstanceLimits,
    ) -> Result<Self, PluginError> {
        let budget = Budget::new(limits.hook_timeout);
        let mut store = Store::new(
            &plugin.engine.engine,
            StoreState::new(log, limits.memory, budget),
        );
        store.limiter(|state| &mut state.limits);
        // What a hook may hand back in one call (its commands): no more than its
        // whole memory, whatever it aliases (wasmtime's default is 128 MiB).
        store.set_hostcall_fuel(limits.memory);
        store.set_epoch_deadline(PluginEngine::ticks(limits.hook_timeout));
        let instantiate = |e: wasmtime::Error| {
            // The start-up is bounded as a hook is: an endless one cannot hold the
            // app's thread.
            if let Some(wasmtime::Trap::Interrupt) = e.downcast_ref::<wasmtime::Trap>() {
                return PluginError::Instantiate(format!(
                    "its start-up ran past the hook time limit (hook_timeout_ms = {} ms)",
                    limits.hook_timeout.as_millis()
                ));
            }
            let mut why = format!("{e:#}");
            if why.contains("resource limit exceeded") {
                why.push_str(&format!(
                    " (a plugin instance may create at most {MAX_CORE_INSTANCES} core module \
                     instances, {MAX_MEMORIES} memories and {MAX_TABLES} tables)"
                ));
            }
            PluginError::Instantiate(why)
        };
        let plugin = match &plugin.compiled.pre {
            Pre::V0_1(pre) => Bound::V0_1(pre.instantiate(&mut store).map_err(instantiate)?),
            Pre::V0_2 {
                instance_pre,
                indices,
                handle,
                packed,
            } => {
                let instance = instance_pre.instantiate(&mut store).map_err(instantiate)?;
                let bindings = indices.load(&mut store, &instance).map_err(instantiate)?;
                let handle = Handle::new(&mut store, &instance, handle).map_err(instantiate)?;
                let packed = packed
                    .as_ref()
                    .map(|index| HandlePacked::new(&mut store, &instance, index))
                    .transpose()
                    .map_err(instantiate)?;
                Bound::V0_2(bindings, handle, packed)
            }
        };
        Ok(Self {
            store,
            plugin,
            hook_timeout: limits.hook_timeout,
            packed: Vec::new(),
        })
    }

    /// An instance of `plugin` outside any gateway, logging as app `app`: for
    /// benchmarks and tools that call hooks directly.
    ///
    /// # Errors
    /// [`PluginError::Instantiate`] if the component's start-up traps or hits a limit.
    pub fn standalone(
        plugin: &LoadedPlugin,
        app: &str,
        limits: InstanceLimits,
    ) -> Result<Self, PluginError> {
        Self::new(
            plugin,
            PluginLog::new(app.into(), Default::default()),
            limits,
        )
    }

    /// Hands a text message from `conn` to the plugin and returns how many commands
    /// it answered with (they are not run: there is no gateway).
    ///
    /// # Errors
    /// [`HookTrap`] if the hook trapped; the instance is then unusable.
    pub fn message(&mut self, conn: u64, text: &str) -> Result<usize, HookTrap> {
        let text = text.to_owned().into();
        self.handle(&Event::Text { conn, text }, None)
            .map(|commands| commands.len())
    }

    /// Hands the text messages `texts` from `conn` to the plugin in one call, as the
    /// gateway hands a batch of waiting messages (a 0.1.0 plugin gets one call each),
    /// and returns how many commands it answered with (not run: there is no gateway).
    ///
    /// # Errors
    /// [`HookTrap`] if the hook trapped; the instance is then unusable.
    pub fn messages(&mut self, conn: u64, texts: &[&str]) -> Result<usize, HookTrap> {
        let events: Vec<_> = texts
            .iter()
            .map(|text| {
                let text = (*text).to_owned().into();
                (Event::Text { conn, text }, None)
            })
            .collect();
        self.handle_batch(&events).map(|commands| commands.len())
    }

    /// Hands `conn`'s connect to the plugin and returns how many commands it
    /// answered with (not run: there is no gateway).
    ///
    /// # Errors
    /// [`HookTrap`] if the hook trapped; the instance is then unusable.
    pub fn connect(&mut self, conn: u64) -> Result<usize, HookTrap> {
        self.handle(&Event::Connect { conn }, None)
            .map(|commands| commands.len())
    }

    /// Applies new limits from the next hook call on.
    pub(crate) fn set_limits(&mut self, limits: InstanceLimits) {
        self.hook_timeout = limits.hook_timeout;
        self.store.data_mut().set_memory_limit(limits.memory);
        self.store
            .data_mut()
            .budget
            .set_timeout(limits.hook_timeout);
        self.store.set_hostcall_fuel(limits.memory);
    }

    /// Starts a hook call's deadline and budget.
    fn start_call(&mut self) {
        self.start_batch(1);
    }

    /// Starts the deadline and budget of a call carrying `events` events: one
    /// `hook_timeout_ms` each.
    fn start_batch(&mut self, events: u32) {
        let limit = self.hook_timeout.saturating_mul(events.max(1));
        self.store.set_epoch_deadline(PluginEngine::ticks(limit));
        self.store.data_mut().budget.restart(events);
    }

    /// Hands a 0.2 plugin several messages in one `handle` call (with their
    /// connections' contexts), under one `hook_timeout_ms` per message; the commands
    /// come back in order, as if each had been handed over alone (those it
    /// committed meanwhile ran already: lend the host first, see
    /// [`PluginInstance::lend_host`]). A 0.1.0 plugin gets them one per call (and a
    /// trap in any ends the batch).
    pub(crate) fn handle_batch(
        &mut self,
        events: &[(Event, Option<ConnContext>)],
    ) -> Result<Commands, HookTrap> {
        if matches!(self.plugin, Bound::V0_1(_)) {
            let mut all = Vec::new();
            for (event, ctx) in events {
                all.extend(self.handle(event, ctx.as_ref())?);
            }
            return Ok(Commands::Converted(all.into_iter()));
        }
        self.start_batch(u32::try_from(events.len()).unwrap_or(u32::MAX));
        if let Some(answer) = self.handle_packed(events.iter().map(|(e, ctx)| (e, ctx.as_ref()))) {
            return answer.map_err(|e| trap("on-message", &e));
        }
        let lowered: Vec<_> = events
            .iter()
            .map(|(e, ctx)| events::event(e, ctx.as_ref()))
            .collect();
        let Bound::V0_2(_, handle, _) = &self.plugin else {
            return Ok(Commands::Converted(Vec::new().into_iter()));
        };
        handle
            .call(&mut self.store, &lowered)
            .map(|c| Commands::V0_2(c.into_iter()))
            .map_err(|e| trap("on-message", &e))
    }

    /// Calls `handle-packed` with `events` if the plugin exports it and they are all
    /// messages (what it takes); `None` if not, and nothing is called.
    fn handle_packed<'a>(
        &mut self,
        events: impl IntoIterator<Item = (&'a Event, Option<&'a ConnContext>)>,
    ) -> Option<wasmtime::Result<Commands>> {
        let Bound::V0_2(_, _, Some(call)) = &self.plugin else {
            return None;
        };
        let call = *call;
        self.packed.clear();
        for (event, ctx) in events {
            if !packed::pack(&mut self.packed, event, ctx) {
                return None;
            }
        }
        let answer = call.call(&mut self.store, &self.packed);
        // A large batch's buffer is not kept for the instance's life.
        if self.packed.capacity() > PACKED_KEPT {
            self.packed = Vec::new();
        }
        Some(answer.map(|c| Commands::Converted(c.into_iter())))
    }

    /// Whether the plugin reads host state (contract 0.2: `room-size`, …): then the
    /// app's directory is lent to the store for each call.
    pub(crate) fn reads_host_state(&self) -> bool {
        matches!(self.plugin, Bound::V0_2(..))
    }

    /// Lends `directory` to the store for the host imports; take it back with
    /// [`PluginInstance::give_back`] after the call (also after a trap).
    pub(crate) fn lend(&mut self, directory: &mut Directory) {
        std::mem::swap(&mut self.store.data_mut().directory, directory);
    }

    /// Takes back what [`PluginInstance::lend`] lent.
    pub(crate) fn give_back(&mut self, directory: &mut Directory) {
        std::mem::swap(&mut self.store.data_mut().directory, directory);
    }

    /// Lends the app's side of the host to the store for the next call, one of
    /// `events` events (see [`PluginInstance::handle_batch`]): the reads answer from
    /// its directory, and `commit` runs up to `max_commands` per event with it. Take
    /// it back with [`PluginInstance::take_host`] after the call (also after a trap).
    pub(crate) fn lend_host(&mut self, host: Box<dyn Committer>, events: u32, max_commands: usize) {
        self.store.data_mut().batch = Some(Batch::new(host, events, max_commands));
    }

    /// Takes back what [`PluginInstance::lend_host`] lent, with the number of events
    /// the call's commits answered.
    pub(crate) fn take_host(&mut self) -> Option<(Box<dyn Committer>, u32)> {
        let batch = self.store.data_mut().batch.take()?;
        let handled = batch.handled();
        Some((batch.host, handled))
    }

    /// Calls `on-accept`.
    pub(crate) fn on_accept(
        &mut self,
        conn: ConnId,
        request: Request,
    ) -> Result<AcceptDecision, HookTrap> {
        self.start_call();
        let answer = match &self.plugin {
            Bound::V0_1(p) => p
                .wsgate_plugin_handler()
                .call_on_accept(&mut self.store, conn, &request.into())
                .map(AcceptDecision::from),
            Bound::V0_2(p, ..) => {
                let lists = convert::v0_2::request_lists(&request);
                p.wsgate_plugin_handler()
                    .call_on_accept(
                        &mut self.store,
                        conn,
                        convert::v0_2::request(&request, &lists),
                    )
                    .map(AcceptDecision::from)
            }
        };
        answer.map_err(|e| trap("on-accept", &e))
    }

    /// Hands `event` to the plugin (with its connection's `ctx`, which 0.2 plugins
    /// see) and returns the commands it answered with. A 0.1.0 plugin has no hook for
    /// timers and backend events: they get no commands.
    pub(crate) fn handle(
        &mut self,
        event: &Event,
        ctx: Option<&ConnContext>,
    ) -> Result<Commands, HookTrap> {
        self.start_call();
        let answer = match &self.plugin {
            Bound::V0_1(p) => {
                let hooks = p.wsgate_plugin_handler();
                let store = &mut self.store;
                match event {
                    Event::Connect { conn } => hooks.call_on_connect(store, *conn),
                    Event::Text { conn, text } => {
                        hooks.call_on_message(store, *conn, text.as_str())
                    }
                    Event::Binary { conn, data } => hooks.call_on_binary(store, *conn, data),
                    Event::Error { conn, error } => hooks.call_on_error(
                        store,
                        *conn,
                        &v0_1::types::ConnectionError::from(error),
                    ),
                    Event::Close { conn, code, reason } => {
                        hooks.call_on_close(store, *conn, *code, reason)
                    }
                    Event::Timer { .. } | Event::Backend { .. } => Ok(Vec::new()),
                }
                .map(|c| Commands::V0_1(c.into_iter()))
            }
            Bound::V0_2(_, handle, _) => {
                let handle = *handle;
                match self.handle_packed([(event, ctx)]) {
                    Some(answer) => answer,
                    None => handle
                        .call(&mut self.store, &[events::event(event, ctx)])
                        .map(|c| Commands::V0_2(c.into_iter())),
                }
            }
        };
        answer.map_err(|e| trap(event.hook(), &e))
    }

    /// Calls `snapshot`.
    pub(crate) fn snapshot(&mut self) -> Result<Vec<u8>, HookTrap> {
        self.start_call();
        let answer = match &self.plugin {
            Bound::V0_1(p) => p.wsgate_plugin_handler().call_snapshot(&mut self.store),
            Bound::V0_2(p, ..) => p.wsgate_plugin_handler().call_snapshot(&mut self.store),
        };
        answer.map_err(|e| trap("snapshot", &e))
    }

    /// Calls `restore`; the plugin's own refusal is the inner `Err`.
    pub(crate) fn restore(&mut self, state: &[u8]) -> Result<Result<(), String>, HookTrap> {
        self.start_call();
        let answer = match &self.plugin {
            Bound::V0_1(p) => p
                .wsgate_plugin_handler()
                .call_restore(&mut self.store, state),
            Bound::V0_2(p, ..) => p
                .wsgate_plugin_handler()
                .call_restore(&mut self.store, state),
        };
        answer.map_err(|e| trap("restore", &e))
    }
}
