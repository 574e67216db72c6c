//! One WebSocket connection after the handshake: a reader that turns frames into the
//! app's events, and a writer that drains the connection's outbound queue into the
//! socket, batching whatever is queued into one flush.
//!
//! Ending: the app sees `on-close` exactly once, with the client's close code and
//! reason, 1006 when the transport dropped without a close frame, or the code the
//! gateway sent when it closed the connection for a protocol error.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::app::outbox::{OutboxReceiver, outbox};
use crate::app::registry::SLOW_CONSUMER;
use crate::app::{AppHandle, Event, Outbound, Outbox};
use crate::heartbeat::{Due, Heartbeat};
use crate::plugin::types::{ConnectionError, ErrorKind};

/// What a connection runs on: the upgraded socket (or, in tests, an in-memory pipe).
pub(crate) trait Io:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Io for T {}

/// The close code and reasons for heartbeat and idle timeouts.
const TIMEOUT_CODE: u16 = 1001;

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

/// Serves connection `conn` of `app` until it is closed. Its log events carry `app`
/// and `conn` as fields; no span is entered around its polls (that cost a filter
/// check per message) nor kept for its life (memory at every idle connection).
pub(crate) async fn serve<S: Io>(ws: WebSocketStream<S>, conn: u64, app: AppHandle) {
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
    // Reader and writer run in this one task (a connection is one task, not two):
    // whichever has work is polled; the writer ends once the reader is done.
    let reading = async {
        let mut ending = read_loop(&mut stream, conn, &app, &outbox, close_sent).await;
        if let Some(error) = ending.error.take() {
            let _ = app.send(Event::Error { conn, error }).await;
        }
        let _ = app
            .send(Event::Close {
                conn,
                code: ending.code,
                reason: std::mem::take(&mut ending.reason),
            })
            .await;
        drop(stop);
        ending
    };
    let (ending, sink) = tokio::join!(reading, write_loop(sink, queue, close_sent_tx, stopped));
    if ending.drain
        && let Ok(mut ws) = stream.reunite(sink)
    {
        Box::pin(drain(ws.get_mut())).await;
    }
}

/// Reads and discards what the client still sends (its close frame), within bounds,
/// then shuts the socket down cleanly.
async fn drain<S: Io>(io: &mut S) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        // On the heap: a buffer in the future would make every connection's task
        // that much bigger for the whole of its life.
        let mut buf = vec![0u8; 4096];
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
async fn read_loop<S: Io>(
    stream: &mut SplitStream<WebSocketStream<S>>,
    conn: u64,
    app: &AppHandle,
    outbox: &Outbox,
    mut close_sent: oneshot::Receiver<WriterEnd>,
) -> Ending {
    let mut peer_close: Option<(u16, String)> = None;
    let mut invalid_close = false;
    let mut close_watch_done = false;
    let mut deadline: Option<Instant> = None;
    let mut heartbeat = Heartbeat::new(&app.limits, Instant::now());
    // One timer for the connection's life, re-armed only when the heartbeat's
    // deadline comes earlier than the one set (a deadline that moved later lets the
    // timer fire early, find nothing due, and be set again): no timer is made and
    // dropped per message.
    let alarm = tokio::time::sleep_until(Instant::now());
    tokio::pin!(alarm);
    let mut armed: Option<Instant> = None;
    let mut turn: u32 = 0;
    loop {
        if let Some(beat) = heartbeat.deadline()
            && armed.is_none_or(|at| beat < at)
        {
            alarm.as_mut().reset(beat);
            armed = Some(beat);
        }
        let wake = if let Some(deadline) = deadline {
            // The clock is read at every frame here too: a client that keeps sending
            // after the gateway's close frame keeps the socket ready, and the
            // timeout's own timer would never be polled.
            let next = if Instant::now() < deadline {
                tokio::time::timeout_at(deadline, stream.next()).await.ok()
            } else {
                None
            };
            match next {
                Some(next) => Wake::Frame(next),
                None => {
                    tracing::debug!(app = %app.name, conn, "the client did not answer the close frame in time");
                    break;
                }
            }
        } else if let Some(wake) = turn
            .is_multiple_of(CHECK_EVERY)
            .then(|| due_now(&mut close_sent, close_watch_done, armed))
            .flatten()
        {
            wake
        } else {
            // The socket first: a frame that is there is taken without polling the
            // rest (the check above keeps a flood from starving them).
            tokio::select! {
                biased;
                next = stream.next() => Wake::Frame(next),
                sent = &mut close_sent, if !close_watch_done => Wake::Writer(sent.ok()),
                () = &mut alarm, if armed.is_some() => Wake::Alarm,
            }
        };
        turn = turn.wrapping_add(1);
        let next = match wake {
            Wake::Frame(next) => next,
            Wake::Writer(sent) => {
                close_watch_done = true;
                match sent {
                    Some(WriterEnd::CloseSent) => {
                        deadline = Some(Instant::now() + CLOSE_HANDSHAKE_TIMEOUT);
                    }
                    // A client that does not read: the actor already reported it.
                    Some(WriterEnd::Aborted) => {
                        return Ending {
                            code: SLOW_CONSUMER.0,
                            reason: SLOW_CONSUMER.1.to_owned(),
                            error: None,
                            drain: false,
                        };
                    }
                    Some(WriterEnd::Unsent) => return Ending::dropped(None),
                    None => {}
                }
                continue;
            }
            Wake::Alarm => {
                armed = None;
                let reason = match heartbeat.due(Instant::now()) {
                    Some(Due::Ping) => {
                        outbox.ping();
                        continue;
                    }
                    Some(Due::PongTimeout) => "no answer to ping",
                    Some(Due::Idle) => "idle timeout",
                    None => continue,
                };
                tracing::debug!(app = %app.name, conn, "closing: {reason}");
                let error = ConnectionError {
                    kind: ErrorKind::Timeout,
                    message: reason.to_owned(),
                };
                return Box::pin(close_for_error(
                    outbox,
                    &mut close_sent,
                    close_watch_done,
                    TIMEOUT_CODE,
                    reason,
                    error,
                ))
                .await;
            }
        };
        if let Some(Ok(message)) = &next {
            heartbeat.frame_with(
                matches!(message, Message::Text(_) | Message::Binary(_)),
                Instant::now,
            );
        }
        let event = match next {
            None => break,
            Some(Ok(Message::Text(text))) => {
                app.stats.metrics.text_in.count(text.len());
                Event::Text { conn, text }
            }
            Some(Ok(Message::Binary(data))) => {
                app.stats.metrics.binary_in.count(data.len());
                Event::Binary { conn, data }
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.as_str().to_owned())
                });
                if (code, reason.as_str()) == REPLACED_CLOSE {
                    // tungstenite answered an invalid close code with 1002 and hands
                    // that over in place of the client's frame.
                    invalid_close = true;
                }
                peer_close = Some((code, reason));
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
                    tracing::debug!(app = %app.name, conn, code, "closing: {e}");
                    let error = ConnectionError {
                        kind,
                        message: e.to_string(),
                    };
                    return Box::pin(close_for_error(
                        outbox,
                        &mut close_sent,
                        close_watch_done,
                        code,
                        reason,
                        error,
                    ))
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
            error: invalid_close.then(|| ConnectionError {
                kind: ErrorKind::Protocol,
                message: "the client's close frame had a code a peer may not send".into(),
            }),
            drain: false,
        },
        None => Ending::dropped(None),
    }
}

/// What woke the reader.
enum Wake {
    /// A frame, an error, or the end of the stream.
    Frame(Option<Result<Message, WsError>>),
    /// The writer ended (`None`: without saying why).
    Writer(Option<WriterEnd>),
    /// The heartbeat's timer.
    Alarm,
}

/// Every this many turns the reader looks at the writer's end and the timer before
/// the socket, without waiting: a client that floods frames keeps the socket always
/// ready, and neither the heartbeat nor the closing handshake may starve behind it.
const CHECK_EVERY: u32 = 32;

/// The writer's end or the timer, if either is there now.
fn due_now(
    close_sent: &mut oneshot::Receiver<WriterEnd>,
    close_watch_done: bool,
    armed: Option<Instant>,
) -> Option<Wake> {
    if !close_watch_done {
        match close_sent.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => {}
            Ok(end) => return Some(Wake::Writer(Some(end))),
            Err(oneshot::error::TryRecvError::Closed) => return Some(Wake::Writer(None)),
        }
    }
    armed
        .is_some_and(|at| at <= Instant::now())
        .then_some(Wake::Alarm)
}

/// What tungstenite hands over, and sends, when a client's close code is invalid.
const REPLACED_CLOSE: (u16, &str) = (1002, "Protocol violation");

/// Sends the close frame for a read error and waits (briefly) until it is out.
/// (Cold paths like this one are boxed where they are awaited, so that their state
/// does not make every connection's task bigger for its whole life.)
async fn close_for_error(
    outbox: &Outbox,
    close_sent: &mut oneshot::Receiver<WriterEnd>,
    close_watch_done: bool,
    code: u16,
    reason: &'static str,
    error: ConnectionError,
) -> Ending {
    outbox.close(code, reason.into());
    if !close_watch_done {
        let _ = tokio::time::timeout(ERROR_CLOSE_TIMEOUT, close_sent).await;
    }
    Ending {
        code,
        reason: reason.to_owned(),
        error: Some(error),
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

/// How the writer stopped, for the reader.
#[derive(Debug, Clone, Copy)]
enum WriterEnd {
    /// It sent a close frame: the reader waits for the client's answer.
    CloseSent,
    /// It could not get the close frame out in time: the client is not reading.
    Unsent,
    /// It gave up on a client that does not read (slow consumer).
    Aborted,
}

/// Bytes fed to the socket between two flushes at most: batching without letting
/// the protocol layer buffer without bound (its own buffer has no limit).
const FLUSH_EVERY: usize = 64 << 10;

/// The outcome of one write to the socket.
#[derive(Debug, PartialEq, Eq)]
enum Write {
    Done,
    /// The transport failed: the reader will see it too.
    Failed,
    /// The actor gave up on this client (slow consumer).
    Aborted,
}

/// Drains the outbound queue into the socket: what is queued is fed and flushed in
/// batches (a flush waits until the client takes the bytes: backpressure). After a
/// close frame nothing more is sent; on abort the writer gives up at once.
async fn write_loop<S: Io>(
    sink: SplitSink<WebSocketStream<S>, Message>,
    queue: OutboxReceiver,
    ended: oneshot::Sender<WriterEnd>,
    stopped: oneshot::Receiver<()>,
) -> SplitSink<WebSocketStream<S>, Message> {
    let mut writer = Writer {
        sink,
        queue,
        stopped,
    };
    let end = writer.run().await;
    if let Some(end) = end {
        let _ = ended.send(end);
        if matches!(end, WriterEnd::CloseSent) {
            // The reader finishes the closing handshake; keep the write half open
            // until it is done.
            let _ = (&mut writer.stopped).await;
        }
    }
    writer.sink
}

/// The writer's state.
struct Writer<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
    queue: OutboxReceiver,
    stopped: oneshot::Receiver<()>,
}

impl<S: Io> Writer<S> {
    /// Whether the reader has finished (it then drops its end of `stopped`).
    fn reader_done(&mut self) -> bool {
        !matches!(
            self.stopped.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )
    }

    /// Writes until stopped; says why it ended when the reader must know.
    async fn run(&mut self) -> Option<WriterEnd> {
        let mut unflushed = 0usize;
        loop {
            if self.reader_done() {
                return None;
            }
            // What is queued already is taken without a wait (and without polling
            // `stopped`, which the check above covered).
            let first = match self.queue.try_recv() {
                Some(out) => Some(out),
                None => tokio::select! {
                    biased;
                    _ = &mut self.stopped => return None,
                    out = self.queue.recv() => out,
                },
            };
            let mut next = Some(first?);
            while let Some(out) = next.take() {
                if self.queue.is_aborted() {
                    // Given up on (slow consumer): what is still queued is dropped.
                    return Some(Box::pin(self.close_slow_consumer()).await);
                }
                let message = match out {
                    Outbound::Message(message) => message,
                    Outbound::Ping => Message::Ping(bytes::Bytes::new()),
                    Outbound::Close { code, reason } => {
                        return Some(Box::pin(self.close(code, reason)).await);
                    }
                };
                unflushed += message.len();
                let fed = self.feed(message).await;
                let written = if fed == Write::Done && unflushed >= FLUSH_EVERY {
                    unflushed = 0;
                    self.flush().await
                } else {
                    fed
                };
                match written {
                    Write::Done => next = self.queue.try_recv(),
                    Write::Failed => return None,
                    Write::Aborted => return Some(Box::pin(self.close_slow_consumer()).await),
                }
            }
            unflushed = 0;
            match self.flush().await {
                Write::Done => {}
                Write::Failed => return None,
                Write::Aborted => return Some(Box::pin(self.close_slow_consumer()).await),
            }
        }
    }

    /// Hands `message` to the protocol layer, unless the connection is aborted or
    /// ends while it waits for room.
    async fn feed(&mut self, message: Message) -> Write {
        let mut message = Some(message);
        poll_fn(|cx| {
            self.poll_write(cx, |sink, cx| match sink.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(match message.take() {
                    Some(message) => sink.as_mut().start_send(message),
                    None => Ok(()),
                }),
                other => other,
            })
        })
        .await
    }

    /// Flushes, unless the connection is aborted or ends first.
    async fn flush(&mut self) -> Write {
        poll_fn(|cx| self.poll_write(cx, |sink, cx| sink.as_mut().poll_flush(cx))).await
    }

    /// Polls one step of writing; while it waits for the client, the abort and the
    /// end of the connection are watched too (only then: the common case, a socket
    /// that takes the bytes at once, costs one poll).
    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        step: impl FnOnce(
            &mut Pin<&mut SplitSink<WebSocketStream<S>, Message>>,
            &mut Context<'_>,
        ) -> Poll<Result<(), WsError>>,
    ) -> Poll<Write> {
        if let Poll::Ready(done) = step(&mut Pin::new(&mut self.sink), cx) {
            return Poll::Ready(if done.is_ok() {
                Write::Done
            } else {
                Write::Failed
            });
        }
        if self.queue.poll_aborted(cx).is_ready() {
            return Poll::Ready(Write::Aborted);
        }
        if Pin::new(&mut self.stopped).poll(cx).is_ready() {
            // The connection ended: nothing more to write.
            return Poll::Ready(Write::Failed);
        }
        Poll::Pending
    }

    /// The client fell too far behind: what is still queued is dropped and the close
    /// frame (1008) goes out after what the protocol layer already holds; a client
    /// that does not read even that is dropped.
    async fn close_slow_consumer(&mut self) -> WriterEnd {
        let frame = CloseFrame {
            code: CloseCode::from(SLOW_CONSUMER.0),
            reason: SLOW_CONSUMER.1.into(),
        };
        let sent = tokio::time::timeout(
            ERROR_CLOSE_TIMEOUT,
            self.sink.send(Message::Close(Some(frame))),
        )
        .await;
        match sent {
            Ok(Ok(())) => WriterEnd::CloseSent,
            _ => WriterEnd::Aborted,
        }
    }

    /// Sends a close frame, giving up on a client that does not take it.
    async fn close(
        &mut self,
        code: u16,
        reason: tokio_tungstenite::tungstenite::Utf8Bytes,
    ) -> WriterEnd {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason,
        };
        let sent = tokio::select! {
            sent = self.sink.send(Message::Close(Some(frame))) => sent.is_ok(),
            () = self.queue.aborted() => false,
            () = tokio::time::sleep(ERROR_CLOSE_TIMEOUT) => false,
        };
        if sent {
            WriterEnd::CloseSent
        } else {
            WriterEnd::Unsent
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use tokio::time::Instant;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use crate::app::{AppHandle, Event};
    use crate::config::Limits;
    use crate::plugin::types::ErrorKind;

    /// A connection served over an in-memory pipe, its client, and its events.
    async fn connected(
        limits: Limits,
    ) -> (
        WebSocketStream<tokio::io::DuplexStream>,
        tokio::sync::mpsc::Receiver<Event>,
    ) {
        let (app, mut events) = AppHandle::for_test(limits);
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        tokio::spawn(super::serve(server, 7, app));
        assert!(matches!(
            events.recv().await,
            Some(Event::Connect { conn: 7, .. })
        ));
        (client, events)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_pinged_at_25s_and_closed_1001_at_35s() {
        let (mut client, mut events) = connected(Limits::default()).await;
        let start = Instant::now();
        // The client reads nothing (a dead peer): paused time runs to the deadlines.
        match events.recv().await {
            Some(Event::Error { conn: 7, error }) => assert_eq!(error.kind, ErrorKind::Timeout),
            _ => panic!("expected on-error (timeout)"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(35));
        match events.recv().await {
            Some(Event::Close { conn: 7, code, .. }) => assert_eq!(code, 1001),
            _ => panic!("expected on-close"),
        }
        assert!(matches!(client.next().await, Some(Ok(Message::Ping(_)))));
        match client.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
            other => panic!("expected close 1001, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_answers_pings_stays_for_an_hour_and_the_plugin_sees_no_ping() {
        let (mut client, mut events) = connected(Limits::default()).await;
        let start = Instant::now();
        // Reading answers each ping (tungstenite replies with a pong).
        let reader = tokio::spawn(async move {
            let mut pings = 0u32;
            while start.elapsed() < Duration::from_secs(3600) {
                match client.next().await {
                    Some(Ok(Message::Ping(_))) => pings += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            (pings, client)
        });
        let (pings, mut client) = reader.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pings, 3600 / 25);
        assert!(events.try_recv().is_err(), "no event reached the plugin");
        client
            .send(Message::text("still here"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            events.recv().await,
            Some(Event::Text { conn: 7, .. })
        ));
    }

    /// The default limits with a 60 s idle timeout.
    fn idle_60s() -> Limits {
        Limits {
            idle_timeout: Some(Duration::from_secs(60)),
            ..Limits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_timeout_counts_messages_not_pongs() {
        let (mut client, mut events) = connected(idle_60s()).await;
        let start = Instant::now();
        let reader = tokio::spawn(async move { while let Some(Ok(_)) = client.next().await {} });
        match events.recv().await {
            Some(Event::Error { error, .. }) => assert_eq!(error.message, "idle timeout"),
            _ => panic!("expected on-error (idle)"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        reader.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_frames_does_not_starve_the_idle_timeout() {
        let (mut client, mut events) = connected(idle_60s()).await;
        // 2,000 pings (which do not count as activity), then a message (which would),
        // all in the socket before the gateway reads any, and the idle deadline
        // passed meanwhile: the socket stays ready for the whole backlog.
        for _ in 0..2000 {
            client
                .feed(Message::Ping(bytes::Bytes::new()))
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        client
            .feed(Message::text("too late"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        client.flush().await.unwrap_or_else(|e| panic!("{e}"));
        tokio::time::advance(Duration::from_secs(61)).await;
        // The deadline is seen within the backlog, not after it.
        match events.recv().await {
            Some(Event::Error { error, .. }) => assert_eq!(error.message, "idle timeout"),
            Some(Event::Text { text, .. }) => panic!("the backlog starved the timer: got {text}"),
            _ => panic!("expected on-error (idle)"),
        }
    }
}
#[cfg(test)]
mod footprint {
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use crate::app::AppHandle;
    use crate::config::Limits;

    /// An idle connection is mostly its task: its future's state stays allocated for
    /// the connection's whole life, so a buffer or a cold path's state inside it costs
    /// memory at every connection (a 4 KiB drain buffer once did).
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let (app, _events) = AppHandle::for_test(Limits::default());
        let (io, _client) = tokio::io::duplex(1024);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        let task = super::serve(ws, 7, app);
        let size = std::mem::size_of_val(&task);
        assert!(
            size <= 3 << 10,
            "a connection's task holds {size} bytes of state"
        );
    }
}
