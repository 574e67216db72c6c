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

use bytes::Bytes;
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

/// Something that happened to a connection, for the app's plugin.
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
}

impl Event {
    /// The connection the event is about.
    pub(crate) fn conn(&self) -> ConnId {
        match self {
            Self::Connect { conn }
            | Self::Text { conn, .. }
            | Self::Binary { conn, .. }
            | Self::Error { conn, .. }
            | Self::Close { conn, .. } => *conn,
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
        }
    }
}

/// A message body: text or binary. Cheap to clone (the bytes are shared), so a
/// broadcast encodes its payload once for every receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
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

/// One thing a plugin asks the host to do.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        /// A connection left out (typically the sender).
        except: Option<ConnId>,
    },
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
