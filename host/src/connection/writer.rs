//! The writer: drains the connection's outbound queue into the socket, feeding what
//! is queued and flushing once per batch; after a close frame nothing more is sent,
//! and on abort (a slow consumer) it gives up at once.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, SinkExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::halves::Writing;
use super::{ERROR_CLOSE_TIMEOUT, Io};
use crate::app::Outbound;
use crate::app::outbox::OutboxReceiver;
use crate::close::SLOW_CONSUMER;

/// How the writer stopped, for the reader.
#[derive(Debug, Clone, Copy)]
pub(super) enum WriterEnd {
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
///
/// A plain function returning the future, not an `async fn`: the future keeps the
/// writer where it was built, and no second copy of its arguments (an `async fn`
/// keeps both for its whole life, in every connection's task).
pub(super) fn write_loop<S: Io>(
    sink: Writing<S>,
    queue: OutboxReceiver,
    ended: oneshot::Sender<WriterEnd>,
    stopped: oneshot::Receiver<()>,
) -> impl Future<Output = Writing<S>> {
    let mut writer = Writer {
        sink,
        queue,
        stopped,
    };
    async move {
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
}

/// The writer's state.
struct Writer<S> {
    sink: Writing<S>,
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
    ///
    /// No message is held across a wait here (the task's state, which every
    /// connection keeps for its whole life, would hold room for several): the writer
    /// waits for something to be queued without taking it, each item is taken only
    /// when it can go to the sink at once, and the wait that follows is for room for
    /// the next. The sink has room whenever a message is put: it is fresh, or was
    /// last flushed or waited on for room.
    async fn run(&mut self) -> Option<WriterEnd> {
        let mut unflushed = 0usize;
        loop {
            if self.reader_done() {
                return None;
            }
            // What is queued already is seen without polling `stopped` (the check
            // above covered it); the end of the connection is watched while the
            // queue is empty.
            let queued = poll_fn(|cx| match self.queue.poll_queued(cx) {
                Poll::Pending if Pin::new(&mut self.stopped).poll(cx).is_ready() => {
                    Poll::Ready(false)
                }
                other => other,
            })
            .await;
            if !queued {
                return None;
            }
            loop {
                if self.queue.is_aborted() {
                    // Given up on (slow consumer): what is still queued is dropped.
                    return Some(Box::pin(self.close_slow_consumer()).await);
                }
                let Some(out) = self.queue.try_recv() else {
                    break;
                };
                let written = match out {
                    Outbound::Message(message) => {
                        unflushed += message.len();
                        self.put(message)
                    }
                    Outbound::Ping => self.put(Message::Ping(bytes::Bytes::new())),
                    Outbound::Close { code, reason } => {
                        return Some(Box::pin(self.close(code, reason)).await);
                    }
                    Outbound::Flushed(done) => {
                        // Everything queued before it is out: say so.
                        unflushed = 0;
                        let flushed = self.flush().await;
                        if flushed == Write::Done {
                            let _ = done.send(());
                        }
                        flushed
                    }
                };
                let written = match written {
                    Write::Done if unflushed >= FLUSH_EVERY => {
                        unflushed = 0;
                        self.flush().await
                    }
                    Write::Done => self.ready().await,
                    other => other,
                };
                match written {
                    Write::Done => {}
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

    /// Hands `message` to the sink, which has room for it (see [`Writer::run`]).
    fn put(&mut self, message: Message) -> Write {
        match Pin::new(&mut self.sink).start_send(message) {
            Ok(()) => Write::Done,
            Err(_) => Write::Failed,
        }
    }

    /// Waits for room for the next message (the one put last goes to the protocol
    /// layer), unless the connection is aborted or ends first.
    async fn ready(&mut self) -> Write {
        poll_fn(|cx| self.poll_write(cx, |sink, cx| sink.as_mut().poll_ready(cx))).await
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
        step: impl FnOnce(&mut Pin<&mut Writing<S>>, &mut Context<'_>) -> Poll<Result<(), WsError>>,
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
            code: SLOW_CONSUMER.code,
            reason: SLOW_CONSUMER.reason.into(),
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
