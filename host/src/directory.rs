//! What the host holds of an app's connections, beside their sockets: each one's
//! user, attachment, rooms and handshake facts, and the rooms and users indexed the
//! other way. It outlives every plugin instance (hot reloads, traps); the app's actor
//! owns it, and lends it to the plugin's store for the length of a hook call so that
//! the host imports (`room-size`, `connection-info`, …) read it without a lock.
//!
//! Joining and leaving a room are O(1); a connection leaving its 64 rooms touches
//! those 64 rooms only. At the bottom of the house: it imports only `model`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use rustc_hash::FxBuildHasher;

use crate::model::{ConnId, ConnectionInfo};

/// How many bytes are waiting for a connection (its outbound queue).
pub(crate) trait Buffered: Send + Sync {
    /// Bytes queued and not yet written to the socket.
    fn buffered(&self) -> usize;
}

/// What the handshake left of a connection, for `connection-info`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Handshake {
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) remote_addr: Option<std::net::SocketAddr>,
    pub(crate) subprotocol: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub(crate) connected_at_ms: u64,
}

/// One connection of the app.
pub(crate) struct Member {
    pub(crate) user: Option<Arc<str>>,
    pub(crate) attachment: Bytes,
    rooms: Vec<Arc<str>>,
    handshake: Box<Handshake>,
    closing: bool,
    buffered: Arc<dyn Buffered>,
}

impl Member {
    /// A connection of `user` with `attachment`, in no room yet.
    pub(crate) fn new(
        user: Option<Arc<str>>,
        attachment: Bytes,
        handshake: Handshake,
        buffered: Arc<dyn Buffered>,
    ) -> Self {
        Self {
            user,
            attachment,
            rooms: Vec::new(),
            handshake: Box::new(handshake),
            closing: false,
            buffered,
        }
    }
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinRefused {
    /// The connection is gone.
    Gone,
    /// It is in `max_rooms_per_connection` rooms already.
    TooManyRooms,
}

/// The app's connections, rooms and users.
#[derive(Default)]
pub(crate) struct Directory {
    conns: HashMap<ConnId, Member, FxBuildHasher>,
    rooms: HashMap<Arc<str>, HashSet<ConnId, FxBuildHasher>>,
    users: HashMap<Arc<str>, HashSet<ConnId, FxBuildHasher>>,
    memberships: usize,
    /// Rooms whose size changed since [`Directory::take_changed`], when tracked (a
    /// clustered node tells Redis of them).
    changed: Option<HashSet<Arc<str>, FxBuildHasher>>,
}

impl Directory {
    /// Records from now on which rooms change size (see [`Directory::take_changed`]).
    pub(crate) fn track_changes(&mut self) {
        self.changed.get_or_insert_with(HashSet::default);
    }

    /// The rooms whose size changed since the last call (none when not tracked).
    pub(crate) fn take_changed(&mut self) -> Vec<Arc<str>> {
        self.changed
            .as_mut()
            .map(|changed| changed.drain().collect())
            .unwrap_or_default()
    }

    fn changed(&mut self, room: &Arc<str>) {
        if let Some(changed) = &mut self.changed {
            changed.insert(room.clone());
        }
    }

    /// Adds a connection that completed its handshake.
    pub(crate) fn insert(&mut self, conn: ConnId, member: Member) {
        if let Some(user) = &member.user {
            self.users.entry(user.clone()).or_default().insert(conn);
        }
        self.conns.insert(conn, member);
    }

    /// Forgets a closed connection: it leaves its rooms and its user's set.
    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<Member> {
        let member = self.conns.remove(&conn)?;
        for room in &member.rooms {
            self.drop_member(room, conn);
        }
        if let Some(user) = &member.user
            && let Some(set) = self.users.get_mut(user)
        {
            set.remove(&conn);
            if set.is_empty() {
                self.users.remove(user);
            }
        }
        Some(member)
    }

    fn drop_member(&mut self, room: &Arc<str>, conn: ConnId) {
        if let Some(members) = self.rooms.get_mut(room)
            && members.remove(&conn)
        {
            self.memberships -= 1;
            if members.is_empty() {
                self.rooms.remove(room);
            }
            self.changed(room);
        }
    }

    /// The connection's user and attachment.
    pub(crate) fn member(&self, conn: ConnId) -> Option<&Member> {
        self.conns.get(&conn)
    }

    /// Puts `conn` in `room` (nothing if it is there already).
    pub(crate) fn join(
        &mut self,
        conn: ConnId,
        room: &str,
        max_rooms: usize,
    ) -> Result<(), JoinRefused> {
        let member = self.conns.get_mut(&conn).ok_or(JoinRefused::Gone)?;
        if member.rooms.iter().any(|r| &**r == room) {
            return Ok(());
        }
        if member.rooms.len() >= max_rooms {
            return Err(JoinRefused::TooManyRooms);
        }
        let name = match self.rooms.get_key_value(room) {
            Some((name, _)) => name.clone(),
            None => Arc::from(room),
        };
        member.rooms.push(name.clone());
        self.changed(&name);
        self.rooms.entry(name).or_default().insert(conn);
        self.memberships += 1;
        Ok(())
    }

    /// Takes `conn` out of `room` (nothing if it is not there).
    pub(crate) fn leave(&mut self, conn: ConnId, room: &str) {
        let Some(member) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(at) = member.rooms.iter().position(|r| &**r == room) else {
            return;
        };
        let name = member.rooms.swap_remove(at);
        self.drop_member(&name, conn);
    }

    /// The members of `room`.
    pub(crate) fn members(&self, room: &str) -> impl Iterator<Item = ConnId> + '_ {
        self.rooms.get(room).into_iter().flatten().copied()
    }

    /// How many connections are in `room`.
    pub(crate) fn room_size(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, HashSet::len)
    }

    /// The rooms of `conn`.
    pub(crate) fn rooms_of(&self, conn: ConnId) -> Vec<String> {
        self.conns.get(&conn).map_or_else(Vec::new, |m| {
            m.rooms.iter().map(|r| r.to_string()).collect()
        })
    }

    /// The connections of `user`.
    pub(crate) fn user_connections(&self, user: &str) -> impl Iterator<Item = ConnId> + '_ {
        self.users.get(user).into_iter().flatten().copied()
    }

    /// Replaces the attachment of `conn`; false if it is gone.
    pub(crate) fn set_attachment(&mut self, conn: ConnId, data: Bytes) -> bool {
        match self.conns.get_mut(&conn) {
            Some(member) => {
                member.attachment = data;
                true
            }
            None => false,
        }
    }

    /// Marks `conn` closing (a close frame is queued): `connection-info` says so.
    pub(crate) fn mark_closing(&mut self, conn: ConnId) {
        if let Some(member) = self.conns.get_mut(&conn) {
            member.closing = true;
        }
    }

    /// What the host knows of `conn`.
    pub(crate) fn info(&self, conn: ConnId) -> Option<ConnectionInfo> {
        let m = self.conns.get(&conn)?;
        Some(ConnectionInfo {
            path: m.handshake.path.clone(),
            query: m.handshake.query.clone(),
            remote_addr: m
                .handshake
                .remote_addr
                .map(|a| a.to_string())
                .unwrap_or_default(),
            subprotocol: m.handshake.subprotocol.clone(),
            user: m.user.as_deref().map(str::to_owned),
            attachment: m.attachment.clone(),
            connected_at_ms: m.handshake.connected_at_ms,
            buffered_bytes: m.buffered.buffered() as u64,
            open: !m.closing,
        })
    }

    /// How many rooms have members, and how many memberships there are.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.rooms.len(), self.memberships)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Buffered for Nothing {
        fn buffered(&self) -> usize {
            7
        }
    }

    fn member(user: Option<&str>) -> Member {
        Member::new(
            user.map(Arc::from),
            Bytes::new(),
            Handshake::default(),
            Arc::new(Nothing),
        )
    }

    fn sorted(it: impl Iterator<Item = ConnId>) -> Vec<ConnId> {
        let mut v: Vec<_> = it.collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn members_join_and_leave_and_a_closed_connection_leaves_every_room() {
        let mut d = Directory::default();
        for c in 1..=3 {
            d.insert(c, member(None));
        }
        assert_eq!(d.join(1, "a", 64), Ok(()));
        assert_eq!(d.join(1, "a", 64), Ok(()), "joining twice is once");
        assert_eq!(d.join(2, "a", 64), Ok(()));
        assert_eq!(d.join(2, "b", 64), Ok(()));
        assert_eq!(d.join(9, "a", 64), Err(JoinRefused::Gone));
        assert_eq!(sorted(d.members("a")), [1, 2]);
        assert_eq!(d.counts(), (2, 3));
        d.leave(1, "a");
        d.leave(1, "a");
        assert_eq!(sorted(d.members("a")), [2]);
        assert!(d.remove(2).is_some());
        assert_eq!(d.room_size("a"), 0);
        assert_eq!(d.room_size("b"), 0);
        assert_eq!(d.counts(), (0, 0), "empty rooms are gone");
        assert!(d.rooms_of(2).is_empty());
    }

    #[test]
    fn tracked_changes_name_each_room_whose_size_moved_once() {
        let mut d = Directory::default();
        d.insert(1, member(None));
        d.insert(2, member(None));
        assert_eq!(d.join(1, "a", 64), Ok(()));
        assert!(d.take_changed().is_empty(), "not tracked yet");
        d.track_changes();
        assert_eq!(d.join(1, "a", 64), Ok(()), "already in: no change");
        assert!(d.take_changed().is_empty());
        assert_eq!(d.join(2, "a", 64), Ok(()));
        assert_eq!(d.join(2, "b", 64), Ok(()));
        d.leave(1, "a");
        let mut changed: Vec<String> = d.take_changed().iter().map(|r| r.to_string()).collect();
        changed.sort();
        assert_eq!(changed, ["a", "b"]);
        d.remove(2);
        let mut changed: Vec<String> = d.take_changed().iter().map(|r| r.to_string()).collect();
        changed.sort();
        assert_eq!(changed, ["a", "b"], "a closed connection leaves its rooms");
        assert!(d.take_changed().is_empty());
    }

    #[test]
    fn a_connection_in_its_room_limit_cannot_join_another() {
        let mut d = Directory::default();
        d.insert(1, member(None));
        for r in 0..3 {
            assert_eq!(d.join(1, &format!("r{r}"), 3), Ok(()));
        }
        assert_eq!(d.join(1, "r3", 3), Err(JoinRefused::TooManyRooms));
        assert_eq!(d.rooms_of(1).len(), 3);
    }

    #[test]
    fn users_index_their_connections_until_the_last_one_closes() {
        let mut d = Directory::default();
        d.insert(1, member(Some("alice")));
        d.insert(2, member(Some("alice")));
        d.insert(3, member(Some("bob")));
        assert_eq!(sorted(d.user_connections("alice")), [1, 2]);
        d.remove(1);
        assert_eq!(sorted(d.user_connections("alice")), [2]);
        d.remove(2);
        assert_eq!(d.user_connections("alice").count(), 0);
        assert_eq!(d.info(3).and_then(|i| i.user).as_deref(), Some("bob"));
        assert_eq!(d.info(3).map(|i| i.buffered_bytes), Some(7));
    }

    #[test]
    fn attachments_change_and_closing_shows_in_the_info() {
        let mut d = Directory::default();
        d.insert(1, member(None));
        assert!(d.set_attachment(1, Bytes::from_static(b"hi")));
        assert!(!d.set_attachment(2, Bytes::new()));
        assert_eq!(
            d.member(1).map(|m| m.attachment.clone()),
            Some(Bytes::from_static(b"hi"))
        );
        assert_eq!(d.info(1).map(|i| i.open), Some(true));
        d.mark_closing(1);
        assert_eq!(d.info(1).map(|i| i.open), Some(false));
    }
}
