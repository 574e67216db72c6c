//! The actor of one app: a thread that owns the plugin instance and the app's
//! connections, and handles the app's events one at a time, in the order they came.
//! It is the single ordering point for events, hot reloads and recoveries.
//!
//! It runs on its own OS thread, not on the async runtime: hooks are synchronous calls
//! into WebAssembly, and a slow one (up to its deadline) must not stall the sockets.
//!
//! A trap ends the instance only: the connection whose event caused it is closed with
//! 1011, a fresh instance takes over, every other connection stays. Too many traps in
//! a row trip the crash-loop breaker: the app fails (handshakes get 503, connections
//! are closed with 1011) and retries after a backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::breaker::Breaker;
use super::registry::Registry;
use super::stats::AppStats;
use super::{AcceptOutcome, AppHandle, EVENT_QUEUE, Event, Reload};
use crate::config::{Limits, MAX_BACKOFF};
use crate::plugin::instance::InstanceLimits;
use crate::plugin::output::PluginLog;
use crate::plugin::types::{AcceptDecision, Command, ConnectionError, ErrorKind};
use crate::plugin::{HookTrap, LoadedPlugin, PluginError, PluginInstance};

/// The close code and reason for a connection whose event made the plugin trap.
const TRAP_CLOSE: (u16, &str) = (1011, "plugin error");
/// The close code and reason for the connections of an app whose breaker tripped.
const FAILED_CLOSE: (u16, &str) = (1011, "app failed");

/// One app's actor.
struct Actor {
    plugin: LoadedPlugin,
    limits: Limits,
    log: Arc<PluginLog>,
    /// `None` while the app is failed (breaker tripped) or could not get an instance.
    instance: Option<PluginInstance>,
    registry: Registry,
    stats: Arc<AppStats>,
    breaker: Breaker,
    /// The pause before the last scheduled retry.
    pause: Duration,
    /// Reaches the actor's own queue, to schedule retries (weak: it must not keep
    /// the actor alive).
    inbox: mpsc::WeakSender<Event>,
    /// Times hook calls: two reads per event, so the cheapest clock there is (the
    /// CPU's counter where it is reliable, else the OS clock): the OS clock's two
    /// reads were 1.5 % of the gateway's CPU time in the echo benchmark.
    clock: quanta::Clock,
}

fn instance_limits(limits: &Limits) -> InstanceLimits {
    InstanceLimits {
        memory: limits.memory,
        hook_timeout: limits.hook_timeout,
    }
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
    stats: Arc<AppStats>,
) -> Result<AppHandle, PluginError> {
    let name: Arc<str> = name.into();
    let log = PluginLog::new(name.clone());
    let instance = PluginInstance::new(&plugin, log.clone(), instance_limits(&limits))?;
    let (events, inbox) = mpsc::channel(EVENT_QUEUE);
    stats.set_plugin_hash(plugin.hash);
    let actor = Actor {
        plugin,
        limits,
        log,
        instance: Some(instance),
        registry: Registry::default(),
        stats: stats.clone(),
        breaker: Breaker::default(),
        pause: limits.crash_loop.backoff,
        inbox: events.downgrade(),
        clock: quanta::Clock::new(),
    };
    std::thread::Builder::new()
        .name(format!("wsgate-app-{name}"))
        .spawn(move || {
            super::sched::batch_class_for_this_thread();
            actor.run(inbox);
        })
        .map_err(|e| PluginError::Instantiate(format!("cannot start the app's thread: {e}")))?;
    Ok(AppHandle {
        name,
        limits,
        stats,
        admission: Arc::default(),
        events,
    })
}

impl Actor {
    fn run(mut self, mut inbox: mpsc::Receiver<Event>) {
        let span = tracing::info_span!("app", app = %self.log.app());
        let _entered = span.enter();
        while let Some(event) = inbox.blocking_recv() {
            self.handle(event);
            self.report_overflows();
            self.stats.set_connections(self.registry.len());
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
                let outcome = match self.call(conn, "on-accept", |p| p.on_accept(conn, &request)) {
                    Some(AcceptDecision::Allow(allow)) => AcceptOutcome::Allow {
                        subprotocol: allow.subprotocol,
                    },
                    Some(AcceptDecision::Deny(deny)) => AcceptOutcome::Deny {
                        status: deny.status,
                        reason: deny.reason,
                    },
                    None if self.instance.is_none() => AcceptOutcome::Deny {
                        status: 503,
                        reason: "the app is failing; try again later".into(),
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
                if self.instance.is_some() {
                    self.run_hook(conn, "on-connect", |p| p.on_connect(conn));
                } else {
                    self.registry.close(conn, FAILED_CLOSE.0, FAILED_CLOSE.1);
                }
            }
            Event::Text { conn, text } => {
                if self.registry.is_open(conn) {
                    self.run_hook(conn, "on-message", |p| p.on_message(conn, text.as_str()));
                }
            }
            Event::Binary { conn, data } => {
                if self.registry.is_open(conn) {
                    self.run_hook(conn, "on-binary", |p| p.on_binary(conn, &data));
                }
            }
            Event::Error { conn, error } => {
                tracing::debug!(conn, kind = ?error.kind, "connection error: {}", error.message);
                self.run_hook(conn, "on-error", |p| p.on_error(conn, &error));
            }
            Event::Close { conn, code, reason } => {
                self.registry.remove(conn);
                tracing::debug!(conn, code, reason, open = self.registry.len(), "closed");
                self.run_hook(conn, "on-close", |p| p.on_close(conn, code, &reason));
            }
            Event::CloseAll { code, reason } => self.registry.close_all(code, reason),
            Event::Reload(reload) => self.reload(*reload),
            Event::SetLimits(limits) => {
                self.limits = limits;
                if let Some(instance) = self.instance.as_mut() {
                    instance.set_limits(instance_limits(&limits));
                }
            }
            Event::Retry => self.retry(),
        }
    }

    /// Calls `on-error` (slow consumer) for connections whose queue overflowed.
    fn report_overflows(&mut self) {
        loop {
            let overflowed = self.registry.take_overflows();
            if overflowed.is_empty() {
                return;
            }
            for conn in overflowed {
                let error = ConnectionError {
                    kind: ErrorKind::SlowConsumer,
                    message: format!(
                        "the outbound queue passed outbound_queue_bytes ({} bytes)",
                        self.limits.outbound_queue_bytes
                    ),
                };
                self.run_hook(conn, "on-error", |p| p.on_error(conn, &error));
            }
        }
    }

    /// Calls a hook that returns commands, and runs them.
    fn run_hook(
        &mut self,
        conn: u64,
        name: &'static str,
        hook: impl FnOnce(&mut PluginInstance) -> Result<Vec<Command>, HookTrap>,
    ) {
        let Some(commands) = self.call(conn, name, hook) else {
            return;
        };
        if commands.len() > self.limits.max_commands {
            self.stats.misbehaved();
            tracing::warn!(
                conn,
                commands = commands.len(),
                max_commands = self.limits.max_commands,
                "a hook returned more commands than max_commands: none run; closing the connection"
            );
            self.registry.close(conn, TRAP_CLOSE.0, TRAP_CLOSE.1);
            self.count_failure();
            return;
        }
        self.registry.execute(commands, &self.limits, &self.stats);
    }

    /// Calls a hook for an event of `conn`. On a trap: logs it, closes `conn` (if it is
    /// still open) with 1011, drops the dead instance and starts a fresh one (or trips
    /// the breaker), and returns `None`. Returns `None` at once while failed.
    fn call<T>(
        &mut self,
        conn: u64,
        name: &'static str,
        hook: impl FnOnce(&mut PluginInstance) -> Result<T, HookTrap>,
    ) -> Option<T> {
        let instance = self.instance.as_mut()?;
        let started = self.clock.raw();
        let result = hook(instance);
        let took = self.clock.delta(started, self.clock.raw());
        self.stats.metrics.hook_took(name, took.as_secs_f64());
        match result {
            Ok(value) => Some(value),
            Err(trap) => {
                self.stats.trapped();
                self.instance = None;
                tracing::error!(
                    conn,
                    hook = trap.hook,
                    "plugin trapped: {}; closing the connection with 1011",
                    trap.message
                );
                self.registry.close(conn, TRAP_CLOSE.0, TRAP_CLOSE.1);
                self.count_failure();
                None
            }
        }
    }

    /// Counts a trap or misbehaving call toward the breaker; trips it, or makes sure a
    /// live instance serves on.
    fn count_failure(&mut self) {
        match self.breaker.record(Instant::now(), &self.limits.crash_loop) {
            Some(pause) => self.fail(pause),
            None if self.instance.is_none() => self.recover(),
            None => {}
        }
    }

    /// A fresh instance of the serving plugin version.
    fn fresh_instance(&self) -> Result<PluginInstance, PluginError> {
        PluginInstance::new(
            &self.plugin,
            self.log.clone(),
            instance_limits(&self.limits),
        )
    }

    fn recover(&mut self) {
        let started = Instant::now();
        match self.fresh_instance() {
            Ok(instance) => {
                self.instance = Some(instance);
                let took = started.elapsed();
                self.stats.recovered(took);
                tracing::info!(us = took.as_micros(), "a fresh plugin instance serves");
            }
            Err(e) => {
                tracing::error!("cannot start a fresh plugin instance: {e}");
                self.fail(self.limits.crash_loop.backoff);
            }
        }
    }

    /// Trips the breaker: every connection is closed with 1011, handshakes get 503,
    /// and a retry comes after `pause`.
    fn fail(&mut self, pause: Duration) {
        let crash_loop = self.limits.crash_loop;
        tracing::error!(
            traps = crash_loop.traps,
            window_ms = crash_loop.window.as_millis(),
            retry_in_ms = pause.as_millis(),
            "crash loop: the app failed; closing its connections with 1011 and refusing handshakes until the retry"
        );
        self.instance = None;
        self.stats.set_failed(true);
        self.registry.close_all(FAILED_CLOSE.0, FAILED_CLOSE.1);
        self.pause = pause;
        self.schedule_retry(pause);
    }

    fn schedule_retry(&self, pause: Duration) {
        let inbox = self.inbox.clone();
        let scheduled = std::thread::Builder::new()
            .name("wsgate-retry".into())
            .spawn(move || {
                std::thread::sleep(pause);
                if let Some(inbox) = inbox.upgrade() {
                    let _ = inbox.blocking_send(Event::Retry);
                }
            });
        if let Err(e) = scheduled {
            tracing::error!("cannot schedule the app's retry: {e}");
        }
    }

    fn retry(&mut self) {
        if !self.stats.is_failed() {
            return;
        }
        match self.fresh_instance() {
            Ok(instance) => {
                self.instance = Some(instance);
                self.stats.set_failed(false);
                tracing::info!("the app recovered from its crash loop: a fresh instance serves");
            }
            Err(e) => {
                self.pause = (self.pause * 2).min(MAX_BACKOFF);
                tracing::error!(
                    retry_in_ms = self.pause.as_millis(),
                    "the app's retry failed: {e}"
                );
                self.schedule_retry(self.pause);
            }
        }
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
                if self.stats.is_failed() {
                    self.stats.set_failed(false);
                    tracing::info!("the new version ends the app's failed state");
                }
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

    fn swap(&mut self, plugin: LoadedPlugin) -> Result<(), String> {
        let mut fresh =
            PluginInstance::new(&plugin, self.log.clone(), instance_limits(&self.limits))
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
            if self.instance.is_none() && !self.stats.is_failed() {
                self.recover();
            }
            return Err(reason);
        }
        self.stats.set_plugin_hash(plugin.hash);
        self.instance = Some(fresh);
        self.plugin = plugin;
        Ok(())
    }
}
