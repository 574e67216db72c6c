//! The host's own vocabulary for what happens to connections and what plugins ask
//! for: a connection's [`Event`]s, a plugin's [`Command`]s, and the handshake
//! ([`Request`], [`AcceptDecision`]).
//!
//! The actor, the registry and the connections speak these types, never the WIT
//! bindings: each contract version's bindings convert to and from them at the plugin
//! boundary (`plugin::convert`). That is what lets plugins of two contract versions run
//! side by side, and lets a command travel to another node.
//!
//! At the bottom of the house: it imports no other module of the crate.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Identifies one WebSocket connection: the gateway's own counter, unique while it
/// runs and never reused.
pub(crate) type ConnId = u64;

/// The HTTP upgrade request of a handshake, as `on-accept` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The request path, without the query.
    pub(crate) path: String,
    /// The raw query string without `?` (empty when none).
    pub(crate) query: String,
    /// Every header as (lower-case name, value), in the order received.
    pub(crate) headers: Vec<(String, String)>,
    /// The client's address, `ip:port`.
    pub(crate) remote_addr: String,
    /// The subprotocols offered in `Sec-WebSocket-Protocol`, in order.
    pub(crate) subprotocols: Vec<String>,
}

/// What a plugin decided for a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AcceptDecision {
    /// Complete the handshake, selecting this subprotocol (or none).
    Allow {
        /// The subprotocol to answer with; must be one the client offered.
        subprotocol: Option<String>,
        /// The connection's user (contract 0.2).
        user: Option<String>,
        /// Its first attachment (contract 0.2).
        attachment: Bytes,
        /// The rooms it starts in (contract 0.2).
        rooms: Vec<String>,
    },
    /// Answer with an HTTP error.
    Deny {
        /// The HTTP status (400–599 are honoured).
        status: u16,
        /// The plain-text body.
        reason: String,
    },
}

/// The category of a connection error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The client broke RFC 6455.
    Protocol,
    /// A text message or close reason was not UTF-8.
    InvalidUtf8,
    /// A message or frame was over the app's limit.
    MessageTooBig,
    /// The transport failed.
    Io,
    /// The peer did not answer in time.
    Timeout,
    /// The outbound queue overflowed.
    SlowConsumer,
}

/// An error on a connection; a close follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectionError {
    /// The category.
    pub(crate) kind: ErrorKind,
    /// A description for logs.
    pub(crate) message: String,
}

/// What the host holds of a connection that its events show the plugin (contract
/// 0.2): cheap to clone (shared bytes).
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnContext {
    /// Its user.
    pub(crate) user: Option<Arc<str>>,
    /// Its attachment.
    pub(crate) attachment: Bytes,
}

/// What the host knows of a connection now (`connection-info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectionInfo {
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) remote_addr: String,
    pub(crate) subprotocol: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) attachment: Bytes,
    pub(crate) connected_at_ms: u64,
    pub(crate) buffered_bytes: u64,
    pub(crate) open: bool,
}

/// Something that happened, for the app's plugin: to a connection, or to the app
/// (a timer, a backend event).
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// The handshake completed.
    Connect {
        /// The connection.
        conn: ConnId,
    },
    /// A text message arrived.
    Text {
        /// The sender.
        conn: ConnId,
        /// The message.
        text: Utf8Bytes,
    },
    /// A binary message arrived.
    Binary {
        /// The sender.
        conn: ConnId,
        /// The message.
        data: Bytes,
    },
    /// Something went wrong; a `Close` follows.
    Error {
        /// The connection.
        conn: ConnId,
        /// What went wrong.
        error: ConnectionError,
    },
    /// The connection is closed: its last event.
    Close {
        /// The connection.
        conn: ConnId,
        /// The client's close code, 1006 when the transport dropped, or the code the
        /// gateway sent.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// A timer is due (contract 0.2).
    Timer {
        /// Its key.
        key: Arc<str>,
        /// The data it was set with.
        data: Bytes,
    },
    /// A backend sent the app something (server API; contract 0.2).
    Backend {
        /// The name the backend gave.
        name: String,
        /// The body.
        payload: Bytes,
    },
}

impl Event {
    /// Whether it is a message (text or binary): what a batch carries.
    pub(crate) fn is_message(&self) -> bool {
        matches!(self, Self::Text { .. } | Self::Binary { .. })
    }

    /// The connection the event is about, if it is about one.
    pub(crate) fn conn(&self) -> Option<ConnId> {
        match self {
            Self::Connect { conn }
            | Self::Text { conn, .. }
            | Self::Binary { conn, .. }
            | Self::Error { conn, .. }
            | Self::Close { conn, .. } => Some(*conn),
            Self::Timer { .. } | Self::Backend { .. } => None,
        }
    }

    /// The hook the event goes to, as the contract names it (for logs and metrics).
    pub(crate) fn hook(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "on-connect",
            Self::Text { .. } => "on-message",
            Self::Binary { .. } => "on-binary",
            Self::Error { .. } => "on-error",
            Self::Close { .. } => "on-close",
            Self::Timer { .. } => "on-timer",
            Self::Backend { .. } => "on-backend",
        }
    }
}

/// A message body: text or binary. Cheap to clone (the bytes are shared), so a
/// broadcast encodes its payload once for every receiver. Serialized (for the
/// cluster's wire) as a string or as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

/// How a [`Payload`] is written on the wire: borrowed, so encoding copies nothing
/// but into the output.
#[derive(Serialize)]
enum PayloadRef<'a> {
    Text(&'a str),
    Binary(#[serde(with = "serde_bytes_ref")] &'a [u8]),
}

/// How a [`Payload`] is read from the wire.
#[derive(Deserialize)]
enum PayloadOwned {
    Text(String),
    Binary(Bytes),
}

/// `&[u8]` as serde bytes (not a sequence of numbers).
mod serde_bytes_ref {
    pub(super) fn serialize<S: serde::Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(data)
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(text) => PayloadRef::Text(text.as_str()),
            Self::Binary(data) => PayloadRef::Binary(data),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match PayloadOwned::deserialize(d)? {
            PayloadOwned::Text(text) => Self::Text(Utf8Bytes::from(text)),
            PayloadOwned::Binary(data) => Self::Binary(data),
        })
    }
}

impl Payload {
    /// The WebSocket message that carries it.
    pub(crate) fn into_message(self) -> Message {
        match self {
            Self::Text(text) => Message::Text(text),
            Self::Binary(data) => Message::Binary(data),
        }
    }
}

/// One thing a plugin asks the host to do. Serializable: a command for a connection,
/// room or user on another node travels there (`bus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Command {
    /// Send to one connection of the app.
    Send {
        /// The receiver.
        conn: ConnId,
        /// The message.
        payload: Payload,
    },
    /// Send to every open connection of the app but `except`.
    Broadcast {
        /// The message, shared by every receiver.
        payload: Payload,
        /// Connections left out (typically the sender).
        except: Vec<ConnId>,
    },
    /// Send to every member of `room` but `except`.
    Publish {
        /// The room.
        room: String,
        /// The message, shared by every receiver.
        payload: Payload,
        /// Members left out.
        except: Vec<ConnId>,
    },
    /// Put `conn` in `room`.
    Join { conn: ConnId, room: String },
    /// Take `conn` out of `room`.
    Leave { conn: ConnId, room: String },
    /// Send to every connection of `user`.
    SendUser { user: String, payload: Payload },
    /// Close every connection of `user`.
    CloseUser {
        user: String,
        code: u16,
        reason: String,
    },
    /// Replace the attachment of `conn`.
    SetAttachment { conn: ConnId, data: Bytes },
    /// Set (or replace) timer `key`.
    SetTimer {
        key: String,
        delay_ms: u64,
        repeat_ms: Option<u64>,
        data: Bytes,
    },
    /// Cancel timer `key`.
    CancelTimer { key: String },
    /// Start the closing handshake of one connection.
    Close {
        /// The connection.
        conn: ConnId,
        /// The close code asked for (checked by the host).
        code: u16,
        /// The close reason asked for (cut by the host).
        reason: String,
    },
}

/// `text` cut to at most `max` bytes, at a character boundary: how the host bounds
/// every string a plugin hands it for a log line or an answer.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
