//! `tenants`: many apps of one plugin on one gateway, as a multi-tenant node runs
//! them. For N apps: how long the gateway takes to start, what it holds per app
//! (loaded, then after `idle_unload_ms` unloaded them), its threads, and the time
//! from a client's connect to its first echo when the app was unloaded (the wake,
//! with the handshake), over a sample of the apps taken in turn.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target};
use crate::procfs;

/// The figures of one run of N apps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantsReport {
    /// Apps served.
    pub apps: usize,
    /// From the gateway's start to its first accepted connection, seconds.
    pub start_s: f64,
    /// RSS per app right after start (instances loaded), KiB, over a one-app gateway.
    pub kib_per_app_loaded: f64,
    /// RSS per app once every app unloaded, KiB, over a one-app gateway.
    pub kib_per_app_unloaded: f64,
    /// The gateway's threads.
    pub threads: u64,
    /// Connect and first echo of an unloaded app, ms: median and 99th percentile.
    pub wake_p50_ms: f64,
    /// As above, 99th percentile.
    pub wake_p99_ms: f64,
}

/// How long the apps are left idle before they unload (`idle_unload_ms`), and how
/// long the run waits for it.
const IDLE_MS: u64 = 500;

/// Writes a config of `apps` apps of `plugin`, unloading after [`IDLE_MS`].
///
/// # Errors
/// The file cannot be written.
pub fn write_config(path: &Path, port: u16, plugin: &Path, apps: usize) -> anyhow::Result<()> {
    let mut text = format!(
        "listen = \"127.0.0.1:{port}\"\n\n[limits]\nmax_connections = 100\nidle_unload_ms = {IDLE_MS}\n"
    );
    for i in 0..apps {
        text.push_str(&format!(
            "\n[[app]]\nname = \"t{i}\"\nroute = \"/t{i}\"\nplugin = {:?}\n",
            plugin.display().to_string()
        ));
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// Measures the gateway `pid`, started `started` with `apps` apps at `port`; `base_kib`
/// is the RSS of a one-app gateway.
///
/// # Errors
/// The process cannot be read, or no app answers.
pub async fn measure(
    pid: u32,
    port: u16,
    apps: usize,
    start_s: f64,
    base_kib: u64,
) -> anyhow::Result<TenantsReport> {
    let per_app = |rss: u64| (rss.saturating_sub(base_kib)) as f64 / apps.max(1) as f64;
    let loaded = procfs::rss_kib(pid)?;
    tokio::time::sleep(Duration::from_millis(IDLE_MS * 3)).await;
    let unloaded = procfs::rss_kib(pid)?;
    let threads = procfs::threads(pid)?;
    // At most 500 apps, spread over all of them, each unloaded when reached.
    let step = (apps / 500).max(1);
    let mut times = Vec::new();
    for i in (0..apps).step_by(step) {
        let target = Target::new(([127, 0, 0, 1], port).into(), &format!("/t{i}"))?;
        let started = Instant::now();
        let mut ws = client::connect(&target, client::source(0, 1)).await?;
        ws.send(Message::text("x")).await?;
        while let Some(message) = ws.next().await {
            if matches!(message?, Message::Text(_)) {
                break;
            }
        }
        times.push(started.elapsed().as_secs_f64() * 1e3);
        let _ = ws.close(None).await;
    }
    anyhow::ensure!(!times.is_empty(), "no app answered");
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(TenantsReport {
        apps,
        start_s,
        kib_per_app_loaded: per_app(loaded),
        kib_per_app_unloaded: per_app(unloaded),
        threads,
        wake_p50_ms: at(0.5),
        wake_p99_ms: at(0.99),
    })
}
