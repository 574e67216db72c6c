//! The `wsgate` command: `wsgate serve [--config FILE] [--listen ADDR]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::io::IsTerminal as _;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use wsgate::{Config, Gateway};

/// A WebSocket gateway whose application logic runs as WebAssembly components.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the apps of a config file (without one: the built-in demo, chat at /ws
    /// and echo at /echo on 127.0.0.1:8000).
    Serve {
        /// The config file (TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Listen on this address instead of the config's `listen`.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Serve { config, listen } => serve(config, listen),
    }
}

fn load(path: Option<PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(path) => Ok(Config::load(&path)?),
        None => demo(),
    }
}

#[cfg(feature = "demo")]
fn demo() -> anyhow::Result<Config> {
    tracing::info!("no --config given: serving the built-in demo (chat at /ws, echo at /echo)");
    Ok(Config::demo())
}

#[cfg(not(feature = "demo"))]
fn demo() -> anyhow::Result<Config> {
    anyhow::bail!("this build has no built-in demo (feature `demo` is off): pass --config FILE")
}

fn serve(config: Option<PathBuf>, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    let mut config = load(config)?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let gateway = Gateway::start(&config)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        tracing::info!("listening on ws://{addr}");
        gateway.serve(listener, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
