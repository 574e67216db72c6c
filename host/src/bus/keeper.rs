//! The cluster's two tasks: the publisher sends queued commands to Redis, many to a
//! pipeline; the keeper writes the heartbeat and this node's room sizes and keeps
//! its room subscriptions, and tells Redis everything again after it was lost.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, RedisResult};
use tokio::sync::mpsc;

use super::cluster::Inner;
use super::presence::{Presence, Sync};

/// Commands per pipeline, at most.
const BATCH: usize = 512;

/// How often a node whose Redis is down tries it again (the client backs off too).
const RETRY: Duration = Duration::from_millis(500);

/// Publishes what `queue` brings until the cluster is left.
pub(super) async fn publish(cluster: Arc<Inner>, mut queue: mpsc::Receiver<(String, Vec<u8>)>) {
    let mut conn = cluster.conn.clone();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            first = queue.recv() => first,
            () = cluster.stopped().cancelled() => None,
        };
        let Some(first) = first else { return };
        batch.push(first);
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let mut pipe = redis::pipe();
        for (channel, bytes) in &batch {
            pipe.publish(channel, bytes).ignore();
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => cluster.health.count("out", "published", batch.len()),
            Err(e) => {
                cluster
                    .health
                    .count("out", "dropped_redis_down", batch.len());
                cluster.health.lost(&e);
            }
        }
        batch.clear();
    }
}

/// Heartbeats, and tells Redis of room changes as they come, until the cluster is
/// left.
pub(super) async fn keep(cluster: Arc<Inner>) {
    let mut conn = cluster.conn.clone();
    let mut presence = Presence::default();
    let beat = cluster.ttl / 3;
    let mut next_beat = tokio::time::Instant::now() + beat;
    loop {
        let wait = if cluster.health.is_up() {
            next_beat
        } else {
            (tokio::time::Instant::now() + RETRY).min(next_beat)
        };
        tokio::select! {
            () = tokio::time::sleep_until(wait) => {}
            () = cluster.pending.changed() => {}
            () = cluster.stopped().cancelled() => return,
        }
        let changes = cluster.pending.take();
        let mut sync = presence.apply(changes, &cluster.names);
        let now = tokio::time::Instant::now();
        let beating = now >= next_beat || !cluster.health.is_up();
        let result = async {
            if beating {
                heartbeat(&cluster, &mut conn).await?;
            }
            if cluster.health.take_resync() {
                // Redis may have restarted empty: everything, from scratch.
                sync = presence.full(&cluster.names);
                write(&cluster, &mut conn, &sync, true).await?;
                resubscribe(&cluster, &mut conn).await?;
            } else if !sync.is_empty() {
                write(&cluster, &mut conn, &sync, false).await?;
            }
            RedisResult::Ok(())
        }
        .await;
        match result {
            Ok(()) => cluster.health.answered(),
            Err(e) => {
                cluster.health.lost(&e);
                cluster.health.need_resync();
            }
        }
        if beating {
            next_beat = now + beat;
        }
    }
}

/// Keeps this node's claim, name and room sizes alive for another `ttl`, and counts
/// the live nodes (forgetting the dead ones).
async fn heartbeat(cluster: &Inner, conn: &mut ConnectionManager) -> RedisResult<()> {
    let names = &cluster.names;
    let node = cluster.node;
    let ttl_ms = u64::try_from(cluster.ttl.as_millis()).unwrap_or(u64::MAX);
    let (held_by, nodes): (Option<String>, Vec<u16>) = redis::pipe()
        .cmd("SET")
        .arg(names.claim(node))
        .arg(&cluster.name)
        .arg("PX")
        .arg(ttl_ms)
        .arg("GET")
        .hset(names.nodes(), node, &cluster.name)
        .ignore()
        .pexpire(names.rooms(node), ttl_ms as i64)
        .ignore()
        .hkeys(names.nodes())
        .query_async(conn)
        .await?;
    if let Some(other) = held_by.filter(|held| *held != cluster.name) {
        tracing::error!(
            node_number = node,
            "cluster: node {other:?} holds this node's number too (did Redis lose its data \
             while a node started?): restart one of them, or connection ids may collide"
        );
    }
    let others: Vec<u16> = nodes.into_iter().filter(|&n| n != node).collect();
    let mut pipe = redis::pipe();
    for &other in &others {
        pipe.exists(names.claim(other));
    }
    let alive: Vec<bool> = pipe.query_async(conn).await?;
    let dead: Vec<u16> = others
        .iter()
        .zip(&alive)
        .filter(|&(_, alive)| !alive)
        .map(|(&n, _)| n)
        .collect();
    if !dead.is_empty() {
        let _: () = conn.hdel(names.nodes(), &dead).await?;
    }
    cluster
        .health
        .set_nodes(1 + alive.iter().filter(|&&a| a).count());
    Ok(())
}

/// Writes `sync` (from scratch when `full`).
async fn write(
    cluster: &Inner,
    conn: &mut ConnectionManager,
    sync: &Sync,
    full: bool,
) -> RedisResult<()> {
    // Subscribed before the sizes say so: a node that sees a member here can reach it.
    if !sync.subscribe.is_empty() {
        conn.subscribe(&sync.subscribe).await?;
    }
    let key = cluster.names.rooms(cluster.node);
    let ttl_ms = u64::try_from(cluster.ttl.as_millis()).unwrap_or(u64::MAX);
    let mut pipe = redis::pipe();
    if full {
        pipe.del(&key).ignore();
    }
    if !sync.set.is_empty() {
        pipe.hset_multiple(&key, &sync.set).ignore();
    }
    if !sync.delete.is_empty() {
        pipe.hdel(&key, &sync.delete).ignore();
    }
    pipe.pexpire(&key, ttl_ms as i64).ignore();
    let _: () = pipe.query_async(conn).await?;
    if !sync.unsubscribe.is_empty() {
        conn.unsubscribe(&sync.unsubscribe).await?;
    }
    Ok(())
}

/// Subscribes again to the node's and the apps' channels (the client does it after
/// a reconnect it saw; this covers the ones it did not).
async fn resubscribe(cluster: &Inner, conn: &mut ConnectionManager) -> RedisResult<()> {
    conn.subscribe(cluster.names.node_channel(cluster.node))
        .await?;
    conn.psubscribe(cluster.names.app_pattern()).await?;
    Ok(())
}
