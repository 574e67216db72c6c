//! Client connections for the load generator: loopback only, from a chosen
//! `127.0.0.x` source address (one source has ~28,000 ephemeral ports).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// A client connection.
pub type Client = WebSocketStream<TcpStream>;

/// Where the load goes: a loopback address and a route.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's address; must be a loopback address.
    pub addr: SocketAddr,
    /// The route, for example `/echo`.
    pub path: String,
}

impl Target {
    /// A target, refusing anything but loopback: the load generator never loads
    /// another machine.
    ///
    /// # Errors
    /// `addr` is not a loopback address, or `path` does not start with `/`.
    pub fn new(addr: SocketAddr, path: &str) -> anyhow::Result<Self> {
        if !addr.ip().is_loopback() {
            bail!("{addr} is not a loopback address: the load generator only loads this machine");
        }
        if !path.starts_with('/') {
            bail!("the route {path:?} must start with '/'");
        }
        Ok(Self {
            addr,
            path: path.to_owned(),
        })
    }

    fn url(&self) -> String {
        format!("ws://{}{}", self.addr, self.path)
    }
}

/// The source address of connection `index` when connections are spread over
/// `sources` addresses `127.0.0.1`, `127.0.0.2`, ...
#[must_use]
pub fn source(index: usize, sources: usize) -> IpAddr {
    let k = (index % sources.clamp(1, 254)) as u8 + 1;
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, k))
}

/// The client side's protocol settings: a 16 KiB read buffer (tungstenite's 128 KiB
/// default costs a 128 KiB memset per read).
#[must_use]
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 << 10)
        .write_buffer_size(0)
}

/// Opens a WebSocket connection to `target` from address `from`.
///
/// # Errors
/// The TCP connection or the handshake failed.
pub async fn connect(target: &Target, from: IpAddr) -> anyhow::Result<Client> {
    let socket = if target.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if target.addr.is_ipv4() {
        socket
            .bind(SocketAddr::new(from, 0))
            .with_context(|| format!("binding {from}"))?;
    }
    let stream = socket.connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(target.url(), stream, Some(config())).await?;
    Ok(ws)
}

/// Opens `count` connections, `concurrency` handshakes at a time, spread over
/// `sources` source addresses starting at index `first`; returns the connections and
/// the number that failed (the first failure is printed).
pub async fn connect_many(
    target: &Target,
    first: usize,
    count: usize,
    sources: usize,
    concurrency: usize,
) -> (Vec<Client>, usize) {
    use futures_util::StreamExt;
    let results: Vec<_> = futures_util::stream::iter(first..first + count)
        .map(|i| connect(target, source(i, sources)))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut clients = Vec::with_capacity(count);
    let mut failed = 0;
    for result in results {
        match result {
            Ok(ws) => clients.push(ws),
            Err(e) => {
                if failed == 0 {
                    eprintln!("connection to {} failed: {e:#}", target.url());
                }
                failed += 1;
            }
        }
    }
    (clients, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_cycle_through_loopback_addresses() {
        assert_eq!(source(0, 3), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        assert_eq!(source(4, 3), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(source(7, 1), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
    }

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(Target::new("127.0.0.1:80".parse().unwrap(), "/echo").is_ok());
        assert!(Target::new("10.0.0.1:80".parse().unwrap(), "/echo").is_err());
        assert!(Target::new("127.0.0.1:80".parse().unwrap(), "echo").is_err());
    }
}
