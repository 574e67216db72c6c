//! [`Command`]: what a hook asks the gateway to do.

use crate::bindings::wit;
use crate::event::ConnectionId;

/// One thing a hook asks the gateway to do. Hooks return a list of them; the gateway
/// carries them out in order once the hook returns, against the connections of the
/// plugin's own app only (a command naming any other connection is dropped).
///
/// Build them with the constructors:
/// ```
/// use wsgate_plugin::{Command, ConnectionId, close_code};
/// let alice = ConnectionId(1);
/// let replies = vec![
///     Command::send(alice, "welcome"),
///     Command::broadcast_except("alice joined", alice),
///     Command::close(alice, close_code::NORMAL, "bye"),
/// ];
/// # assert_eq!(replies.len(), 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send a text message to one connection.
    Send {
        /// The receiver.
        conn: ConnectionId,
        /// The message.
        text: String,
    },
    /// Send a binary message to one connection.
    SendBinary {
        /// The receiver.
        conn: ConnectionId,
        /// The message.
        data: Vec<u8>,
    },
    /// Send a text message to every open connection of the app.
    Broadcast {
        /// The message.
        text: String,
        /// A connection to leave out, typically the sender.
        except: Option<ConnectionId>,
    },
    /// Send a binary message to every open connection of the app.
    BroadcastBinary {
        /// The message.
        data: Vec<u8>,
        /// A connection to leave out, typically the sender.
        except: Option<ConnectionId>,
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
}

impl Command {
    /// Send `text` to `conn`.
    pub fn send(conn: ConnectionId, text: impl Into<String>) -> Self {
        Self::Send {
            conn,
            text: text.into(),
        }
    }

    /// Send the bytes `data` to `conn` as a binary message.
    pub fn send_binary(conn: ConnectionId, data: impl Into<Vec<u8>>) -> Self {
        Self::SendBinary {
            conn,
            data: data.into(),
        }
    }

    /// Send `text` to every connection of the app.
    pub fn broadcast(text: impl Into<String>) -> Self {
        Self::Broadcast {
            text: text.into(),
            except: None,
        }
    }

    /// Send `text` to every connection of the app but `except`.
    pub fn broadcast_except(text: impl Into<String>, except: ConnectionId) -> Self {
        Self::Broadcast {
            text: text.into(),
            except: Some(except),
        }
    }

    /// Send `data` as a binary message to every connection of the app.
    pub fn broadcast_binary(data: impl Into<Vec<u8>>) -> Self {
        Self::BroadcastBinary {
            data: data.into(),
            except: None,
        }
    }

    /// Send `data` as a binary message to every connection of the app but `except`.
    pub fn broadcast_binary_except(data: impl Into<Vec<u8>>, except: ConnectionId) -> Self {
        Self::BroadcastBinary {
            data: data.into(),
            except: Some(except),
        }
    }

    /// Close `conn` with `code` (see [`close_code`]) and `reason`.
    pub fn close(conn: ConnectionId, code: u16, reason: impl Into<String>) -> Self {
        Self::Close {
            conn,
            code,
            reason: reason.into(),
        }
    }
}

impl From<Command> for wit::Command {
    fn from(c: Command) -> Self {
        match c {
            Command::Send { conn, text } => {
                wit::Command::Send(wit::SendText { conn: conn.0, text })
            }
            Command::SendBinary { conn, data } => {
                wit::Command::SendBinary(wit::SendBinary { conn: conn.0, data })
            }
            Command::Broadcast { text, except } => wit::Command::Broadcast(wit::BroadcastText {
                text,
                except: except.map(|c| c.0),
            }),
            Command::BroadcastBinary { data, except } => {
                wit::Command::BroadcastBinary(wit::BroadcastBinary {
                    data,
                    except: except.map(|c| c.0),
                })
            }
            Command::Close { conn, code, reason } => wit::Command::Close(wit::CloseConnection {
                conn: conn.0,
                code,
                reason,
            }),
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
