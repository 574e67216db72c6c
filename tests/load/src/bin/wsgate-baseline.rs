//! The native tokio-tungstenite baseline server: `/echo` and `/relay`, no WebAssembly;
//! with `--raw`, a plain TCP echo (the ceiling).

use std::net::SocketAddr;

use clap::Parser;

/// The native baseline server the gateway is measured against.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: SocketAddr,
    /// Read buffer per connection, bytes.
    #[arg(long, default_value_t = 16 << 10)]
    read_buffer: usize,
    /// Echo bytes over plain TCP instead (the raw-TCP ceiling of the echo loads).
    #[arg(long)]
    raw: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.raw {
        let listener = tokio::net::TcpListener::bind(cli.listen).await?;
        eprintln!("raw TCP echo on {}", listener.local_addr()?);
        return wsgate_load::raw::serve(listener).await;
    }
    wsgate_load::baseline::run(cli.listen, cli.read_buffer).await
}
