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
use crate::procfs::{CpuMeter, CpuUse};
use crate::raw;
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
    /// Each connection writes its `depth` messages in one write and waits for every
    /// reply before the next batch (as pipelining clients do); else a message is
    /// written as soon as a reply frees its slot (mostly a write per message).
    pub batched: bool,
    /// How the client speaks.
    pub client: EchoClient,
}

/// How the echo load's connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EchoClient {
    /// tokio-tungstenite, as an application would: it costs more per message than
    /// the servers it loads, so it saturates first.
    #[default]
    Tungstenite,
    /// Frames encoded once and written as bytes, replies compared as bytes (see
    /// [`raw`]): the generator spends next to nothing per message.
    Frames,
    /// The same bytes to a byte echo server, without the upgrade: the raw-TCP
    /// ceiling.
    RawTcp,
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
    /// Server CPU seconds during the measured window, when its pid was given: its
    /// CPU-s per second over the meter's span times the window's length.
    pub server_cpu_s: Option<f64>,
    /// Wall-clock seconds between the meter's two reads of the server's CPU time
    /// (the window's length, or more when the reader woke late).
    pub server_cpu_span_s: Option<f64>,
    /// Round trips per server CPU-second.
    pub msgs_per_cpu_s: Option<f64>,
    /// Server CPU time per round trip in its own code, µs (from `/proc`'s utime):
    /// where one server differs from another, the kernel's share being the same
    /// socket work for all.
    pub server_user_us_per_msg: Option<f64>,
    /// Server CPU time per round trip in the kernel, µs (stime).
    pub server_kernel_us_per_msg: Option<f64>,
    /// This load generator's CPU over the window, in % of one core (it runs on one
    /// thread): near 100 it is the bottleneck, and the run measures it.
    pub generator_cpu_percent: Option<f64>,
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
    let window = Window::after(opts.warmup, opts.duration);
    let totals = Arc::new(Mutex::new(Totals::default()));
    let depth = opts.depth.max(1);
    let tasks: Vec<_> = if opts.client != EchoClient::Tungstenite {
        let frames = raw::frames(&payload, opts.client == EchoClient::RawTcp);
        let mut tasks = Vec::new();
        for i in 0..opts.connections {
            let source = client::source(i, opts.sources);
            let upgrade = opts.client == EchoClient::Frames;
            let tcp = match raw::open(&opts.target, source, upgrade).await {
                Ok(tcp) => tcp,
                Err(e) => {
                    eprintln!("connection to {} failed: {e:#}", opts.target.addr);
                    totals
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .failures += 1;
                    continue;
                }
            };
            let (frames, totals, batched) = (frames.clone(), totals.clone(), opts.batched);
            tasks.push(tokio::spawn(async move {
                let mut latency = Latency::new();
                let ok = raw::drive(tcp, &frames, depth, batched, window, &mut latency).await;
                finish(&totals, &latency, ok);
            }));
        }
        tasks
    } else {
        let (clients, failures) =
            client::connect_many(&opts.target, 0, opts.connections, opts.sources, 64).await;
        totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .failures += failures;
        clients
            .into_iter()
            .map(|ws| {
                let (payload, totals, batched) = (payload.clone(), totals.clone(), opts.batched);
                tokio::spawn(async move {
                    let mut latency = Latency::new();
                    let ok = if batched {
                        drive_batched(ws, &payload, depth, window, &mut latency).await
                    } else {
                        drive(ws, &payload, depth, window, &mut latency).await
                    };
                    finish(&totals, &latency, ok);
                })
            })
            .collect()
    };
    anyhow::ensure!(!tasks.is_empty(), "no connection could be opened");
    let server_pid = opts.server_pid;
    let meter = tokio::spawn(async move {
        tokio::time::sleep_until(window.start.into()).await;
        let server = server_pid.and_then(|pid| CpuMeter::start(pid).ok());
        let generator = CpuMeter::start(std::process::id()).ok();
        tokio::time::sleep_until(window.end.into()).await;
        (
            server.and_then(|m| m.span().ok()),
            generator.and_then(|m| m.span().ok()),
        )
    });
    for task in tasks {
        let _ = task.await;
    }
    let (server_cpu, generator_cpu) = meter.await.unwrap_or((None, None));
    let t = totals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let msgs_per_sec = t.latency.count() as f64 / window.seconds();
    // Per-message CPU from rates: CPU-s per second over the meter's own span, over
    // messages per second over the window (a late read would otherwise count CPU
    // time of the span's overrun against the window's messages).
    let per_msg = |seconds: f64| (msgs_per_sec > 0.0).then(|| seconds * 1e6 / msgs_per_sec);
    let rate = |cpu: &CpuUse, part: f64| {
        if cpu.seconds > 0.0 {
            part / cpu.seconds
        } else {
            0.0
        }
    };
    Ok(EchoReport {
        msgs_per_sec,
        mb_per_sec: msgs_per_sec * opts.size as f64 / 1e6,
        latency: t.latency.summary(),
        failures: t.failures,
        server_cpu_s: server_cpu.map(|c| c.per_second() * window.seconds()),
        server_cpu_span_s: server_cpu.map(|c| c.seconds),
        msgs_per_cpu_s: server_cpu
            .map(|c| c.per_second())
            .filter(|s| *s > 0.0)
            .map(|s| msgs_per_sec / s),
        server_user_us_per_msg: server_cpu.and_then(|c| per_msg(rate(&c, c.time.user))),
        server_kernel_us_per_msg: server_cpu.and_then(|c| per_msg(rate(&c, c.time.system))),
        generator_cpu_percent: generator_cpu.map(|c| c.per_second() * 100.0),
    })
}

/// Adds one connection's latencies (and its failure) to the totals.
fn finish(totals: &Mutex<Totals>, latency: &Latency, ok: bool) {
    let mut t = totals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    t.latency.merge(latency);
    if !ok {
        t.failures += 1;
    }
}

/// One connection's loop of batches: `depth` messages fed and flushed in one write,
/// then every reply read, until the window ends. Returns whether the connection
/// lasted the run.
async fn drive_batched(
    mut ws: Client,
    payload: &Message,
    depth: usize,
    window: Window,
    latency: &mut Latency,
) -> bool {
    loop {
        let sent = Instant::now();
        for _ in 0..depth {
            if ws.feed(payload.clone()).await.is_err() {
                return false;
            }
        }
        if ws.flush().await.is_err() {
            return false;
        }
        let mut got = 0;
        while got < depth {
            match ws.next().await {
                Some(Ok(Message::Text(_) | Message::Binary(_))) => got += 1,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return false,
            }
        }
        let now = Instant::now();
        if window.measures(now) {
            for _ in 0..depth {
                latency.record(now - sent);
            }
        }
        if now >= window.end {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    true
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
