//! Whether Redis answers, as the node last saw it, and what arrives from it: the
//! push handler that decodes other nodes' commands and hands them to the apps.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use redis::{PushInfo, PushKind, Value};

use super::Deliver;
use super::wire::Envelope;
use crate::metrics::Metrics;

/// The link to Redis: up or down, and whether Redis must be told everything again.
pub(crate) struct Health {
    up: AtomicBool,
    resync: AtomicBool,
    nodes: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl Health {
    /// Up (the node has just reached Redis), counted in `metrics`.
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        metrics.cluster_redis_up.set(1);
        Self {
            up: AtomicBool::new(true),
            resync: AtomicBool::new(false),
            nodes: AtomicUsize::new(1),
            metrics,
        }
    }

    /// Whether Redis answered last time.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Redis failed: cross-node traffic is dropped until it answers again, and then
    /// it is told this node's rooms again (it may have restarted empty).
    pub(crate) fn lost(&self, why: &dyn std::fmt::Display) {
        self.resync.store(true, Ordering::Relaxed);
        if self.up.swap(false, Ordering::Relaxed) {
            self.metrics.cluster_redis_up.set(0);
            tracing::warn!(
                "cluster: Redis is unreachable ({why}); local traffic goes on, cross-node \
                 messages are dropped until it is back"
            );
        }
    }

    /// Redis answered.
    pub(crate) fn answered(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            self.metrics.cluster_redis_up.set(1);
            tracing::info!("cluster: Redis answers again; cross-node traffic resumes");
        }
    }

    /// Whether Redis must be told everything again (and clears the flag).
    pub(crate) fn take_resync(&self) -> bool {
        self.resync.swap(false, Ordering::Relaxed)
    }

    /// Asks for everything to be told again (a sync failed half-way).
    pub(crate) fn need_resync(&self) {
        self.resync.store(true, Ordering::Relaxed);
    }

    /// Live nodes, as of the last heartbeat.
    pub(crate) fn nodes(&self) -> usize {
        self.nodes.load(Ordering::Relaxed)
    }

    pub(crate) fn set_nodes(&self, nodes: usize) {
        self.nodes.store(nodes, Ordering::Relaxed);
        self.metrics
            .cluster_nodes
            .set(i64::try_from(nodes).unwrap_or(i64::MAX));
    }

    /// Counts messages by direction and outcome.
    pub(crate) fn count(&self, direction: &'static str, outcome: &'static str, n: usize) {
        self.metrics.cluster_message(direction, outcome, n);
    }
}

/// What the Redis connection pushes: other nodes' commands, and its own loss.
pub(crate) struct Inbound {
    /// This node's number (set once claimed, before anything is subscribed).
    pub(crate) node: AtomicU16,
    /// Where commands go (set once the apps run; until then they are dropped).
    pub(crate) deliver: OnceLock<Deliver>,
    pub(crate) health: Arc<Health>,
}

impl Inbound {
    /// Handles one push; never blocks (it runs on the connection's task).
    pub(crate) fn push(&self, info: &PushInfo) {
        match info.kind {
            PushKind::Message | PushKind::PMessage => {
                let Some(Value::BulkString(bytes)) = info.data.last() else {
                    return;
                };
                self.arrived(bytes);
            }
            PushKind::Disconnection => self.health.lost(&"the connection closed"),
            _ => {}
        }
    }

    fn arrived(&self, bytes: &[u8]) {
        match Envelope::decode(bytes) {
            Ok(envelope) if envelope.origin == self.node.load(Ordering::Relaxed) => {}
            Ok(envelope) => {
                let taken = self
                    .deliver
                    .get()
                    .is_some_and(|deliver| deliver(&envelope.app, envelope.command));
                let outcome = if taken {
                    "delivered"
                } else {
                    "dropped_app_busy"
                };
                self.health.count("in", outcome, 1);
            }
            Err(e) => {
                self.health.count("in", "undecodable", 1);
                tracing::warn!("cluster: {e} ({} bytes); dropped", bytes.len());
            }
        }
    }
}
