//! The actor of one app: a thread that owns the plugin instance and the app's
//! connections, and handles the app's events one at a time, in the order they came.
//!
//! It runs on its own OS thread, not on the async runtime: hooks are synchronous calls
//! into WebAssembly, and a slow one (up to its deadline) must not stall the sockets.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::registry::Registry;
use super::stats::AppStats;
use super::{AcceptOutcome, AppHandle, EVENT_QUEUE, Event, Reload};
use crate::config::Limits;
use crate::plugin::instance::InstanceLimits;
use crate::plugin::types::{AcceptDecision, Command};
use crate::plugin::{HookTrap, LoadedPlugin, PluginError, PluginInstance};

/// The close code and reason for a connection whose event made the plugin trap.
const TRAP_CLOSE: (u16, &str) = (1011, "plugin error");

/// One app's actor.
struct Actor {
    name: Arc<str>,
    plugin: LoadedPlugin,
    limits: InstanceLimits,
    /// `None` after a trap when a fresh instance could not be made.
    instance: Option<PluginInstance>,
    registry: Registry,
    stats: Arc<AppStats>,
}

/// Starts the actor of app `name` on its own thread and returns its handle.
///
/// # Errors
/// The first instance cannot be made (the plugin's start-up traps), or the OS refuses
/// a thread.
pub(crate) fn spawn(
    name: &str,
    plugin: LoadedPlugin,
    limits: Limits,
) -> Result<AppHandle, PluginError> {
    let name: Arc<str> = name.into();
    let instance_limits = InstanceLimits {
        memory: limits.memory,
        hook_timeout: limits.hook_timeout,
    };
    let instance = PluginInstance::new(&plugin, name.clone(), instance_limits)?;
    let (events, inbox) = mpsc::channel(EVENT_QUEUE);
    let stats = Arc::new(AppStats::default());
    stats.set_plugin_hash(plugin.hash);
    let actor = Actor {
        name: name.clone(),
        plugin,
        limits: instance_limits,
        instance: Some(instance),
        registry: Registry::default(),
        stats: stats.clone(),
    };
    std::thread::Builder::new()
        .name(format!("wsgate-app-{name}"))
        .spawn(move || actor.run(inbox))
        .map_err(|e| PluginError::Instantiate(format!("cannot start the app's thread: {e}")))?;
    Ok(AppHandle {
        name,
        limits,
        stats,
        events,
    })
}

impl Actor {
    fn run(mut self, mut inbox: mpsc::Receiver<Event>) {
        let span = tracing::info_span!("app", app = %self.name);
        let _entered = span.enter();
        while let Some(event) = inbox.blocking_recv() {
            self.handle(event);
        }
        tracing::debug!("app stopped");
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Accept {
                conn,
                request,
                reply,
            } => {
                let outcome = match self.call(conn, |p| p.on_accept(conn, &request)) {
                    Some(AcceptDecision::Allow(allow)) => AcceptOutcome::Allow {
                        subprotocol: allow.subprotocol,
                    },
                    Some(AcceptDecision::Deny(deny)) => AcceptOutcome::Deny {
                        status: deny.status,
                        reason: deny.reason,
                    },
                    None => AcceptOutcome::Deny {
                        status: 500,
                        reason: "the app failed to handle the connection".into(),
                    },
                };
                // The client may have gone while the plugin decided.
                let _ = reply.send(outcome);
            }
            Event::Connect { conn, outbox } => {
                self.registry.insert(conn, outbox);
                tracing::debug!(conn, open = self.registry.len(), "connected");
                self.run_hook(conn, |p| p.on_connect(conn));
            }
            Event::Text { conn, text } => {
                if self.registry.is_open(conn) {
                    self.run_hook(conn, |p| p.on_message(conn, text.as_str()));
                }
            }
            Event::Binary { conn, data } => {
                if self.registry.is_open(conn) {
                    self.run_hook(conn, |p| p.on_binary(conn, &data));
                }
            }
            Event::Error { conn, error } => {
                tracing::debug!(conn, kind = ?error.kind, "connection error: {}", error.message);
                self.run_hook(conn, |p| p.on_error(conn, &error));
            }
            Event::Close { conn, code, reason } => {
                self.registry.remove(conn);
                tracing::debug!(conn, code, reason, open = self.registry.len(), "closed");
                self.run_hook(conn, |p| p.on_close(conn, code, &reason));
            }
            Event::CloseAll { code, reason } => self.registry.close_all(code, reason),
            Event::Reload(reload) => self.reload(*reload),
            Event::SetLimits(limits) => {
                self.limits = limits;
                if let Some(instance) = self.instance.as_mut() {
                    instance.set_limits(limits);
                }
            }
        }
        self.stats.set_connections(self.registry.len());
    }

    /// Swaps in a new plugin version between two events: the old instance's
    /// `snapshot` goes to the new instance's `restore`. If the new version cannot be
    /// instantiated or refuses the state, the old one keeps serving, state intact.
    fn reload(&mut self, reload: Reload) {
        let Reload {
            plugin,
            origin,
            since,
        } = reload;
        match self.swap(plugin) {
            Ok(()) => {
                self.stats.reload_applied();
                tracing::info!(
                    file = %origin,
                    ms = since.elapsed().as_secs_f64() * 1e3,
                    "reloaded: the new plugin version serves (time from change to serving)"
                );
            }
            Err(reason) => {
                self.stats.reload_refused();
                tracing::warn!(file = %origin, "reload refused, the previous version keeps serving: {reason}");
            }
        }
    }

    fn swap(&mut self, plugin: crate::plugin::LoadedPlugin) -> Result<(), String> {
        let mut fresh = PluginInstance::new(&plugin, self.name.clone(), self.limits)
            .map_err(|e| e.to_string())?;
        let state = match self.instance.as_mut().map(PluginInstance::snapshot) {
            Some(Ok(state)) => state,
            Some(Err(trap)) => {
                // The old instance is dead now; its state is lost either way.
                tracing::error!(
                    "the serving version trapped in snapshot ({}); its state is lost",
                    trap.message
                );
                self.stats.trapped();
                self.instance = None;
                Vec::new()
            }
            None => Vec::new(),
        };
        let restored = match fresh.restore(&state) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(format!("the new version refused the state: {message}")),
            Err(trap) => Err(format!(
                "the new version trapped in restore: {}",
                trap.message
            )),
        };
        if let Err(reason) = restored {
            if self.instance.is_none() {
                self.recover();
            }
            return Err(reason);
        }
        self.stats.set_plugin_hash(plugin.hash);
        self.instance = Some(fresh);
        self.plugin = plugin;
        Ok(())
    }

    /// Calls a hook that returns commands, and runs them.
    fn run_hook(
        &mut self,
        conn: u64,
        hook: impl FnOnce(&mut PluginInstance) -> Result<Vec<Command>, HookTrap>,
    ) {
        if let Some(commands) = self.call(conn, hook) {
            self.registry.execute(commands);
        }
    }

    /// Calls a hook for an event of `conn`. On a trap: logs it, closes `conn` (if it is
    /// still open) with 1011, replaces the dead instance, and returns `None`.
    fn call<T>(
        &mut self,
        conn: u64,
        hook: impl FnOnce(&mut PluginInstance) -> Result<T, HookTrap>,
    ) -> Option<T> {
        let instance = self.instance.as_mut()?;
        match hook(instance) {
            Ok(value) => Some(value),
            Err(trap) => {
                self.stats.trapped();
                tracing::error!(
                    conn,
                    hook = trap.hook,
                    "plugin trapped: {}; closing the connection and starting a fresh instance",
                    trap.message
                );
                self.registry.close(conn, TRAP_CLOSE.0, TRAP_CLOSE.1);
                self.recover();
                None
            }
        }
    }

    fn recover(&mut self) {
        self.instance = match PluginInstance::new(&self.plugin, self.name.clone(), self.limits) {
            Ok(instance) => Some(instance),
            Err(e) => {
                tracing::error!(
                    "cannot start a fresh plugin instance: {e}; closing every connection"
                );
                self.registry.close_all(TRAP_CLOSE.0, TRAP_CLOSE.1);
                None
            }
        };
    }
}
