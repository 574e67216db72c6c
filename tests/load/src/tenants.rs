//! `tenants`: many apps of one plugin on one gateway, as a multi-tenant node runs
//! them. For N apps: how long the gateway takes to start, what it holds per app
//! loaded (a gateway that never unloads), then unloaded (a second gateway, with
//! `idle_unload_ms`, once every app unloaded and the allocator gave the freed pages
//! back), its threads, and the wake:
//! every app sampled gets an idle connection, and once the apps unloaded again, one
//! message goes to each in turn over its open connection; the time to its echo is the
//! wake as a client sees it (a fresh instance, `restore`, the hook, the reply).

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target};
use crate::procfs;
use crate::stats::Latency;

/// The figures of one run of N apps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantsReport {
    /// Apps served.
    pub apps: usize,
    /// From the gateway's start to its first accepted connection, seconds.
    pub start_s: f64,
    /// RSS per app with every instance loaded (unloading off), KiB, over a one-app
    /// gateway.
    pub kib_per_app_loaded: f64,
    /// RSS per app once every app unloaded, KiB, over a one-app gateway.
    pub kib_per_app_unloaded: f64,
    /// The gateway's threads.
    pub threads: u64,
    /// A message's round trip to an unloaded app over an open connection (the app
    /// woken by it), ms: median.
    pub wake_p50_ms: f64,
    /// As above, 99th percentile.
    pub wake_p99_ms: f64,
    /// The next message's round trip over the same connection (the app loaded now):
    /// the same path without the wake, measured in the same run, ms: median.
    pub warm_p50_ms: f64,
    /// As above, 99th percentile: what this machine's pauses alone give a p99 of as
    /// many samples.
    pub warm_p99_ms: f64,
}

/// How long the apps are left idle before they unload (`idle_unload_ms`); the run
/// waits three times as long.
const IDLE_MS: u64 = 500;

/// How long after the apps unloaded their RSS is read: the allocator hands freed pages
/// back to the OS over its decay time (jemalloc's `dirty_decay_ms`, 10 s), as the idle
/// connections scenario waits 12 s after its clients closed.
const SETTLE_UNLOADED: Duration = Duration::from_secs(12);

/// At most this many apps are woken, spread over all of them.
const WOKEN: usize = 500;

/// Writes a config of `apps` apps of `plugin`, unloading after [`IDLE_MS`] if
/// `unload`, never otherwise.
///
/// # Errors
/// The file cannot be written.
pub fn write_config(
    path: &Path,
    port: u16,
    plugin: &Path,
    apps: usize,
    unload: bool,
) -> anyhow::Result<()> {
    let mut text = format!("listen = \"127.0.0.1:{port}\"\n\n[limits]\nmax_connections = 100\n");
    if unload {
        text.push_str(&format!("idle_unload_ms = {IDLE_MS}\n"));
    }
    for i in 0..apps {
        text.push_str(&format!(
            "\n[[app]]\nname = \"t{i}\"\nroute = \"/t{i}\"\nplugin = {:?}\n",
            plugin.display().to_string()
        ));
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// The RSS of the gateway `pid`, KiB, once it has settled after its start.
///
/// # Errors
/// The process cannot be read.
pub async fn settled_rss(pid: u32) -> anyhow::Result<u64> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    procfs::rss_kib(pid)
}

/// Measures the gateway `pid` (unloading on), started in `start_s` with `apps` apps at
/// `port`; `base_kib` is the RSS of a one-app gateway, `loaded_kib` that of a gateway
/// of as many apps that never unloads.
///
/// # Errors
/// The process cannot be read, or no app answers.
pub async fn measure(
    pid: u32,
    port: u16,
    apps: usize,
    start_s: f64,
    base_kib: u64,
    loaded_kib: u64,
) -> anyhow::Result<TenantsReport> {
    let per_app = |rss: u64| (rss.saturating_sub(base_kib)) as f64 / apps.max(1) as f64;
    tokio::time::sleep(Duration::from_millis(IDLE_MS * 3) + SETTLE_UNLOADED).await;
    let unloaded = procfs::rss_kib(pid)?;
    let threads = procfs::threads(pid)?;
    let step = (apps / WOKEN).max(1);
    let mut clients = Vec::new();
    for i in (0..apps).step_by(step) {
        let target = Target::new(([127, 0, 0, 1], port).into(), &format!("/t{i}"))?;
        clients.push(client::connect(&target, client::source(0, 1)).await?);
    }
    // The connections' on-connect loaded their apps: idle again until they unload.
    tokio::time::sleep(Duration::from_millis(IDLE_MS * 3)).await;
    let mut wakes = Latency::new();
    let mut warm = Latency::new();
    for ws in &mut clients {
        wakes.record(round_trip(ws).await?);
        warm.record(round_trip(ws).await?);
    }
    for mut ws in clients {
        let _ = ws.close(None).await;
    }
    anyhow::ensure!(wakes.count() > 0, "no app answered");
    let (wakes, warm) = (wakes.summary(), warm.summary());
    Ok(TenantsReport {
        apps,
        start_s,
        kib_per_app_loaded: per_app(loaded_kib),
        kib_per_app_unloaded: per_app(unloaded),
        threads,
        wake_p50_ms: wakes.p50_us / 1e3,
        wake_p99_ms: wakes.p99_us / 1e3,
        warm_p50_ms: warm.p50_us / 1e3,
        warm_p99_ms: warm.p99_us / 1e3,
    })
}

/// One text message's round trip to its echo.
async fn round_trip(ws: &mut client::Client) -> anyhow::Result<Duration> {
    let started = Instant::now();
    ws.send(Message::text("x")).await?;
    loop {
        match ws.next().await {
            Some(message) => {
                if matches!(message?, Message::Text(_)) {
                    return Ok(started.elapsed());
                }
            }
            None => anyhow::bail!("an app closed its connection instead of echoing"),
        }
    }
}
