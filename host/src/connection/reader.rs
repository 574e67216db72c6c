//! The reader: frames from the socket become the app's events, until the
//! connection ends; it also runs the heartbeat's timer and waits for the client's
//! answer to the gateway's close frame.

use std::future::{Future, poll_fn};
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::failure::{Ending, Failure, failure};
use super::gate::GateState;
use super::halves::{AtRest, Reading};
use super::handover::Handover;
use super::heartbeat::{Due, Heartbeat};
use super::writer::WriterEnd;
use super::{ERROR_CLOSE_TIMEOUT, Io};
use crate::app::{AppHandle, Input, Outbox};
use crate::close::{self, Close, IDLE_TIMEOUT, PING_TIMEOUT, REPLACED_CLOSE, SLOW_CONSUMER};
use crate::model::{ConnId, ConnectionError, ErrorKind, Event};

/// How long the gateway waits for the client's close frame after sending its own.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client's close frame (or protocol violation) waits at the gate for the
/// replies to the messages before it.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(1);

/// Reads frames and hands messages to the app until the connection ends. The
/// messages it reads wait in `handover` while the next frame is already there, and
/// go to the app before the reader waits or looks at anything else; some may still
/// wait when it returns (the caller hands them over before the connection's last
/// events).
#[expect(
    clippy::manual_async_fn,
    reason = "an `async fn` keeps its arguments twice in the future"
)]
pub(super) fn read_loop<S: Io + AtRest>(
    stream: &mut Reading<S>,
    conn: ConnId,
    app: &AppHandle,
    outbox: &Outbox,
    gate: &GateState,
    mut close_sent: oneshot::Receiver<WriterEnd>,
    handover: &mut Handover,
) -> impl Future<Output = Ending> {
    // A plain function returning the future, not an `async fn`: that would keep its
    // arguments twice in the task's state, for the connection's whole life.
    async move {
        // Messages were handed to the app since the gate last held: their replies must
        // be out before a close frame goes through.
        let mut unsettled = false;
        // Boxed: only a closing connection has one, and every connection keeps its
        // state for its whole life.
        let mut peer_close: Option<Box<(u16, String)>> = None;
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
        'frames: loop {
            if let Some(beat) = heartbeat.deadline()
                && armed.is_none_or(|at| beat < at)
            {
                alarm.as_mut().reset(beat);
                armed = Some(beat);
            }
            let check = turn.is_multiple_of(CHECK_EVERY);
            // The socket was polled and is not ready: the wait below need not poll it
            // before it sleeps (its waker is registered), unless the hand-over waits for
            // room first (a wake-up may be taken by that wait).
            let mut registered = false;
            // (Written so that no frame is held across an await of this loop: the task's
            // state, which every connection keeps for its whole life, would hold room
            // for one.)
            let wake = 'wake: {
                // While messages wait to be handed over, the socket is polled once more
                // (with the task's own waker): a frame that is already there joins them.
                if !(handover.is_empty() || handover.is_full() || check || deadline.is_some()) {
                    match poll_fn(|cx| Poll::Ready(stream.poll_next_unpin(cx))).await {
                        Poll::Ready(next) => break 'wake Wake::Frame(next),
                        Poll::Pending => registered = true,
                    }
                }
                {
                    match handover.try_flush(app) {
                        Ok(true) => {}
                        Ok(false) => {
                            registered = false;
                            if handover.flush(app).await.is_err() {
                                return Ending::dropped(None);
                            }
                        }
                        Err(_) => return Ending::dropped(None),
                    }
                    if let Some(deadline) = deadline {
                        // The clock is read at every frame here too: a client that keeps sending
                        // after the gateway's close frame keeps the socket ready, and the
                        // timeout's own timer would never be polled.
                        let next = if Instant::now() < deadline {
                            // Boxed: only a closing connection waits here, and the
                            // timer would take room in every connection's state.
                            Box::pin(tokio::time::timeout_at(deadline, stream.next()))
                                .await
                                .ok()
                        } else {
                            None
                        };
                        match next {
                            Some(next) => Wake::Frame(next),
                            None => {
                                tracing::debug!(app = %app.name, conn, "the client did not answer the close frame in time");
                                break 'frames;
                            }
                        }
                    } else if let Some(wake) = check
                        .then(|| due_now(&mut close_sent, close_watch_done, armed))
                        .flatten()
                    {
                        wake
                    } else {
                        // The socket first: a frame that is there is taken without polling the
                        // rest (the check above keeps a flood from starving them).
                        tokio::select! {
                            biased;
                            next = SkipFirst::new(stream.next(), registered) => Wake::Frame(next),
                            () = holding(gate) => Wake::Held,
                            sent = &mut close_sent, if !close_watch_done => Wake::Writer(sent.ok()),
                            () = &mut alarm, if armed.is_some() => Wake::Alarm { socket_waits: true },
                        }
                    }
                }
            };
            turn = turn.wrapping_add(1);
            let next = match wake {
                Wake::Frame(next) => next,
                Wake::Held => {
                    Box::pin(settle(app, conn, gate, unsettled)).await;
                    unsettled = false;
                    continue;
                }
                Wake::Writer(sent) => {
                    close_watch_done = true;
                    match sent {
                        Some(WriterEnd::CloseSent) => {
                            deadline = Some(Instant::now() + CLOSE_HANDSHAKE_TIMEOUT);
                            // Nothing more goes out: the client's answer may pass.
                            gate.release();
                        }
                        // A client that does not read: the actor already reported it.
                        Some(WriterEnd::Aborted) => {
                            return Ending {
                                code: SLOW_CONSUMER.code(),
                                reason: SLOW_CONSUMER.reason.to_owned(),
                                error: None,
                                drain: false,
                            };
                        }
                        Some(WriterEnd::Unsent) => return Ending::dropped(None),
                        None => {}
                    }
                    continue;
                }
                Wake::Alarm { socket_waits } => {
                    armed = None;
                    let close = match heartbeat.due(Instant::now()) {
                        Some(Due::Ping) => {
                            // At each heartbeat, a connection at rest gives back what
                            // a large message grew its buffers to (the socket was just
                            // polled and had no frame, or it is not known to be at
                            // rest: the next beat tries again).
                            if socket_waits
                                && poll_fn(|cx| Poll::Ready(stream.release_buffers(cx))).await
                            {
                                tracing::debug!(app = %app.name, conn, "the protocol layer's buffers given back");
                            }
                            outbox.ping();
                            continue;
                        }
                        Some(Due::PongTimeout) => PING_TIMEOUT,
                        Some(Due::Idle) => IDLE_TIMEOUT,
                        None => continue,
                    };
                    tracing::debug!(app = %app.name, conn, "closing: {}", close.reason);
                    let error = ConnectionError {
                        kind: ErrorKind::Timeout,
                        message: close.reason.to_owned(),
                    };
                    return Box::pin(close_for_error(
                        outbox,
                        &mut close_sent,
                        close_watch_done,
                        close,
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
                    unsettled = true;
                    Input::Event(Event::Text { conn, text })
                }
                Some(Ok(Message::Binary(data))) => {
                    app.stats.metrics.binary_in.count(data.len());
                    unsettled = true;
                    Input::Event(Event::Binary { conn, data })
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((close::NO_STATUS, String::new()), |f| {
                        (u16::from(f.code), f.reason.as_str().to_owned())
                    });
                    if (code, reason.as_str()) == (REPLACED_CLOSE.code(), REPLACED_CLOSE.reason) {
                        // tungstenite answered an invalid close code with 1002 and hands
                        // that over in place of the client's frame.
                        invalid_close = true;
                    }
                    peer_close = Some(Box::new((code, reason)));
                    continue;
                }
                // Pings are answered by the protocol layer; pongs need nothing.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                // What came before the error goes first (if the app's queue is full, the
                // caller hands it over before the error).
                Some(Err(_)) if handover.try_flush(app).is_err() => return Ending::dropped(None),
                Some(Err(e)) => {
                    // The closing is made here and awaited after the error is gone:
                    // the task's state holds neither across the wait.
                    let closing = match failure(&e) {
                        Failure::Ended => break,
                        Failure::Dropped(error) => {
                            if peer_close.is_some() {
                                break;
                            }
                            return Ending::dropped(error);
                        }
                        Failure::Close { close, kind } => {
                            tracing::debug!(app = %app.name, conn, code = close.code(), "closing: {e}");
                            let error = ConnectionError {
                                kind,
                                message: e.to_string(),
                            };
                            Box::pin(close_for_error(
                                outbox,
                                &mut close_sent,
                                close_watch_done,
                                close,
                                error,
                            ))
                        }
                    };
                    drop(e);
                    return closing.await;
                }
            };
            handover.push(event);
        }
        match peer_close.map(|close| *close) {
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
}

/// Ready while the gate holds a frame that ends the connection.
async fn holding(gate: &GateState) {
    poll_fn(|_| {
        if gate.is_holding() {
            Poll::Ready(())
        } else {
            // The gate wakes the task when it starts holding (it is read in this
            // same task), so there is nothing to register here.
            Poll::Pending
        }
    })
    .await;
}

/// The gate holds the client's close frame (or a frame that breaks the protocol):
/// once the replies to the messages before it are out, or after [`SETTLE_TIMEOUT`]
/// (a stuck app cannot hold a closing connection), let it through.
async fn settle(app: &AppHandle, conn: ConnId, gate: &GateState, unsettled: bool) {
    if unsettled {
        let (done, flushed) = oneshot::channel();
        let _ = tokio::time::timeout(SETTLE_TIMEOUT, async {
            if app.send(Input::Flush { conn, done }).await.is_ok() {
                let _ = flushed.await;
            }
        })
        .await;
    }
    gate.release();
}

/// `future`, whose first poll is skipped (it is pending) when `skip`: the caller
/// just polled what it waits on, found it not ready, and its waker is registered.
struct SkipFirst<F> {
    future: F,
    skip: bool,
}

impl<F> SkipFirst<F> {
    fn new(future: F, skip: bool) -> Self {
        Self { future, skip }
    }
}

impl<F: Future + Unpin> Future for SkipFirst<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<F::Output> {
        if std::mem::take(&mut self.skip) {
            return Poll::Pending;
        }
        std::pin::Pin::new(&mut self.future).poll(cx)
    }
}

/// What woke the reader.
enum Wake {
    /// The gate holds a frame that ends the connection.
    Held,
    /// A frame, an error, or the end of the stream.
    Frame(Option<Result<Message, WsError>>),
    /// The writer ended (`None`: without saying why).
    Writer(Option<WriterEnd>),
    /// The heartbeat's timer; `socket_waits` if the socket was polled just before
    /// and had no frame.
    Alarm { socket_waits: bool },
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
        .then_some(Wake::Alarm {
            socket_waits: false,
        })
}

/// Sends the close frame for a read error and waits (briefly) until it is out.
/// (Cold paths like this one are boxed where they are awaited, so that their state
/// does not make every connection's task bigger for its whole life.)
async fn close_for_error(
    outbox: &Outbox,
    close_sent: &mut oneshot::Receiver<WriterEnd>,
    close_watch_done: bool,
    close: Close,
    error: ConnectionError,
) -> Ending {
    outbox.close(close.code(), close.reason.into());
    if !close_watch_done {
        let _ = tokio::time::timeout(ERROR_CLOSE_TIMEOUT, close_sent).await;
    }
    Ending {
        code: close.code(),
        reason: close.reason.to_owned(),
        error: Some(error),
        drain: true,
    }
}
