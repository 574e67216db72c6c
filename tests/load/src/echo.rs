//! `echo`: N connections send messages and wait for them back, keeping `depth`
//! messages in flight each; reports messages per second, MB/s and round-trip
//! latency.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Client, Target};
use crate::procfs::{CpuMeter, CpuTime};
use crate::stats::{Latency, Percentiles, Window};

/// What an `echo` run does.
#[derive(Debug, Clone)]
pub struct EchoOptions {
    /// Where to connect.
    pub target: Target,
    /// Connections.
    pub connections: usize,
    /// Message size in bytes.
    pub size: usize,
    /// Binary messages (else text).
    pub binary: bool,
    /// Messages in flight per connection.
    pub depth: usize,
    /// Unmeasured time first.
    pub warmup: Duration,
    /// Measured time.
    pub duration: Duration,
    /// Source addresses to spread connections over.
    pub sources: usize,
    /// The server process, to measure its CPU time.
    pub server_pid: Option<u32>,
}

/// The result of an `echo` run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EchoReport {
    /// Round trips completed per second.
    pub msgs_per_sec: f64,
    /// Payload megabytes (10^6) echoed per second, one way.
    pub mb_per_sec: f64,
    /// Round-trip latency.
    pub latency: Percentiles,
    /// Connections that failed (could not open, or broke during the run).
    pub failures: usize,
    /// Server CPU seconds during the measured window, when its pid was given.
    pub server_cpu_s: Option<f64>,
    /// Round trips per server CPU-second.
    pub msgs_per_cpu_s: Option<f64>,
    /// Server CPU time per round trip in its own code, µs (from `/proc`'s utime):
    /// where one server differs from another, the kernel's share being the same
    /// socket work for all.
    pub server_user_us_per_msg: Option<f64>,
    /// Server CPU time per round trip in the kernel, µs (stime).
    pub server_kernel_us_per_msg: Option<f64>,
}

#[derive(Default)]
struct Totals {
    latency: Latency,
    failures: usize,
}

/// Runs an `echo` load.
///
/// # Errors
/// No connection could be opened.
pub async fn run(opts: &EchoOptions) -> anyhow::Result<EchoReport> {
    let payload = if opts.binary {
        Message::binary(vec![0xA5; opts.size])
    } else {
        Message::text("x".repeat(opts.size))
    };
    let (clients, failures) =
        client::connect_many(&opts.target, 0, opts.connections, opts.sources, 64).await;
    anyhow::ensure!(!clients.is_empty(), "no connection could be opened");
    let window = Window::after(opts.warmup, opts.duration);
    let totals = Arc::new(Mutex::new(Totals {
        failures,
        ..Totals::default()
    }));
    let meter = opts.server_pid.map(|pid| {
        let start = window.start;
        tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let meter = CpuMeter::start(pid).ok()?;
            tokio::time::sleep_until(window.end.into()).await;
            meter.used_split().ok()
        })
    });
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|ws| {
            let payload = payload.clone();
            let totals = totals.clone();
            let depth = opts.depth.max(1);
            tokio::spawn(async move {
                let mut latency = Latency::new();
                let ok = drive(ws, &payload, depth, window, &mut latency).await;
                let mut t = totals
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                t.latency.merge(&latency);
                if !ok {
                    t.failures += 1;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let server_cpu = match meter {
        Some(m) => m.await.ok().flatten(),
        None => None,
    };
    let server_cpu_s = server_cpu.map(CpuTime::total);
    let t = totals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let msgs_per_sec = t.latency.count() as f64 / window.seconds();
    let per_msg = |seconds: f64| {
        let count = t.latency.count();
        (count > 0).then(|| seconds * 1e6 / count as f64)
    };
    Ok(EchoReport {
        msgs_per_sec,
        mb_per_sec: msgs_per_sec * opts.size as f64 / 1e6,
        latency: t.latency.summary(),
        failures: t.failures,
        server_cpu_s,
        msgs_per_cpu_s: server_cpu_s
            .filter(|s| *s > 0.0)
            .map(|s| t.latency.count() as f64 / s),
        server_user_us_per_msg: server_cpu.and_then(|c| per_msg(c.user)),
        server_kernel_us_per_msg: server_cpu.and_then(|c| per_msg(c.system)),
    })
}

/// One connection's loop: keeps `depth` messages in flight until the window ends.
/// Replies already received are handled before one flush sends the new messages.
/// Returns whether the connection lasted the run.
async fn drive(
    mut ws: Client,
    payload: &Message,
    depth: usize,
    window: Window,
    latency: &mut Latency,
) -> bool {
    let mut sent = VecDeque::with_capacity(depth);
    for _ in 0..depth {
        if ws.feed(payload.clone()).await.is_err() {
            return false;
        }
        sent.push_back(Instant::now());
    }
    if ws.flush().await.is_err() {
        return false;
    }
    let mut ready = None;
    loop {
        let next = match ready.take() {
            Some(next) => next,
            None => ws.next().await,
        };
        match next {
            Some(Ok(Message::Text(_) | Message::Binary(_))) => {}
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return false,
        }
        let now = Instant::now();
        if let Some(at) = sent.pop_front()
            && window.measures(now)
        {
            latency.record(now - at);
        }
        if now >= window.end {
            break;
        }
        if ws.feed(payload.clone()).await.is_err() {
            return false;
        }
        sent.push_back(now);
        match ws.next().now_or_never() {
            Some(next) => ready = Some(next),
            None => {
                if ws.flush().await.is_err() {
                    return false;
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    true
}
