//! What reaches an app's actor: connections' events, handshakes waiting for an
//! answer, and the gateway's orders (reload, new limits, close everything).

use std::time::Instant;

use tokio::sync::oneshot;

use bytes::Bytes;

use super::Outbox;
use crate::directory::{Handshake, Member};
use crate::model::{Command, ConnId, ConnectionInfo, Event, Payload, Request};
use crate::plugin::LoadedPlugin;

/// One message to an app's actor.
pub(crate) enum Input {
    /// A handshake waits for `on-accept`'s answer.
    Accept {
        conn: ConnId,
        /// Boxed, as every rare input's bulk: the queue's storage is allocated in
        /// blocks of 32 inputs per app, so an input's size is paid by every tenant.
        request: Box<Request>,
        reply: oneshot::Sender<AcceptOutcome>,
    },
    /// The handshake completed.
    Connect(Box<Joining>),
    /// Something happened to a connection (anything but its connect, which comes as
    /// [`Input::Connect`]): a message, an error, its close.
    Event(Event),
    /// Answer `done` once everything the app sent `conn` so far is written out (the
    /// connection's reader asks before it lets the client's close frame through).
    Flush {
        conn: ConnId,
        done: oneshot::Sender<()>,
    },
    /// Look at the orders (`control`) and the deadlines (`timers`): one is due or
    /// was given while the actor was idle.
    Wake,
    /// A server API call, run in the app's event order.
    Api {
        call: Box<ApiCall>,
        reply: oneshot::Sender<ApiAnswer>,
    },
    /// A command from another node of the cluster, for this node's connections.
    Remote(Box<Command>),
}

/// What a backend asks of an app through the server API.
#[derive(Debug)]
pub(crate) enum ApiCall {
    /// Publish to a room.
    Publish {
        room: String,
        payload: Payload,
        except: Vec<ConnId>,
    },
    /// Send to every connection of the app.
    Broadcast {
        payload: Payload,
        except: Vec<ConnId>,
    },
    /// Send to one connection.
    Send { conn: ConnId, payload: Payload },
    /// Close one connection.
    Close {
        conn: ConnId,
        code: u16,
        reason: String,
    },
    /// What the host knows of a connection.
    Info { conn: ConnId },
    /// Send to every connection of a user.
    SendUser { user: String, payload: Payload },
    /// Close every connection of a user.
    CloseUser {
        user: String,
        code: u16,
        reason: String,
    },
    /// How many connections a room has.
    RoomSize { room: String },
    /// Hand the plugin a `backend` event.
    Event { name: String, payload: Bytes },
}

/// The app's answer to an API call.
#[derive(Debug)]
pub(crate) enum ApiAnswer {
    /// Done.
    Done,
    /// Handed to the plugin.
    Accepted,
    /// No such connection or user (named).
    NotFound(&'static str),
    /// A room name outside 1 to `max_room_name_bytes` bytes.
    BadRoom,
    /// What the host knows of a connection, and its rooms.
    Info(Box<ConnectionInfo>, Vec<String>),
    /// A room's size (on this node).
    Size(usize),
    /// The command is for a connection or user of other nodes too: it was sent on
    /// (at most once; whether it arrives is not known here).
    Forwarded,
    /// The app is failed (its breaker tripped).
    Failing,
    /// The connection is one of node N: this node cannot read it.
    Elsewhere(u16),
}

/// A connection that completed its handshake, for the registry.
pub(crate) struct Joining {
    pub(crate) conn: ConnId,
    /// Reaches the connection's writer.
    pub(crate) outbox: Outbox,
    /// What the host holds of it (its attachment comes apart, to be checked).
    pub(crate) member: Member,
    /// Its first attachment (`allow.attachment`), within `max_attachment_bytes`.
    pub(crate) attachment: Bytes,
    /// The rooms it starts in (`allow.rooms`), within the room limits.
    pub(crate) rooms: Vec<String>,
}

/// What the handshake decided and saw of a connection, handed to its task.
#[derive(Debug, Default)]
pub(crate) struct Welcome {
    pub(crate) user: Option<String>,
    pub(crate) attachment: Bytes,
    pub(crate) rooms: Vec<String>,
    pub(crate) handshake: Handshake,
}

/// A new plugin version, compiled and linked, waiting for the actor to swap it in.
pub(crate) struct Reload {
    /// The new version.
    pub(crate) plugin: LoadedPlugin,
    /// Where it came from, for the log.
    pub(crate) origin: String,
    /// When the change was seen (file written, config reloaded).
    pub(crate) since: Instant,
}

/// The answer to a handshake.
#[derive(Debug)]
pub(crate) enum AcceptOutcome {
    /// Complete the handshake, with the subprotocol to select, the connection's
    /// user, first attachment and rooms.
    Allow {
        subprotocol: Option<String>,
        user: Option<String>,
        attachment: Bytes,
        rooms: Vec<String>,
    },
    /// The plugin refused: answer with this HTTP error.
    Deny { status: u16, reason: String },
    /// The app is failed (its breaker tripped): 503, try again later.
    Failing,
    /// The plugin trapped in `on-accept`: 500.
    Trapped,
}
