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

/// Validates `[cluster]`.
pub(crate) fn resolve(
    loc: &Locator<'_>,
    raw: &Spanned<RawCluster>,
) -> Result<ClusterSettings, ConfigError> {
    let raw = raw.get_ref();
    let url = raw.redis.get_ref().trim();
    if !url.starts_with("redis://") || redis::Client::open(url).is_err() {
        return Err(loc.at(
            &raw.redis,
            format!(
                "`cluster.redis` must be a URL such as \"redis://127.0.0.1:6379/0\", not {url:?}"
            ),
        ));
    }
    let name = |value: Option<&Spanned<String>>, key: &str, default: String| match value {
        None => Ok(default),
        Some(v) if plain_name(v.get_ref()) => Ok(v.get_ref().clone()),
        Some(v) => Err(loc.at(
            v,
            format!(
                "`cluster.{key}` must be 1 to 64 letters, digits, '-', '_' or '.', not {:?}",
                v.get_ref()
            ),
        )),
    };
    let node_ttl = match &raw.node_ttl_ms {
        Some(v) => {
            Duration::from_millis(ranged(loc, "cluster.node_ttl_ms", v, 1000, 600_000, " ms")?)
        }
        None => Duration::from_secs(10),
    };
    Ok(ClusterSettings {
        redis: url.to_owned(),
        node: name(raw.node.as_ref(), "node", hostname())?,
        prefix: name(raw.prefix.as_ref(), "prefix", "wsgate".into())?,
        node_ttl,
    })
}
