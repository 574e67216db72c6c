//! The messages between connections and an app's actor.

use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::plugin::instance::InstanceLimits;
use crate::plugin::{LoadedPlugin, types};

/// Something that happened to a connection of the app, for its plugin.
pub(crate) enum Event {
    /// A handshake waits for `on-accept`'s answer.
    Accept {
        conn: u64,
        request: types::Request,
        reply: oneshot::Sender<AcceptOutcome>,
    },
    /// The handshake completed; `outbox` reaches the connection's writer.
    Connect { conn: u64, outbox: Outbox },
    /// A text message.
    Text { conn: u64, text: Utf8Bytes },
    /// A binary message.
    Binary { conn: u64, data: Bytes },
    /// Something went wrong; a `Close` follows.
    Error {
        conn: u64,
        error: types::ConnectionError,
    },
    /// The connection is closed; the last event of `conn`.
    Close {
        conn: u64,
        code: u16,
        reason: String,
    },
    /// The gateway stops or the app was removed: close every connection with `code`
    /// and `reason`.
    CloseAll { code: u16, reason: &'static str },
    /// Swap in a new version of the plugin, handing over its state.
    Reload(Box<Reload>),
    /// New limits for the instances of the plugin.
    SetLimits(InstanceLimits),
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
    /// Answer with an HTTP error.
    Deny { status: u16, reason: String },
}

/// What the actor asks a connection's writer to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send a message (broadcasts share the payload).
    Message(Message),
    /// Send a close frame and stop sending.
    Close { code: u16, reason: Utf8Bytes },
}

/// The sending side of a connection's outbound queue.
pub(crate) type Outbox = mpsc::UnboundedSender<Outbound>;
