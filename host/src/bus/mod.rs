//! The cluster's backplane: commands for connections, rooms and users on other nodes
//! go there through Redis pub/sub, at most once (as in Centrifugo and Socket.IO).
//! Without `[cluster]` there is none and every command stays in the process.
//!
//! - A connection id carries its node ([`ids`]): a send or close to one on another
//!   node is published on that node's channel, with no lookup.
//! - Broadcasts and user sends go to the app's channel, which every node reads;
//!   publishes go to the room's channel, which only nodes with members in the room
//!   read ([`presence`]).
//! - Each command is encoded once ([`wire`]) whatever the number of receivers, and
//!   run on arrival against the receiving node's connections only.
//! - Room sizes live in Redis per node, expiring with the node's heartbeat, for the
//!   server API's cluster-wide `room` answer. Plugin imports (`room-size`, …) stay
//!   node-local: a hook never waits on the network.
//! - Redis down: local traffic is untouched; what would cross nodes is dropped and
//!   counted, never buffered; the client reconnects with backoff and cross-node
//!   traffic resumes by itself (subscriptions and sizes are written again).

mod cluster;
mod health;
pub(crate) mod ids;
mod keeper;
pub(crate) mod presence;
pub(crate) mod wire;

use std::sync::Arc;

pub use self::cluster::ClusterError;
pub(crate) use self::cluster::{Cluster, ping};
use crate::model::{Command, ConnId};

/// Runs a command that came from another node against this node's connections of an
/// app: false when the app is unknown here or its queue is full (then it is dropped).
pub(crate) type Deliver = Box<dyn Fn(&str, Command) -> bool + Send + Sync>;

/// An app's way to the cluster, held by its registry.
#[derive(Clone)]
pub(crate) struct Link {
    cluster: Cluster,
    app: Arc<str>,
}

impl Link {
    /// `app`'s link to `cluster`.
    pub(crate) fn new(cluster: Cluster, app: Arc<str>) -> Self {
        Self { cluster, app }
    }

    /// Whether `conn` is a connection of another node.
    pub(crate) fn is_remote(&self, conn: ConnId) -> bool {
        ids::node_of(conn) != self.cluster.node()
    }

    /// Sends `command` to the node of `conn` (a connection of another node).
    pub(crate) fn to_node_of(&self, conn: ConnId, command: &Command) {
        let channel = self.cluster.names().node_channel(ids::node_of(conn));
        self.cluster.publish(channel, &self.app, command);
    }

    /// Sends `command` to every other node (a broadcast, a user's send or close).
    pub(crate) fn to_app(&self, command: &Command) {
        let channel = self.cluster.names().app_channel(&self.app);
        self.cluster.publish(channel, &self.app, command);
    }

    /// Sends `command` to the nodes with members in `room`.
    pub(crate) fn to_room(&self, room: &str, command: &Command) {
        let channel = self.cluster.names().room_channel(&self.app, room);
        self.cluster.publish(channel, &self.app, command);
    }

    /// `room` has `size` members on this node now.
    pub(crate) fn room_changed(&self, room: &Arc<str>, size: usize) {
        self.cluster.room_changed(&self.app, room, size);
    }
}
