//! The actor's hook calls: how each input becomes a call into the plugin (with the
//! connection's context and the directory lent to the store), batches of messages,
//! timers that are due, and what a call's answer does.

use std::time::{Duration, Instant};

use super::{Actor, Ran};
use crate::app::input::Joining;
use crate::close::{APP_FAILED, PLUGIN_TRAPPED};
use crate::model::{Command, ConnContext, ConnId, ConnectionError, ErrorKind, Event};
use crate::plugin::{HookTrap, PluginInstance};

impl Actor {
    /// How many waiting messages one call may carry: a 0.2 plugin that batches
    /// safely (it commits before it reads, or reads nothing) takes up to
    /// `max_batch_events`, within 1 s of `hook_timeout_ms` each; any other plugin
    /// (or a failed app) one.
    pub(super) fn batch_limit(&self) -> usize {
        if self.limits.max_batch_events <= 1 || !self.plugin.batches_safely {
            return 1;
        }
        if !self
            .instance
            .as_deref()
            .is_some_and(PluginInstance::reads_host_state)
        {
            return 1;
        }
        let per_second =
            Duration::from_secs(1).as_nanos() / self.limits.hook_timeout.as_nanos().max(1);
        self.limits
            .max_batch_events
            .min(usize::try_from(per_second).unwrap_or(usize::MAX))
            .max(1)
    }

    /// Messages that were waiting together, handed to the plugin in one call, with
    /// the registry and the timers lent to it for its commits. All or nothing but
    /// for those: if the call traps (or answers with more than `max_commands` per
    /// message), none of its own commands run, and the messages its commits did not
    /// answer are handed over again, one per call, to a fresh instance, so that only
    /// the one that traps closes its connection, and every other is handled once.
    pub(super) fn messages(&mut self, batch: Vec<Event>) {
        let mut items = Vec::with_capacity(batch.len());
        for event in batch {
            let Some(conn) = event.conn() else { continue };
            if self.registry.is_open(conn) {
                let ctx = self.context(conn);
                items.push((event, ctx));
            }
        }
        // One left, or no instance to lend the host to: one per call (each gets its
        // own instance then).
        if items.len() <= 1 || !self.lend_host(items.len()) {
            for (event, ctx) in items {
                self.run_hook(&event, ctx.as_ref());
            }
            return;
        }
        let answer = self.timed("on-message", |p| p.handle_batch(&items));
        let handled = self.take_back().min(items.len());
        let Some(answer) = answer else {
            return;
        };
        let rest = items.len() - handled;
        match answer {
            Ok(commands) if commands.len() <= self.limits.max_commands * rest => {
                self.registry
                    .execute(commands, &self.limits, &self.stats, &mut self.timers);
            }
            answer => {
                // Not counted: the call that fails again, alone, is. The instance
                // that saw the batch is replaced, as after a trap, so that no message
                // is handled twice by one instance.
                let why = answer.err().map_or_else(
                    || "more commands than max_commands".to_owned(),
                    |trap| trap.to_string(),
                );
                tracing::debug!(
                    messages = items.len(),
                    committed = handled,
                    "a batch failed ({why}); handing its uncommitted messages over one by one"
                );
                self.instance = None;
                match self.fresh_instance() {
                    Ok(fresh) => self.instance = Some(Box::new(fresh)),
                    Err(e) => {
                        tracing::error!("cannot start a fresh plugin instance: {e}");
                        self.fail(self.limits.crash_loop.backoff);
                        return;
                    }
                }
                for (event, ctx) in items.into_iter().skip(handled) {
                    self.run_hook(&event, ctx.as_ref());
                }
            }
        }
    }

    /// A connection completed its handshake: it is registered with its user,
    /// attachment and first rooms (within the limits), then `connect` runs.
    pub(super) fn connect(&mut self, joining: Joining) {
        let Joining {
            conn,
            outbox,
            member,
            attachment,
            rooms,
        } = joining;
        self.registry.insert(conn, outbox, member);
        if !attachment.is_empty() {
            self.registry
                .set_attachment(conn, attachment, &self.limits, &self.stats);
        }
        let joins = rooms.into_iter().map(|room| Command::Join { conn, room });
        self.registry
            .execute(joins, &self.limits, &self.stats, &mut self.timers);
        tracing::debug!(conn, open = self.registry.len(), "connected");
        if self.instance.is_some() {
            let ctx = self.context(conn);
            self.run_hook(&Event::Connect { conn }, ctx.as_ref());
        } else {
            self.registry
                .close(conn, APP_FAILED.code(), APP_FAILED.reason);
        }
        // A handshake that completed while the gateway was closing every connection
        // (its upgrade raced the shutdown) is closed as the others were.
        if let Some(close) = self.closing {
            self.registry.close(conn, close.code(), close.reason);
        }
    }

    /// What a 0.2 plugin sees of `conn` in its events (nothing is built for 0.1).
    pub(super) fn context(&self, conn: ConnId) -> Option<ConnContext> {
        if !self.instance.as_ref()?.reads_host_state() {
            return None;
        }
        self.registry.dir.member(conn).map(|m| ConnContext {
            user: m.user.clone(),
            attachment: m.attachment.clone(),
        })
    }

    /// `conn` closed: it is forgotten (it leaves its rooms), then `close` runs with
    /// what the host held of it.
    pub(super) fn close_event(&mut self, conn: ConnId, code: u16, reason: &str) {
        let member = self.registry.remove(conn);
        tracing::debug!(conn, code, reason, open = self.registry.len(), "closed");
        let wants = self
            .instance
            .as_deref()
            .is_some_and(PluginInstance::reads_host_state);
        let ctx = member.filter(|_| wants).map(|m| ConnContext {
            user: m.user,
            attachment: m.attachment,
        });
        let event = Event::Close {
            conn,
            code,
            reason: reason.to_owned(),
        };
        self.run_hook(&event, ctx.as_ref());
    }

    /// Hands the plugin every timer that is due, and retries the failed app when
    /// its pause is over; then tells the alarm the next deadline. Costs nothing (no
    /// clock read) for an app with no timer and no retry pending.
    pub(super) fn fire_due(&mut self) {
        let Some(next) = self.timers.next_deadline() else {
            return;
        };
        let now = Instant::now();
        if next <= now {
            if self.timers.retry_at.is_some_and(|at| at <= now) {
                self.timers.retry_at = None;
                self.retry();
            }
            if self.timers.unload_at.is_some_and(|at| at <= now) {
                self.unload_if_idle(now);
            }
            while let Some(due) = self.timers.pop_due(now) {
                self.stats.timer_fired();
                let event = Event::Timer {
                    key: due.key.clone(),
                    data: due.data.clone(),
                };
                if self.run_hook(&event, None) == Ran::Trapped
                    && !self.timers.retry(due, Instant::now())
                {
                    tracing::warn!("a timer's hook trapped 3 times; the timer is dropped");
                }
            }
        }
        self.alarm.set(self.timers.next_deadline());
    }

    /// Hands a connection's event to the plugin: messages only while the connection
    /// is open, errors and the close always (the close forgets the connection first).
    pub(super) fn event(&mut self, event: &Event) {
        let conn = match event {
            Event::Text { conn, .. } | Event::Binary { conn, .. } => {
                if !self.registry.is_open(*conn) {
                    return;
                }
                *conn
            }
            Event::Error { conn, error } => {
                tracing::debug!(conn, kind = ?error.kind, "connection error: {}", error.message);
                *conn
            }
            Event::Close { conn, code, reason } => {
                return self.close_event(*conn, *code, reason);
            }
            Event::Connect { conn } => *conn,
            Event::Timer { .. } | Event::Backend { .. } => {
                self.run_hook(event, None);
                return;
            }
        };
        let ctx = self.context(conn);
        self.run_hook(event, ctx.as_ref());
    }

    /// Calls `on-error` (slow consumer) for connections whose queue overflowed.
    pub(super) fn report_overflows(&mut self) {
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
                let ctx = self.context(conn);
                self.run_hook(&Event::Error { conn, error }, ctx.as_ref());
            }
        }
    }

    /// Hands `event` (with its connection's `ctx`) to its hook, and runs the
    /// commands it returns.
    pub(super) fn run_hook(&mut self, event: &Event, ctx: Option<&ConnContext>) -> Ran {
        let conn = event.conn();
        let had_instance = self.instance.is_some();
        let Some(commands) = self.call(conn, event.hook(), |p| p.handle(event, ctx)) else {
            return if had_instance {
                Ran::Trapped
            } else {
                Ran::NoInstance
            };
        };
        if commands.len() > self.limits.max_commands {
            self.stats.misbehaved();
            tracing::warn!(
                conn,
                commands = commands.len(),
                max_commands = self.limits.max_commands,
                "a hook returned more commands than max_commands: none run; closing the connection"
            );
            if let Some(conn) = conn {
                self.registry
                    .close(conn, PLUGIN_TRAPPED.code(), PLUGIN_TRAPPED.reason);
            }
            self.count_failure();
            return Ran::Trapped;
        }
        self.registry
            .execute(commands, &self.limits, &self.stats, &mut self.timers);
        Ran::Done
    }

    /// Calls a hook for an event of `conn`. On a trap: logs it, closes `conn` (if it is
    /// still open) with 1011, drops the dead instance and starts a fresh one (or trips
    /// the breaker), and returns `None`. Returns `None` at once while failed.
    pub(super) fn call<T>(
        &mut self,
        conn: Option<ConnId>,
        name: &'static str,
        hook: impl FnOnce(&mut PluginInstance) -> Result<T, HookTrap>,
    ) -> Option<T> {
        match self.timed(name, hook)? {
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
                if let Some(conn) = conn {
                    self.registry
                        .close(conn, PLUGIN_TRAPPED.code(), PLUGIN_TRAPPED.reason);
                }
                self.count_failure();
                None
            }
        }
    }

    /// Runs `hook` on the instance (`None` without one), timed for `/readyz` and
    /// `/metrics` (under `name`). A 0.2 plugin's host imports read the directory: it
    /// is the store's for the length of the call (and comes back after a trap too).
    fn timed<T>(
        &mut self,
        name: &'static str,
        hook: impl FnOnce(&mut PluginInstance) -> Result<T, HookTrap>,
    ) -> Option<Result<T, HookTrap>> {
        if self.limits.idle_unload.is_some() {
            self.wake();
            self.last_call = std::time::Instant::now();
        }
        let instance = self.instance.as_mut()?;
        let lend = instance.reads_host_state();
        if lend {
            instance.lend(&mut self.registry.dir);
        }
        let clock = self.stats.clock();
        let started = clock.raw();
        self.stats.hook_started(started);
        let result = hook(instance);
        if lend {
            instance.give_back(&mut self.registry.dir);
        }
        let took = clock.delta(started, clock.raw());
        self.stats.hook_ended();
        self.stats.metrics.hook_took(name, took.as_secs_f64());
        Some(result)
    }
}
