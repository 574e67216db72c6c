//! Reads of what the gateway holds for this app on this node: rooms, users,
//! connections. They answer at once (a hook never waits on anything).
//!
//! Natively (in unit tests) they answer from an in-memory stand-in, filled by
//! [`testing`]: feed it the commands a hook returned and the reads follow, so a
//! plugin tests without a gateway.

use crate::event::ConnectionId;

/// What the gateway knows of a connection now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The request path.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The client's address, `ip:port`.
    pub remote_addr: String,
    /// The subprotocol selected at the handshake.
    pub subprotocol: Option<String>,
    /// The connection's user.
    pub user: Option<String>,
    /// Its attachment.
    pub attachment: Vec<u8>,
    /// When it opened, in milliseconds since the Unix epoch.
    pub connected_at_ms: u64,
    /// Bytes queued for it and not yet written (a browser's `bufferedAmount`).
    pub buffered_bytes: u64,
    /// False once a close frame is queued for it.
    pub open: bool,
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::ConnectionInfo;
    use crate::bindings::bindings::wsgate::plugin::host;
    use crate::event::ConnectionId;

    pub(super) fn room_size(room: &str) -> u32 {
        crate::batch::commit_pending::<crate::batch::Imports>();
        host::room_size(room)
    }

    pub(super) fn room_members(room: &str) -> Vec<ConnectionId> {
        crate::batch::commit_pending::<crate::batch::Imports>();
        host::room_members(room)
            .into_iter()
            .map(ConnectionId)
            .collect()
    }

    pub(super) fn rooms_of(conn: ConnectionId) -> Vec<String> {
        crate::batch::commit_pending::<crate::batch::Imports>();
        host::rooms_of(conn.0)
    }

    pub(super) fn user_connections(user: &str) -> Vec<ConnectionId> {
        crate::batch::commit_pending::<crate::batch::Imports>();
        host::user_connections(user)
            .into_iter()
            .map(ConnectionId)
            .collect()
    }

    pub(super) fn connection_info(conn: ConnectionId) -> Option<ConnectionInfo> {
        crate::batch::commit_pending::<crate::batch::Imports>();
        host::connection_info(conn.0).map(|i| ConnectionInfo {
            path: i.path,
            query: i.query,
            remote_addr: i.remote_addr,
            subprotocol: i.subprotocol,
            user: i.user,
            attachment: i.attachment,
            connected_at_ms: i.connected_at_ms,
            buffered_bytes: i.buffered_bytes,
            open: i.open,
        })
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub(super) use super::testing::{
        connection_info, room_members, room_size, rooms_of, user_connections,
    };
}

/// How many connections are in `room`.
pub fn room_size(room: &str) -> u32 {
    imp::room_size(room)
}

/// The connections in `room`.
pub fn room_members(room: &str) -> Vec<ConnectionId> {
    imp::room_members(room)
}

/// The rooms `conn` is in.
pub fn rooms_of(conn: impl Into<ConnectionId>) -> Vec<String> {
    imp::rooms_of(conn.into())
}

/// The open connections of `user`.
pub fn user_connections(user: &str) -> Vec<ConnectionId> {
    imp::user_connections(user)
}

/// What the gateway knows of `conn`; `None` if it is gone or of another app.
pub fn connection_info(conn: impl Into<ConnectionId>) -> Option<ConnectionInfo> {
    imp::connection_info(conn.into())
}

/// The in-memory stand-in for the gateway that the reads answer from in native
/// builds (unit tests). Each test thread has its own.
///
/// ```
/// use wsgate_plugin::{Command, Conn, host, testing};
/// testing::reset();
/// let alice = Conn::new(1).with_user("alice");
/// testing::connect(&alice);
/// testing::apply(&[Command::join(&alice, "lobby")]);
/// assert_eq!(host::room_size("lobby"), 1);
/// assert_eq!(host::user_connections("alice"), [alice.id]);
/// testing::disconnect(&alice);
/// assert_eq!(host::room_size("lobby"), 0);
/// ```
#[cfg(not(target_arch = "wasm32"))]
pub mod testing {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    use super::ConnectionInfo;
    use crate::command::Command;
    use crate::event::{Conn, ConnectionId};

    #[derive(Default)]
    struct Fake {
        conns: BTreeMap<u64, (ConnectionInfo, BTreeSet<String>)>,
        rooms: BTreeMap<String, BTreeSet<u64>>,
    }

    thread_local! {
        static FAKE: RefCell<Fake> = RefCell::new(Fake::default());
    }

    fn with<R>(f: impl FnOnce(&mut Fake) -> R) -> R {
        FAKE.with(|fake| f(&mut fake.borrow_mut()))
    }

    /// Forgets every connection and room.
    pub fn reset() {
        with(|f| *f = Fake::default());
    }

    /// A connection opens, with its user and attachment.
    pub fn connect(conn: &Conn) {
        with(|f| {
            let info = ConnectionInfo {
                user: conn.user.clone(),
                attachment: conn.attachment.clone(),
                open: true,
                ..ConnectionInfo::default()
            };
            f.conns.insert(conn.id.0, (info, BTreeSet::new()));
        });
    }

    /// A connection closes: it leaves its rooms.
    pub fn disconnect(conn: impl Into<ConnectionId>) {
        let id = conn.into().0;
        with(|f| {
            if let Some((_, rooms)) = f.conns.remove(&id) {
                for room in rooms {
                    if let Some(members) = f.rooms.get_mut(&room) {
                        members.remove(&id);
                    }
                }
            }
            f.rooms.retain(|_, m| !m.is_empty());
        });
    }

    /// Carries out what `commands` change of the gateway's state: joins, leaves,
    /// attachments and closes (messages are the test's to compare).
    pub fn apply(commands: &[Command]) {
        for command in commands {
            match command {
                Command::Join { conn, room } => with(|f| {
                    if let Some((_, rooms)) = f.conns.get_mut(&conn.0) {
                        rooms.insert(room.clone());
                        f.rooms.entry(room.clone()).or_default().insert(conn.0);
                    }
                }),
                Command::Leave { conn, room } => with(|f| {
                    if let Some((_, rooms)) = f.conns.get_mut(&conn.0) {
                        rooms.remove(room);
                    }
                    if let Some(members) = f.rooms.get_mut(room) {
                        members.remove(&conn.0);
                    }
                    f.rooms.retain(|_, m| !m.is_empty());
                }),
                Command::SetAttachment { conn, data } => with(|f| {
                    if let Some((info, _)) = f.conns.get_mut(&conn.0) {
                        info.attachment.clone_from(data);
                    }
                }),
                Command::Close { conn, .. } => with(|f| {
                    if let Some((info, _)) = f.conns.get_mut(&conn.0) {
                        info.open = false;
                    }
                }),
                _ => {}
            }
        }
    }

    /// The connection as the gateway would hand it to a hook now (its attachment
    /// as last set).
    pub fn conn(id: u64) -> Conn {
        with(|f| match f.conns.get(&id) {
            Some((info, _)) => Conn {
                id: ConnectionId(id),
                user: info.user.clone(),
                attachment: info.attachment.clone(),
            },
            None => Conn::new(id),
        })
    }

    pub(crate) fn room_size(room: &str) -> u32 {
        with(|f| f.rooms.get(room).map_or(0, |m| m.len() as u32))
    }

    pub(crate) fn room_members(room: &str) -> Vec<ConnectionId> {
        with(|f| {
            f.rooms
                .get(room)
                .map(|m| m.iter().copied().map(ConnectionId).collect())
                .unwrap_or_default()
        })
    }

    pub(crate) fn rooms_of(conn: ConnectionId) -> Vec<String> {
        with(|f| {
            f.conns
                .get(&conn.0)
                .map(|(_, r)| r.iter().cloned().collect())
                .unwrap_or_default()
        })
    }

    pub(crate) fn user_connections(user: &str) -> Vec<ConnectionId> {
        with(|f| {
            f.conns
                .iter()
                .filter(|(_, (info, _))| info.user.as_deref() == Some(user))
                .map(|(id, _)| ConnectionId(*id))
                .collect()
        })
    }

    pub(crate) fn connection_info(conn: ConnectionId) -> Option<ConnectionInfo> {
        with(|f| f.conns.get(&conn.0).map(|(info, _)| info.clone()))
    }
}
