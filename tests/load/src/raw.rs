//! The echo load at the frame level: frames encoded once (tungstenite's encoder),
//! written as bytes, and the replies read back as bytes and compared with the frame
//! the server must send. So the generator spends next to nothing per message, and a
//! server at the other end is what is measured (a tokio-tungstenite client costs more
//! per message than the servers it would measure).
//!
//! Against a WebSocket server the connection is upgraded first; against a server that
//! echoes bytes (`wsgate-baseline --raw`) it is not, and the replies are the frames
//! themselves: that is the raw-TCP ceiling, what this generator and the kernel's
//! loopback can do, which no server can be measured above.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::client::Target;
use crate::stats::{Latency, Window};

/// The bytes of one round trip: the client's frame, and what must come back.
#[derive(Debug, Clone)]
pub struct Frames {
    /// `message` as a masked client frame.
    pub out: Vec<u8>,
    /// The server's echo of it: the same message unmasked (or, from a raw echo
    /// server, `out` itself).
    pub back: Vec<u8>,
}

/// The frames of `message` (tungstenite's encoder); `raw`: for a byte echo server.
#[must_use]
pub fn frames(message: &Message, raw: bool) -> Frames {
    let (opcode, data) = match message {
        Message::Binary(data) => (Data::Binary, data.clone()),
        other => (Data::Text, other.clone().into_data()),
    };
    let encode = |mask: Option<[u8; 4]>| {
        let mut frame = Frame::message(data.clone(), OpCode::Data(opcode), true);
        frame.header_mut().mask = mask;
        let mut bytes = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = frame.format(&mut bytes);
        bytes
    };
    // A client masks its frames; any key will do.
    let out = encode(Some([0x37, 0xfa, 0x21, 0x3d]));
    let back = if raw { out.clone() } else { encode(None) };
    Frames { out, back }
}

/// A connection to `target` from `from`, upgraded to WebSocket when `upgrade`.
///
/// # Errors
/// The connection cannot be opened, or the upgrade is refused.
pub async fn open(target: &Target, from: IpAddr, upgrade: bool) -> anyhow::Result<TcpStream> {
    let mut tcp = connect(target, from).await?;
    if upgrade {
        self::upgrade(&mut tcp, target).await?;
    }
    Ok(tcp)
}

/// Upgrades `tcp` to a WebSocket connection to `target`'s route: the request, then
/// the response head, which must be `101`.
///
/// # Errors
/// The server refused, or the connection broke.
pub async fn upgrade(tcp: &mut TcpStream, target: &Target) -> anyhow::Result<()> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        target.path, target.addr
    );
    tcp.write_all(request.as_bytes()).await?;
    // Byte by byte up to the blank line: nothing of the first frame is read.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        anyhow::ensure!(head.len() < 8192, "no end to the response head");
        let byte = tcp.read_u8().await?;
        head.push(byte);
    }
    anyhow::ensure!(
        head.starts_with(b"HTTP/1.1 101"),
        "the upgrade was refused: {}",
        String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
    );
    Ok(())
}

/// A plain TCP connection to `target` from `from`.
///
/// # Errors
/// The connection cannot be opened.
pub async fn connect(target: &Target, from: IpAddr) -> anyhow::Result<TcpStream> {
    let socket = if target.addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(from, 0))?;
    let tcp = socket.connect(target.addr).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// One connection's loop, as the WebSocket echo load's (`batched` or not), on bytes;
/// a reply that is not the expected frame ends it (a failure).
pub async fn drive(
    mut tcp: TcpStream,
    frames: &Frames,
    depth: usize,
    batched: bool,
    window: Window,
    latency: &mut Latency,
) -> bool {
    let (out, back) = (&frames.out[..], &frames.back[..]);
    if batched {
        let batch = out.repeat(depth);
        let expected = back.repeat(depth);
        let mut got = vec![0u8; expected.len()];
        loop {
            tokio::task::yield_now().await;
            let sent = Instant::now();
            if tcp.write_all(&batch).await.is_err()
                || tcp.read_exact(&mut got).await.is_err()
                || got != expected
            {
                return false;
            }
            let now = Instant::now();
            if window.measures(now) {
                for _ in 0..depth {
                    latency.record(now - sent);
                }
            }
            if now >= window.end {
                return true;
            }
        }
    }
    let mut sent = VecDeque::with_capacity(depth);
    for _ in 0..depth {
        if tcp.write_all(out).await.is_err() {
            return false;
        }
        sent.push_back(Instant::now());
    }
    // Replies are read as they come (one read may bring several), and each one
    // frees a slot that gets its own write.
    let mut buf = vec![0u8; 16 << 10];
    let mut have = 0;
    let mut rounds = 0u64;
    loop {
        let Ok(n) = tcp.read(&mut buf[have..]).await else {
            return false;
        };
        if n == 0 {
            return false;
        }
        have += n;
        let whole = have / back.len() * back.len();
        for reply in buf[..whole].chunks_exact(back.len()) {
            if reply != back {
                return false;
            }
            let now = Instant::now();
            if let Some(at) = sent.pop_front()
                && window.measures(now)
            {
                latency.record(now - at);
            }
            if now >= window.end {
                return true;
            }
            if tcp.write_all(out).await.is_err() {
                return false;
            }
            sent.push_back(now);
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
        rounds += 1;
        // Reads and writes that are ready at once never yield: without this, one
        // connection could run on and starve the others (and the CPU meter).
        if rounds.is_multiple_of(16) {
            tokio::task::yield_now().await;
        }
    }
}

/// Echoes bytes on every connection of `listener` (`wsgate-baseline --raw`).
///
/// # Errors
/// Never: accept errors are waited out.
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    loop {
        let (mut tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let mut buf = vec![0u8; 16 << 10];
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tcp.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}
