//! `[cluster]`: several gateway nodes behind a load balancer that behave as one,
//! over a Redis backplane.
//!
//! ```toml
//! [cluster]
//! redis = "redis://127.0.0.1:6379/0"   # the Redis every node uses
//! node = "gw-1"                        # unique per node; default: the hostname
//! prefix = "wsgate"                    # keys and channels start with "PREFIX:"
//! node_ttl_ms = 10000                  # a silent node's rooms expire after this
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::file::{Locator, ranged};

/// How several nodes share their traffic (`[cluster]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `redis`: the Redis URL, `redis://[user:password@]host[:port][/db]`.
    pub redis: String,
    /// `node`: this node's name in logs and `/readyz`; unique in the cluster.
    /// Default: the machine's hostname.
    pub node: String,
    /// `prefix`: the first part of every key and channel, so that several clusters
    /// can share one Redis. Default `wsgate`.
    pub prefix: String,
    /// `node_ttl_ms`: a node that has not written its heartbeat for this long is
    /// taken as gone: its room members stop counting. It heartbeats every third of
    /// it. Default 10 s (1 s to 10 min).
    pub node_ttl: Duration,
}

/// The `[cluster]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    redis: Spanned<String>,
    node: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    node_ttl_ms: Option<Spanned<u64>>,
}

/// Whether `name` is a node name or prefix: 1 to 64 of letters, digits, `-_.`.
fn plain_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The machine's hostname, made a valid node name (`node` when there is none).
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .map(|c| if plain_name(&c.to_string()) { c } else { '-' })
        .take(64)
        .collect();
    if name.is_empty() { "node".into() } else { name }
}

impl ClusterSettings {
    /// The settings of a cluster on the Redis at `url`, every other key at its
    /// default (what `wsgate serve --redis URL` joins).
    ///
    /// # Errors
    /// A message saying what a Redis URL looks like, if `url` is not one.
    pub fn for_redis(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if !url.starts_with("redis://") || redis::Client::open(url).is_err() {
            return Err(format!(
                "must be a URL such as \"redis://127.0.0.1:6379/0\", not {url:?}"
            ));
        }
        Ok(Self {
            redis: url.to_owned(),
            node: hostname(),
            prefix: "wsgate".into(),
            node_ttl: Duration::from_secs(10),
        })
    }

    /// Names this node `node`.
    ///
    /// # Errors
    /// A message saying what a node name may hold, if `node` is not one.
    pub fn set_node(&mut self, node: &str) -> Result<(), String> {
        self.node = checked_name(node)?;
        Ok(())
    }
}

/// `name` if it is a node name or prefix, else what one may hold.
fn checked_name(name: &str) -> Result<String, String> {
    if plain_name(name) {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "must be 1 to 64 letters, digits, '-', '_' or '.', not {name:?}"
        ))
    }
}

/// Validates `[cluster]`.
pub(crate) fn resolve(
    loc: &Locator<'_>,
    raw: &Spanned<RawCluster>,
) -> Result<ClusterSettings, ConfigError> {
    let raw = raw.get_ref();
    let mut settings = ClusterSettings::for_redis(raw.redis.get_ref())
        .map_err(|e| loc.at(&raw.redis, format!("`cluster.redis` {e}")))?;
    let name = |value: &Spanned<String>, key: &str| {
        checked_name(value.get_ref()).map_err(|e| loc.at(value, format!("`cluster.{key}` {e}")))
    };
    if let Some(node) = &raw.node {
        settings.node = name(node, "node")?;
    }
    if let Some(prefix) = &raw.prefix {
        settings.prefix = name(prefix, "prefix")?;
    }
    if let Some(v) = &raw.node_ttl_ms {
        settings.node_ttl =
            Duration::from_millis(ranged(loc, "cluster.node_ttl_ms", v, 1000, 600_000, " ms")?);
    }
    Ok(settings)
}
