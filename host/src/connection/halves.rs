//! The connection's WebSocket, shared by its reader and writer, and the buffers a
//! large message grew given back once the connection is at rest.
//!
//! tungstenite keeps its input buffer as large as the largest frame it read and its
//! output buffer as large as the most it held between two flushes, for the
//! connection's whole life: after one 64 KiB message each way an idle connection
//! held ~140 KiB instead of ~3.3 (README, Performance). Neither buffer can be
//! shrunk from outside, but a WebSocket at rest — nothing of a frame read, nothing
//! unsent, not closing — is nothing but its socket and its config, so it can be
//! made again over the same socket with fresh, small buffers: that is
//! [`Reading::release_buffers`]. `futures`' `split` gives neither half the whole
//! stream, so the two halves here share it behind one lock (both live in the
//! connection's one task: the lock is never contended, as `split`'s was not).

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::Io;

/// A message read, or bytes written between two flushes, above this many bytes
/// grew tungstenite's buffers past their size at rest (its read buffer starts at
/// [`super::TUNGSTENITE_SLICE`] bytes; its write buffer at none): they are worth
/// giving back. Below it, what a rebuild would free is not worth its allocations.
pub(super) const GROWN_ABOVE: usize = 2 * super::TUNGSTENITE_SLICE;

/// What lies under the WebSocket: whether every byte tungstenite has read so far
/// ended a frame (tungstenite then holds none of a frame, once it has found no
/// whole frame to return).
pub(super) trait AtRest {
    /// Every byte handed up so far ends a whole frame, no fragmented message is in
    /// progress, and nothing is held back.
    fn at_frame_boundary(&self) -> bool;
}

/// The WebSocket and what the halves know of its buffers.
struct Shared<S> {
    /// `None` only if a rebuild failed (the connection then ends).
    ws: Option<WebSocketStream<S>>,
    /// Bytes put into the sink since its last flush.
    unflushed: usize,
    /// A buffer grew past [`GROWN_ABOVE`] since the last rebuild.
    grown: bool,
    /// A close frame was read or written (or the stream failed): tungstenite's
    /// state is no longer that of a fresh WebSocket, so it is never rebuilt.
    closing: bool,
}

/// The read half: a stream of the client's messages.
pub(super) struct Reading<S>(Arc<Mutex<Shared<S>>>);

/// The write half: a sink of messages to the client.
pub(super) struct Writing<S>(Arc<Mutex<Shared<S>>>);

/// `ws` split into its read and write halves.
pub(super) fn split<S>(ws: WebSocketStream<S>) -> (Writing<S>, Reading<S>) {
    let shared = Arc::new(Mutex::new(Shared {
        ws: Some(ws),
        unflushed: 0,
        grown: false,
        closing: false,
    }));
    (Writing(shared.clone()), Reading(shared))
}

/// The WebSocket again, once both halves are given back (`None` if they are not of
/// one stream, or a rebuild lost it).
pub(super) fn reunite<S>(reading: Reading<S>, writing: Writing<S>) -> Option<WebSocketStream<S>> {
    if !Arc::ptr_eq(&reading.0, &writing.0) {
        return None;
    }
    drop(writing);
    let shared = Arc::into_inner(reading.0)?;
    shared
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .ws
}

/// The shared state, locked (a panic while it was held leaves nothing half-done
/// that matters here: the stream's own state is tungstenite's).
fn lock<S>(shared: &Mutex<Shared<S>>) -> MutexGuard<'_, Shared<S>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Io> Stream for Reading<S> {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut shared = lock(&self.0);
        let Some(ws) = shared.ws.as_mut() else {
            return Poll::Ready(None);
        };
        let next = ws.poll_next_unpin(cx);
        match &next {
            Poll::Ready(Some(Ok(message))) => {
                if message.len() > GROWN_ABOVE {
                    shared.grown = true;
                }
                if matches!(message, Message::Close(_)) {
                    shared.closing = true;
                }
            }
            Poll::Ready(_) => shared.closing = true,
            Poll::Pending => {}
        }
        next
    }
}

impl<S: Io + AtRest> Reading<S> {
    /// Makes the WebSocket again over its socket, with fresh buffers, if a large
    /// message grew them since the last time and the connection is at rest: the
    /// read half's last poll found no frame (the caller knows), everything read
    /// ended a frame, everything written is flushed (tried now, with `cx`), and no
    /// close frame went either way. Whether it did.
    pub(super) fn release_buffers(&mut self, cx: &mut Context<'_>) -> bool {
        let mut shared = lock(&self.0);
        if !shared.grown || shared.closing {
            return false;
        }
        let Some(ws) = shared.ws.take_if(|ws| {
            ws.get_ref().at_frame_boundary()
                && matches!(ws.poll_flush_unpin(cx), Poll::Ready(Ok(())))
        }) else {
            return false;
        };
        let config = *ws.get_config();
        // Made at once: a WebSocket without a handshake is ready on its first poll.
        shared.ws = WebSocketStream::from_raw_socket(ws.into_inner(), Role::Server, Some(config))
            .now_or_never();
        shared.unflushed = 0;
        shared.grown = false;
        if shared.ws.is_none() {
            shared.closing = true;
            return false;
        }
        true
    }
}

impl<S: Io> Writing<S> {
    /// Polls one step of the sink.
    fn step(
        &self,
        cx: &mut Context<'_>,
        step: impl FnOnce(&mut WebSocketStream<S>, &mut Context<'_>) -> Poll<Result<(), WsError>>,
        after: impl FnOnce(&mut Shared<S>),
    ) -> Poll<Result<(), WsError>> {
        let mut shared = lock(&self.0);
        let Some(ws) = shared.ws.as_mut() else {
            return Poll::Ready(Err(WsError::AlreadyClosed));
        };
        let done = step(ws, cx);
        if matches!(done, Poll::Ready(Ok(()))) {
            after(&mut shared);
        }
        done
    }
}

impl<S: Io> Sink<Message> for Writing<S> {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.step(cx, |ws, cx| ws.poll_ready_unpin(cx), |_| {})
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        let mut shared = lock(&self.0);
        shared.unflushed += message.len();
        if shared.unflushed > GROWN_ABOVE {
            shared.grown = true;
        }
        if matches!(message, Message::Close(_)) {
            shared.closing = true;
        }
        match shared.ws.as_mut() {
            Some(ws) => ws.start_send_unpin(message),
            None => Err(WsError::AlreadyClosed),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.step(
            cx,
            |ws, cx| ws.poll_flush_unpin(cx),
            |shared| shared.unflushed = 0,
        )
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        lock(&self.0).closing = true;
        self.step(cx, |ws, cx| ws.poll_close_unpin(cx), |_| {})
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncWriteExt, DuplexStream};
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    use super::*;
    use crate::connection::gate::Gate;
    use crate::connection::staging::Staged;

    type Server = Gate<Staged<DuplexStream>>;

    /// A server's two halves over an in-memory pipe of `pipe` bytes, as a
    /// connection has them, and the raw client end.
    async fn halves(pipe: usize) -> (Writing<Server>, Reading<Server>, DuplexStream) {
        let (server_io, client_io) = tokio::io::duplex(pipe);
        let (io, _gate) = Gate::new(Staged::new(server_io, 3 * 1024), 1 << 24);
        let config =
            WebSocketConfig::default().read_buffer_size(crate::connection::TUNGSTENITE_SLICE);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
        let (writing, reading) = split(ws);
        (writing, reading, client_io)
    }

    /// A client's binary frame of `len` bytes (masked, with a zero key).
    fn client_frame(len: usize, fin: bool) -> Vec<u8> {
        let mut frame = vec![if fin { 0x82 } else { 0x02 }];
        match len {
            0..=125 => frame.push(0x80 | len as u8),
            126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0; 4]);
        frame.extend(std::iter::repeat_n(0x5a, len));
        frame
    }

    async fn release(reading: &mut Reading<Server>) -> bool {
        poll_fn(|cx| Poll::Ready(reading.release_buffers(cx))).await
    }

    /// The next message the server reads.
    async fn read(reading: &mut Reading<Server>) -> Message {
        match reading.next().await {
            Some(Ok(message)) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The client sends one whole binary frame of `len` bytes; the server reads it.
    async fn message_in(client: &mut DuplexStream, reading: &mut Reading<Server>, len: usize) {
        client.write_all(&client_frame(len, true)).await.unwrap();
        assert_eq!(read(reading).await.len(), len);
    }

    /// Whether the server, its read half found no frame, gives its buffers back.
    async fn released_at_rest(reading: &mut Reading<Server>) -> bool {
        assert!(pending(reading).await, "a frame was still there");
        release(reading).await
    }

    /// Whether the server's read half has nothing ready now (its last poll found no
    /// frame, as the reader knows before it releases).
    async fn pending(reading: &mut Reading<Server>) -> bool {
        poll_fn(|cx| Poll::Ready(reading.poll_next_unpin(cx).is_pending())).await
    }

    /// Everything the client end can read now.
    async fn drain_client(client: &mut DuplexStream) -> usize {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0; 1 << 17];
        let mut total = 0;
        while let Ok(Ok(n)) =
            tokio::time::timeout(std::time::Duration::from_millis(50), client.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    }

    #[tokio::test]
    async fn small_messages_grow_nothing_and_nothing_is_rebuilt() {
        let (mut writing, mut reading, mut client) = halves(1 << 20).await;
        message_in(&mut client, &mut reading, 32).await;
        writing.send(Message::binary(vec![1u8; 32])).await.unwrap();
        assert!(!released_at_rest(&mut reading).await);
    }

    #[tokio::test]
    async fn a_large_message_read_is_given_back_at_rest_and_the_connection_goes_on() {
        let (mut writing, mut reading, mut client) = halves(1 << 20).await;
        message_in(&mut client, &mut reading, 64 << 10).await;
        assert!(
            released_at_rest(&mut reading).await,
            "grown and at rest: rebuilt"
        );
        assert!(!release(&mut reading).await, "nothing grew since");
        // Both ways still work, with the same limits, over the same socket.
        message_in(&mut client, &mut reading, 5).await;
        writing.send(Message::binary(vec![7u8; 100])).await.unwrap();
        assert_eq!(drain_client(&mut client).await, 102);
        let ws = reunite(reading, writing).expect("one stream");
        assert_eq!(
            ws.get_config().read_buffer_size,
            crate::connection::TUNGSTENITE_SLICE
        );
    }

    #[tokio::test]
    async fn a_frame_half_read_keeps_the_buffers_until_it_is_whole() {
        let (_writing, mut reading, mut client) = halves(1 << 20).await;
        message_in(&mut client, &mut reading, 4 << 10).await;
        let next = client_frame(2 << 10, true);
        client.write_all(&next[..1000]).await.unwrap();
        assert!(
            !released_at_rest(&mut reading).await,
            "part of a frame is in tungstenite"
        );
        client.write_all(&next[1000..]).await.unwrap();
        assert_eq!(read(&mut reading).await.len(), 2 << 10);
        assert!(released_at_rest(&mut reading).await);
    }

    #[tokio::test]
    async fn a_fragmented_message_in_progress_keeps_the_buffers() {
        let (_writing, mut reading, mut client) = halves(1 << 20).await;
        message_in(&mut client, &mut reading, 4 << 10).await;
        client
            .write_all(&client_frame(4 << 10, false))
            .await
            .unwrap();
        assert!(
            !released_at_rest(&mut reading).await,
            "the message is not whole"
        );
        // The final fragment: a continuation frame.
        let mut last = client_frame(10, true);
        last[0] = 0x80;
        client.write_all(&last).await.unwrap();
        assert_eq!(read(&mut reading).await.len(), (4 << 10) + 10);
        assert!(released_at_rest(&mut reading).await);
    }

    #[tokio::test]
    async fn bytes_not_yet_flushed_keep_the_buffers_until_the_client_takes_them() {
        // A pipe smaller than the message: the flush waits for the client.
        let (mut writing, mut reading, mut client) = halves(4 << 10).await;
        writing
            .feed(Message::binary(vec![3u8; 64 << 10]))
            .await
            .unwrap();
        let flushed = poll_fn(|cx| Poll::Ready(Pin::new(&mut writing).poll_flush(cx))).await;
        assert!(flushed.is_pending());
        assert!(
            !release(&mut reading).await,
            "unsent bytes are in tungstenite"
        );
        let (taken, flushed) = tokio::join!(drain_client(&mut client), writing.flush());
        flushed.unwrap();
        assert_eq!(taken, (64 << 10) + 10);
        assert!(released_at_rest(&mut reading).await);
    }

    #[tokio::test]
    async fn a_closing_connection_is_never_rebuilt() {
        let (mut writing, mut reading, mut client) = halves(1 << 20).await;
        message_in(&mut client, &mut reading, 64 << 10).await;
        writing.send(Message::Close(None)).await.unwrap();
        assert!(!released_at_rest(&mut reading).await);
        drop(client);
    }
}
