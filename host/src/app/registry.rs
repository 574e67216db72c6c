//! An app's open connections: their outbound queues, and the host-held
//! [`Directory`] of their users, attachments and rooms; sending, publishing and
//! closing against them (the commands are read in `commands`).
//!
//! The registry is owned by the app's actor: only this app's connections are in it, so
//! no command can reach another app's connection (it is "not found" here).

use std::collections::HashMap;

use rustc_hash::FxBuildHasher;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::Outbox;
use super::outbox::Full;
use super::stats::AppStats;
use crate::bus::Link;
use crate::close::SLOW_CONSUMER;
use crate::config::{Limits, SlowConsumer};
use crate::directory::{Directory, Member};
use crate::model::ConnId;

/// The traffic counter a message goes to, and its length.
fn flow_of<'a>(message: &Message, stats: &'a AppStats) -> (&'a crate::metrics::Flow, usize) {
    match message {
        Message::Binary(data) => (&stats.metrics.binary_out, data.len()),
        other => (&stats.metrics.text_out, other.len()),
    }
}

/// Queues `message` (its payload shared) for each of `receivers` that is not
/// closing, counts the traffic once for the lot, and returns those whose queue was
/// full (the caller applies the slow-consumer policy to them).
fn fan_out<'a>(
    receivers: impl Iterator<Item = (ConnId, &'a Entry)>,
    message: &Message,
    limits: &Limits,
    stats: &AppStats,
) -> Vec<ConnId> {
    let mut delivered = 0;
    let mut full = Vec::new();
    for (conn, entry) in receivers {
        if entry.closing {
            continue;
        }
        match entry
            .outbox
            .push(message.clone(), limits.outbound_queue_bytes)
        {
            Ok(()) => delivered += 1,
            Err(Full) => full.push(conn),
        }
    }
    let (flow, len) = flow_of(message, stats);
    flow.count_many(delivered, len);
    full
}

/// One open connection as the actor sees it.
struct Entry {
    outbox: Outbox,
    /// A close frame was queued: nothing more is sent.
    closing: bool,
}

/// The open connections of one app.
#[derive(Default)]
pub(crate) struct Registry {
    /// Keyed by connection id. The ids are the gateway's own counter, never a
    /// client's input, so a fast non-keyed hash is safe here (no flooding of one
    /// bucket is possible) and saves a SipHash per command.
    conns: HashMap<ConnId, Entry, FxBuildHasher>,
    /// Connections closed as slow consumers since the last [`Registry::take_overflows`].
    overflowed: Vec<ConnId>,
    /// Users, attachments, rooms: what the host holds of the connections.
    pub(crate) dir: Directory,
    /// The way to the other nodes' connections, when clustered.
    pub(crate) cluster: Option<Link>,
}

impl Registry {
    /// An empty registry; with `cluster`, commands for other nodes' connections,
    /// rooms and users go there too, and room sizes are reported to it.
    pub(crate) fn new(cluster: Option<Link>) -> Self {
        let mut registry = Self {
            cluster,
            ..Self::default()
        };
        if registry.cluster.is_some() {
            registry.dir.track_changes();
        }
        registry
    }

    /// Tells the cluster of the rooms whose size changed since the last call.
    pub(crate) fn report_rooms(&mut self) {
        if let Some(link) = &self.cluster {
            for room in self.dir.take_changed() {
                link.room_changed(&room, self.dir.room_size(&room));
            }
        }
    }

    /// Whether `conn` is a connection of another node of the cluster.
    pub(crate) fn is_remote(&self, conn: ConnId) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|link| link.is_remote(conn))
    }

    /// Adds a connection that completed its handshake.
    pub(crate) fn insert(&mut self, conn: ConnId, outbox: Outbox, member: Member) {
        self.conns.insert(
            conn,
            Entry {
                outbox,
                closing: false,
            },
        );
        self.dir.insert(conn, member);
    }

    /// Forgets a closed connection: it leaves its rooms; what the host held of it
    /// is returned (its `close` event still shows its user and attachment).
    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<Member> {
        self.conns.remove(&conn);
        self.dir.remove(conn)
    }

    /// Whether `conn` is open and not closing.
    pub(crate) fn is_open(&self, conn: u64) -> bool {
        self.conns.get(&conn).is_some_and(|e| !e.closing)
    }

    /// The ids of every connection.
    pub(crate) fn ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// Number of connections.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// The connections whose queues overflowed (and were closed) since the last call.
    pub(crate) fn take_overflows(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.overflowed)
    }

    /// Queues `message` for `conn`, if it is one of this app's open connections,
    /// applying the slow-consumer policy when its queue is full.
    pub(crate) fn send(&mut self, conn: u64, message: Message, limits: &Limits, stats: &AppStats) {
        match self.conns.get(&conn) {
            Some(entry) if !entry.closing => {
                let (flow, len) = flow_of(&message, stats);
                match entry.outbox.push(message, limits.outbound_queue_bytes) {
                    Ok(()) => flow.count(len),
                    Err(Full) => self.queue_full(conn, limits, stats),
                }
            }
            Some(_) => tracing::debug!(conn, "dropped a message to a closing connection"),
            None => {
                stats.command_dropped();
                tracing::debug!(
                    conn,
                    "dropped a message to a connection that is gone or not of this app"
                );
            }
        }
    }

    /// Queues `message` for every open connection but `except`. The payload is
    /// shared, not copied; the traffic counters are updated once for the lot.
    pub(crate) fn broadcast(
        &mut self,
        message: &Message,
        except: &[ConnId],
        limits: &Limits,
        stats: &AppStats,
    ) {
        let receivers = self
            .conns
            .iter()
            .filter(|(conn, _)| !except.contains(conn))
            .map(|(&conn, entry)| (conn, entry));
        let full = fan_out(receivers, message, limits, stats);
        for conn in full {
            self.queue_full(conn, limits, stats);
        }
    }

    /// Queues `message` for every member of `room` but `except`, sharing the payload
    /// as a broadcast does.
    pub(crate) fn publish(
        &mut self,
        room: &str,
        message: &Message,
        except: &[ConnId],
        limits: &Limits,
        stats: &AppStats,
    ) {
        let conns = &self.conns;
        let receivers = self
            .dir
            .members(room)
            .filter(|conn| !except.contains(conn))
            .filter_map(|conn| conns.get(&conn).map(|entry| (conn, entry)));
        let full = fan_out(receivers, message, limits, stats);
        for conn in full {
            self.queue_full(conn, limits, stats);
        }
    }

    /// A message did not fit `conn`'s queue: the slow-consumer policy applies.
    fn queue_full(&mut self, conn: u64, limits: &Limits, stats: &AppStats) {
        let Some(entry) = self.conns.get(&conn) else {
            return;
        };
        match limits.slow_consumer {
            SlowConsumer::Drop => stats.outbound_dropped(),
            SlowConsumer::Close => {
                tracing::info!(
                    conn,
                    queued = entry.outbox.queued(),
                    "outbound queue full (outbound_queue_bytes): closing the slow consumer with 1008"
                );
                stats.slow_consumer_closed();
                entry.outbox.abort();
                self.close(conn, SLOW_CONSUMER.code(), SLOW_CONSUMER.reason);
                self.overflowed.push(conn);
            }
        }
    }

    /// Queues a marker for `conn`, answered once what was queued before is written
    /// out; dropped (so answered at once) if `conn` is gone or closing.
    pub(crate) fn flushed(&mut self, conn: ConnId, done: tokio::sync::oneshot::Sender<()>) {
        if let Some(entry) = self.conns.get(&conn)
            && !entry.closing
        {
            entry.outbox.flushed(done);
        }
    }

    /// Queues a close frame for `conn`; later messages to it are dropped.
    pub(crate) fn close(&mut self, conn: u64, code: u16, reason: &str) {
        match self.conns.get_mut(&conn) {
            Some(entry) if !entry.closing => {
                entry.closing = true;
                entry.outbox.close(code, Utf8Bytes::from(reason.to_owned()));
                self.dir.mark_closing(conn);
            }
            Some(_) => {}
            None => tracing::debug!(
                conn,
                "dropped a close of a connection that is gone or not of this app"
            ),
        }
    }

    /// Queues a close frame for every connection.
    pub(crate) fn close_all(&mut self, code: u16, reason: &str) {
        for conn in self.ids() {
            self.close(conn, code, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

    use super::Registry;
    use crate::app::Outbound;
    use crate::app::outbox::{OutboxReceiver, outbox};
    use crate::app::stats::AppStats;
    use crate::app::timers::Timers;
    use crate::config::{Limits, SlowConsumer};
    use crate::directory::{Handshake, Member};
    use crate::model::{Command, Payload};

    fn text(s: &str) -> Payload {
        Payload::Text(Utf8Bytes::from(s.to_owned()))
    }

    /// A registry with connections `ids`, and the receiving end of each queue.
    fn registry(ids: &[u64]) -> (Registry, Vec<OutboxReceiver>) {
        let mut registry = Registry::default();
        let queues = ids
            .iter()
            .map(|&id| {
                let (tx, rx) = outbox();
                let member = Member::new(None, Bytes::new(), Handshake::default(), tx.gauge());
                registry.insert(id, tx, member);
                rx
            })
            .collect();
        (registry, queues)
    }

    /// Everything queued for a connection, as text (`close CODE REASON`, `ping`).
    fn drained(rx: &mut OutboxReceiver) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv())
            .map(|out| match out {
                Outbound::Message(Message::Text(t)) => t.as_str().to_owned(),
                Outbound::Message(Message::Binary(b)) => format!("binary {}", b.len()),
                Outbound::Message(other) => format!("{other:?}"),
                Outbound::Close { code, reason } => format!("close {code} {reason}"),
                Outbound::Ping => "ping".to_owned(),
                Outbound::Flushed(_) => "flushed".to_owned(),
            })
            .collect()
    }

    #[test]
    fn send_reaches_one_connection_and_a_stranger_is_dropped_and_counted() {
        let (mut reg, mut q) = registry(&[1, 2]);
        let stats = AppStats::default();
        reg.execute(
            [
                Command::Send {
                    conn: 2,
                    payload: text("hi"),
                },
                Command::Send {
                    conn: 2,
                    payload: Payload::Binary(Bytes::from_static(&[1, 2, 3])),
                },
                Command::Send {
                    conn: 99,
                    payload: text("nobody"),
                },
            ],
            &Limits::default(),
            &stats,
            &mut Timers::default(),
        );
        assert!(drained(&mut q[0]).is_empty());
        assert_eq!(drained(&mut q[1]), ["hi", "binary 3"]);
        assert_eq!(stats.snapshot().commands_dropped, 1);
    }

    #[test]
    fn broadcast_reaches_every_open_connection_but_the_excepted_and_closing_ones() {
        let (mut reg, mut q) = registry(&[1, 2, 3]);
        let stats = AppStats::default();
        reg.close(3, 1000, "bye");
        reg.execute(
            [Command::Broadcast {
                payload: text("all"),
                except: vec![1],
            }],
            &Limits::default(),
            &stats,
            &mut Timers::default(),
        );
        assert!(drained(&mut q[0]).is_empty());
        assert_eq!(drained(&mut q[1]), ["all"]);
        assert_eq!(drained(&mut q[2]), ["close 1000 bye"]);
    }

    #[test]
    fn close_comes_after_earlier_sends_and_stops_later_ones() {
        let (mut reg, mut q) = registry(&[1]);
        let stats = AppStats::default();
        let send = |s: &str| Command::Send {
            conn: 1,
            payload: text(s),
        };
        reg.execute(
            [
                send("before"),
                Command::Close {
                    conn: 1,
                    code: 4000,
                    reason: "done".into(),
                },
                send("after"),
                Command::Close {
                    conn: 1,
                    code: 4001,
                    reason: "again".into(),
                },
            ],
            &Limits::default(),
            &stats,
            &mut Timers::default(),
        );
        assert_eq!(drained(&mut q[0]), ["before", "close 4000 done"]);
        assert!(!reg.is_open(1));
        assert_eq!(
            reg.len(),
            1,
            "closing is not gone: the close event removes it"
        );
    }

    #[test]
    fn a_close_code_a_server_may_not_send_becomes_1011_and_a_long_reason_is_cut() {
        let (mut reg, mut q) = registry(&[1, 2]);
        let stats = AppStats::default();
        reg.execute(
            [
                Command::Close {
                    conn: 1,
                    code: 1005,
                    reason: "reserved".into(),
                },
                Command::Close {
                    conn: 2,
                    code: 1000,
                    reason: "é".repeat(100),
                },
            ],
            &Limits::default(),
            &stats,
            &mut Timers::default(),
        );
        assert_eq!(drained(&mut q[0]), ["close 1011 reserved"]);
        let cut = drained(&mut q[1]).remove(0);
        assert!(cut.starts_with("close 1000 é"), "{cut}");
        assert!(cut.len() - "close 1000 ".len() <= 123, "{}", cut.len());
    }

    #[test]
    fn a_full_queue_closes_the_slow_consumer_with_1008_and_reports_it_once() {
        let (mut reg, mut q) = registry(&[1, 2]);
        let stats = AppStats::default();
        let limits = Limits {
            outbound_queue_bytes: 10,
            ..Limits::default()
        };
        let big = || Command::Broadcast {
            payload: text("0123456789"),
            except: vec![2],
        };
        reg.execute(
            [big(), big(), big()],
            &limits,
            &stats,
            &mut Timers::default(),
        );
        assert_eq!(
            drained(&mut q[0]),
            ["0123456789", "close 1008 slow consumer"]
        );
        assert!(q[0].is_aborted(), "the writer is told to give up");
        assert_eq!(reg.take_overflows(), [1]);
        assert!(reg.take_overflows().is_empty());
        assert_eq!(stats.snapshot().slow_consumer_closes, 1);
    }

    #[test]
    fn a_full_queue_drops_the_message_when_the_policy_says_drop() {
        let (mut reg, mut q) = registry(&[1]);
        let stats = AppStats::default();
        let limits = Limits {
            outbound_queue_bytes: 10,
            slow_consumer: SlowConsumer::Drop,
            ..Limits::default()
        };
        let send = || Command::Send {
            conn: 1,
            payload: text("0123456789"),
        };
        reg.execute([send(), send()], &limits, &stats, &mut Timers::default());
        assert_eq!(drained(&mut q[0]), ["0123456789"]);
        assert!(reg.is_open(1));
        assert!(reg.take_overflows().is_empty());
        assert_eq!(stats.snapshot().outbound_dropped, 1);
    }

    #[test]
    fn close_all_closes_every_connection_once() {
        let (mut reg, mut q) = registry(&[1, 2]);
        reg.close(2, 4000, "first");
        reg.close_all(1001, "going away");
        assert_eq!(drained(&mut q[0]), ["close 1001 going away"]);
        assert_eq!(drained(&mut q[1]), ["close 4000 first"]);
        reg.remove(1);
        assert_eq!(reg.len(), 1);
    }
}
