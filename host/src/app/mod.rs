//! Apps: each one a route, a plugin and limits, run by one actor.
//!
//! - [`actor`]: the thread that owns the plugin instance and handles the app's events
//!   one at a time, in order.
//! - [`registry`]: the app's open connections, and the commands run against them.
//! - [`input`]: what connections and the gateway tell the actor.
//! - [`outbox`]: a connection's outbound queue, bounded in bytes.
//! - [`admission`]: connection limits, in all and per IP.
//! - [`breaker`]: the crash-loop breaker.
//! - [`stats`]: the app's counters (reloads, traps, open connections).
//! - [`sched`]: the scheduling class of actor threads.

pub(crate) mod actor;
pub(crate) mod admission;
pub(crate) mod breaker;
pub(crate) mod input;
pub(crate) mod outbox;
pub(crate) mod registry;
pub(crate) mod sched;
pub(crate) mod stats;

use std::sync::Arc;

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::config::Limits;
use crate::model::{ConnId, Request};
use crate::plugin::LoadedPlugin;
use admission::Admission;
pub(crate) use input::{AcceptOutcome, Input, Reload};
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
    pub(crate) limits: Limits,
    pub(crate) stats: Arc<AppStats>,
    pub(crate) admission: Arc<Admission>,
    events: mpsc::Sender<Input>,
}

/// The actor is gone: the gateway is shutting down.
#[derive(Debug)]
pub(crate) struct AppGone;

impl AppHandle {
    /// A handle whose events go to the returned queue instead of an actor (tests).
    #[cfg(test)]
    pub(crate) fn for_test(limits: Limits) -> (Self, mpsc::Receiver<Input>) {
        let (events, inbox) = mpsc::channel(EVENT_QUEUE);
        let handle = Self {
            name: "test".into(),
            limits,
            stats: Arc::default(),
            admission: Arc::default(),
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
            Err(mpsc::error::TrySendError::Full(event)) => {
                Box::pin(self.events.send(event)).await.map_err(|_| AppGone)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(AppGone),
        }
    }

    /// Hands `event` to the actor from a thread outside the async runtime.
    pub(crate) fn blocking_send(&self, event: Input) -> Result<(), AppGone> {
        self.events.blocking_send(event).map_err(|_| AppGone)
    }

    /// Hands a new plugin version to the actor (from a thread outside the async
    /// runtime), which swaps it in between two events with a state handoff.
    pub(crate) fn reload(
        &self,
        plugin: LoadedPlugin,
        origin: String,
        since: Instant,
    ) -> Result<(), AppGone> {
        self.blocking_send(Input::Reload(Box::new(Reload {
            plugin,
            origin,
            since,
        })))
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
            request,
            reply,
        })
        .await?;
        answer.await.map_err(|_| AppGone)
    }
}
