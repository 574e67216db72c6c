//! What events carry: connection ids and connection errors.

use std::fmt;

use crate::bindings::wit;

/// Identifies one WebSocket connection; unique across the gateway and never reused
/// while it runs. Pass it back in [`Command`](crate::Command)s to address the
/// connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The category of a [`ConnectionError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The client broke the WebSocket protocol (RFC 6455).
    Protocol,
    /// A text message or close reason was not valid UTF-8.
    InvalidUtf8,
    /// A message or frame was larger than the app allows.
    MessageTooBig,
    /// The transport failed (reset, broken pipe).
    Io,
    /// The peer did not answer in time (heartbeat, closing handshake).
    Timeout,
    /// The client read too slowly and its outbound queue overflowed.
    SlowConsumer,
}

/// Something that went wrong on a connection; [`Plugin::on_close`](crate::Plugin::on_close)
/// follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionError {
    /// The category, for programs.
    pub kind: ErrorKind,
    /// A human-readable description, for logs.
    pub message: String,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl From<wit::ConnectionError> for ConnectionError {
    fn from(e: wit::ConnectionError) -> Self {
        let kind = match e.kind {
            wit::ErrorKind::Protocol => ErrorKind::Protocol,
            wit::ErrorKind::InvalidUtf8 => ErrorKind::InvalidUtf8,
            wit::ErrorKind::MessageTooBig => ErrorKind::MessageTooBig,
            wit::ErrorKind::Io => ErrorKind::Io,
            wit::ErrorKind::Timeout => ErrorKind::Timeout,
            wit::ErrorKind::SlowConsumer => ErrorKind::SlowConsumer,
        };
        Self {
            kind,
            message: e.message,
        }
    }
}
