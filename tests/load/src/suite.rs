//! The benchmark runner: starts each server in turn (the gateway, the native
//! baseline, the Node `ws` peer) on its own core, runs every scenario against it
//! from this process on another core, repeats, and prints medians and ratios.
//!
//! Each scenario gets a freshly started server, so no run inherits another's heap.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::broadcast::{self, BroadcastOptions};
use crate::client::Target;
use crate::connect::{self, ConnectOptions};
use crate::echo::{self, EchoClient, EchoOptions};
use crate::stats::median;
use crate::tenants;

/// A server the suite measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Server {
    /// wsgate with the echo and relay plugins.
    Gateway,
    /// wsgate with the JavaScript echo and relay (`echo-js`, `relay-js`): the cost
    /// of a JavaScript hook beside a Rust one.
    GatewayJs,
    /// The native tokio-tungstenite baseline.
    Baseline,
    /// The Node.js `ws` peer.
    Node,
    /// A plain TCP echo of the same bytes (`wsgate-baseline --raw`): the ceiling of
    /// the generator and the kernel for the echo scenarios (no other runs on it).
    Tcp,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::GatewayJs => "gateway js",
            Self::Baseline => "baseline",
            Self::Node => "node ws",
            Self::Tcp => "raw TCP",
        }
    }
}

/// A workload the suite runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    /// 100 connections, 32 B text, one message in flight each.
    Echo32,
    /// 100 connections, 32 B text, 16 in flight each, a write per message.
    Echo32Pipelined,
    /// 100 connections, 32 B text, 16 in flight each written in one write (as a
    /// pipelining client does), every reply awaited before the next 16.
    Echo32Batched,
    /// 100 connections, 4 KiB binary, one in flight each.
    Echo4k,
    /// One sender to 1,000 receivers, rising rates.
    Broadcast1k,
    /// One sender to 10,000 receivers, rising rates.
    Broadcast10k,
    /// One sender publishing to a room of 1,000 members (the gateway only: the
    /// other servers have no rooms), rising rates; beside `broadcast1k`.
    Publish1k,
    /// Publish to a room of 1,000 members split over two cluster nodes (the
    /// gateway only), the sender on the first: the cross-node fan-out through a
    /// redis-server, beside `publish1k` in the same run. Both nodes and Redis share
    /// the server CPU.
    ClusterPublish1k,
    /// Idle connections: 10,000, then up to the open-file limit.
    Idle,
    /// Idle after busy: 10,000 connections, each first echoing one 64 KiB binary
    /// message, read 40 s later (past the gateway's first heartbeat at 25 s, when
    /// it gives back what the message grew, and jemalloc's 10 s decay). Not in the
    /// default list: it takes a minute per server.
    IdleBusy,
    /// 100, 1,000 and 10,000 apps of the echo plugin (the gateway only): start time,
    /// memory per app loaded and unloaded, threads, and the wake of an unloaded app.
    Tenants,
}

impl Scenario {
    /// Whether it is an echo load (the raw-TCP ceiling exists for those only).
    fn is_echo(self) -> bool {
        matches!(
            self,
            Self::Echo32 | Self::Echo32Pipelined | Self::Echo32Batched | Self::Echo4k
        )
    }
}

/// A generator busier than this (% of its one core) is the bottleneck: the run
/// measured it, not the server, and no ratio is given.
pub const GENERATOR_BOUND_PERCENT: f64 = 90.0;

/// How the suite runs.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The `wsgate` binary.
    pub gateway: PathBuf,
    /// The `wsgate-baseline` binary.
    pub baseline: PathBuf,
    /// The Node peer's script (`tests/load/peer/server.mjs`).
    pub node_peer: PathBuf,
    /// Folder holding `echo.wasm` and `relay.wasm`.
    pub plugins: PathBuf,
    /// Folder holding `echo-js/echo-js.wasm` and `relay-js/relay-js.wasm`.
    pub js_plugins: PathBuf,
    /// Servers to measure.
    pub servers: Vec<Server>,
    /// Scenarios to run.
    pub scenarios: Vec<Scenario>,
    /// Repetitions.
    pub reps: usize,
    /// Warm-up before each measured window.
    pub warmup: Duration,
    /// Measured window of echo runs (broadcast steps take half of it).
    pub duration: Duration,
    /// The CPU the servers are pinned to (the suite should run pinned elsewhere).
    pub server_cpu: Option<usize>,
    /// The port servers listen on.
    pub port: u16,
}

/// One number a scenario produced, under a name such as `msgs/s`.
type Metrics = BTreeMap<&'static str, f64>;

/// Runs the suite and returns the report (markdown).
///
/// # Errors
/// A server could not start, or a scenario failed outright.
pub async fn run(opts: &SuiteOptions) -> anyhow::Result<String> {
    let config_dir = std::env::temp_dir().join(format!("wsgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&config_dir)?;
    let gateway_config = write_gateway_config(opts, &config_dir, Plugins::Rust)?;
    let js_config = if opts.servers.contains(&Server::GatewayJs) {
        write_gateway_config(opts, &config_dir, Plugins::JavaScript)?
    } else {
        gateway_config.clone()
    };
    // results[scenario][server][metric] = one value per repetition
    let mut results: BTreeMap<Scenario, BTreeMap<Server, BTreeMap<&'static str, Vec<f64>>>> =
        BTreeMap::new();
    for rep in 1..=opts.reps {
        for &scenario in &opts.scenarios {
            for &server in &opts.servers {
                let gateway_only = matches!(
                    scenario,
                    Scenario::Publish1k | Scenario::ClusterPublish1k | Scenario::Tenants
                );
                if (gateway_only && server != Server::Gateway)
                    || (server == Server::Tcp && !scenario.is_echo())
                {
                    continue;
                }
                eprintln!(
                    "rep {rep}/{}: {:?} on {}",
                    opts.reps,
                    scenario,
                    server.name()
                );
                let outcome = if scenario == Scenario::Tenants {
                    // It starts its own gateways, one per number of apps.
                    run_tenants(opts, &config_dir).await
                } else {
                    let mut processes = if scenario == Scenario::ClusterPublish1k {
                        start_cluster(opts, &gateway_config)?
                    } else {
                        let config = if server == Server::GatewayJs {
                            &js_config
                        } else {
                            &gateway_config
                        };
                        vec![start(opts, server, config)?]
                    };
                    let pids: Vec<u32> = processes.iter().map(Process::pid).collect();
                    let outcome = run_scenario(opts, scenario, server, &pids).await;
                    for process in &mut processes {
                        process.stop();
                    }
                    outcome
                };
                let metrics = match outcome {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("  failed: {e:#}");
                        Metrics::new()
                    }
                };
                let slot = results
                    .entry(scenario)
                    .or_default()
                    .entry(server)
                    .or_default();
                for (name, value) in metrics {
                    slot.entry(name).or_default().push(value);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&config_dir);
    Ok(render(opts, &results))
}

/// Runs one scenario against the server listening on the suite's port.
async fn run_scenario(
    opts: &SuiteOptions,
    scenario: Scenario,
    server: Server,
    pids: &[u32],
) -> anyhow::Result<Metrics> {
    let addr = SocketAddr::from(([127, 0, 0, 1], opts.port));
    let pid = pids.first().copied().context("no server process")?;
    let mut m = Metrics::new();
    match scenario {
        Scenario::Echo32
        | Scenario::Echo32Pipelined
        | Scenario::Echo32Batched
        | Scenario::Echo4k => {
            let (size, binary, depth) = match scenario {
                Scenario::Echo32 => (32, false, 1),
                Scenario::Echo32Pipelined | Scenario::Echo32Batched => (32, false, 16),
                _ => (4096, true, 1),
            };
            let r = echo::run(&EchoOptions {
                target: Target::new(addr, "/echo")?,
                connections: 100,
                size,
                binary,
                depth,
                warmup: opts.warmup,
                duration: opts.duration,
                sources: 1,
                server_pid: Some(pid),
                batched: scenario == Scenario::Echo32Batched,
                client: if server == Server::Tcp {
                    EchoClient::RawTcp
                } else {
                    EchoClient::Frames
                },
            })
            .await?;
            eprintln!(
                "  {:.0} msg/s, {:.0} msg per server CPU-s (server CPU {:.2} s/s over {:.2} s), \
                 p50 {:.0} µs, p99 {:.0} µs, {} failures, generator CPU {:.0} %",
                r.msgs_per_sec,
                r.msgs_per_cpu_s.unwrap_or(f64::NAN),
                r.server_cpu_s.unwrap_or(f64::NAN) / opts.duration.as_secs_f64(),
                r.server_cpu_span_s.unwrap_or(f64::NAN),
                r.latency.p50_us,
                r.latency.p99_us,
                r.failures,
                r.generator_cpu_percent.unwrap_or(f64::NAN),
            );
            if let Some(v) = r.generator_cpu_percent {
                m.insert("generator CPU %", v);
            }
            m.insert("msg/s", r.msgs_per_sec);
            if let Some(v) = r.msgs_per_cpu_s {
                m.insert("msg per server CPU-s", v);
            }
            if let Some(v) = r.server_user_us_per_msg {
                m.insert("server user µs per msg", v);
            }
            if let Some(v) = r.server_kernel_us_per_msg {
                m.insert("server kernel µs per msg", v);
            }
            m.insert("p99 µs", r.latency.p99_us);
        }
        Scenario::Broadcast1k
        | Scenario::Broadcast10k
        | Scenario::Publish1k
        | Scenario::ClusterPublish1k => {
            // Rates in messages per second, rising; each step multiplies the
            // deliveries by the receivers. With 10,000 receivers one message is
            // 10,000 writes and as many client reads, so its fan-out alone takes
            // tens of milliseconds: that step bound is 1 s, and p99 is reported.
            let (receivers, rates, max_p99): (usize, &[f64], u64) =
                if scenario != Scenario::Broadcast10k {
                    (
                        1_000,
                        &[
                            50.0, 100.0, 200.0, 400.0, 700.0, 1000.0, 1500.0, 2000.0, 2500.0,
                            // Steps of ~7 % where servers top out, so that a ratio of
                            // two servers' best steps is not a ratio of coarse steps.
                            2750.0, 3000.0, 3250.0, 3500.0, 3750.0, 4000.0, 4250.0, 4500.0, 5000.0,
                            5500.0, 6000.0, 7000.0, 8000.0,
                        ],
                        50,
                    )
                } else {
                    (
                        10_000,
                        &[
                            5.0, 10.0, 20.0, 40.0, 70.0, 100.0, 150.0, 200.0, 300.0, 400.0,
                        ],
                        1000,
                    )
                };
            let rates = rates.to_vec();
            let r = broadcast::run(&BroadcastOptions {
                // The relay publishes to the room its connections joined instead of
                // broadcasting, when they name one.
                target: Target::new(
                    addr,
                    if scenario == Scenario::Broadcast1k || scenario == Scenario::Broadcast10k {
                        "/relay"
                    } else {
                        "/relay?room=bench"
                    },
                )?,
                also: (scenario == Scenario::ClusterPublish1k)
                    .then(|| {
                        let b = SocketAddr::from(([127, 0, 0, 1], opts.port + 1));
                        Target::new(b, "/relay?room=bench")
                    })
                    .transpose()?,
                receivers,
                rates,
                size: 32,
                warmup: opts.warmup / 2,
                duration: opts.duration / 2,
                sources: 2,
                server_pids: pids.to_vec(),
                max_p99: Duration::from_millis(max_p99),
                // A failed step is run once more before the ladder ends (see
                // `broadcast`): one stall of this shared machine otherwise decides it.
                attempts: 2,
            })
            .await?;
            let best = r.sustained.context("not even the lowest rate held")?;
            m.insert("deliveries/s", best.delivered_per_sec);
            if let Some(v) = best.per_cpu_s {
                m.insert("deliveries per server CPU-s", v);
            }
            // Beside it, how busy the server's core was: near 100 % at every step
            // (as here from a few hundred msg/s on), the writers coalesce more as the
            // rate rises, and deliveries per CPU-s then tells how far, not which
            // server costs less per delivery.
            if let Some(cpu) = best.server_cpu_percent {
                m.insert("server CPU %", cpu);
            }
            m.insert("p99 ms", best.latency.p99_us / 1000.0);
            if let Some(v) = best.generator_cpu_percent {
                m.insert("generator CPU %", v);
            }
        }
        Scenario::Tenants => anyhow::bail!("the tenants scenario starts its own gateways"),
        Scenario::IdleBusy => {
            let r = connect::run(&ConnectOptions {
                steps: vec![10_000],
                settle: Duration::from_secs(40),
                echo_first: 64 << 10,
                ..idle_load(addr, pid)?
            })
            .await?;
            m.insert("failed", r.failed as f64);
            if let Some(kib) = r.kib_per_conn {
                m.insert("KiB per idle conn after one 64 KiB echo", kib);
            }
        }
        Scenario::Idle => {
            let limit = open_file_limit().unwrap_or(10_100);
            let most = limit.saturating_sub(100).max(10_000);
            let r = connect::run(&ConnectOptions {
                steps: vec![10_000, most],
                ..idle_load(addr, pid)?
            })
            .await?;
            m.insert("connects/s", r.connects_per_sec);
            m.insert("failed", r.failed as f64);
            if let (Some(before), Some(first)) = (r.rss_before_kib, r.steps.first())
                && let Some(rss) = first.rss_kib
                && first.open > 0
            {
                m.insert(
                    "KiB per idle conn at 10k",
                    (rss as f64 - before as f64) / first.open as f64,
                );
            }
            if let Some(last) = r.steps.last() {
                m.insert("most open", last.open as f64);
            }
            if let Some(p) = r.projected_100k_mib {
                m.insert("MiB projected at 100k", p);
            }
            if let (Some(before), Some(after)) = (r.rss_before_kib, r.rss_after_close_kib) {
                m.insert(
                    connect::AFTER_CLOSE_METRIC,
                    (after as f64 - before as f64) / 1024.0,
                );
            }
        }
    }
    Ok(m)
}

/// The idle scenarios' load: connections to `/echo` from two processes and four
/// source addresses, read 2 s after the last step, no message first.
fn idle_load(addr: SocketAddr, pid: u32) -> anyhow::Result<ConnectOptions> {
    Ok(ConnectOptions {
        target: Target::new(addr, "/echo")?,
        steps: vec![10_000],
        sources: 4,
        processes: 2,
        settle: Duration::from_secs(2),
        server_pid: Some(pid),
        echo_first: 0,
    })
}

/// The tenants scenario: a one-app gateway for the base memory, then 100, 1,000 and
/// 10,000 apps, each on a fresh gateway.
async fn run_tenants(opts: &SuiteOptions, dir: &std::path::Path) -> anyhow::Result<Metrics> {
    let plugin = opts.plugins.join("echo.wasm").canonicalize()?;
    let config = dir.join("tenants.toml");
    let gateway = |apps: usize, unload: bool| -> anyhow::Result<(Process, f64)> {
        tenants::write_config(&config, opts.port, &plugin, apps, unload)?;
        let argv = vec![
            opts.gateway.display().to_string(),
            "serve".into(),
            "--no-watch".into(),
            "--config".into(),
            config.display().to_string(),
        ];
        let started = Instant::now();
        let process = launch(opts, argv, "gateway", opts.port)?;
        Ok((process, started.elapsed().as_secs_f64()))
    };
    let (mut one, _) = gateway(1, false)?;
    let base = tenants::settled_rss(one.pid()).await?;
    one.stop();
    let mut m = Metrics::new();
    for (apps, names) in [
        (
            100,
            [
                "100 apps: start s",
                "100 apps: KiB per app loaded",
                "100 apps: KiB per app unloaded",
                "100 apps: threads",
                "100 apps: wake p50 ms",
                "100 apps: wake p99 ms",
                "100 apps: warm round trip p50 ms",
                "100 apps: warm round trip p99 ms",
            ],
        ),
        (
            1_000,
            [
                "1,000 apps: start s",
                "1,000 apps: KiB per app loaded",
                "1,000 apps: KiB per app unloaded",
                "1,000 apps: threads",
                "1,000 apps: wake p50 ms",
                "1,000 apps: wake p99 ms",
                "1,000 apps: warm round trip p50 ms",
                "1,000 apps: warm round trip p99 ms",
            ],
        ),
        (
            10_000,
            [
                "10,000 apps: start s",
                "10,000 apps: KiB per app loaded",
                "10,000 apps: KiB per app unloaded",
                "10,000 apps: threads",
                "10,000 apps: wake p50 ms",
                "10,000 apps: wake p99 ms",
                "10,000 apps: warm round trip p50 ms",
                "10,000 apps: warm round trip p99 ms",
            ],
        ),
    ] {
        // Loaded: unloading off, so that every instance is there when it is read.
        let (mut process, start_s) = gateway(apps, false)?;
        let loaded = tenants::settled_rss(process.pid()).await;
        process.stop();
        let loaded = loaded?;
        let (mut process, _) = gateway(apps, true)?;
        let r = tenants::measure(process.pid(), opts.port, apps, start_s, base, loaded).await;
        process.stop();
        let r = r?;
        eprintln!(
            "  {apps} apps: start {:.2} s, {:.1} KiB per app loaded, {:.1} unloaded, {} threads, wake p50 {:.2} ms p99 {:.2} ms, warm p50 {:.2} ms p99 {:.2} ms",
            r.start_s,
            r.kib_per_app_loaded,
            r.kib_per_app_unloaded,
            r.threads,
            r.wake_p50_ms,
            r.wake_p99_ms,
            r.warm_p50_ms,
            r.warm_p99_ms
        );
        let values = [
            r.start_s,
            r.kib_per_app_loaded,
            r.kib_per_app_unloaded,
            r.threads as f64,
            r.wake_p50_ms,
            r.wake_p99_ms,
            r.warm_p50_ms,
            r.warm_p99_ms,
        ];
        for (name, value) in names.into_iter().zip(values) {
            m.insert(name, value);
        }
    }
    Ok(m)
}

/// The soft open-file limit of this process (servers inherit it).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Which echo and relay a gateway config serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plugins {
    Rust,
    JavaScript,
}

fn write_gateway_config(
    opts: &SuiteOptions,
    dir: &std::path::Path,
    plugins: Plugins,
) -> anyhow::Result<PathBuf> {
    let plugin = |name: &str| -> anyhow::Result<String> {
        let path = match plugins {
            Plugins::Rust => opts.plugins.join(format!("{name}.wasm")),
            Plugins::JavaScript => opts.js_plugins.join(format!("{name}-js/{name}-js.wasm")),
        };
        anyhow::ensure!(path.exists(), "no plugin at {}", path.display());
        Ok(path.canonicalize()?.display().to_string())
    };
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\n\n[limits]\nmax_connections = 1000000\n\n\
         [[app]]\nname = \"echo\"\nroute = \"/echo\"\nplugin = {echo:?}\n\n\
         [[app]]\nname = \"relay\"\nroute = \"/relay\"\nplugin = {relay:?}\n",
        port = opts.port,
        echo = plugin("echo")?,
        relay = plugin("relay")?,
    );
    let name = match plugins {
        Plugins::Rust => "bench.toml",
        Plugins::JavaScript => "bench-js.toml",
    };
    let path = dir.join(name);
    std::fs::write(&path, config)?;
    Ok(path)
}

/// A running server.
struct Process(Child);

impl Process {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `server` pinned to the server CPU and waits until it accepts connections.
fn start(
    opts: &SuiteOptions,
    server: Server,
    gateway_config: &std::path::Path,
) -> anyhow::Result<Process> {
    let port = opts.port.to_string();
    let argv: Vec<String> = match server {
        Server::Gateway | Server::GatewayJs => vec![
            opts.gateway.display().to_string(),
            "serve".into(),
            "--config".into(),
            gateway_config.display().to_string(),
        ],
        Server::Baseline => vec![
            opts.baseline.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ],
        Server::Node => vec!["node".into(), opts.node_peer.display().to_string(), port],
        Server::Tcp => vec![
            opts.baseline.display().to_string(),
            "--raw".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ],
    };
    launch(opts, argv, server.name(), opts.port)
}

/// Starts a redis-server on the suite's port + 2 and two gateway nodes of one
/// cluster on it, on the port and the port + 1, all pinned to the server CPU.
fn start_cluster(
    opts: &SuiteOptions,
    gateway_config: &std::path::Path,
) -> anyhow::Result<Vec<Process>> {
    let redis_port = opts.port + 2;
    let redis = launch(
        opts,
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            &redis_port.to_string(),
        ]
        .into_iter()
        .chain(["--save", "", "--appendonly", "no", "--dir", "/tmp"])
        .map(String::from)
        .collect(),
        "redis-server",
        redis_port,
    )
    .context("the cluster scenario needs redis-server (Debian: apt-get install redis-server)")?;
    let mut processes = vec![redis];
    for (node, port) in [("a", opts.port), ("b", opts.port + 1)] {
        let argv = vec![
            opts.gateway.display().to_string(),
            "serve".into(),
            "--config".into(),
            gateway_config.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--redis".into(),
            format!("redis://127.0.0.1:{redis_port}"),
            "--node".into(),
            node.into(),
        ];
        processes.push(launch(opts, argv, "gateway node", port)?);
    }
    // The sender's node first: its pid measures the echo scenarios (none here).
    processes.rotate_left(1);
    Ok(processes)
}

/// Runs `argv` pinned to the server CPU, until it accepts connections on `port`.
fn launch(
    opts: &SuiteOptions,
    mut argv: Vec<String>,
    name: &str,
    port: u16,
) -> anyhow::Result<Process> {
    if let Some(cpu) = opts.server_cpu {
        argv.splice(0..0, ["taskset".into(), "-c".into(), cpu.to_string()]);
    }
    let child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", argv.join(" ")))?;
    let mut process = Process(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = process.0.try_wait() {
            bail!("{name} exited at start: {status}");
        }
        if Instant::now() > deadline {
            bail!("{name} did not listen on {addr} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(process)
}

/// The report: one table per scenario, medians of the repetitions, ratios of the
/// gateway to each other server.
fn render(
    opts: &SuiteOptions,
    results: &BTreeMap<Scenario, BTreeMap<Server, BTreeMap<&'static str, Vec<f64>>>>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "medians of {} repetition(s); servers pinned to CPU {}, load on the others; \
         \"generator-bound\": the load generator's core was {GENERATOR_BOUND_PERCENT:.0} % \
         busy or more in one of the two runs, so no ratio (it measured the generator); \
         \"raw TCP\" is the ceiling: the same bytes echoed without WebSocket code\n",
        opts.reps,
        opts.server_cpu
            .map_or_else(|| "(not pinned)".into(), |c| c.to_string())
    );
    let others: Vec<Server> = opts
        .servers
        .iter()
        .copied()
        .filter(|s| *s != Server::Gateway)
        .collect();
    let mut header = String::from("| scenario | metric |");
    let mut rule = String::from("|---|---|");
    for s in &opts.servers {
        let _ = write!(header, " {} |", s.name());
        rule.push_str("---:|");
    }
    if opts.servers.contains(&Server::Gateway) {
        for s in &others {
            let _ = write!(header, " gateway ÷ {} |", s.name());
            rule.push_str("---:|");
        }
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for (scenario, by_server) in results {
        let mut names: Vec<&'static str> =
            by_server.values().flat_map(|m| m.keys().copied()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            let med = |s: &Server| {
                by_server
                    .get(s)
                    .and_then(|m| m.get(name))
                    .and_then(|v| median(v))
            };
            let _ = write!(out, "| {} | {name} |", scenario_label(*scenario));
            for s in &opts.servers {
                let _ = write!(
                    out,
                    " {} |",
                    med(s).map_or_else(|| "—".into(), format_value)
                );
            }
            if opts.servers.contains(&Server::Gateway) {
                for s in &others {
                    let bound = |server: &Server| {
                        by_server
                            .get(server)
                            .and_then(|m| m.get("generator CPU %"))
                            .and_then(|v| median(v))
                            .is_some_and(|cpu| cpu >= GENERATOR_BOUND_PERCENT)
                    };
                    let ratio = match (med(&Server::Gateway), med(s)) {
                        _ if name.ends_with("CPU %") => "—".into(),
                        _ if bound(&Server::Gateway) || bound(s) => "generator-bound".into(),
                        (Some(g), Some(o)) if o != 0.0 => format!("{:.2}", g / o),
                        _ => "—".into(),
                    };
                    let _ = write!(out, " {ratio} |");
                }
            }
            out.push('\n');
        }
    }
    out
}

fn scenario_label(s: Scenario) -> &'static str {
    match s {
        Scenario::Echo32 => "echo 32 B text ×100, depth 1",
        Scenario::Echo32Pipelined => "echo 32 B text ×100, depth 16, a write per message",
        Scenario::Echo32Batched => "echo 32 B text ×100, depth 16, 16 messages per write",
        Scenario::Echo4k => "echo 4 KiB binary ×100, depth 1",
        Scenario::Broadcast1k => "broadcast to 1,000 (p99 < 50 ms)",
        Scenario::Broadcast10k => "broadcast to 10,000 (p99 < 1 s)",
        Scenario::Publish1k => "publish to a room of 1,000 (p99 < 50 ms)",
        Scenario::ClusterPublish1k => {
            "publish to a room of 1,000 over 2 cluster nodes (p99 < 50 ms; CPU: both nodes and Redis)"
        }
        Scenario::Idle => "idle connections",
        Scenario::IdleBusy => "idle connections after one 64 KiB echo each",
        Scenario::Tenants => "apps of one plugin (idle_unload_ms = 500)",
    }
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        let s = format!("{v:.0}");
        // thousands separators
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{sign}{grouped}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_grouped_by_thousands() {
        assert_eq!(format_value(1_234_567.4), "1,234,567");
        assert_eq!(format_value(512.0), "512");
        assert_eq!(format_value(7.256), "7.26");
    }
}
