//! The host's own types ([`crate::model`]) to and from the bindings of contract
//! 0.1.0, at the plugin boundary: nothing above `plugin` sees a generated type.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::model::{AcceptDecision, Command, ConnectionError, ErrorKind, Payload, Request};
use crate::plugin::bindings::v0_1::types;

impl From<Request> for types::Request {
    fn from(r: Request) -> Self {
        Self {
            path: r.path,
            query: r.query,
            headers: r.headers,
            remote_addr: r.remote_addr,
            subprotocols: r.subprotocols,
        }
    }
}

impl From<types::AcceptDecision> for AcceptDecision {
    fn from(d: types::AcceptDecision) -> Self {
        match d {
            types::AcceptDecision::Allow(allow) => Self::Allow {
                subprotocol: allow.subprotocol,
                user: None,
                attachment: Bytes::new(),
                rooms: Vec::new(),
            },
            types::AcceptDecision::Deny(deny) => Self::Deny {
                status: deny.status,
                reason: deny.reason,
            },
        }
    }
}

impl From<&ConnectionError> for types::ConnectionError {
    fn from(e: &ConnectionError) -> Self {
        Self {
            kind: match e.kind {
                ErrorKind::Protocol => types::ErrorKind::Protocol,
                ErrorKind::InvalidUtf8 => types::ErrorKind::InvalidUtf8,
                ErrorKind::MessageTooBig => types::ErrorKind::MessageTooBig,
                ErrorKind::Io => types::ErrorKind::Io,
                ErrorKind::Timeout => types::ErrorKind::Timeout,
                ErrorKind::SlowConsumer => types::ErrorKind::SlowConsumer,
            },
            message: e.message.clone(),
        }
    }
}

impl From<types::Command> for Command {
    fn from(c: types::Command) -> Self {
        let text = |t: String| Payload::Text(Utf8Bytes::from(t));
        let binary = |d: Vec<u8>| Payload::Binary(Bytes::from(d));
        match c {
            types::Command::Send(c) => Self::Send {
                conn: c.conn,
                payload: text(c.text),
            },
            types::Command::SendBinary(c) => Self::Send {
                conn: c.conn,
                payload: binary(c.data),
            },
            types::Command::Broadcast(c) => Self::Broadcast {
                payload: text(c.text),
                except: c.except.into_iter().collect(),
            },
            types::Command::BroadcastBinary(c) => Self::Broadcast {
                payload: binary(c.data),
                except: c.except.into_iter().collect(),
            },
            types::Command::Close(c) => Self::Close {
                conn: c.conn,
                code: c.code,
                reason: c.reason,
            },
        }
    }
}
