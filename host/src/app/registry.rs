//! An app's open connections, and the commands a hook returned, run against them.
//!
//! The registry is owned by the app's actor: only this app's connections are in it, so
//! no command can reach another app's connection (it is "not found" here).

use std::collections::HashMap;

use bytes::Bytes;
use rustc_hash::FxBuildHasher;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::Outbox;
use super::outbox::Full;
use super::stats::AppStats;
use crate::close;
use crate::config::{Limits, SlowConsumer};
use crate::plugin::types::Command;

/// The close code and reason for a client whose outbound queue overflowed.
pub(crate) const SLOW_CONSUMER: (u16, &str) = (1008, "slow consumer");

/// The traffic counter a message goes to, and its length.
fn flow_of<'a>(message: &Message, stats: &'a AppStats) -> (&'a crate::metrics::Flow, usize) {
    match message {
        Message::Binary(data) => (&stats.metrics.binary_out, data.len()),
        other => (&stats.metrics.text_out, other.len()),
    }
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
    conns: HashMap<u64, Entry, FxBuildHasher>,
    /// Connections closed as slow consumers since the last [`Registry::take_overflows`].
    overflowed: Vec<u64>,
}

impl Registry {
    /// Adds a connection that completed its handshake.
    pub(crate) fn insert(&mut self, conn: u64, outbox: Outbox) {
        self.conns.insert(
            conn,
            Entry {
                outbox,
                closing: false,
            },
        );
    }

    /// Forgets a closed connection.
    pub(crate) fn remove(&mut self, conn: u64) {
        self.conns.remove(&conn);
    }

    /// Whether `conn` is open and not closing.
    pub(crate) fn is_open(&self, conn: u64) -> bool {
        self.conns.get(&conn).is_some_and(|e| !e.closing)
    }

    /// Number of connections.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// The connections whose queues overflowed (and were closed) since the last call.
    pub(crate) fn take_overflows(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.overflowed)
    }

    /// Runs a hook's commands, in order.
    pub(crate) fn execute(&mut self, commands: Vec<Command>, limits: &Limits, stats: &AppStats) {
        for command in commands {
            match command {
                Command::Send(c) => self.send(
                    c.conn,
                    Message::Text(Utf8Bytes::from(c.text)),
                    limits,
                    stats,
                ),
                Command::SendBinary(c) => {
                    self.send(c.conn, Message::Binary(Bytes::from(c.data)), limits, stats);
                }
                Command::Broadcast(c) => {
                    self.broadcast(
                        &Message::Text(Utf8Bytes::from(c.text)),
                        c.except,
                        limits,
                        stats,
                    );
                }
                Command::BroadcastBinary(c) => {
                    self.broadcast(
                        &Message::Binary(Bytes::from(c.data)),
                        c.except,
                        limits,
                        stats,
                    );
                }
                Command::Close(c) => {
                    let code = if close::server_may_send(c.code) {
                        c.code
                    } else {
                        tracing::warn!(
                            conn = c.conn,
                            "plugin asked for close code {} which a server may not send; sending {} instead",
                            c.code,
                            close::FALLBACK_CODE
                        );
                        close::FALLBACK_CODE
                    };
                    if c.reason.len() > close::MAX_REASON_BYTES {
                        tracing::warn!(conn = c.conn, "close reason longer than 123 bytes; cut");
                    }
                    let reason = close::truncate_reason(&c.reason).to_owned();
                    self.close(c.conn, code, &reason);
                }
            }
        }
    }

    /// Queues `message` for `conn`, if it is one of this app's open connections,
    /// applying the slow-consumer policy when its queue is full.
    fn send(&mut self, conn: u64, message: Message, limits: &Limits, stats: &AppStats) {
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
    fn broadcast(
        &mut self,
        message: &Message,
        except: Option<u64>,
        limits: &Limits,
        stats: &AppStats,
    ) {
        let mut delivered = 0;
        let mut full = Vec::new();
        for (&conn, entry) in &self.conns {
            if Some(conn) == except || entry.closing {
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
                self.close(conn, SLOW_CONSUMER.0, SLOW_CONSUMER.1);
                self.overflowed.push(conn);
            }
        }
    }

    /// Queues a close frame for `conn`; later messages to it are dropped.
    pub(crate) fn close(&mut self, conn: u64, code: u16, reason: &str) {
        match self.conns.get_mut(&conn) {
            Some(entry) if !entry.closing => {
                entry.closing = true;
                entry.outbox.close(code, Utf8Bytes::from(reason.to_owned()));
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
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for conn in ids {
            self.close(conn, code, reason);
        }
    }
}
