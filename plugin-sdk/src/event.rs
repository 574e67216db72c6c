//! What events carry: the connection ([`Conn`]: its id, user and attachment, as the
//! gateway holds them) and connection errors.

use std::fmt;

use crate::bindings::wit;

/// Identifies one WebSocket connection; unique across the gateway and never reused
/// while it runs. Pass it back in [`Command`](crate::Command)s to address the
/// connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

/// A connection as the gateway holds it, handed to every hook about it: its id, its
/// user (as [`Accept::user`](crate::Accept::user) named it) and its attachment (as
/// [`Command::set_attachment`](crate::Command::set_attachment) last set it). The
/// user and attachment live in the gateway: they survive hot reloads and traps, and
/// are still there in [`Plugin::on_close`](crate::Plugin::on_close).
///
/// Commands take a `&Conn` (or its [`ConnectionId`]) as their target:
/// `Command::send(&conn, "hi")`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conn {
    /// The connection's id.
    pub id: ConnectionId,
    /// Its user, if `on_accept` named one.
    pub user: Option<String>,
    /// Its attachment; empty if none was set.
    pub attachment: Vec<u8>,
}

impl Conn {
    /// A connection with `id`, no user and no attachment (for tests).
    pub fn new(id: u64) -> Self {
        Self {
            id: ConnectionId(id),
            ..Self::default()
        }
    }

    /// This connection with `user` (for tests).
    #[must_use]
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// This connection with `attachment` (for tests).
    #[must_use]
    pub fn with_attachment(mut self, attachment: impl Into<Vec<u8>>) -> Self {
        self.attachment = attachment.into();
        self
    }
}

impl From<ConnectionId> for Conn {
    fn from(id: ConnectionId) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
}

impl From<&Conn> for ConnectionId {
    fn from(conn: &Conn) -> Self {
        conn.id
    }
}

impl From<Conn> for ConnectionId {
    fn from(conn: Conn) -> Self {
        conn.id
    }
}

impl From<wit::Connection> for Conn {
    fn from(c: wit::Connection) -> Self {
        Self {
            id: ConnectionId(c.id),
            user: c.user,
            attachment: c.attachment,
        }
    }
}
