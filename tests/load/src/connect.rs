//! `connect`: opens idle connections in steps, holds them, and reports the connect
//! rate, failures and the server's resident memory at each step, so memory per
//! connection is a slope. Connections are spread over several `127.0.0.x` source
//! addresses (past one address's ephemeral ports) and, with `processes` > 1, over
//! child processes (past one process's open-file limit).

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use crate::client::{self, Client, Target};
use crate::procfs;

/// How long after the last close the server's memory is read again.
pub const AFTER_CLOSE: Duration = Duration::from_secs(12);
/// The suite's name for what [`AFTER_CLOSE`] measures (says the same wait).
pub const AFTER_CLOSE_METRIC: &str = "MiB kept 12 s after all closed";

/// What a `connect` run does.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Where to connect.
    pub target: Target,
    /// Total open connections after each step, rising.
    pub steps: Vec<usize>,
    /// Source addresses to spread connections over.
    pub sources: usize,
    /// Client processes to spread connections over.
    pub processes: usize,
    /// How long to let the server settle before reading its memory.
    pub settle: Duration,
    /// The server process, to read its memory.
    pub server_pid: Option<u32>,
    /// Bytes of one binary message each connection sends, and waits to have echoed,
    /// once it is open (0: none): what an idle connection keeps after it was busy.
    pub echo_first: usize,
}

/// The server's state after one step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepMemory {
    /// Connections open.
    pub open: usize,
    /// The server's resident memory, KiB.
    pub rss_kib: Option<u64>,
}

/// The result of a `connect` run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectReport {
    /// Connections asked for (the last step).
    pub requested: usize,
    /// Connections open at the end.
    pub opened: usize,
    /// Connections that failed to open.
    pub failed: usize,
    /// Handshakes completed per second (all steps).
    pub connects_per_sec: f64,
    /// The server's resident memory before the first connection, KiB.
    pub rss_before_kib: Option<u64>,
    /// The server after each step.
    pub steps: Vec<StepMemory>,
    /// Resident memory per open connection at the last step, KiB.
    pub kib_per_conn: Option<f64>,
    /// Resident memory 100,000 connections would take, projected from the slope
    /// between the first and the last step, MiB.
    pub projected_100k_mib: Option<f64>,
    /// The server's resident memory [`AFTER_CLOSE`] after every connection closed,
    /// KiB: what its allocator keeps of the high-water mark.
    pub rss_after_close_kib: Option<u64>,
}

/// Runs a `connect` load.
///
/// # Errors
/// A child process could not start or reported nonsense.
pub async fn run(opts: &ConnectOptions) -> anyhow::Result<ConnectReport> {
    let rss = || opts.server_pid.and_then(|pid| procfs::rss_kib(pid).ok());
    let rss_before_kib = rss();
    let processes = opts.processes.max(1);
    let mut holders: Vec<Holder> = Vec::new();
    let mut open = 0usize;
    let mut failed = 0usize;
    let mut steps = Vec::new();
    let mut connect_time = Duration::ZERO;
    for &target_open in &opts.steps {
        let want = target_open.saturating_sub(open + failed);
        let started = Instant::now();
        // Each process opens its share of this step.
        let shares = split(want, processes);
        let mut batch = Vec::new();
        for (p, &share) in shares.iter().enumerate() {
            if share == 0 {
                continue;
            }
            let first = open + failed + shares[..p].iter().sum::<usize>();
            batch.push(Holder::start(opts, first, share, processes > 1).await?);
        }
        for holder in &mut batch {
            let (ok, bad) = holder.opened().await?;
            open += ok;
            failed += bad;
        }
        connect_time += started.elapsed();
        holders.extend(batch);
        tokio::time::sleep(opts.settle).await;
        let step = StepMemory {
            open,
            rss_kib: rss(),
        };
        eprintln!(
            "  connect: {open} open, {failed} failed, server RSS {} KiB",
            step.rss_kib.map_or_else(|| "?".into(), |r| r.to_string())
        );
        steps.push(step);
    }
    for holder in holders {
        holder.release().await;
    }
    // The server sees the closes, ends the connections' tasks and frees them; an
    // allocator that returns freed pages may take its time (jemalloc's decay: 10 s).
    tokio::time::sleep(AFTER_CLOSE).await;
    let rss_after_close_kib = rss();
    let kib_per_conn = match (rss_before_kib, steps.last()) {
        (
            Some(before),
            Some(StepMemory {
                open,
                rss_kib: Some(after),
            }),
        ) if *open > 0 => Some((*after as f64 - before as f64) / *open as f64),
        _ => None,
    };
    let projected_100k_mib = match (steps.first(), steps.last()) {
        (
            Some(StepMemory {
                open: o1,
                rss_kib: Some(r1),
            }),
            Some(StepMemory {
                open: o2,
                rss_kib: Some(r2),
            }),
        ) if o2 > o1 => {
            let slope = (*r2 as f64 - *r1 as f64) / (*o2 - *o1) as f64;
            Some((*r2 as f64 + slope * (100_000.0 - *o2 as f64)) / 1024.0)
        }
        _ => None,
    };
    Ok(ConnectReport {
        requested: opts.steps.last().copied().unwrap_or(0),
        opened: open,
        failed,
        connects_per_sec: open as f64 / connect_time.as_secs_f64().max(1e-9),
        rss_before_kib,
        steps,
        kib_per_conn,
        projected_100k_mib,
        rss_after_close_kib,
    })
}

/// `n` split into `parts` near-equal shares.
fn split(n: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|i| n / parts + usize::from(i < n % parts))
        .collect()
}

/// What a `hold` child prints once its connections are open.
#[derive(Debug, Serialize, Deserialize)]
pub struct HoldReport {
    /// Connections open.
    pub opened: usize,
    /// Connections that failed.
    pub failed: usize,
}

/// Connections held open by this process, each answering pings until released.
struct Held {
    release: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    report: HoldReport,
}

impl Held {
    /// Opens `count` connections (indices from `first`), has each echo one message
    /// of `echo_first` bytes if that is not 0, and starts holding them.
    async fn open(
        target: &Target,
        first: usize,
        count: usize,
        sources: usize,
        echo_first: usize,
    ) -> Self {
        let release = Arc::new(Notify::new());
        let (clients, mut failed) = client::connect_many(target, first, count, sources, 128).await;
        let clients = if echo_first == 0 {
            clients
        } else {
            let echoed: Vec<Option<Client>> = futures_util::stream::iter(clients)
                .map(|ws| echo_once(ws, echo_first))
                .buffer_unordered(128)
                .collect()
                .await;
            failed += echoed.iter().filter(|ws| ws.is_none()).count();
            echoed.into_iter().flatten().collect()
        };
        let report = HoldReport {
            opened: clients.len(),
            failed,
        };
        let tasks = clients
            .into_iter()
            .map(|ws| tokio::spawn(hold_one(ws, release.clone())))
            .collect();
        Self {
            release,
            tasks,
            report,
        }
    }

    /// Closes the connections.
    async fn release(self) {
        self.release.notify_waiters();
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

/// A set of held connections, in this process or in a child.
enum Holder {
    Local(Held),
    Child(Child),
}

impl Holder {
    async fn start(
        opts: &ConnectOptions,
        first: usize,
        count: usize,
        child: bool,
    ) -> anyhow::Result<Self> {
        if !child {
            let held = Held::open(&opts.target, first, count, opts.sources, opts.echo_first).await;
            return Ok(Self::Local(held));
        }
        let exe = std::env::current_exe().context("finding the load generator's own binary")?;
        let child = Command::new(exe)
            .args(["hold", "--addr", &opts.target.addr.to_string()])
            .args(["--path", &opts.target.path])
            .args(["--first", &first.to_string(), "--count", &count.to_string()])
            .args(["--sources", &opts.sources.to_string()])
            .args(["--echo-first", &opts.echo_first.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a client process")?;
        Ok(Self::Child(child))
    }

    /// Waits until the connections are open: (opened, failed).
    async fn opened(&mut self) -> anyhow::Result<(usize, usize)> {
        match self {
            Self::Local(held) => Ok((held.report.opened, held.report.failed)),
            Self::Child(child) => {
                let stdout = child.stdout.as_mut().context("child without stdout")?;
                let mut line = String::new();
                BufReader::new(stdout).read_line(&mut line).await?;
                if line.is_empty() {
                    bail!("a client process ended before reporting");
                }
                let report: HoldReport = serde_json::from_str(&line)
                    .with_context(|| format!("a client process reported {line:?}"))?;
                Ok((report.opened, report.failed))
            }
        }
    }

    /// Closes the connections.
    async fn release(self) {
        match self {
            Self::Local(held) => held.release().await,
            Self::Child(mut child) => {
                drop(child.stdin.take());
                if tokio::time::timeout(Duration::from_secs(10), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
        }
    }
}

/// Sends one binary message of `size` bytes and waits for its echo (the server's
/// pings answered meanwhile); `None` if the connection failed or did not echo it
/// within 10 s.
async fn echo_once(mut ws: Client, size: usize) -> Option<Client> {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let payload = vec![0x5a_u8; size];
    ws.send(Message::binary(payload.clone())).await.ok()?;
    let echoed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(data))) => return data[..] == payload[..],
                Some(Ok(_)) => {}
                _ => return false,
            }
        }
    })
    .await;
    matches!(echoed, Ok(true)).then_some(ws)
}

/// Holds one connection open, answering the server's pings, until released.
async fn hold_one(mut ws: Client, release: Arc<Notify>) {
    let released = release.notified();
    tokio::pin!(released);
    loop {
        tokio::select! {
            () = &mut released => break,
            next = ws.next() => if !matches!(next, Some(Ok(_))) { return },
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

/// The `hold` child: opens `count` connections (each echoing one message of
/// `echo_first` bytes first, if not 0), prints a [`HoldReport`] line, holds
/// them until its standard input closes, then closes them.
///
/// # Errors
/// Writing the report failed.
pub async fn hold(
    target: &Target,
    first: usize,
    count: usize,
    sources: usize,
    echo_first: usize,
) -> anyhow::Result<()> {
    let held = Held::open(target, first, count, sources, echo_first).await;
    println!("{}", serde_json::to_string(&held.report)?);
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    held.release().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_after_close_metric_names_the_wait_it_measures() {
        let wait = format!("{} s after", AFTER_CLOSE.as_secs());
        assert!(AFTER_CLOSE_METRIC.contains(&wait), "{AFTER_CLOSE_METRIC}");
    }

    #[test]
    fn shares_add_up_and_differ_by_one_at_most() {
        assert_eq!(split(10, 3), [4, 3, 3]);
        assert_eq!(split(2, 4), [1, 1, 0, 0]);
        assert_eq!(split(0, 2), [0, 0]);
    }
}
