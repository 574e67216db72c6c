//! [`Cluster`]: this node's place in the cluster. Joining claims a node number in
//! Redis (the high bits of every connection id it hands out), subscribes to the
//! node's and the apps' channels and starts two tasks: the publisher (commands out,
//! pipelined) and the keeper (heartbeat, room sizes and subscriptions).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, IntoConnectionInfo, ProtocolVersion};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::health::{Health, Inbound};
use super::ids::MAX_NODE;
use super::presence::Pending;
use super::wire::{Names, room_field};
use super::{Deliver, keeper};
use crate::config::ClusterSettings;
use crate::metrics::Metrics;
use crate::model::Command;

/// How long connecting to Redis, and any one answer of it, may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Commands waiting to be published; past this many, more are dropped (counted):
/// Redis too slow or down never becomes memory.
const OUTGOING: usize = 16_384;

/// Why a node cannot join its cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis cannot be reached or refused a command.
    #[error("cluster: Redis at {addr}: {source}")]
    Redis {
        /// Where (the URL's host and port; never its password).
        addr: String,
        /// What the client said.
        source: redis::RedisError,
    },
    /// Every node number is held by a live node.
    #[error("cluster: all {MAX_NODE} node numbers are held by live nodes")]
    NoNodeNumber,
}

/// This node's link to the cluster (cheap to clone).
#[derive(Clone)]
pub(crate) struct Cluster(Arc<Inner>);

pub(super) struct Inner {
    pub(super) node: u16,
    pub(super) name: String,
    pub(super) names: Names,
    pub(super) ttl: Duration,
    pub(super) conn: ConnectionManager,
    pub(super) pending: Pending,
    pub(super) inbound: Arc<Inbound>,
    pub(super) health: Arc<Health>,
    outgoing: mpsc::Sender<(String, Vec<u8>)>,
    stop: CancellationToken,
}

/// What `/readyz` shows of the cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ClusterState {
    pub(crate) node: String,
    pub(crate) node_number: u16,
    pub(crate) redis: &'static str,
    pub(crate) nodes: usize,
}

/// Whether the Redis of `settings` answers `PING` within two seconds (`wsgate check`).
///
/// # Errors
/// [`ClusterError::Redis`] saying why not.
pub(crate) async fn ping(settings: &ClusterSettings) -> Result<(), ClusterError> {
    let info = settings
        .redis
        .as_str()
        .into_connection_info()
        .map_err(|source| ClusterError::Redis {
            addr: "?".into(),
            source,
        })?;
    let addr = info.addr().to_string();
    let error = |source| ClusterError::Redis {
        addr: addr.clone(),
        source,
    };
    let client = redis::Client::open(info).map_err(error)?;
    let timed_out = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let answer = tokio::time::timeout(REDIS_TIMEOUT, async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    })
    .await
    .map_err(|_| error(timed_out()))?;
    answer.map(drop).map_err(error)
}

impl Cluster {
    /// Joins the cluster of `settings`: connects to Redis, claims a node number,
    /// subscribes, starts the publisher and the keeper. Needs the tokio runtime.
    ///
    /// # Errors
    /// [`ClusterError`] if Redis cannot be reached within two seconds or refuses.
    pub(crate) async fn join(
        settings: &ClusterSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, ClusterError> {
        let mut addr = String::from("?");
        let redis_error = |addr: &str| {
            let addr = addr.to_owned();
            move |source| ClusterError::Redis { addr, source }
        };
        let info = settings
            .redis
            .as_str()
            .into_connection_info()
            .map_err(redis_error(&addr))?;
        addr = info.addr().to_string();
        let settings_resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings_resp3))
            .map_err(redis_error(&addr))?;
        let health = Arc::new(Health::new(metrics));
        let inbound = Arc::new(Inbound {
            node: AtomicU16::new(0),
            deliver: OnceLock::new(),
            health: health.clone(),
        });
        let push = inbound.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |info| {
                push.push(&info);
                Ok::<(), redis::aio::SendError>(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_max_delay(Duration::from_secs(2));
        let mut conn = tokio::time::timeout(
            REDIS_TIMEOUT * 2,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| ClusterError::Redis {
            addr: addr.clone(),
            source: redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut)),
        })?
        .map_err(redis_error(&addr))?;
        let names = Names::new(&settings.prefix);
        let node = claim(&mut conn, &names, &settings.node, settings.node_ttl)
            .await
            .map_err(|e| match e {
                Claim::Redis(source) => ClusterError::Redis {
                    addr: addr.clone(),
                    source,
                },
                Claim::Exhausted => ClusterError::NoNodeNumber,
            })?;
        inbound.node.store(node, Ordering::Relaxed);
        let _: () = redis::pipe()
            .del(names.rooms(node))
            .ignore()
            .hset(names.nodes(), node, &settings.node)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(redis_error(&addr))?;
        conn.subscribe(names.node_channel(node))
            .await
            .map_err(redis_error(&addr))?;
        conn.psubscribe(names.app_pattern())
            .await
            .map_err(redis_error(&addr))?;
        let (outgoing, queue) = mpsc::channel(OUTGOING);
        let cluster = Self(Arc::new(Inner {
            node,
            name: settings.node.clone(),
            names,
            ttl: settings.node_ttl,
            conn,
            pending: Pending::default(),
            inbound,
            health,
            outgoing,
            stop: CancellationToken::new(),
        }));
        tokio::spawn(keeper::publish(cluster.0.clone(), queue));
        tokio::spawn(keeper::keep(cluster.0.clone()));
        tracing::info!(
            node = %settings.node,
            node_number = node,
            redis = %addr,
            "cluster: joined"
        );
        Ok(cluster)
    }

    /// This node's number.
    pub(crate) fn node(&self) -> u16 {
        self.0.node
    }

    pub(crate) fn names(&self) -> &Names {
        &self.0.names
    }

    /// Where commands from other nodes go (set once, when the apps run).
    pub(crate) fn set_deliver(&self, deliver: Deliver) {
        let _ = self.0.inbound.deliver.set(deliver);
    }

    /// Publishes `command` of `app` on `channel`, or drops it (counted) when Redis is
    /// down or the queue is full. Never waits.
    pub(crate) fn publish(&self, channel: String, app: &str, command: &Command) {
        let health = &self.0.health;
        if !health.is_up() {
            health.count("out", "dropped_redis_down", 1);
            return;
        }
        let bytes = super::wire::encode(self.0.node, app, command);
        if self.0.outgoing.try_send((channel, bytes)).is_err() {
            health.count("out", "dropped_queue_full", 1);
        }
    }

    /// Room `room` of `app` has `size` members on this node now.
    pub(crate) fn room_changed(&self, app: &Arc<str>, room: &Arc<str>, size: usize) {
        self.0.pending.record(app, room, size);
    }

    /// Members of `room` of `app` on the other live nodes.
    ///
    /// # Errors
    /// Redis cannot be asked.
    pub(crate) async fn members_elsewhere(
        &self,
        app: &str,
        room: &str,
    ) -> Result<usize, redis::RedisError> {
        let mut conn = self.0.conn.clone();
        let names = &self.0.names;
        let nodes: Vec<u16> = conn.hkeys(names.nodes()).await?;
        let mut pipe = redis::pipe();
        let field = room_field(app, room);
        for &node in nodes.iter().filter(|&&n| n != self.0.node) {
            pipe.hget(names.rooms(node), &field);
        }
        let sizes: Vec<Option<usize>> = pipe.query_async(&mut conn).await?;
        Ok(sizes.into_iter().flatten().sum())
    }

    /// The cluster as this node sees it.
    pub(crate) fn state(&self) -> ClusterState {
        ClusterState {
            node: self.0.name.clone(),
            node_number: self.0.node,
            redis: if self.0.health.is_up() { "up" } else { "down" },
            nodes: self.0.health.nodes(),
        }
    }

    /// Leaves the cluster: stops the tasks and deletes this node's entries, so that
    /// the other nodes stop counting its members at once.
    pub(crate) async fn leave(&self) {
        // What is queued goes out first (for a little while at most).
        let outgoing = &self.0.outgoing;
        let until = tokio::time::Instant::now() + Duration::from_millis(500);
        while outgoing.capacity() < outgoing.max_capacity()
            && self.0.health.is_up()
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.0.stop.cancel();
        let names = &self.0.names;
        let node = self.0.node;
        let mut conn = self.0.conn.clone();
        let left: Result<(), _> = redis::pipe()
            .del(names.rooms(node))
            .ignore()
            .del(names.claim(node))
            .ignore()
            .hdel(names.nodes(), node)
            .ignore()
            .query_async(&mut conn)
            .await;
        if let Err(e) = left {
            tracing::warn!("cluster: could not remove this node's entries ({e}); they expire");
        }
    }
}

impl Inner {
    pub(super) fn stopped(&self) -> &CancellationToken {
        &self.stop
    }
}

enum Claim {
    Redis(redis::RedisError),
    Exhausted,
}

/// Draws node numbers from the cluster's counter until one is free, and claims it
/// for `ttl` (the heartbeat keeps it).
async fn claim(
    conn: &mut ConnectionManager,
    names: &Names,
    name: &str,
    ttl: Duration,
) -> Result<u16, Claim> {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    for _ in 0..MAX_NODE {
        let seq: u64 = conn.incr(names.node_seq(), 1).await.map_err(Claim::Redis)?;
        // 1..=MAX_NODE: node 0 is a gateway without a cluster.
        let node = u16::try_from(seq.saturating_sub(1) % u64::from(MAX_NODE) + 1).unwrap_or(1);
        let taken: Option<String> = redis::cmd("SET")
            .arg(names.claim(node))
            .arg(name)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(conn)
            .await
            .map_err(Claim::Redis)?;
        if taken.is_some() {
            return Ok(node);
        }
    }
    Err(Claim::Exhausted)
}
