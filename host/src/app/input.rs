//! What reaches an app's actor: connections' events, handshakes waiting for an
//! answer, and the gateway's orders (reload, new limits, close everything).

use std::time::Instant;

use tokio::sync::oneshot;

use super::Outbox;
use crate::model::{ConnId, Event, Request};
use crate::plugin::LoadedPlugin;

/// One message to an app's actor.
pub(crate) enum Input {
    /// A handshake waits for `on-accept`'s answer.
    Accept {
        conn: ConnId,
        request: Request,
        reply: oneshot::Sender<AcceptOutcome>,
    },
    /// The handshake completed; `outbox` reaches the connection's writer.
    Connect { conn: ConnId, outbox: Outbox },
    /// Something happened to a connection (anything but its connect, which comes as
    /// [`Input::Connect`]): a message, an error, its close.
    Event(Event),
    /// Answer `done` once everything the app sent `conn` so far is written out (the
    /// connection's reader asks before it lets the client's close frame through).
    Flush {
        conn: ConnId,
        done: oneshot::Sender<()>,
    },
    /// Look at the orders (`control`): one was given while the actor was idle.
    Wake,
    /// The crash-loop pause is over: try a fresh instance.
    Retry,
}

/// A new plugin version, compiled and linked, waiting for the actor to swap it in.
pub(crate) struct Reload {
    /// The new version.
    pub(crate) plugin: LoadedPlugin,
    /// Where it came from, for the log.
    pub(crate) origin: String,
    /// When the change was seen (file written, config reloaded).
    pub(crate) since: Instant,
}

/// The answer to a handshake.
#[derive(Debug)]
pub(crate) enum AcceptOutcome {
    /// Complete the handshake, with the subprotocol to select.
    Allow { subprotocol: Option<String> },
    /// The plugin refused: answer with this HTTP error.
    Deny { status: u16, reason: String },
    /// The app is failed (its breaker tripped): 503, try again later.
    Failing,
    /// The plugin trapped in `on-accept`: 500.
    Trapped,
}
