//! The host's own types ([`crate::model`]) to and from the bindings of contract
//! 0.2.0.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::model::{
    AcceptDecision, Command, ConnectionError, ConnectionInfo, ErrorKind, Payload, Request,
};
use crate::plugin::bindings::v0_2::types;

impl From<types::AcceptDecision> for AcceptDecision {
    fn from(d: types::AcceptDecision) -> Self {
        match d {
            types::AcceptDecision::Allow(allow) => Self::Allow {
                subprotocol: allow.subprotocol,
                user: allow.user,
                attachment: Bytes::from(allow.attachment),
                rooms: allow.rooms,
            },
            types::AcceptDecision::Deny(deny) => Self::Deny {
                status: deny.status,
                reason: deny.reason,
            },
        }
    }
}

fn kind(kind: ErrorKind) -> types::ErrorKind {
    match kind {
        ErrorKind::Protocol => types::ErrorKind::Protocol,
        ErrorKind::InvalidUtf8 => types::ErrorKind::InvalidUtf8,
        ErrorKind::MessageTooBig => types::ErrorKind::MessageTooBig,
        ErrorKind::Io => types::ErrorKind::Io,
        ErrorKind::Timeout => types::ErrorKind::Timeout,
        ErrorKind::SlowConsumer => types::ErrorKind::SlowConsumer,
    }
}

/// The error as events show it.
pub(crate) fn error(e: &ConnectionError) -> types::ConnectionError<'_> {
    types::ConnectionError {
        kind: kind(e.kind),
        message: &e.message,
    }
}

/// The handshake request as `on-accept` sees it; borrows `r` and `lists`, its
/// headers and subprotocols as the bindings want them (see [`request_lists`]).
pub(crate) fn request<'a>(r: &'a Request, lists: &'a RequestLists<'a>) -> types::Request<'a> {
    types::Request {
        path: &r.path,
        query: &r.query,
        headers: &lists.0,
        remote_addr: &r.remote_addr,
        subprotocols: &lists.1,
    }
}

/// A request's header pairs and subprotocols, borrowed.
pub(crate) type RequestLists<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>);

/// The header pairs and subprotocols of `r`, borrowed (once per handshake).
pub(crate) fn request_lists(r: &Request) -> RequestLists<'_> {
    let headers = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let subprotocols = r.subprotocols.iter().map(String::as_str).collect();
    (headers, subprotocols)
}

fn payload(p: types::Payload) -> Payload {
    match p {
        types::Payload::Text(t) => Payload::Text(Utf8Bytes::from(t)),
        types::Payload::Binary(d) => Payload::Binary(Bytes::from(d)),
    }
}

impl From<types::Command> for Command {
    fn from(c: types::Command) -> Self {
        match c {
            types::Command::Send(c) => Self::Send {
                conn: c.conn,
                payload: payload(c.payload),
            },
            types::Command::Broadcast(c) => Self::Broadcast {
                payload: payload(c.payload),
                except: c.except,
            },
            types::Command::Publish(c) => Self::Publish {
                room: c.room,
                payload: payload(c.payload),
                except: c.except,
            },
            types::Command::Close(c) => Self::Close {
                conn: c.conn,
                code: c.code,
                reason: c.reason,
            },
            types::Command::Join(m) => Self::Join {
                conn: m.conn,
                room: m.room,
            },
            types::Command::Leave(m) => Self::Leave {
                conn: m.conn,
                room: m.room,
            },
            types::Command::SendUser(c) => Self::SendUser {
                user: c.user,
                payload: payload(c.payload),
            },
            types::Command::CloseUser(c) => Self::CloseUser {
                user: c.user,
                code: c.code,
                reason: c.reason,
            },
            types::Command::SetAttachment(c) => Self::SetAttachment {
                conn: c.conn,
                data: Bytes::from(c.data),
            },
            types::Command::SetTimer(t) => Self::SetTimer {
                key: t.key,
                delay_ms: t.delay_ms,
                repeat_ms: t.repeat_ms,
                data: Bytes::from(t.data),
            },
            types::Command::CancelTimer(key) => Self::CancelTimer { key },
        }
    }
}

impl From<ConnectionInfo> for types::ConnectionDetails {
    fn from(i: ConnectionInfo) -> Self {
        Self {
            path: i.path,
            query: i.query,
            remote_addr: i.remote_addr,
            subprotocol: i.subprotocol,
            user: i.user,
            attachment: i.attachment.to_vec(),
            connected_at_ms: i.connected_at_ms,
            buffered_bytes: i.buffered_bytes,
            open: i.open,
        }
    }
}
