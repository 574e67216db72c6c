//! Apps: each one a route, a plugin and limits, run by one actor.
//!
//! - [`actor`]: the thread that owns the plugin instance and handles the app's events
//!   one at a time, in order.
//! - [`registry`]: the app's open connections, their queues and the directory.
//! - [`commands`]: the command interpreter (limits checked), against the registry.
//! - [`timers`]: the app's timers, one deadline heap, and the alarm that wakes it.
//! - [`input`]: what connections and the gateway tell the actor.
//! - [`inbox`]: the actor's queue of inputs, bounded, allocating nothing while empty.
//! - [`outbox`]: a connection's outbound queue, bounded in bytes.
//! - [`admission`]: connection limits, in all and per IP.
//! - [`control`]: orders that never wait on the event queue (reload, limits,
//!   close all, finish).
//! - [`breaker`]: the crash-loop breaker.
//! - [`stats`]: the app's counters (reloads, traps, open connections).
//! - [`pool`]: the worker threads that run every app's actor.
//! - [`sched`]: the scheduling class of the workers.

pub(crate) mod actor;
pub(crate) mod admission;
pub(crate) mod alarm;
pub(crate) mod breaker;
pub(crate) mod commands;
pub(crate) mod control;
pub(crate) mod inbox;
pub(crate) mod input;
pub(crate) mod outbox;
pub(crate) mod pool;
pub(crate) mod registry;
pub(crate) mod sched;
pub(crate) mod stats;
pub(crate) mod timers;

use std::sync::Arc;

use std::time::Instant;

use tokio::sync::oneshot;

use crate::close::Close;
use crate::config::Limits;
use crate::model::{ConnId, Request};
use crate::plugin::LoadedPlugin;
use admission::Admission;
use control::{Control, Orders};
pub(crate) use input::{AcceptOutcome, ApiAnswer, ApiCall, Input, Joining, Reload, Welcome};
pub(crate) use outbox::{Outbound, Outbox};
use stats::AppStats;

/// How many events may wait for an app's actor before connections wait to hand over
/// theirs (backpressure on the clients, never loss).
pub(crate) const EVENT_QUEUE: usize = 1024;

/// What connections and the HTTP layer hold of an app: its name, limits and the
/// sending side of its actor's event queue.
#[derive(Clone)]
pub(crate) struct AppHandle {
    pub(crate) name: Arc<str>,
    /// Shared, not inline: every connection's task holds a handle for its life.
    pub(crate) limits: Arc<Limits>,
    pub(crate) stats: Arc<AppStats>,
    pub(crate) admission: Arc<Admission>,
    control: Arc<Control>,
    events: inbox::Sender<Input>,
}

/// The actor is gone: the gateway is shutting down.
#[derive(Debug)]
pub(crate) struct AppGone;

impl AppHandle {
    /// A handle whose events go to the returned queue instead of an actor (tests).
    #[cfg(test)]
    pub(crate) fn for_test(limits: Limits) -> (Self, inbox::Inbox<Input>) {
        let (events, inbox) = inbox::channel(EVENT_QUEUE);
        let handle = Self {
            name: "test".into(),
            limits: Arc::new(limits),
            stats: Arc::default(),
            admission: Arc::default(),
            control: Arc::default(),
            events,
        };
        (handle, inbox)
    }

    /// Hands `event` to the actor, waiting while its queue is full.
    pub(crate) async fn send(&self, event: Input) -> Result<(), AppGone> {
        // The common case takes no await; the waiting one is boxed, so that its state
        // does not sit in every connection's task for the connection's whole life.
        match self.events.try_send(event) {
            Ok(()) => Ok(()),
            Err(inbox::TrySendError::Full(event)) => {
                Box::pin(self.events.send(event)).await.map_err(|_| AppGone)
            }
            Err(inbox::TrySendError::Closed(_)) => Err(AppGone),
        }
    }

    /// Hands `event` to the actor if its queue has room now; gives it back if not.
    pub(crate) fn try_send(&self, event: Input) -> Result<Option<Input>, AppGone> {
        match self.events.try_send(event) {
            Ok(()) => Ok(None),
            Err(inbox::TrySendError::Full(event)) => Ok(Some(event)),
            Err(inbox::TrySendError::Closed(_)) => Err(AppGone),
        }
    }

    /// Hands all of `events` (emptied) to the actor in order if its queue has room
    /// for them all now: one lock of the queue for the lot. `Ok(false)`: it has not,
    /// and `events` keeps them all.
    pub(crate) fn try_send_all(&self, events: &mut Vec<Input>) -> Result<bool, AppGone> {
        match self.events.try_send_all(events) {
            Ok(()) => Ok(true),
            Err(inbox::TrySendError::Full(())) => Ok(false),
            Err(inbox::TrySendError::Closed(())) => {
                events.clear();
                Err(AppGone)
            }
        }
    }

    /// Gives the actor an order without waiting on its queue: it is carried out
    /// after the input the actor is handling (at once when it is idle).
    fn order(&self, order: impl FnOnce(&mut Orders)) {
        self.control.give(order);
        // Wakes an idle actor; a full queue means a busy one, which looks anyway.
        let _ = self.events.try_send(Input::Wake);
    }

    /// Hands a new plugin version to the actor, which swaps it in between two
    /// events with a state handoff (a newer version not yet taken replaces it).
    pub(crate) fn reload(&self, plugin: LoadedPlugin, origin: String, since: Instant) {
        self.order(|o| {
            o.reload = Some(Box::new(Reload {
                plugin,
                origin,
                since,
            }));
        });
    }

    /// New limits for the actor (the handle's own copy is the caller's to update).
    pub(crate) fn set_limits(&self, limits: Limits) {
        self.order(|o| o.limits = Some(Box::new(limits)));
    }

    /// Closes every connection of the app.
    pub(crate) fn close_all(&self, close: Close) {
        self.order(|o| o.close_all = Some(close));
    }

    /// Shuts the actor down: what is queued is handled, `on-close` runs for every
    /// connection still open, then the returned receiver completes (or is dropped
    /// if the actor is gone already).
    pub(crate) fn finish(&self) -> oneshot::Receiver<()> {
        let (done, finished) = oneshot::channel();
        self.order(|o| o.finish = Some(done));
        finished
    }

    /// Runs a server API call in the app's event order and returns the app's answer.
    pub(crate) async fn api(&self, call: ApiCall) -> Result<ApiAnswer, AppGone> {
        let (reply, answer) = oneshot::channel();
        self.send(Input::Api {
            call: Box::new(call),
            reply,
        })
        .await?;
        answer.await.map_err(|_| AppGone)
    }

    /// Hands a command from another node to the actor, unless its queue is full
    /// (then false: cross-node traffic is at most once and never waits).
    pub(crate) fn try_remote(&self, command: crate::model::Command) -> bool {
        self.events
            .try_send(Input::Remote(Box::new(command)))
            .is_ok()
    }

    /// Inputs waiting in the actor's queue.
    pub(crate) fn queued(&self) -> usize {
        self.events.queued()
    }

    /// Asks the plugin whether to accept a handshake.
    pub(crate) async fn accept(
        &self,
        conn: ConnId,
        request: Request,
    ) -> Result<AcceptOutcome, AppGone> {
        let (reply, answer) = oneshot::channel();
        self.send(Input::Accept {
            conn,
            request: Box::new(request),
            reply,
        })
        .await?;
        answer.await.map_err(|_| AppGone)
    }
}
