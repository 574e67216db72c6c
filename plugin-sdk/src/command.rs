//! [`Command`]: what a hook asks the gateway to do.

use crate::bindings::wit;
use crate::event::ConnectionId;

/// A message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl From<String> for Payload {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for Payload {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(data: Vec<u8>) -> Self {
        Self::Binary(data)
    }
}

/// One thing a hook asks the gateway to do. Hooks return a list of them; the gateway
/// carries them out in order once the hook returns, against the connections of the
/// plugin's own app only (a command naming any other connection is dropped; one over
/// a limit is refused with a warning).
///
/// Build them with the constructors, which take a connection as a `&Conn` or a
/// [`ConnectionId`]:
/// ```
/// use wsgate_plugin::{Command, Conn, close_code};
/// let alice = Conn::new(1);
/// let replies = vec![
///     Command::send(&alice, "welcome"),
///     Command::join(&alice, "lobby"),
///     Command::publish_except("lobby", "alice joined", &alice),
///     Command::set_timer("tick", 1000, Vec::new()),
///     Command::close(&alice, close_code::NORMAL, "bye"),
/// ];
/// # assert_eq!(replies.len(), 5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send a message to one connection.
    Send {
        /// The receiver.
        conn: ConnectionId,
        /// The message.
        payload: Payload,
    },
    /// Send a message to every open connection of the app but `except`.
    Broadcast {
        /// The message.
        payload: Payload,
        /// Connections to leave out, typically the sender.
        except: Vec<ConnectionId>,
    },
    /// Send a message to every member of a room but `except`.
    Publish {
        /// The room.
        room: String,
        /// The message.
        payload: Payload,
        /// Members to leave out.
        except: Vec<ConnectionId>,
    },
    /// Close one connection with a close code and reason.
    Close {
        /// The connection to close.
        conn: ConnectionId,
        /// The close code: 1000-1003, 1007-1014 or 3000-4999 (see [`close_code`]);
        /// the gateway replaces any other with 1011.
        code: u16,
        /// The reason; at most 123 bytes are sent.
        reason: String,
    },
    /// Put a connection in a room (the gateway holds rooms; a connection leaves all
    /// of its rooms when it closes).
    Join {
        /// The connection.
        conn: ConnectionId,
        /// The room.
        room: String,
    },
    /// Take a connection out of a room.
    Leave {
        /// The connection.
        conn: ConnectionId,
        /// The room.
        room: String,
    },
    /// Send a message to every connection of a user.
    SendUser {
        /// The user.
        user: String,
        /// The message.
        payload: Payload,
    },
    /// Close every connection of a user.
    CloseUser {
        /// The user.
        user: String,
        /// The close code.
        code: u16,
        /// The reason.
        reason: String,
    },
    /// Replace a connection's attachment (at most 16 KiB by default).
    SetAttachment {
        /// The connection.
        conn: ConnectionId,
        /// The new attachment; empty clears it.
        data: Vec<u8>,
    },
    /// Set (or replace) the app's timer `key`: [`Plugin::on_timer`](crate::Plugin::on_timer)
    /// runs when it is due.
    SetTimer {
        /// The timer's name.
        key: String,
        /// Milliseconds until it is due (at least 10 by default).
        delay_ms: u64,
        /// Due again every this many milliseconds, until cancelled.
        repeat_ms: Option<u64>,
        /// Handed back to `on_timer`.
        data: Vec<u8>,
    },
    /// Cancel the timer `key`.
    CancelTimer {
        /// The timer's name.
        key: String,
    },
}

impl Command {
    /// Send `text` to `conn`.
    pub fn send(conn: impl Into<ConnectionId>, text: impl Into<String>) -> Self {
        Self::Send {
            conn: conn.into(),
            payload: Payload::Text(text.into()),
        }
    }

    /// Send the bytes `data` to `conn` as a binary message.
    pub fn send_binary(conn: impl Into<ConnectionId>, data: impl Into<Vec<u8>>) -> Self {
        Self::Send {
            conn: conn.into(),
            payload: Payload::Binary(data.into()),
        }
    }

    /// Send `text` to every connection of the app.
    pub fn broadcast(text: impl Into<String>) -> Self {
        Self::Broadcast {
            payload: Payload::Text(text.into()),
            except: Vec::new(),
        }
    }

    /// Send `text` to every connection of the app but `except`.
    pub fn broadcast_except(text: impl Into<String>, except: impl Into<ConnectionId>) -> Self {
        Self::Broadcast {
            payload: Payload::Text(text.into()),
            except: vec![except.into()],
        }
    }

    /// Send `data` as a binary message to every connection of the app.
    pub fn broadcast_binary(data: impl Into<Vec<u8>>) -> Self {
        Self::Broadcast {
            payload: Payload::Binary(data.into()),
            except: Vec::new(),
        }
    }

    /// Send `data` as a binary message to every connection of the app but `except`.
    pub fn broadcast_binary_except(
        data: impl Into<Vec<u8>>,
        except: impl Into<ConnectionId>,
    ) -> Self {
        Self::Broadcast {
            payload: Payload::Binary(data.into()),
            except: vec![except.into()],
        }
    }

    /// Send `message` (text, or binary from a `Vec<u8>`) to every member of `room`.
    pub fn publish(room: impl Into<String>, message: impl Into<Payload>) -> Self {
        Self::Publish {
            room: room.into(),
            payload: message.into(),
            except: Vec::new(),
        }
    }

    /// Send `message` to every member of `room` but `except`.
    pub fn publish_except(
        room: impl Into<String>,
        message: impl Into<Payload>,
        except: impl Into<ConnectionId>,
    ) -> Self {
        Self::Publish {
            room: room.into(),
            payload: message.into(),
            except: vec![except.into()],
        }
    }

    /// Close `conn` with `code` (see [`close_code`]) and `reason`.
    pub fn close(conn: impl Into<ConnectionId>, code: u16, reason: impl Into<String>) -> Self {
        Self::Close {
            conn: conn.into(),
            code,
            reason: reason.into(),
        }
    }

    /// Put `conn` in `room`.
    pub fn join(conn: impl Into<ConnectionId>, room: impl Into<String>) -> Self {
        Self::Join {
            conn: conn.into(),
            room: room.into(),
        }
    }

    /// Take `conn` out of `room`.
    pub fn leave(conn: impl Into<ConnectionId>, room: impl Into<String>) -> Self {
        Self::Leave {
            conn: conn.into(),
            room: room.into(),
        }
    }

    /// Send `message` to every connection of `user`.
    pub fn send_user(user: impl Into<String>, message: impl Into<Payload>) -> Self {
        Self::SendUser {
            user: user.into(),
            payload: message.into(),
        }
    }

    /// Close every connection of `user` with `code` and `reason`.
    pub fn close_user(user: impl Into<String>, code: u16, reason: impl Into<String>) -> Self {
        Self::CloseUser {
            user: user.into(),
            code,
            reason: reason.into(),
        }
    }

    /// Replace `conn`'s attachment with `data` (empty clears it).
    pub fn set_attachment(conn: impl Into<ConnectionId>, data: impl Into<Vec<u8>>) -> Self {
        Self::SetAttachment {
            conn: conn.into(),
            data: data.into(),
        }
    }

    /// Set timer `key`, due once in `delay_ms` milliseconds, with `data`.
    pub fn set_timer(key: impl Into<String>, delay_ms: u64, data: impl Into<Vec<u8>>) -> Self {
        Self::SetTimer {
            key: key.into(),
            delay_ms,
            repeat_ms: None,
            data: data.into(),
        }
    }

    /// Set timer `key`, due every `every_ms` milliseconds (the first time in
    /// `every_ms`), with `data`.
    pub fn repeat_timer(key: impl Into<String>, every_ms: u64, data: impl Into<Vec<u8>>) -> Self {
        Self::SetTimer {
            key: key.into(),
            delay_ms: every_ms,
            repeat_ms: Some(every_ms),
            data: data.into(),
        }
    }

    /// Cancel timer `key`.
    pub fn cancel_timer(key: impl Into<String>) -> Self {
        Self::CancelTimer { key: key.into() }
    }
}

fn ids(list: Vec<ConnectionId>) -> Vec<u64> {
    list.into_iter().map(|c| c.0).collect()
}

impl From<Payload> for wit::Payload {
    fn from(p: Payload) -> Self {
        match p {
            Payload::Text(t) => Self::Text(t),
            Payload::Binary(d) => Self::Binary(d),
        }
    }
}

impl From<Command> for wit::Command {
    fn from(c: Command) -> Self {
        match c {
            Command::Send { conn, payload } => Self::Send(wit::Send {
                conn: conn.0,
                payload: payload.into(),
            }),
            Command::Broadcast { payload, except } => Self::Broadcast(wit::Broadcast {
                payload: payload.into(),
                except: ids(except),
            }),
            Command::Publish {
                room,
                payload,
                except,
            } => Self::Publish(wit::Publish {
                room,
                payload: payload.into(),
                except: ids(except),
            }),
            Command::Close { conn, code, reason } => Self::Close(wit::CloseConnection {
                conn: conn.0,
                code,
                reason,
            }),
            Command::Join { conn, room } => Self::Join(wit::Membership { conn: conn.0, room }),
            Command::Leave { conn, room } => Self::Leave(wit::Membership { conn: conn.0, room }),
            Command::SendUser { user, payload } => Self::SendUser(wit::SendUser {
                user,
                payload: payload.into(),
            }),
            Command::CloseUser { user, code, reason } => {
                Self::CloseUser(wit::CloseUser { user, code, reason })
            }
            Command::SetAttachment { conn, data } => {
                Self::SetAttachment(wit::SetAttachment { conn: conn.0, data })
            }
            Command::SetTimer {
                key,
                delay_ms,
                repeat_ms,
                data,
            } => Self::SetTimer(wit::SetTimer {
                key,
                delay_ms,
                repeat_ms,
                data,
            }),
            Command::CancelTimer { key } => Self::CancelTimer(key),
        }
    }
}

/// Close codes a plugin may send (RFC 6455 §7.4.1 and the IANA registry), plus the
/// ranges for applications.
pub mod close_code {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: the server is going away (shutdown, restart).
    pub const GOING_AWAY: u16 = 1001;
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// 1003: the peer sent a kind of data the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// 1007: a message's data was not consistent with its type.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// 1008: the peer violated a policy (authentication, rate limits).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: u16 = 1012;
    /// 1013: try again later (temporary overload).
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// First code of the range for libraries and frameworks (3000-3999).
    pub const FRAMEWORK_MIN: u16 = 3000;
    /// First code of the private range for applications (4000-4999).
    pub const PRIVATE_MIN: u16 = 4000;
    /// Last code of the private range for applications.
    pub const PRIVATE_MAX: u16 = 4999;
}
