//! A connection's outbound queue, bounded in bytes: the actor pushes, the
//! connection's writer drains. A client that stops reading fills its queue and meets
//! the app's `slow_consumer` policy; it never grows the gateway's memory without end.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// What the actor asks a connection's writer to do.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// Send a message (broadcasts share the payload).
    Message(Message),
    /// Send a close frame and stop sending.
    Close { code: u16, reason: Utf8Bytes },
    /// Send a ping (the heartbeat).
    Ping,
}

/// The message would take the queue past its limit.
#[derive(Debug)]
pub(crate) struct Full;

/// The sending side of a connection's outbound queue.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Outbound>,
    queued: Arc<AtomicUsize>,
    abort: Arc<Notify>,
}

/// The receiving side, owned by the connection's writer.
pub(crate) struct OutboxReceiver {
    rx: mpsc::UnboundedReceiver<Outbound>,
    queued: Arc<AtomicUsize>,
    abort: Arc<Notify>,
}

fn size_of(message: &Message) -> usize {
    message.len()
}

/// A new, empty queue.
pub(crate) fn outbox() -> (Outbox, OutboxReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let abort = Arc::new(Notify::new());
    (
        Outbox {
            tx,
            queued: queued.clone(),
            abort: abort.clone(),
        },
        OutboxReceiver { rx, queued, abort },
    )
}

impl Outbox {
    /// Queues `message` unless the queue would hold more than `limit` bytes. A message
    /// larger than `limit` fits only into an empty queue.
    pub(crate) fn push(&self, message: Message, limit: usize) -> Result<(), Full> {
        let size = size_of(&message);
        let queued = self.queued.load(Ordering::Relaxed);
        if queued > 0 && queued.saturating_add(size) > limit {
            return Err(Full);
        }
        self.queued.fetch_add(size, Ordering::Relaxed);
        // The writer is gone only when the connection just ended; its Close event is
        // on its way to the actor.
        let _ = self.tx.send(Outbound::Message(message));
        Ok(())
    }

    /// Queues a close frame (always accepted: it ends the queue).
    pub(crate) fn close(&self, code: u16, reason: Utf8Bytes) {
        let _ = self.tx.send(Outbound::Close { code, reason });
    }

    /// Queues a heartbeat ping (not counted: it is tiny and one at a time).
    pub(crate) fn ping(&self) {
        let _ = self.tx.send(Outbound::Ping);
    }

    /// Tells the writer to give up on this connection, even in the middle of a write
    /// the client does not read (a slow consumer).
    pub(crate) fn abort(&self) {
        self.abort.notify_one();
    }

    /// Bytes waiting now.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

impl OutboxReceiver {
    /// Completes when [`Outbox::abort`] was called.
    pub(crate) async fn aborted(&self) {
        self.abort.notified().await;
    }

    fn taken(&self, out: &Outbound) {
        if let Outbound::Message(message) = out {
            self.queued.fetch_sub(size_of(message), Ordering::Relaxed);
        }
    }

    /// The next item, waiting for one.
    pub(crate) async fn recv(&mut self) -> Option<Outbound> {
        let out = self.rx.recv().await?;
        self.taken(&out);
        Some(out)
    }

    /// The next item if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Outbound> {
        let out = self.rx.try_recv().ok()?;
        self.taken(&out);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_queue_refuses_what_would_pass_its_limit_and_frees_what_is_taken() {
        let (outbox, mut rx) = outbox();
        assert!(outbox.push(Message::binary(vec![0; 600]), 1000).is_ok());
        assert!(outbox.push(Message::binary(vec![0; 600]), 1000).is_err());
        assert!(outbox.push(Message::binary(vec![0; 400]), 1000).is_ok());
        assert_eq!(outbox.queued(), 1000);
        assert!(rx.recv().await.is_some());
        assert_eq!(outbox.queued(), 400);
        assert!(outbox.push(Message::binary(vec![0; 600]), 1000).is_ok());
    }

    #[tokio::test]
    async fn a_message_larger_than_the_limit_fits_an_empty_queue_only() {
        let (outbox, mut rx) = outbox();
        assert!(outbox.push(Message::text("x".repeat(5000)), 1000).is_ok());
        assert!(outbox.push(Message::text("y"), 1000).is_err());
        assert!(rx.try_recv().is_some());
        outbox.close(1000, "bye".into());
        assert!(matches!(
            rx.try_recv(),
            Some(Outbound::Close { code: 1000, .. })
        ));
    }
}
