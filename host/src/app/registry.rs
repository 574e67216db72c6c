//! An app's open connections, and the commands a hook returned, run against them.
//!
//! The registry is owned by the app's actor: only this app's connections are in it, so
//! no command can reach another app's connection (it is "not found" here).

use std::collections::HashMap;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::{Outbound, Outbox};
use crate::close;
use crate::plugin::types::Command;

/// One open connection as the actor sees it.
struct Entry {
    outbox: Outbox,
    /// A close frame was queued: nothing more is sent.
    closing: bool,
}

/// The open connections of one app.
#[derive(Default)]
pub(crate) struct Registry {
    conns: HashMap<u64, Entry>,
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

    /// Runs a hook's commands, in order.
    pub(crate) fn execute(&mut self, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::Send(c) => self.send(c.conn, Message::Text(Utf8Bytes::from(c.text))),
                Command::SendBinary(c) => self.send(c.conn, Message::Binary(Bytes::from(c.data))),
                Command::Broadcast(c) => {
                    self.broadcast(&Message::Text(Utf8Bytes::from(c.text)), c.except);
                }
                Command::BroadcastBinary(c) => {
                    self.broadcast(&Message::Binary(Bytes::from(c.data)), c.except);
                }
                Command::Close(c) => {
                    let code = if close::server_may_send(c.code) {
                        c.code
                    } else {
                        tracing::warn!(
                            conn = c.conn,
                            code = c.code,
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

    /// Queues `message` for `conn`, if it is one of this app's open connections.
    pub(crate) fn send(&mut self, conn: u64, message: Message) {
        match self.conns.get(&conn) {
            Some(entry) if !entry.closing => {
                // The writer is gone only when the connection just ended; its Close
                // event is on its way.
                let _ = entry.outbox.send(Outbound::Message(message));
            }
            Some(_) => tracing::debug!(conn, "dropped a message to a closing connection"),
            None => tracing::debug!(
                conn,
                "dropped a message to a connection that is gone or not of this app"
            ),
        }
    }

    fn broadcast(&self, message: &Message, except: Option<u64>) {
        for (&id, entry) in &self.conns {
            if Some(id) != except && !entry.closing {
                let _ = entry.outbox.send(Outbound::Message(message.clone()));
            }
        }
    }

    /// Queues a close frame for `conn`; later messages to it are dropped.
    pub(crate) fn close(&mut self, conn: u64, code: u16, reason: &str) {
        match self.conns.get_mut(&conn) {
            Some(entry) if !entry.closing => {
                entry.closing = true;
                let _ = entry.outbox.send(Outbound::Close {
                    code,
                    reason: Utf8Bytes::from(reason.to_owned()),
                });
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
