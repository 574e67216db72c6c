//! One WebSocket connection after the handshake: a reader that turns frames into the
//! app's events, and a writer that drains the connection's outbound queue into the
//! socket, batching whatever is queued into one flush.
//!
//! Ending: the app sees `on-close` exactly once, with the client's close code and
//! reason, 1006 when the transport dropped without a close frame, or the code the
//! gateway sent when it closed the connection for a protocol error.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::app::outbox::{OutboxReceiver, outbox};
use crate::app::{AppHandle, Event, Outbound, Outbox};
use crate::plugin::types::{ConnectionError, ErrorKind};

/// The socket after the upgrade.
pub(crate) type WsStream = WebSocketStream<TokioIo<Upgraded>>;

/// How long the gateway waits for the client's close frame after sending its own.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the gateway waits to get its own close frame out after an error.
const ERROR_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// After an error close, how long and how many bytes the gateway reads and discards
/// while the client answers: closing a socket with unread input resets it, and the
/// client could lose the close frame.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 1 << 20;

/// How a connection ended, for `on-error` and `on-close`.
struct Ending {
    code: u16,
    reason: String,
    error: Option<ConnectionError>,
    /// The gateway closed for an error and left input unread.
    drain: bool,
}

impl Ending {
    fn dropped(error: Option<ConnectionError>) -> Self {
        Self {
            code: 1006,
            reason: String::new(),
            error,
            drain: false,
        }
    }
}

/// Serves connection `conn` of `app` until it is closed.
pub(crate) async fn serve(ws: WsStream, conn: u64, app: AppHandle) {
    let (outbox, queue) = outbox();
    if app
        .send(Event::Connect {
            conn,
            outbox: outbox.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let (sink, mut stream) = ws.split();
    let (close_sent_tx, close_sent) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let writer = tokio::spawn(write_loop(sink, queue, close_sent_tx, stopped));

    let ending = read_loop(&mut stream, conn, &app, &outbox, close_sent).await;

    if let Some(error) = ending.error {
        let _ = app.send(Event::Error { conn, error }).await;
    }
    let _ = app
        .send(Event::Close {
            conn,
            code: ending.code,
            reason: ending.reason,
        })
        .await;
    drop(stop);
    if let Ok(sink) = writer.await
        && ending.drain
        && let Ok(mut ws) = stream.reunite(sink)
    {
        drain(ws.get_mut()).await;
    }
}

/// Reads and discards what the client still sends (its close frame), within bounds,
/// then shuts the socket down cleanly.
async fn drain(io: &mut TokioIo<Upgraded>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total < DRAIN_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
    let _ = io.shutdown().await;
}

/// Reads frames and hands messages to the app until the connection ends.
async fn read_loop(
    stream: &mut SplitStream<WsStream>,
    conn: u64,
    app: &AppHandle,
    outbox: &Outbox,
    mut close_sent: oneshot::Receiver<()>,
) -> Ending {
    let mut peer_close: Option<(u16, String)> = None;
    let mut close_watch_done = false;
    let mut deadline: Option<Instant> = None;
    loop {
        let next = if let Some(deadline) = deadline {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    tracing::debug!(conn, "the client did not answer the close frame in time");
                    break;
                }
            }
        } else {
            tokio::select! {
                next = stream.next() => next,
                sent = &mut close_sent, if !close_watch_done => {
                    close_watch_done = true;
                    if sent.is_ok() {
                        deadline = Some(Instant::now() + CLOSE_HANDSHAKE_TIMEOUT);
                    }
                    continue;
                }
            }
        };
        let event = match next {
            None => break,
            Some(Ok(Message::Text(text))) => Event::Text { conn, text },
            Some(Ok(Message::Binary(data))) => Event::Binary { conn, data },
            Some(Ok(Message::Close(frame))) => {
                peer_close = Some(frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.as_str().to_owned())
                }));
                continue;
            }
            // Pings are answered by the protocol layer; pongs need nothing.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Err(e)) => match failure(&e) {
                Failure::Ended => break,
                Failure::Dropped(error) => {
                    if peer_close.is_some() {
                        break;
                    }
                    return Ending::dropped(error);
                }
                Failure::Close { code, reason, kind } => {
                    tracing::debug!(conn, code, "closing: {e}");
                    return close_for_error(
                        outbox,
                        &mut close_sent,
                        close_watch_done,
                        code,
                        reason,
                        kind,
                        &e,
                    )
                    .await;
                }
            },
        };
        if app.send(event).await.is_err() {
            return Ending::dropped(None);
        }
    }
    match peer_close {
        Some((code, reason)) => Ending {
            code,
            reason,
            error: None,
            drain: false,
        },
        None => Ending::dropped(None),
    }
}

/// Sends the close frame for a read error and waits (briefly) until it is out.
async fn close_for_error(
    outbox: &Outbox,
    close_sent: &mut oneshot::Receiver<()>,
    close_watch_done: bool,
    code: u16,
    reason: &'static str,
    kind: ErrorKind,
    error: &WsError,
) -> Ending {
    outbox.close(code, reason.into());
    if !close_watch_done {
        let _ = tokio::time::timeout(ERROR_CLOSE_TIMEOUT, close_sent).await;
    }
    Ending {
        code,
        reason: reason.to_owned(),
        error: Some(ConnectionError {
            kind,
            message: error.to_string(),
        }),
        drain: true,
    }
}

/// What a read error means for the connection.
enum Failure {
    /// The closing handshake completed.
    Ended,
    /// The transport is gone; nothing can be sent.
    Dropped(Option<ConnectionError>),
    /// The client broke a rule: answer with this close code.
    Close {
        code: u16,
        reason: &'static str,
        kind: ErrorKind,
    },
}

fn failure(e: &WsError) -> Failure {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => Failure::Ended,
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Failure::Dropped(None),
        WsError::Io(io) => Failure::Dropped(Some(ConnectionError {
            kind: ErrorKind::Io,
            message: io.to_string(),
        })),
        WsError::Capacity(_) => Failure::Close {
            code: 1009,
            reason: "message too big",
            kind: ErrorKind::MessageTooBig,
        },
        WsError::Utf8(_) => Failure::Close {
            code: 1007,
            reason: "invalid UTF-8",
            kind: ErrorKind::InvalidUtf8,
        },
        WsError::Protocol(_) => Failure::Close {
            code: 1002,
            reason: "protocol error",
            kind: ErrorKind::Protocol,
        },
        _ => Failure::Close {
            code: 1011,
            reason: "internal error",
            kind: ErrorKind::Protocol,
        },
    }
}

/// Drains the outbound queue into the socket: everything queued is fed, then flushed
/// once. After a close frame nothing more is sent.
async fn write_loop(
    mut sink: SplitSink<WsStream, Message>,
    mut queue: OutboxReceiver,
    close_sent: oneshot::Sender<()>,
    mut stopped: oneshot::Receiver<()>,
) -> SplitSink<WsStream, Message> {
    loop {
        let first = tokio::select! {
            biased;
            _ = &mut stopped => return sink,
            out = queue.recv() => out,
        };
        let Some(first) = first else { return sink };
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Outbound::Message(message) => {
                    if sink.feed(message).await.is_err() {
                        return sink;
                    }
                    next = queue.try_recv();
                }
                Outbound::Close { code, reason } => {
                    let frame = CloseFrame {
                        code: CloseCode::from(code),
                        reason,
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    let _ = close_sent.send(());
                    // The reader finishes the closing handshake; keep the write half
                    // open until it is done.
                    let _ = stopped.await;
                    return sink;
                }
            }
        }
        if sink.flush().await.is_err() {
            return sink;
        }
    }
}
