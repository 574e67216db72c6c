//! The native baseline: the best bare tokio-tungstenite server we can write for the
//! two workloads the gateway is measured on, with the gateway's framing limits.
//!
//! - `/echo`: each message goes back to its sender.
//! - `/relay`: each message goes to every other connection (the relay plugin's job).
//!
//! Tuning: a 16 KiB read buffer (tungstenite's 128 KiB default zero-fills 128 KiB
//! before every read), writes batched (messages are fed while more input or more
//! queued output is at hand, then flushed once), broadcast payloads shared
//! (`Bytes`, no copy per receiver), `TCP_NODELAY`; one task per echo connection, a
//! reader and a writer task per relay connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The baseline's protocol settings: the gateway's default limits (1 MiB messages
/// and frames) and the given read buffer.
#[must_use]
pub fn config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Echo,
    Relay,
}

/// Every connection of `/relay`, by id.
#[derive(Default)]
struct Room {
    next_id: AtomicU64,
    members: Mutex<HashMap<u64, mpsc::UnboundedSender<Message>>>,
}

/// Serves `/echo` and `/relay` on `listener` until the process ends.
///
/// # Errors
/// Accepting failed for a reason other than a transient one.
pub async fn serve(listener: TcpListener, read_buffer: usize) -> anyhow::Result<()> {
    let room = Arc::new(Room::default());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let room = room.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            if let Some((ws, route)) = handshake(stream, read_buffer).await {
                match route {
                    Route::Echo => echo(ws).await,
                    Route::Relay => relay(ws, room).await,
                }
            }
        });
    }
}

/// Accepts the upgrade on a known route; anything else gets 404.
// The callback's error type is tungstenite's, a whole HTTP response.
#[allow(clippy::result_large_err)]
async fn handshake(
    stream: TcpStream,
    read_buffer: usize,
) -> Option<(WebSocketStream<TcpStream>, Route)> {
    let mut route = None;
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        route = match req.uri().path() {
            "/echo" => Some(Route::Echo),
            "/relay" => Some(Route::Relay),
            _ => None,
        };
        if route.is_some() {
            Ok(resp)
        } else {
            let mut not_found = ErrorResponse::new(Some("no such route".into()));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            Err(not_found)
        }
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(config(read_buffer)),
    )
    .await
    .ok()?;
    Some((ws, route?))
}

/// Echoes every message; replies are fed while more input is already read, then
/// flushed once.
async fn echo(mut ws: WebSocketStream<TcpStream>) {
    let mut ready = None;
    loop {
        let next = match ready.take() {
            Some(next) => next,
            None => ws.next().await,
        };
        let message = match next {
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => m,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return,
        };
        if ws.feed(message).await.is_err() {
            return;
        }
        match ws.next().now_or_never() {
            Some(next) => ready = Some(next),
            None => {
                if ws.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Relays every message to every other member of the room. Each member has a
/// writer task of its own that drains its queue into one batch per flush; the reader
/// is not polled when only output is due (a read attempt costs tungstenite a memset
/// of its whole free read buffer).
async fn relay(ws: WebSocketStream<TcpStream>, room: Arc<Room>) {
    let id = room.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel();
    room.members
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, tx);
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.feed(message).await.is_err() {
                return;
            }
            while let Ok(message) = rx.try_recv() {
                if sink.feed(message).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        if !matches!(message, Message::Text(_) | Message::Binary(_)) {
            continue;
        }
        let members = room.members.lock().unwrap_or_else(PoisonError::into_inner);
        for (&other, member) in members.iter() {
            if other != id {
                let _ = member.send(message.clone());
            }
        }
    }
    room.members
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
    writer.abort();
}

/// Binds `addr` and serves it (the `wsgate-baseline` binary).
///
/// # Errors
/// The address cannot be bound.
pub async fn run(addr: SocketAddr, read_buffer: usize) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!(
        "baseline serving /echo and /relay on {}",
        listener.local_addr()?
    );
    serve(listener, read_buffer).await
}
