//! One WebSocket connection after the handshake: a reader that turns frames into the
//! app's events, and a writer that drains the connection's outbound queue into the
//! socket, batching whatever is queued into one flush.
//!
//! Ending: the app sees `on-close` exactly once, with the client's close code and
//! reason, 1006 when the transport dropped without a close frame, or the code the
//! gateway sent when it closed the connection for a protocol error.
//!
//! - `reader`: frames → the app's events; the heartbeat's timer; the closing handshake.
//! - `writer`: the outbound queue → frames, batched into flushes; abort on a slow consumer.
//! - `failure`: what a read error means (close code, or the transport is gone).
//! - `handover`: the messages one read brought go to the app's actor together.
//! - `gate`: holds the client's close frame (or a frame that breaks the protocol)
//!   until the replies to the messages before it are out.
//! - `heartbeat`: when to ping, and when to give up on a silent client.
//! - `staging`: the socket read through a buffer the thread's connections share.
//!
//! Sees an app only through its handle and the outbox: it never imports `http` or
//! `server`.

/// `impl AsyncWrite for $wrapper<S>` handing every call to its `inner` socket: the
/// read side's wrappers (`gate`, `staging`) leave writes alone.
macro_rules! forward_writes {
    ($wrapper:ident) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<S> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                data: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, data)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }
        }
    };
}
use forward_writes;

mod failure;
mod gate;
mod halves;
mod handover;
mod heartbeat;
mod reader;
mod staging;
mod writer;

use std::future::Future;
use std::time::Duration;

use futures_util::future::{FutureExt, OptionFuture};
use tokio::sync::oneshot;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::app::outbox::outbox;
use bytes::Bytes;

use crate::app::{AppHandle, Input, Joining, Welcome};
use crate::directory::Member;
use crate::model::{ConnId, Event};

/// What a connection runs on: the upgraded socket (or, in tests, an in-memory pipe).
pub(crate) trait Io:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Io for T {}

/// How long the gateway waits to get its own close frame out after an error.
const ERROR_CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// After an error close, how long and how many bytes the gateway reads and discards
/// while the client answers: closing a socket with unread input resets it, and the
/// client could lose the close frame.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 1 << 20;
/// How much tungstenite reads at a time (from the stage, see `staging`): what its
/// own buffer holds at an idle connection. A frame header and a short message fit,
/// and a pipelining client's 16 short messages take two slices. Measured (README,
/// Performance): 256 → 512 cut 13 % of the instructions per message at 16 per
/// write and 8 % for 4 KiB messages, for +0.27 KiB per idle connection; 1 KiB
/// cut no more than 512 and cost +0.73 KiB (over the 5 KiB goal).
const TUNGSTENITE_SLICE: usize = 512;

/// Serves connection `conn` of `app` on the socket `upgrade` yields, until the
/// connection is closed; `hold` (its place in the app's limits) is kept until then.
/// Its log events carry `app` and `conn` as fields; no span is entered around its
/// polls (that cost a filter check per message) nor kept for its life (memory at
/// every idle connection).
///
/// The future is what every connection keeps for its whole life (its task's state),
/// so it comes in two parts: the opening (the upgrade, the welcome, the
/// registration with the app) on the heap, freed once it is done, then the running
/// connection, whose future keeps each of its parts once, where it was built. (An
/// `async fn` would also keep its arguments for the connection's whole life, beside
/// the copies it works with.)
pub(crate) fn serve<S: Io, E: std::fmt::Display>(
    upgrade: impl Future<Output = Result<S, E>> + Send + 'static,
    hold: impl Send + 'static,
    conn: ConnId,
    app: AppHandle,
    welcome: Box<Welcome>,
) -> impl Future<Output = ()> + Send + 'static {
    let opening = Box::pin(async move {
        let io = match upgrade.await {
            Ok(io) => io,
            Err(e) => {
                tracing::debug!(app = %app.name, conn, "the upgrade did not complete: {e}");
                return None;
            }
        };
        let opened = open(io, conn, &app, *welcome).await?;
        Some((opened, app))
    });
    opening
        .then(move |opened| OptionFuture::from(opened.map(|(o, app)| run(o, hold, conn, app))))
        .map(drop)
}

/// An opened connection's parts: the WebSocket, its gate, and its outbound queue.
struct Opened<S> {
    ws: WebSocketStream<gate::Gate<staging::Staged<S>>>,
    gate: std::sync::Arc<gate::GateState>,
    outbox: crate::app::Outbox,
    queue: crate::app::outbox::OutboxReceiver,
}

/// The opened connection, served: reader and writer in one task (a connection is
/// one task, not two); whichever has work is polled, and the writer ends once the
/// reader is done. Each of the two futures owns what it works on, and they are
/// joined as they are: a future that took them in would keep room for them twice.
fn run<S: Io>(
    opened: Opened<S>,
    hold: impl Send + 'static,
    conn: ConnId,
    app: AppHandle,
) -> impl Future<Output = ()> + Send + 'static {
    let Opened {
        ws,
        gate,
        outbox,
        queue,
    } = opened;
    let (sink, mut stream) = halves::split(ws);
    let (close_sent_tx, close_sent) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let writing = writer::write_loop(sink, queue, close_sent_tx, stopped);
    let reading = async move {
        let mut handover = handover::Handover::default();
        let ending = reader::read_loop(
            &mut stream,
            conn,
            &app,
            &outbox,
            &gate,
            close_sent,
            &mut handover,
        )
        .await;
        // Boxed: the end's state would otherwise take room beside the reader's in
        // every connection's task, for the connection's whole life.
        let drain = Box::pin(finish(&app, conn, handover, ending)).await;
        drop(stop);
        (drain, stream)
    };
    futures_util::future::join(reading, writing)
        .then(move |((drain_first, stream), sink)| {
            let draining = drain_first
                .then(|| halves::reunite(stream, sink))
                .flatten()
                .map(|mut ws| {
                    Box::pin(async move {
                        drain(ws.get_mut().get_mut()).await;
                        // The place in the app's limits is given back last.
                        drop(hold);
                    })
                });
            OptionFuture::from(draining)
        })
        .map(drop)
}

/// The connection's last events: the messages before its end, its error if any,
/// then its close. Whether the socket is to be drained before it is shut.
async fn finish(
    app: &AppHandle,
    conn: ConnId,
    mut handover: handover::Handover,
    mut ending: failure::Ending,
) -> bool {
    // The messages before the end go first (an app that is gone takes none).
    let _ = handover.flush(app).await;
    if let Some(error) = ending.error.take() {
        let _ = app.send(Input::Event(Event::Error { conn, error })).await;
    }
    let _ = app
        .send(Input::Event(Event::Close {
            conn,
            code: ending.code,
            reason: std::mem::take(&mut ending.reason),
        }))
        .await;
    ending.drain
}

/// The WebSocket over `io` (behind the gate), and the connection registered with
/// the app; `None` if the app is gone.
async fn open<S: Io>(io: S, conn: ConnId, app: &AppHandle, welcome: Welcome) -> Option<Opened<S>> {
    let config = WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_SLICE)
        .max_message_size(Some(app.limits.max_message_size))
        .max_frame_size(Some(app.limits.max_frame_size));
    let io = staging::Staged::new(io, app.limits.read_buffer_size);
    let (io, gate) = gate::Gate::new(io, app.limits.max_frame_size);
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    let (outbox, queue) = outbox();
    let Welcome {
        user,
        attachment,
        rooms,
        handshake,
    } = welcome;
    let joining = Joining {
        conn,
        outbox: outbox.clone(),
        member: Member::new(
            user.map(Into::into),
            Bytes::new(),
            handshake,
            outbox.gauge(),
        ),
        attachment,
        rooms,
    };
    if app.send(Input::Connect(Box::new(joining))).await.is_err() {
        return None;
    }
    Some(Opened {
        ws,
        gate,
        outbox,
        queue,
    })
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use tokio::time::Instant;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use crate::app::{AppHandle, Input};
    use crate::config::Limits;
    use crate::model::{ErrorKind, Event};

    /// A connection served over an in-memory pipe, its client, and its events.
    async fn connected(
        limits: Limits,
    ) -> (
        WebSocketStream<tokio::io::DuplexStream>,
        crate::app::inbox::Inbox<Input>,
    ) {
        let (app, mut events) = AppHandle::for_test(limits);
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        tokio::spawn(super::serve(
            std::future::ready(Ok::<_, std::convert::Infallible>(server_io)),
            (),
            7,
            app,
            Box::default(),
        ));
        assert!(matches!(
            events.recv().await,
            Some(Input::Connect(j)) if j.conn == 7
        ));
        (client, events)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_pinged_at_25s_and_closed_1001_at_35s() {
        let (mut client, mut events) = connected(Limits::default()).await;
        let start = Instant::now();
        // The client reads nothing (a dead peer): paused time runs to the deadlines.
        match events.recv().await {
            Some(Input::Event(Event::Error { conn: 7, error })) => {
                assert_eq!(error.kind, ErrorKind::Timeout);
            }
            _ => panic!("expected on-error (timeout)"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(35));
        match events.recv().await {
            Some(Input::Event(Event::Close { conn: 7, code, .. })) => assert_eq!(code, 1001),
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
        assert!(events.try_recv().is_none(), "no event reached the plugin");
        client
            .send(Message::text("still here"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            events.recv().await,
            Some(Input::Event(Event::Text { conn: 7, .. }))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_carried_large_messages_goes_on_as_before_after_a_heartbeat() {
        use tokio_tungstenite::tungstenite::protocol::frame::Frame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
        let (app, mut events) = AppHandle::for_test(Limits::default());
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        tokio::spawn(super::serve(
            std::future::ready(Ok::<_, std::convert::Infallible>(server_io)),
            (),
            7,
            app,
            Box::default(),
        ));
        let Some(Input::Connect(joining)) = events.recv().await else {
            panic!("expected the connection's registration");
        };
        let outbox = joining.outbox.clone();
        let big = |byte: u8| Message::binary(vec![byte; 64 << 10]);
        let binary_in =
            async |events: &mut crate::app::inbox::Inbox<Input>| match events.recv().await {
                Some(Input::Event(Event::Binary { data, .. })) => data,
                _ => panic!("expected a binary message"),
            };
        // 64 KiB each way: tungstenite's buffers grow to it.
        client.send(big(1)).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(binary_in(&mut events).await.len(), 64 << 10);
        outbox
            .push(big(2), usize::MAX)
            .unwrap_or_else(|_| panic!("full"));
        assert_eq!(client.next().await.and_then(Result::ok), Some(big(2)));
        // The first heartbeat (25 s): the connection is at rest, what its buffers grew
        // to is given back (the WebSocket made again over its socket), and it pings.
        tokio::time::advance(Duration::from_secs(26)).await;
        assert!(matches!(client.next().await, Some(Ok(Message::Ping(_)))));
        // It goes on as before: a fragmented message, the client's ping, large
        // messages each way, and its close.
        let fragment = |data: &'static [u8], opcode, fin| {
            Message::Frame(Frame::message(bytes::Bytes::from_static(data), opcode, fin))
        };
        client
            .send(fragment(b"frag", OpCode::Data(Data::Binary), false))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        client
            .send(fragment(b"ments", OpCode::Data(Data::Continue), true))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&binary_in(&mut events).await[..], b"fragments");
        client
            .send(Message::Ping(bytes::Bytes::from_static(b"hi")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            client.next().await.and_then(Result::ok),
            Some(Message::Pong(bytes::Bytes::from_static(b"hi")))
        );
        client.send(big(3)).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(binary_in(&mut events).await, vec![3u8; 64 << 10]);
        outbox
            .push(big(4), usize::MAX)
            .unwrap_or_else(|_| panic!("full"));
        assert_eq!(client.next().await.and_then(Result::ok), Some(big(4)));
        client.close(None).await.unwrap_or_else(|e| panic!("{e}"));
        loop {
            match events.recv().await {
                // The close frame waits for the replies to the messages before it.
                Some(Input::Flush { done, .. }) => drop(done),
                Some(Input::Event(Event::Close { conn: 7, code, .. })) => {
                    break assert_eq!(code, 1005);
                }
                _ => panic!("expected on-close"),
            }
        }
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
            Some(Input::Event(Event::Error { error, .. })) => {
                assert_eq!(error.message, "idle timeout");
            }
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
            Some(Input::Event(Event::Error { error, .. })) => {
                assert_eq!(error.message, "idle timeout");
            }
            Some(Input::Event(Event::Text { text, .. })) => {
                panic!("the backlog starved the timer: got {text}")
            }
            _ => panic!("expected on-error (idle)"),
        }
    }
}
#[cfg(test)]
mod footprint {

    use crate::app::AppHandle;
    use crate::config::Limits;

    /// An idle connection is mostly its task: its future's state stays allocated for
    /// the connection's whole life, so a buffer or a cold path's state inside it costs
    /// memory at every connection (a 4 KiB drain buffer once did). The gateway's
    /// task adds the task tracker's token (8 bytes) and tokio's header and trailer,
    /// and tokio rounds it up to 128: at 912 bytes here or less the task is 1,024
    /// bytes, one of jemalloc's size classes; the next is 1,280. (2026-12-07: 2,048
    /// before the futures were built to keep each part once, 880 since.)
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let (app, _events) = AppHandle::for_test(Limits::default());
        let (io, _client) = tokio::io::duplex(1024);
        // As the gateway spawns it: the upgrade to wait for, and a place to hold.
        let slot = [0u64; 4];
        let task = super::serve(
            std::future::ready(Ok::<_, std::convert::Infallible>(io)),
            slot,
            7,
            app,
            Box::default(),
        );
        let size = std::mem::size_of_val(&task);
        eprintln!("a connection's task holds {size} bytes of state");
        assert!(
            size <= 912,
            "a connection's task holds {size} bytes of state (at most 912: see above)"
        );
    }
}
