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

use super::breaker::{Breaker, next_backoff};
use super::control::{Control, Orders};
use super::input::Joining;
use super::registry::Registry;
use super::stats::AppStats;
use super::timers::{Alarm, Timers};
use super::{AcceptOutcome, AppHandle, EVENT_QUEUE, Input, Reload};
use crate::close::{APP_FAILED, PLUGIN_TRAPPED, SHUTDOWN};
use crate::config::Limits;
use crate::model::{
    AcceptDecision, Command, ConnContext, ConnId, ConnectionError, ErrorKind, Event,
};
use crate::plugin::instance::InstanceLimits;
use crate::plugin::output::{MAX_LINE, PluginLog};
use crate::plugin::{HookTrap, LoadedPlugin, PluginError, PluginInstance};

/// How long an actor may take to finish at shutdown (queued events, then `on-close`
/// for every connection left).
const FINISH_TIME: Duration = Duration::from_millis(500);

/// How a hook call went, for a timer's retry.
#[derive(Debug, PartialEq, Eq)]
enum Ran {
    /// Its commands ran.
    Done,
    /// It trapped (or misbehaved): a fresh instance takes over.
    Trapped,
    /// The app is failed: nothing was called.
    NoInstance,
}

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
    /// Orders that do not wait on the queue (see `control`).
    control: Arc<Control>,
    /// The app's timers and the retry deadline.
    timers: Timers,
    /// Wakes the actor at its earliest deadline.
    alarm: Alarm,
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
    let log = PluginLog::new(name.clone(), stats.metrics.log.clone());
    let instance = PluginInstance::new(&plugin, log.clone(), InstanceLimits::from(&limits))?;
    let (events, inbox) = mpsc::channel(EVENT_QUEUE);
    let control = Arc::new(Control::default());
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
        control: control.clone(),
        timers: Timers::default(),
        alarm: Alarm::start(events.downgrade()),
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
        control,
        events,
    })
}

impl Actor {
    fn run(mut self, mut inbox: mpsc::Receiver<Input>) {
        let span = tracing::info_span!("app", app = %self.log.app());
        let _entered = span.enter();
        // An input taken while gathering a batch, to handle after it.
        let mut next: Option<Input> = None;
        while let Some(input) = next.take().or_else(|| inbox.blocking_recv()) {
            match input {
                Input::Event(event @ (Event::Text { .. } | Event::Binary { .. }))
                    if self.batch_limit() > 1 =>
                {
                    let mut batch = vec![event];
                    while batch.len() < self.batch_limit() {
                        match inbox.try_recv() {
                            Ok(Input::Event(
                                event @ (Event::Text { .. } | Event::Binary { .. }),
                            )) => batch.push(event),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.messages(batch);
                }
                input => self.handle(input),
            }
            self.report_overflows();
            self.fire_due();
            if let Some(orders) = self.control.take()
                && let Some(done) = self.carry_out(orders)
            {
                self.finish(&mut inbox);
                let _ = done.send(());
                break;
            }
            self.stats.set_connections(self.registry.len());
        }
        tracing::debug!("app stopped");
    }

    /// Carries out the orders given since the last input; returns the shutdown's
    /// answer channel when one of them is to finish.
    fn carry_out(&mut self, orders: Orders) -> Option<tokio::sync::oneshot::Sender<()>> {
        let Orders {
            reload,
            limits,
            close_all,
            finish,
        } = orders;
        if let Some(limits) = limits {
            self.limits = limits;
            if let Some(instance) = self.instance.as_mut() {
                instance.set_limits(InstanceLimits::from(&limits));
            }
        }
        if let Some(reload) = reload {
            self.reload(reload);
        }
        if let Some(close) = close_all {
            self.registry.close_all(close.code(), close.reason);
        }
        finish
    }

    /// Shutdown: handles what is already queued (within [`FINISH_TIME`]), then runs
    /// `on-close` (1001) for every connection that has not closed yet, so that each
    /// one the plugin saw connect is seen leaving. What those hooks send to other
    /// connections goes nowhere: they are closing too.
    fn finish(&mut self, inbox: &mut mpsc::Receiver<Input>) {
        let until = Instant::now() + FINISH_TIME;
        while Instant::now() < until
            && let Ok(input) = inbox.try_recv()
        {
            self.handle(input);
        }
        for conn in self.registry.ids() {
            if Instant::now() >= until {
                tracing::warn!("shutdown: no time left to run on-close for every connection");
                break;
            }
            self.close_event(conn, SHUTDOWN.code(), SHUTDOWN.reason);
        }
        self.stats.set_connections(self.registry.len());
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Accept {
                conn,
                request,
                reply,
            } => {
                let outcome =
                    match self.call(Some(conn), "on-accept", |p| p.on_accept(conn, request)) {
                        Some(AcceptDecision::Allow {
                            subprotocol,
                            user,
                            attachment,
                            rooms,
                        }) => AcceptOutcome::Allow {
                            subprotocol,
                            user,
                            attachment,
                            rooms,
                        },
                        Some(AcceptDecision::Deny { status, reason }) => {
                            AcceptOutcome::Deny { status, reason }
                        }
                        None if self.instance.is_none() => AcceptOutcome::Failing,
                        None => AcceptOutcome::Trapped,
                    };
                // The client may have gone while the plugin decided.
                let _ = reply.send(outcome);
            }
            Input::Connect(joining) => self.connect(*joining),
            Input::Event(event) => self.event(&event),
            Input::Flush { conn, done } => self.registry.flushed(conn, done),
            Input::Wake => {}
        }
    }

    /// How many waiting messages one call may carry: a 0.2 plugin takes up to
    /// `max_batch_events`, within 1 s of `hook_timeout_ms` each; a 0.1.0 plugin (or
    /// a failed app) one.
    fn batch_limit(&self) -> usize {
        if !self
            .instance
            .as_ref()
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

    /// Messages that were waiting together, handed to the plugin in one call. All or
    /// nothing: if the call traps (or answers with more than `max_commands` per
    /// message), none of its commands run, and the messages are handed over again,
    /// one per call, to a fresh instance, so that only the one that traps closes its
    /// connection, and every other is handled once.
    fn messages(&mut self, batch: Vec<Event>) {
        let mut items = Vec::with_capacity(batch.len());
        for event in batch {
            let Some(conn) = event.conn() else { continue };
            if self.registry.is_open(conn) {
                let ctx = self.context(conn);
                items.push((event, ctx));
            }
        }
        if items.len() <= 1 {
            for (event, ctx) in items {
                self.run_hook(&event, ctx.as_ref());
            }
            return;
        }
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        instance.lend(&mut self.registry.dir);
        let clock = self.stats.clock();
        let started = clock.raw();
        self.stats.hook_started(started);
        let answer = instance.handle_batch(&items);
        instance.give_back(&mut self.registry.dir);
        self.stats.hook_ended();
        let took = clock.delta(started, clock.raw());
        self.stats
            .metrics
            .hook_took("on-message", took.as_secs_f64());
        match answer {
            Ok(commands) if commands.len() <= self.limits.max_commands * items.len() => {
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
                    "a batch failed ({why}); handing its messages over one by one"
                );
                self.instance = None;
                match self.fresh_instance() {
                    Ok(fresh) => self.instance = Some(fresh),
                    Err(e) => {
                        tracing::error!("cannot start a fresh plugin instance: {e}");
                        self.fail(self.limits.crash_loop.backoff);
                        return;
                    }
                }
                for (event, ctx) in items {
                    self.run_hook(&event, ctx.as_ref());
                }
            }
        }
    }

    /// A connection completed its handshake: it is registered with its user,
    /// attachment and first rooms (within the limits), then `connect` runs.
    fn connect(&mut self, joining: Joining) {
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
    }

    /// What a 0.2 plugin sees of `conn` in its events (nothing is built for 0.1).
    fn context(&self, conn: ConnId) -> Option<ConnContext> {
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
    fn close_event(&mut self, conn: ConnId, code: u16, reason: &str) {
        let member = self.registry.remove(conn);
        tracing::debug!(conn, code, reason, open = self.registry.len(), "closed");
        let wants = self
            .instance
            .as_ref()
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
    fn fire_due(&mut self) {
        let Some(next) = self.timers.next_deadline() else {
            return;
        };
        let now = Instant::now();
        if next <= now {
            if self.timers.retry_at.is_some_and(|at| at <= now) {
                self.timers.retry_at = None;
                self.retry();
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
    fn event(&mut self, event: &Event) {
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
                let ctx = self.context(conn);
                self.run_hook(&Event::Error { conn, error }, ctx.as_ref());
            }
        }
    }

    /// Hands `event` (with its connection's `ctx`) to its hook, and runs the
    /// commands it returns.
    fn run_hook(&mut self, event: &Event, ctx: Option<&ConnContext>) -> Ran {
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
    fn call<T>(
        &mut self,
        conn: Option<ConnId>,
        name: &'static str,
        hook: impl FnOnce(&mut PluginInstance) -> Result<T, HookTrap>,
    ) -> Option<T> {
        let instance = self.instance.as_mut()?;
        // A 0.2 plugin's host imports read the directory: it is the store's for the
        // length of the call (and comes back after a trap too).
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
                if let Some(conn) = conn {
                    self.registry
                        .close(conn, PLUGIN_TRAPPED.code(), PLUGIN_TRAPPED.reason);
                }
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
            InstanceLimits::from(&self.limits),
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
        self.registry
            .close_all(APP_FAILED.code(), APP_FAILED.reason);
        self.pause = pause;
        self.retry_after(pause);
    }

    /// Retries the failed app after `pause` (a deadline beside its timers).
    fn retry_after(&mut self, pause: Duration) {
        self.timers.retry_at = Some(Instant::now() + pause);
        self.alarm.set(self.timers.next_deadline());
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
                self.pause = next_backoff(self.pause);
                tracing::error!(
                    retry_in_ms = self.pause.as_millis(),
                    "the app's retry failed: {e}"
                );
                self.retry_after(self.pause);
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
        let mut fresh = PluginInstance::new(
            &plugin,
            self.log.clone(),
            InstanceLimits::from(&self.limits),
        )
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
            Ok(Err(message)) => Err(format!(
                "the new version refused the state: {}",
                crate::model::cut(&message, MAX_LINE)
            )),
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

#[cfg(test)]
#[cfg(feature = "demo")]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

    use crate::app::outbox::{OutboxReceiver, outbox};
    use crate::app::stats::AppStats;
    use bytes::Bytes;

    use crate::app::{AcceptOutcome, AppHandle, Input, Joining, Outbound};
    use crate::config::Limits;
    use crate::directory::{Handshake, Member};
    use crate::model::{Event, Request};
    use crate::plugin::{LoadedPlugin, PluginEngine};

    const TESTBED: &[u8] = include_bytes!(env!("WSGATE_FIXTURE_TESTBED_WASM"));
    const WAIT: Duration = Duration::from_secs(20);

    fn testbed() -> LoadedPlugin {
        let engine = PluginEngine::new().unwrap_or_else(|e| panic!("{e}"));
        LoadedPlugin::compile(&engine, "testbed", TESTBED).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The testbed app's actor, without sockets.
    fn app(limits: Limits) -> (AppHandle, Arc<AppStats>) {
        let stats = Arc::new(AppStats::default());
        let handle = super::spawn("testbed", testbed(), limits, stats.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        (handle, stats)
    }

    async fn connect(app: &AppHandle, conn: u64) -> OutboxReceiver {
        let (tx, rx) = outbox();
        let member = Member::new(None, Bytes::new(), Handshake::default(), tx.gauge());
        let joining = Joining {
            conn,
            outbox: tx,
            member,
            attachment: Bytes::new(),
            rooms: Vec::new(),
        };
        send(app, Input::Connect(Box::new(joining))).await;
        rx
    }

    async fn send(app: &AppHandle, input: Input) {
        assert!(app.send(input).await.is_ok(), "the actor is gone");
    }

    async fn say(app: &AppHandle, conn: u64, text: &str) {
        let text = Utf8Bytes::from(text.to_owned());
        send(app, Input::Event(Event::Text { conn, text })).await;
    }

    /// Hands the app a new testbed version (the same bytes: a swap all the same).
    fn reload(app: &AppHandle) {
        app.reload(testbed(), "test".into(), std::time::Instant::now());
    }

    /// The next thing queued for a connection, as text.
    async fn next(rx: &mut OutboxReceiver) -> String {
        let out = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("nothing queued within {WAIT:?}"));
        match out {
            Some(Outbound::Message(Message::Text(t))) => t.as_str().to_owned(),
            Some(Outbound::Close { code, reason }) => format!("close {code} {reason}"),
            other => format!("{other:?}"),
        }
    }

    async fn accept(app: &AppHandle, conn: u64) -> AcceptOutcome {
        let request = Request {
            path: "/t".into(),
            query: String::new(),
            headers: Vec::new(),
            remote_addr: "127.0.0.1:1".into(),
            subprotocols: Vec::new(),
        };
        app.accept(conn, request)
            .await
            .unwrap_or_else(|_| panic!("the actor is gone"))
    }

    #[tokio::test]
    async fn a_trap_closes_its_connection_with_1011_and_a_fresh_instance_serves_the_rest() {
        let (app, stats) = app(Limits::default());
        let mut one = connect(&app, 1).await;
        let mut two = connect(&app, 2).await;
        say(&app, 1, "panic").await;
        assert_eq!(next(&mut one).await, "close 1011 plugin error");
        say(&app, 2, "whoami").await;
        assert_eq!(next(&mut two).await, "2");
        let s = stats.snapshot();
        assert_eq!((s.traps, s.recoveries, s.failed), (1, 1, false));
    }

    #[tokio::test]
    async fn traps_in_a_row_trip_the_breaker_and_the_retry_brings_the_app_back() {
        let mut limits = Limits::default();
        limits.crash_loop.traps = 2;
        limits.crash_loop.backoff = Duration::from_millis(50);
        let (app, stats) = app(limits);
        let mut one = connect(&app, 1).await;
        let mut two = connect(&app, 2).await;
        let mut three = connect(&app, 3).await;
        say(&app, 1, "panic").await;
        say(&app, 2, "panic").await;
        assert_eq!(next(&mut one).await, "close 1011 plugin error");
        assert_eq!(next(&mut two).await, "close 1011 plugin error");
        assert_eq!(next(&mut three).await, "close 1011 app failed");
        assert!(matches!(accept(&app, 4).await, AcceptOutcome::Failing));
        // The retry comes after the backoff, through the actor's own queue.
        let back = tokio::time::timeout(WAIT, async {
            while stats.is_failed() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(back.is_ok(), "the app did not come back");
        assert!(matches!(accept(&app, 5).await, AcceptOutcome::Allow { .. }));
        let mut five = connect(&app, 5).await;
        say(&app, 5, "whoami").await;
        assert_eq!(next(&mut five).await, "5");
    }

    #[tokio::test]
    async fn a_reload_hands_the_state_over_and_a_refused_one_keeps_the_old_version() {
        let (app, stats) = app(Limits::default());
        let _one = connect(&app, 1).await;
        let close = Event::Close {
            conn: 1,
            code: 4000,
            reason: "gone".into(),
        };
        send(&app, Input::Event(close)).await;
        reload(&app);
        let mut two = connect(&app, 2).await;
        say(&app, 2, "events").await;
        let events = next(&mut two).await;
        assert!(events.contains("\"code\":4000"), "state lost: {events}");
        assert_eq!(stats.snapshot().reloads_applied, 1);

        // A snapshot that makes the next version's restore trap: refused, the old
        // version serves on with its state.
        say(&app, 2, "poison").await;
        assert_eq!(next(&mut two).await, "poisoned");
        reload(&app);
        say(&app, 2, "events").await;
        let after = next(&mut two).await;
        assert!(after.contains("\"code\":4000"), "state lost: {after}");
        let s = stats.snapshot();
        assert_eq!((s.reloads_applied, s.reloads_refused), (1, 1));
    }
}
