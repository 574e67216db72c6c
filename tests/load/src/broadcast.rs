//! `broadcast`: N receivers and one sender on a relay route; the sender sends at a
//! series of rising rates, each receiver records the fan-out latency from the
//! timestamp in each payload. A step passes when at least 99 % of the deliveries
//! arrived and p99 latency stayed under the bound. A step that fails is run again,
//! up to `attempts` times in all: on a shared machine one stall of the server's core
//! (100 ms is enough) fails a step that the server holds, and with one attempt the
//! ladder measured the machine's pauses more than the server. The run stops at the
//! first rate none of whose attempts held; the best passing step is the sustained
//! rate.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Client, Target};
use crate::procfs::CpuMeter;
use crate::stats::{Latency, Percentiles, Window};

/// What a `broadcast` run does.
#[derive(Debug, Clone)]
pub struct BroadcastOptions {
    /// The relay route: the sender's, and the receivers'.
    pub target: Target,
    /// A second node's relay route: when given, half of the receivers connect there
    /// (a cluster's cross-node fan-out).
    pub also: Option<Target>,
    /// Receiving connections.
    pub receivers: usize,
    /// Messages per second the sender sends, one step each, in order.
    pub rates: Vec<f64>,
    /// Payload size in bytes (at least 13: timestamp, step and flag).
    pub size: usize,
    /// Unmeasured time at the start of each step.
    pub warmup: Duration,
    /// Measured time of each step.
    pub duration: Duration,
    /// Source addresses to spread connections over.
    pub sources: usize,
    /// The server processes (a cluster: its nodes and its Redis), to measure their
    /// CPU time together.
    pub server_pids: Vec<u32>,
    /// A step whose p99 fan-out latency reaches this fails.
    pub max_p99: Duration,
    /// Runs of one rate before its failure ends the ladder (at least 1).
    pub attempts: usize,
}

/// One rate step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    /// Messages per second the sender sent.
    pub rate: f64,
    /// Deliveries per second that rate asks for (rate × receivers).
    pub expected_per_sec: f64,
    /// Deliveries per second that arrived.
    pub delivered_per_sec: f64,
    /// Delivered ÷ expected.
    pub ratio: f64,
    /// Fan-out latency, from the sender's timestamp to a receiver reading it.
    pub latency: Percentiles,
    /// Server CPU seconds during the measured window, when its pid was given.
    pub server_cpu_s: Option<f64>,
    /// Deliveries per server CPU-second.
    pub per_cpu_s: Option<f64>,
    /// How busy the server was over the measured window, in % of one core.
    pub server_cpu_percent: Option<f64>,
    /// The load generator's own CPU over the window, in % of one core: near 100
    /// it is the bottleneck, and the step measures it rather than the server.
    pub generator_cpu_percent: Option<f64>,
    /// Whether the step held: ratio ≥ 0.99 and p99 under the bound.
    pub passed: bool,
}

/// The result of a `broadcast` run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastReport {
    /// Receivers connected.
    pub receivers: usize,
    /// Connections that could not open or were closed during the run.
    pub failures: usize,
    /// Every step run, in order (a rate tried again appears once per attempt).
    pub steps: Vec<StepReport>,
    /// The passing step with the most deliveries per second.
    pub sustained: Option<StepReport>,
}

/// The smallest payload: send time (8 bytes), step (4), measured flag (1).
pub const MIN_SIZE: usize = 13;

#[derive(Default)]
struct StepStats {
    delivered: u64,
    latency: Latency,
}

struct Shared {
    base: Instant,
    steps: Mutex<Vec<StepStats>>,
    closed: Mutex<usize>,
}

/// Runs a `broadcast` load.
///
/// # Errors
/// The sender or every receiver failed to connect.
pub async fn run(opts: &BroadcastOptions) -> anyhow::Result<BroadcastReport> {
    let size = opts.size.max(MIN_SIZE);
    let elsewhere = if opts.also.is_some() {
        opts.receivers / 2
    } else {
        0
    };
    let here = opts.receivers - elsewhere;
    let (mut receivers, mut failures) =
        client::connect_many(&opts.target, 1, here, opts.sources, 128).await;
    if let Some(other) = &opts.also {
        let (more, failed) =
            client::connect_many(other, 1 + here, elsewhere, opts.sources, 128).await;
        receivers.extend(more);
        failures += failed;
    }
    anyhow::ensure!(!receivers.is_empty(), "no receiver could connect");
    let connected = receivers.len();
    let mut sender = client::connect(&opts.target, client::source(0, opts.sources)).await?;
    let shared = Arc::new(Shared {
        base: Instant::now(),
        steps: Mutex::new(Vec::new()),
        closed: Mutex::new(0),
    });
    let tasks: Vec<_> = receivers
        .into_iter()
        .map(|ws| tokio::spawn(receive(ws, shared.clone())))
        .collect();
    // Let the server register every receiver before the first step.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut steps: Vec<StepReport> = Vec::new();
    let mut ladder = Ladder::new(opts.rates.len(), opts.attempts);
    while let Some(rate) = ladder.next(steps.last().map(|s| s.passed)) {
        let rate = opts.rates[rate];
        // Each attempt credits its own slot: the payload carries the slot's index.
        let index = {
            let mut slots = shared.steps.lock().unwrap_or_else(PoisonError::into_inner);
            slots.push(StepStats::default());
            slots.len() - 1
        };
        let window = Window::after(opts.warmup, opts.duration);
        let generator = CpuMeter::start(std::process::id()).ok();
        let (sent, cpu) = send_step(
            &mut sender,
            &shared,
            index,
            rate,
            size,
            window,
            &opts.server_pids,
        )
        .await?;
        let generator_cpu_percent = generator
            .and_then(|m| m.used().ok())
            .map(|used| used * 100.0 / (window.seconds() + opts.warmup.as_secs_f64()));
        // Stragglers of the window still count (their latency shows they were late).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let alive = connected - *shared.closed.lock().unwrap_or_else(PoisonError::into_inner);
        let (delivered, latency) = {
            let steps = shared.steps.lock().unwrap_or_else(PoisonError::into_inner);
            (steps[index].delivered, steps[index].latency.summary())
        };
        let expected = sent as f64 * alive as f64;
        let ratio = if expected > 0.0 {
            delivered as f64 / expected
        } else {
            0.0
        };
        let passed =
            ratio >= 0.99 && latency.p99_us < opts.max_p99.as_micros() as f64 && alive == connected;
        let delivered_per_sec = delivered as f64 / window.seconds();
        let step = StepReport {
            rate,
            expected_per_sec: rate * alive as f64,
            delivered_per_sec,
            ratio,
            latency,
            server_cpu_s: cpu,
            per_cpu_s: cpu.filter(|c| *c > 0.0).map(|c| delivered as f64 / c),
            server_cpu_percent: cpu.map(|c| c * 100.0 / window.seconds()),
            generator_cpu_percent,
            passed,
        };
        eprintln!(
            "  broadcast {} receivers, {rate} msg/s: {:.0} deliveries/s ({:.1} %), p99 {:.1} ms, \
             generator CPU {:.0} %{}",
            connected,
            step.delivered_per_sec,
            ratio * 100.0,
            latency.p99_us / 1000.0,
            generator_cpu_percent.unwrap_or(f64::NAN),
            if passed { "" } else { " — failed" }
        );
        steps.push(step);
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sender.close(None)).await;
    for task in &tasks {
        task.abort();
    }
    failures += *shared.closed.lock().unwrap_or_else(PoisonError::into_inner);
    let sustained = steps
        .iter()
        .filter(|s| s.passed)
        .max_by(|a, b| a.delivered_per_sec.total_cmp(&b.delivered_per_sec))
        .cloned();
    Ok(BroadcastReport {
        receivers: connected,
        failures,
        steps,
        sustained,
    })
}

/// Which rate to run next: the next one after a pass, the same one again after a
/// failure while attempts are left, none after a rate's last failed attempt.
#[derive(Debug)]
struct Ladder {
    rates: usize,
    attempts: usize,
    rate: usize,
    attempt: usize,
}

impl Ladder {
    fn new(rates: usize, attempts: usize) -> Self {
        Self {
            rates,
            attempts: attempts.max(1),
            rate: 0,
            attempt: 0,
        }
    }

    /// The index of the rate to run, given whether the last step held (`None`
    /// before the first).
    fn next(&mut self, last_passed: Option<bool>) -> Option<usize> {
        match last_passed {
            None => {}
            Some(true) => {
                self.rate += 1;
                self.attempt = 0;
            }
            Some(false) => {
                self.attempt += 1;
                if self.attempt >= self.attempts {
                    return None;
                }
            }
        }
        (self.rate < self.rates).then_some(self.rate)
    }
}

/// Sends at `rate` messages per second through the warm-up and the window, in 1 ms
/// ticks (one flush per tick). Returns the messages sent within the window and the
/// server's CPU seconds over it.
async fn send_step(
    sender: &mut Client,
    shared: &Shared,
    step: usize,
    rate: f64,
    size: usize,
    window: Window,
    server_pids: &[u32],
) -> anyhow::Result<(u64, Option<f64>)> {
    let begin = Instant::now();
    let mut total = 0u64;
    let mut measured = 0u64;
    let mut meter = None;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut payload = vec![0u8; size];
    payload[8..12].copy_from_slice(&u32::try_from(step).unwrap_or(u32::MAX).to_le_bytes());
    loop {
        tick.tick().await;
        let now = Instant::now();
        if now >= window.end {
            break;
        }
        let in_window = window.measures(now);
        if in_window && meter.is_none() && !server_pids.is_empty() {
            meter = server_pids
                .iter()
                .map(|&pid| CpuMeter::start(pid).ok())
                .collect::<Option<Vec<_>>>();
        }
        let due = (rate * (now - begin).as_secs_f64()) as u64;
        while total < due {
            let at = u64::try_from((Instant::now() - shared.base).as_nanos()).unwrap_or(u64::MAX);
            payload[..8].copy_from_slice(&at.to_le_bytes());
            payload[12] = u8::from(in_window);
            sender.feed(Message::binary(payload.clone())).await?;
            total += 1;
            measured += u64::from(in_window);
        }
        sender.flush().await?;
    }
    let cpu = meter.and_then(|meters| meters.iter().map(|m| m.used().ok()).sum::<Option<f64>>());
    Ok((measured, cpu))
}

/// One receiver: reads until the connection ends, crediting each measured message
/// to its step.
async fn receive(mut ws: Client, shared: Arc<Shared>) {
    while let Some(Ok(message)) = ws.next().await {
        let Message::Binary(data) = message else {
            continue;
        };
        let Some(stamp) = Stamp::parse(&data) else {
            continue;
        };
        if !stamp.measured {
            continue;
        }
        let now = u64::try_from((Instant::now() - shared.base).as_nanos()).unwrap_or(u64::MAX);
        let mut steps = shared.steps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = steps.get_mut(stamp.step) {
            s.delivered += 1;
            s.latency
                .record(Duration::from_nanos(now.saturating_sub(stamp.sent_ns)));
        }
    }
    *shared.closed.lock().unwrap_or_else(PoisonError::into_inner) += 1;
}

/// What a broadcast payload carries.
#[derive(Debug, PartialEq, Eq)]
struct Stamp {
    sent_ns: u64,
    step: usize,
    measured: bool,
}

impl Stamp {
    fn parse(data: &[u8]) -> Option<Self> {
        let sent_ns = u64::from_le_bytes(data.get(..8)?.try_into().ok()?);
        let step = u32::from_le_bytes(data.get(8..12)?.try_into().ok()?) as usize;
        let measured = *data.get(12)? == 1;
        Some(Self {
            sent_ns,
            step,
            measured,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_tries_a_failed_rate_again_and_stops_after_its_last_attempt() {
        let mut l = Ladder::new(3, 2);
        assert_eq!(l.next(None), Some(0));
        assert_eq!(l.next(Some(true)), Some(1));
        assert_eq!(l.next(Some(false)), Some(1), "a second attempt");
        assert_eq!(l.next(Some(true)), Some(2), "held on the second: go on");
        assert_eq!(l.next(Some(false)), Some(2));
        assert_eq!(l.next(Some(false)), None, "both attempts failed");
    }

    #[test]
    fn the_ladder_with_one_attempt_stops_at_the_first_failure_and_ends_after_the_last_rate() {
        let mut l = Ladder::new(2, 1);
        assert_eq!(l.next(None), Some(0));
        assert_eq!(l.next(Some(false)), None);
        let mut l = Ladder::new(2, 0);
        assert_eq!(l.next(None), Some(0), "0 attempts means 1");
        assert_eq!(l.next(Some(true)), Some(1));
        assert_eq!(l.next(Some(true)), None, "no rates left");
        assert_eq!(Ladder::new(0, 2).next(None), None);
    }

    #[test]
    fn a_stamp_reads_back_what_the_sender_wrote() {
        let mut p = vec![0u8; 32];
        p[..8].copy_from_slice(&123_456u64.to_le_bytes());
        p[8..12].copy_from_slice(&3u32.to_le_bytes());
        p[12] = 1;
        assert_eq!(
            Stamp::parse(&p),
            Some(Stamp {
                sent_ns: 123_456,
                step: 3,
                measured: true
            })
        );
        assert_eq!(Stamp::parse(&p[..12]), None);
    }
}
