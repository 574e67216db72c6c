//! `wsgate-load`: the load generator and the benchmark runner.
//!
//! ```text
//! wsgate-load echo --addr 127.0.0.1:8000 --path /echo --connections 100 --size 32
//! wsgate-load broadcast --path /relay --receivers 1000 --rates 1000,2000
//! wsgate-load connect --path /echo --steps 10000 --processes 2 --server-pid PID
//! wsgate-load suite            # every server, every scenario (scripts/bench.sh)
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use wsgate_load::broadcast::{self, BroadcastOptions};
use wsgate_load::client::Target;
use wsgate_load::connect::{self, ConnectOptions};
use wsgate_load::echo::{self, EchoClient, EchoOptions};
use wsgate_load::suite::{self, Scenario, Server, SuiteOptions};

/// Load generator and benchmark runner for wsgate (loopback only).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

/// Where the load goes.
#[derive(Args)]
struct TargetArgs {
    /// Server address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    /// Route.
    #[arg(long, default_value = "/echo")]
    path: String,
    /// Spread connections over this many source addresses 127.0.0.1, 127.0.0.2, ...
    #[arg(long, default_value_t = 1)]
    sources: usize,
    /// The server's process id, to report its CPU time and memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
}

impl TargetArgs {
    fn target(&self) -> anyhow::Result<Target> {
        Target::new(self.addr, &self.path)
    }
}

/// `--client` of `echo`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ClientArg {
    Tungstenite,
    Frames,
    RawTcp,
}

#[derive(Subcommand)]
enum Mode {
    /// Connections send messages and wait for them back.
    Echo {
        #[command(flatten)]
        target: TargetArgs,
        /// Connections.
        #[arg(long, default_value_t = 100)]
        connections: usize,
        /// Message size, bytes.
        #[arg(long, default_value_t = 32)]
        size: usize,
        /// Send binary messages (default: text).
        #[arg(long)]
        binary: bool,
        /// Messages in flight per connection.
        #[arg(long, default_value_t = 1)]
        depth: usize,
        /// Write each connection's in-flight messages in one write, and wait for
        /// all their replies (default: a write per message).
        #[arg(long)]
        batched: bool,
        /// How the client speaks: `tungstenite` (as an application), `frames`
        /// (pre-encoded frames as bytes: the generator costs next to nothing), or
        /// `raw-tcp` (the same bytes to `wsgate-baseline --raw`: the ceiling).
        #[arg(long, value_enum, default_value_t = ClientArg::Tungstenite)]
        client: ClientArg,
        /// Unmeasured warm-up, seconds.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Measured time, seconds.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// One sender, many receivers on a relay route, at rising rates.
    Broadcast {
        #[command(flatten)]
        target: TargetArgs,
        /// Receiving connections.
        #[arg(long, default_value_t = 1000)]
        receivers: usize,
        /// Sender rates to step through, messages per second.
        #[arg(long, value_delimiter = ',', default_value = "250,500,1000,2000,4000")]
        rates: Vec<f64>,
        /// Payload size, bytes (at least 13).
        #[arg(long, default_value_t = 32)]
        size: usize,
        /// Unmeasured time per step, seconds.
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        /// Measured time per step, seconds.
        #[arg(long, default_value_t = 2.5)]
        duration: f64,
        /// A step fails when p99 latency reaches this, milliseconds.
        #[arg(long, default_value_t = 50)]
        max_p99_ms: u64,
        /// Runs of one rate before its failure ends the ladder (a shared machine's
        /// stall fails a step the server holds).
        #[arg(long, default_value_t = 2)]
        attempts: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Open idle connections in steps and hold them.
    Connect {
        #[command(flatten)]
        target: TargetArgs,
        /// Total open connections after each step.
        #[arg(long, value_delimiter = ',', default_value = "10000")]
        steps: Vec<usize>,
        /// Client processes to spread the connections over.
        #[arg(long, default_value_t = 1)]
        processes: usize,
        /// Pause before reading the server's memory, seconds.
        #[arg(long, default_value_t = 2.0)]
        settle: f64,
        /// Each connection first sends one binary message of this many bytes and
        /// waits for its echo, then idles: what an idle connection keeps after it
        /// was busy (0: none, a fresh connection).
        #[arg(long, default_value_t = 0)]
        echo_first: usize,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// (internal) A `connect` client process.
    #[command(hide = true)]
    Hold {
        #[command(flatten)]
        target: TargetArgs,
        #[arg(long)]
        first: usize,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 0)]
        echo_first: usize,
    },
    /// Run every server through every scenario and print medians and ratios.
    Suite {
        /// The wsgate binary [default: the `wsgate` beside this program, built with
        /// the same profile]
        #[arg(long)]
        gateway: Option<PathBuf>,
        /// The native baseline binary [default: the `wsgate-baseline` beside this
        /// program]
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// The Node ws peer script.
        #[arg(long, default_value = "tests/load/peer/server.mjs")]
        node_peer: PathBuf,
        /// Folder with echo.wasm and relay.wasm.
        #[arg(long, default_value = "target/plugins/wasm32-wasip2/plugin")]
        plugins: PathBuf,
        /// Folder of the JavaScript plugins' packages (echo-js/echo-js.wasm and
        /// relay-js/relay-js.wasm, built with `npm run build`), for `gateway-js`.
        #[arg(long, default_value = "plugins")]
        js_plugins: PathBuf,
        /// Servers to measure (`gateway-js`: the gateway serving the JavaScript echo
        /// and relay, beside the Rust ones).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "gateway,baseline,node,tcp"
        )]
        servers: Vec<Server>,
        /// Scenarios to run.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "echo32,echo32-pipelined,echo32-batched,echo4k,broadcast1k,publish1k,cluster-publish1k,broadcast10k,idle,tenants"
        )]
        scenarios: Vec<Scenario>,
        /// Repetitions.
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Warm-up before each measured window, seconds.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Measured window of echo runs, seconds (broadcast steps take half).
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Pin the servers to this CPU (run the suite itself pinned to another).
        #[arg(long)]
        server_cpu: Option<usize>,
        /// Port the servers listen on.
        #[arg(long, default_value_t = 9100)]
        port: u16,
    },
}

fn seconds(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|e| anyhow::anyhow!("bad duration {s}: {e}"))
}

fn print<T: serde::Serialize + std::fmt::Debug>(report: &T, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{report:#?}");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the load generator is pinned to its own core, and a single-threaded
    // runtime spends that core on the load, not on moving tasks between threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli.command))
}

async fn run(mode: Mode) -> anyhow::Result<()> {
    match mode {
        Mode::Echo {
            target,
            connections,
            size,
            binary,
            depth,
            batched,
            client,
            warmup,
            duration,
            json,
        } => {
            let report = echo::run(&EchoOptions {
                batched,
                client: match client {
                    ClientArg::Tungstenite => EchoClient::Tungstenite,
                    ClientArg::Frames => EchoClient::Frames,
                    ClientArg::RawTcp => EchoClient::RawTcp,
                },
                target: target.target()?,
                connections,
                size,
                binary,
                depth,
                warmup: seconds(warmup)?,
                duration: seconds(duration)?,
                sources: target.sources,
                server_pid: target.server_pid,
            })
            .await?;
            print(&report, json)
        }
        Mode::Broadcast {
            target,
            receivers,
            rates,
            size,
            warmup,
            duration,
            max_p99_ms,
            attempts,
            json,
        } => {
            let report = broadcast::run(&BroadcastOptions {
                target: target.target()?,
                receivers,
                rates,
                size,
                warmup: seconds(warmup)?,
                duration: seconds(duration)?,
                sources: target.sources,
                server_pids: target.server_pid.into_iter().collect(),
                max_p99: Duration::from_millis(max_p99_ms),
                attempts,
                also: None,
            })
            .await?;
            print(&report, json)
        }
        Mode::Connect {
            target,
            steps,
            processes,
            settle,
            echo_first,
            json,
        } => {
            let report = connect::run(&ConnectOptions {
                target: target.target()?,
                steps,
                sources: target.sources,
                processes,
                settle: seconds(settle)?,
                server_pid: target.server_pid,
                echo_first,
            })
            .await?;
            print(&report, json)
        }
        Mode::Hold {
            target,
            first,
            count,
            echo_first,
        } => connect::hold(&target.target()?, first, count, target.sources, echo_first).await,
        Mode::Suite {
            gateway,
            baseline,
            node_peer,
            plugins,
            js_plugins,
            servers,
            scenarios,
            reps,
            warmup,
            duration,
            server_cpu,
            port,
        } => {
            let report = suite::run(&SuiteOptions {
                gateway: gateway.map_or_else(|| beside("wsgate"), Ok)?,
                baseline: baseline.map_or_else(|| beside("wsgate-baseline"), Ok)?,
                node_peer,
                plugins,
                js_plugins,
                servers,
                scenarios,
                reps: reps.max(1),
                warmup: seconds(warmup)?,
                duration: seconds(duration)?,
                server_cpu,
                port,
            })
            .await?;
            println!("{report}");
            Ok(())
        }
    }
}

/// The program `name` in this program's own folder: `bench.sh` builds the gateway,
/// the baseline and this suite with one profile, so the suite runs its siblings.
fn beside(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("cannot tell where this program is")?;
    let dir = me.parent().context("this program has no folder")?;
    Ok(dir.join(name))
}
