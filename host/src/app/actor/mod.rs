//! The actor of one app: a task that owns the plugin instance and the app's
//! connections, and handles the app's events one at a time, in the order they came.
//! It is the single ordering point for events, hot reloads and recoveries.
//!
//! It runs on the apps' worker pool (`pool`), not on the runtime of the sockets:
//! hooks are synchronous calls into WebAssembly, and a slow one (up to its deadline)
//! must not stall the sockets.
//!
//! A trap ends the instance only: the connection whose event caused it is closed with
//! 1011, a fresh instance takes over, every other connection stays. Too many traps in
//! a row trip the crash-loop breaker: the app fails (handshakes get 503, connections
//! are closed with 1011) and retries after a backoff.
//!
//! - `hooks`: each input as a hook call (the connection's context, the directory
//!   lent to the store), batches, due timers, what an answer does.
//! - `recovery`: the breaker, fresh instances, the failed state, hot reloads.
//! - `unload`: idle apps unloaded and woken (`idle_unload_ms`).

use std::sync::Arc;
use std::time::{Duration, Instant};

mod api;
mod hooks;
mod lent;
mod recovery;
#[cfg(test)]
#[cfg(feature = "demo")]
mod tests;
mod unload;

use super::alarm::{Alarm, Clock};
use super::breaker::Breaker;
use super::control::{Control, Orders};
use super::inbox::{self, Inbox};
use super::registry::Registry;
use super::stats::AppStats;
use super::timers::Timers;
use super::{AcceptOutcome, AppHandle, EVENT_QUEUE, Input};
use crate::bus::{Cluster, Link};
use crate::close::{Close, SHUTDOWN};
use crate::config::Limits;
use crate::model::{AcceptDecision, Event};
use crate::plugin::instance::InstanceLimits;
use crate::plugin::output::PluginLog;
use crate::plugin::{LoadedPlugin, PluginError, PluginInstance};

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
    /// Shared with the app's handle until new limits come (an actor's size is paid
    /// by every tenant).
    limits: Arc<Limits>,
    log: Arc<PluginLog>,
    /// `None` while the app is failed (breaker tripped) or could not get an instance.
    /// Boxed: 200 bytes an unloaded app need not keep.
    instance: Option<Box<PluginInstance>>,
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
    /// An unloaded app's state (`idle_unload_ms`): `instance` is `None` meanwhile.
    parked: Option<Vec<u8>>,
    /// When the last hook was called (kept only with `idle_unload_ms`).
    last_call: Instant,
    /// Set once every connection was told to close (shutdown): a connection that
    /// completes its handshake afterwards is closed the same way at once.
    closing: Option<Close>,
}

/// Starts the actor of app `name` on the worker pool (woken at its deadlines by
/// `clock`) and returns its handle.
///
/// # Errors
/// The first instance cannot be made (the plugin's start-up traps), or the OS refuses
/// the pool's threads.
pub(crate) fn spawn(
    name: &str,
    plugin: LoadedPlugin,
    limits: Limits,
    stats: Arc<AppStats>,
    cluster: Option<Cluster>,
    clock: &Clock,
) -> Result<AppHandle, PluginError> {
    let name: Arc<str> = name.into();
    let link = cluster.map(|cluster| Link::new(cluster, name.clone()));
    let log = PluginLog::new(name.clone(), stats.metrics.clone());
    let instance = PluginInstance::new(&plugin, log.clone(), InstanceLimits::from(&limits))?;
    let (events, inbox) = inbox::channel(EVENT_QUEUE);
    let limits = Arc::new(limits);
    let control = Arc::new(Control::default());
    stats.set_plugin_hash(plugin.hash);
    let actor = Actor {
        plugin,
        limits: limits.clone(),
        log,
        instance: Some(Box::new(instance)),
        registry: Registry::new(link),
        stats: stats.clone(),
        breaker: Breaker::default(),
        pause: limits.crash_loop.backoff,
        control: control.clone(),
        timers: Timers::default(),
        alarm: clock.alarm(events.downgrade()),
        parked: None,
        last_call: Instant::now(),
        closing: None,
    };
    let span = tracing::info_span!("app", app = %name);
    super::pool::spawn(tracing::Instrument::instrument(
        Box::new(actor).run(inbox),
        span,
    ))
    .map_err(|e| PluginError::Instantiate(format!("cannot start the apps' worker threads: {e}")))?;
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
    /// Boxed: an async fn keeps its argument twice in its future (which every app
    /// keeps for its life); a box of it, once.
    async fn run(mut self: Box<Self>, mut inbox: Inbox<Input>) {
        // An app that nothing ever reaches unloads too.
        self.arm_unload();
        self.alarm.set(self.timers.next_deadline());
        // Inputs handled since this actor last let the others have its worker.
        let mut in_a_row = 0;
        loop {
            if in_a_row >= super::pool::FAIR_SHARE {
                in_a_row = 0;
                super::pool::yield_now().await;
            }
            let input = match inbox.try_recv() {
                Some(input) => input,
                None => {
                    in_a_row = 0;
                    if self.instance.is_none() {
                        // Unloaded (or failed): idle for long, its queue's storage
                        // is given back. A loaded app keeps it for its next burst.
                        inbox.shrink();
                    }
                    match inbox.recv().await {
                        Some(input) => input,
                        None => break,
                    }
                }
            };
            in_a_row += 1;
            match input {
                Input::Event(event) if event.is_message() => {
                    // The messages waiting right behind it join it (the first input
                    // that is not a message stays first in the queue); a message that
                    // waits alone goes alone: no list is made for it.
                    let limit = self.batch_limit();
                    let mut first = Some(event);
                    let mut batch = Vec::new();
                    if limit > 1 {
                        inbox.take_while(limit - 1, message, |event| {
                            if let Some(first) = first.take() {
                                batch.reserve_exact(limit);
                                batch.push(first);
                            }
                            batch.push(event);
                        });
                    }
                    match first {
                        Some(alone) => self.handle(Input::Event(alone)),
                        None => self.messages(batch),
                    }
                }
                input => self.handle(input),
            }
            self.report_overflows();
            self.arm_unload();
            self.fire_due();
            self.registry.report_rooms();
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
            self.limits = Arc::new(*limits);
            if let Some(instance) = self.instance.as_mut() {
                instance.set_limits(InstanceLimits::from(&*limits));
            }
        }
        if let Some(reload) = reload {
            self.reload(*reload);
        }
        if let Some(close) = close_all {
            self.registry.close_all(close.code(), close.reason);
            self.closing = Some(close);
        }
        finish
    }

    /// Shutdown: handles what is already queued (within [`FINISH_TIME`]), then runs
    /// `on-close` (1001) for every connection that has not closed yet, so that each
    /// one the plugin saw connect is seen leaving. What those hooks send to other
    /// connections goes nowhere: they are closing too.
    fn finish(&mut self, inbox: &mut Inbox<Input>) {
        let until = Instant::now() + FINISH_TIME;
        while Instant::now() < until
            && let Some(input) = inbox.try_recv()
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
        // An unloaded app comes back before anything looks at its instance.
        if matches!(
            input,
            Input::Accept { .. } | Input::Connect(_) | Input::Event(_)
        ) {
            self.wake();
        }
        match input {
            Input::Accept {
                conn,
                request,
                reply,
            } => {
                let outcome =
                    match self.call(Some(conn), "on-accept", |p| p.on_accept(conn, *request)) {
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
                        None if !self.serving() => AcceptOutcome::Failing,
                        None => AcceptOutcome::Trapped,
                    };
                // The client may have gone while the plugin decided.
                let _ = reply.send(outcome);
            }
            Input::Connect(joining) => self.connect(*joining),
            Input::Event(event) => self.event(&event),
            Input::Flush { conn, done } => self.registry.flushed(conn, done),
            Input::Wake => {}
            Input::Api { call, reply } => {
                let answer = self.api(*call);
                let _ = reply.send(answer);
            }
            Input::Remote(command) => {
                self.registry
                    .execute_remote(*command, &self.limits, &self.stats, &mut self.timers);
            }
        }
    }
}

/// The input's event if it is a message (text or binary), which may join a batch;
/// otherwise the input, to be handled on its own.
fn message(input: Input) -> Result<Event, Input> {
    match input {
        Input::Event(event) if event.is_message() => Ok(event),
        other => Err(other),
    }
}
