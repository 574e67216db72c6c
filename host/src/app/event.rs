//! The messages between connections and an app's actor.

use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::Outbox;
use crate::config::Limits;
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
    /// New limits for the app.
    SetLimits(Limits),
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
    /// Answer with an HTTP error.
    Deny { status: u16, reason: String },
}
