//! The command interpreter: what a hook returned, run in order against the app's
//! registry and timers, each command checked against the app's limits first. A
//! command over a limit is refused with a warning naming the connection and the
//! limit, and counted; it never stops the commands after it.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::registry::Registry;
use super::stats::AppStats;
use super::timers::Timers;
use crate::bus::Link;
use crate::close;
use crate::config::Limits;
use crate::directory::JoinRefused;
use crate::model::{Command, ConnId};

/// The longest timer key, in bytes.
pub(crate) const MAX_TIMER_KEY_BYTES: usize = 256;

/// A command refused for a limit: which, for the log and the counter.
fn refuse(stats: &AppStats, conn: Option<ConnId>, limit: &str, what: &str) {
    stats.command_refused();
    tracing::warn!(
        conn,
        limit,
        "refused a command over the app's limits: {what}"
    );
}

/// A close code a server may send (others become 1011, with a warning), and the
/// reason cut to what a close frame holds.
fn close_args(conn: Option<ConnId>, code: u16, reason: &str) -> (u16, &str) {
    let code = if close::server_may_send(code) {
        code
    } else {
        tracing::warn!(
            conn,
            "plugin asked for close code {code} which a server may not send; sending {} instead",
            close::FALLBACK_CODE
        );
        close::FALLBACK_CODE
    };
    if reason.len() > close::MAX_REASON_BYTES {
        tracing::warn!(conn, "close reason longer than 123 bytes; cut");
    }
    (code, close::truncate_reason(reason))
}

/// Whether `room` is a name a command may use; if not, refuses the command.
fn room_ok(room: &str, conn: Option<ConnId>, limits: &Limits, stats: &AppStats) -> bool {
    if room.is_empty() || room.len() > limits.max_room_name_bytes {
        refuse(
            stats,
            conn,
            "max_room_name_bytes",
            &format!(
                "a room name of {} bytes (1 to {} allowed)",
                room.len(),
                limits.max_room_name_bytes
            ),
        );
        return false;
    }
    true
}

impl Registry {
    /// Runs a hook's commands, in order (a `publish` after a `join` in the same
    /// list reaches the new member). When clustered, what is for other nodes goes
    /// to them as well (see [`forward`]).
    pub(crate) fn execute(
        &mut self,
        commands: impl IntoIterator<Item = Command>,
        limits: &Limits,
        stats: &AppStats,
        timers: &mut Timers,
    ) {
        for command in commands {
            if let Some(link) = &self.cluster
                && !forward(link, &command, limits)
            {
                continue;
            }
            self.run(command, limits, stats, timers);
        }
        let (rooms, memberships) = self.dir.counts();
        stats.set_rooms(rooms, memberships);
    }

    /// Runs a command another node sent, against this node's connections only (no
    /// timers: those stay on the node that set them).
    pub(crate) fn execute_remote(
        &mut self,
        command: Command,
        limits: &Limits,
        stats: &AppStats,
        timers: &mut Timers,
    ) {
        if matches!(
            command,
            Command::SetTimer { .. } | Command::CancelTimer { .. }
        ) {
            return;
        }
        self.run(command, limits, stats, timers);
        let (rooms, memberships) = self.dir.counts();
        stats.set_rooms(rooms, memberships);
    }

    fn run(&mut self, command: Command, limits: &Limits, stats: &AppStats, timers: &mut Timers) {
        match command {
            Command::Send { conn, payload } => {
                self.send(conn, payload.into_message(), limits, stats);
            }
            Command::Broadcast { payload, except } => {
                self.broadcast(&payload.into_message(), &except, limits, stats);
            }
            Command::Publish {
                room,
                payload,
                except,
            } => {
                if room_ok(&room, None, limits, stats) {
                    self.publish(&room, &payload.into_message(), &except, limits, stats);
                }
            }
            Command::Close { conn, code, reason } => {
                let (code, reason) = close_args(Some(conn), code, &reason);
                self.close(conn, code, reason);
            }
            Command::Join { conn, room } => {
                if !room_ok(&room, Some(conn), limits, stats) {
                    return;
                }
                match self.dir.join(conn, &room, limits.max_rooms_per_connection) {
                    Ok(()) => {}
                    Err(JoinRefused::Gone) => {
                        stats.command_dropped();
                        tracing::debug!(conn, "dropped a join of a connection that is gone");
                    }
                    Err(JoinRefused::TooManyRooms) => refuse(
                        stats,
                        Some(conn),
                        "max_rooms_per_connection",
                        &format!(
                            "a join of room {room:?}: the connection is in {} rooms already",
                            limits.max_rooms_per_connection
                        ),
                    ),
                }
            }
            Command::Leave { conn, room } => self.dir.leave(conn, &room),
            Command::SendUser { user, payload } => {
                let message = payload.into_message();
                let conns: Vec<ConnId> = self.dir.user_connections(&user).collect();
                for conn in conns {
                    self.send(conn, message.clone(), limits, stats);
                }
            }
            Command::CloseUser { user, code, reason } => {
                let (code, reason) = close_args(None, code, &reason);
                let conns: Vec<ConnId> = self.dir.user_connections(&user).collect();
                for conn in conns {
                    self.close(conn, code, reason);
                }
            }
            Command::SetAttachment { conn, data } => {
                self.set_attachment(conn, data, limits, stats);
            }
            Command::SetTimer {
                key,
                delay_ms,
                repeat_ms,
                data,
            } => set_timer(timers, &key, delay_ms, repeat_ms, data, limits, stats),
            Command::CancelTimer { key } => {
                timers.cancel(&key);
            }
        }
    }

    /// Replaces `conn`'s attachment, within `max_attachment_bytes`.
    pub(crate) fn set_attachment(
        &mut self,
        conn: ConnId,
        data: Bytes,
        limits: &Limits,
        stats: &AppStats,
    ) {
        if data.len() > limits.max_attachment_bytes {
            refuse(
                stats,
                Some(conn),
                "max_attachment_bytes",
                &format!(
                    "an attachment of {} bytes (at most {})",
                    data.len(),
                    limits.max_attachment_bytes
                ),
            );
        } else if !self.dir.set_attachment(conn, data) {
            stats.command_dropped();
        }
    }
}

/// Sends `command` to the other nodes it concerns; says whether it is for this
/// node's connections too. A command for one connection goes to that connection's
/// node only; a broadcast and a user's send or close go to every node; a publish to
/// the nodes with members in the room.
fn forward(link: &Link, command: &Command, limits: &Limits) -> bool {
    match command {
        Command::Send { conn, .. }
        | Command::Close { conn, .. }
        | Command::Join { conn, .. }
        | Command::Leave { conn, .. }
        | Command::SetAttachment { conn, .. }
            if link.is_remote(*conn) =>
        {
            link.to_node_of(*conn, command);
            false
        }
        Command::Broadcast { .. } | Command::SendUser { .. } | Command::CloseUser { .. } => {
            link.to_app(command);
            true
        }
        Command::Publish { room, .. } => {
            // A bad name is refused (and counted) by the local run.
            if !room.is_empty() && room.len() <= limits.max_room_name_bytes {
                link.to_room(room, command);
            }
            true
        }
        _ => true,
    }
}

/// Sets a timer, within `max_timers`, `min_timer_ms` and the key and data bounds.
fn set_timer(
    timers: &mut Timers,
    key: &str,
    delay_ms: u64,
    repeat_ms: Option<u64>,
    data: Bytes,
    limits: &Limits,
    stats: &AppStats,
) {
    let min = u64::try_from(limits.min_timer.as_millis()).unwrap_or(u64::MAX);
    let refused = if key.is_empty() || key.len() > MAX_TIMER_KEY_BYTES {
        Some((
            "timer key",
            format!(
                "a timer key of {} bytes (1 to {MAX_TIMER_KEY_BYTES})",
                key.len()
            ),
        ))
    } else if delay_ms < min || repeat_ms.is_some_and(|r| r < min) {
        Some((
            "min_timer_ms",
            format!("timer {key:?} of {delay_ms} ms (repeat {repeat_ms:?}); at least {min} ms"),
        ))
    } else if !timers.contains(key) && timers.len() >= limits.max_timers {
        Some((
            "max_timers",
            format!("timer {key:?}: {} are set already", limits.max_timers),
        ))
    } else if data.len() > limits.max_attachment_bytes {
        Some((
            "max_attachment_bytes",
            format!("timer {key:?} with {} bytes of data", data.len()),
        ))
    } else {
        None
    };
    if let Some((limit, what)) = refused {
        refuse(stats, None, limit, &what);
        return;
    }
    let due = Instant::now() + Duration::from_millis(delay_ms);
    timers.set(key, due, repeat_ms.map(Duration::from_millis), data);
    stats.timer_set();
}
