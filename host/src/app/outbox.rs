//! A connection's outbound queue, bounded in bytes: the actor pushes, the
//! connection's writer drains. A client that stops reading fills its queue and meets
//! the app's `slow_consumer` policy; it never grows the gateway's memory without end.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
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
    /// Flush what came before, then answer (the reader waits for it before it lets
    /// a close frame through: see `connection::gate`).
    Flushed(tokio::sync::oneshot::Sender<()>),
}

/// The message would take the queue past its limit.
#[derive(Debug)]
pub(crate) struct Full;

/// What both sides share. The queue is a plain deque behind a lock: it allocates
/// nothing while empty (an idle connection costs no queue memory), and the writer
/// takes everything queued in one go. A count beside it lets the writer see an empty
/// queue without taking the lock (the common case at every wake-up).
struct Shared {
    queue: Mutex<VecDeque<Outbound>>,
    /// Items in `queue`; changed only under its lock.
    items: AtomicUsize,
    /// Bytes of messages queued and not yet taken by the writer.
    queued: AtomicUsize,
    /// Wakes the writer when something is queued or the last sender is gone.
    writer: AtomicWaker,
    /// Live [`Outbox`] handles.
    senders: AtomicUsize,
    /// The actor gave up on this client; the writer is woken to see it.
    abort: AtomicBool,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Outbound>> {
        // A panic while holding this lock leaves a consistent deque.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `out`; wakes the writer only if the queue was empty. A queue that held
    /// something has had its wake already, and the writer takes all that is queued
    /// before it waits again. (A wake per push would find the waker taken after the
    /// first, but each is still an atomic read-modify-write: 1 % of the profile with
    /// 16 replies per batch.)
    fn enqueue(&self, out: Outbound) {
        let first = {
            let mut queue = self.queue();
            queue.push_back(out);
            self.items.store(queue.len(), Ordering::Release);
            queue.len() == 1
        };
        if first {
            self.writer.wake();
        }
    }
}

/// The sending side of a connection's outbound queue.
pub(crate) struct Outbox {
    shared: Arc<Shared>,
}

/// The receiving side, owned by the connection's writer.
pub(crate) struct OutboxReceiver {
    shared: Arc<Shared>,
    /// What was taken from the shared queue and not yet handed out.
    batch: VecDeque<Outbound>,
    /// A heartbeat's ping was taken: once the queue is seen empty, both deques give
    /// their memory back (see [`OutboxReceiver::try_recv`]).
    beat: bool,
}

fn size_of(message: &Message) -> usize {
    message.len()
}

/// A new, empty queue.
pub(crate) fn outbox() -> (Outbox, OutboxReceiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        items: AtomicUsize::new(0),
        queued: AtomicUsize::new(0),
        writer: AtomicWaker::new(),
        senders: AtomicUsize::new(1),
        abort: AtomicBool::new(false),
    });
    (
        Outbox {
            shared: shared.clone(),
        },
        OutboxReceiver {
            shared,
            batch: VecDeque::new(),
            beat: false,
        },
    )
}

impl Clone for Outbox {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.writer.wake();
        }
    }
}

impl crate::directory::Buffered for Shared {
    fn buffered(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

impl Outbox {
    /// What the directory reads of this queue (`buffered-bytes`): a handle to the
    /// same shared state, no new allocation.
    pub(crate) fn gauge(&self) -> Arc<dyn crate::directory::Buffered> {
        self.shared.clone()
    }

    /// Queues `message` unless the queue would hold more than `limit` bytes. A message
    /// larger than `limit` fits only into an empty queue.
    pub(crate) fn push(&self, message: Message, limit: usize) -> Result<(), Full> {
        let size = size_of(&message);
        let queued = self.shared.queued.load(Ordering::Relaxed);
        if queued > 0 && queued.saturating_add(size) > limit {
            return Err(Full);
        }
        self.shared.queued.fetch_add(size, Ordering::Relaxed);
        // If the writer is gone the connection just ended; its Close event is on its
        // way to the actor, and what is queued here is dropped with the queue.
        self.shared.enqueue(Outbound::Message(message));
        Ok(())
    }

    /// Queues a close frame (always accepted: it ends the queue).
    pub(crate) fn close(&self, code: u16, reason: Utf8Bytes) {
        self.shared.enqueue(Outbound::Close { code, reason });
    }

    /// Queues a marker: `done` is answered once everything queued before it is
    /// written and flushed.
    pub(crate) fn flushed(&self, done: tokio::sync::oneshot::Sender<()>) {
        self.shared.enqueue(Outbound::Flushed(done));
    }

    /// Queues a heartbeat ping (not counted: it is tiny and one at a time).
    pub(crate) fn ping(&self) {
        self.shared.enqueue(Outbound::Ping);
    }

    /// Tells the writer to give up on this connection, even in the middle of a write
    /// the client does not read (a slow consumer).
    pub(crate) fn abort(&self) {
        self.shared.abort.store(true, Ordering::Release);
        self.shared.writer.wake();
    }

    /// Bytes waiting now.
    pub(crate) fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }
}

/// A writer's batch deque keeps its capacity between batches, up to this many items.
const KEEP_CAPACITY: usize = 64;

impl OutboxReceiver {
    /// Completes when [`Outbox::abort`] was called.
    pub(crate) async fn aborted(&self) {
        poll_fn(|cx| self.poll_aborted(cx)).await;
    }

    /// Whether [`Outbox::abort`] was called.
    pub(crate) fn is_aborted(&self) -> bool {
        self.shared.abort.load(Ordering::Acquire)
    }

    /// Ready once [`Outbox::abort`] was called; otherwise the task is woken when it is
    /// (or when something is queued: the caller polls again).
    pub(crate) fn poll_aborted(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_aborted() {
            return Poll::Ready(());
        }
        self.shared.writer.register(cx.waker());
        if self.is_aborted() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn taken(&mut self, out: Outbound) -> Outbound {
        match &out {
            Outbound::Message(message) => {
                self.shared
                    .queued
                    .fetch_sub(size_of(message), Ordering::Relaxed);
            }
            Outbound::Ping => self.beat = true,
            Outbound::Close { .. } | Outbound::Flushed(_) => {}
        }
        out
    }

    /// Frees both deques' memory if nothing is queued: the two keep their capacity
    /// between batches (no allocation per batch), which an idle connection need not
    /// hold (2 × 224 bytes once anything was sent, its first ping included).
    fn release_memory(&mut self) {
        let mut queue = self.shared.queue();
        if queue.is_empty() && self.batch.is_empty() {
            *queue = VecDeque::new();
            self.batch = VecDeque::new();
        }
    }

    /// Moves everything queued into the local batch (one lock for the lot; none
    /// while the queue is empty).
    fn refill(&mut self) {
        if self.batch.capacity() > KEEP_CAPACITY {
            self.batch = VecDeque::new();
        }
        if self.shared.items.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut queue = self.shared.queue();
        std::mem::swap(&mut *queue, &mut self.batch);
        self.shared.items.store(0, Ordering::Release);
    }

    /// The next item, waiting for one; `None` once every sender is gone and the
    /// queue is empty.
    #[cfg(test)]
    pub(crate) async fn recv(&mut self) -> Option<Outbound> {
        if poll_fn(|cx| self.poll_queued(cx)).await {
            self.try_recv()
        } else {
            None
        }
    }

    /// Ready with `true` once something is queued (it is not taken: see
    /// [`OutboxReceiver::try_recv`]), with `false` once every sender is gone and the
    /// queue is empty. The writer waits here holding nothing.
    pub(crate) fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.has_queued() {
            return Poll::Ready(true);
        }
        self.shared.writer.register(cx.waker());
        // Re-check after registering: a push may have come in between.
        if self.has_queued() {
            return Poll::Ready(true);
        }
        if self.shared.senders.load(Ordering::Acquire) == 0 {
            return Poll::Ready(false);
        }
        Poll::Pending
    }

    /// Whether something is queued (in the local batch, or behind the lock).
    fn has_queued(&self) -> bool {
        !self.batch.is_empty() || self.shared.items.load(Ordering::Acquire) > 0
    }

    /// The next item if one is queued.
    ///
    /// At each heartbeat (the first time the queue is seen empty after a ping was
    /// taken) the queue's memory is given back: a connection at rest holds none.
    pub(crate) fn try_recv(&mut self) -> Option<Outbound> {
        if self.batch.is_empty() {
            self.refill();
        }
        let Some(out) = self.batch.pop_front() else {
            if std::mem::take(&mut self.beat) {
                self.release_memory();
            }
            return None;
        };
        Some(self.taken(out))
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

    #[tokio::test]
    async fn the_writer_wakes_for_a_push_and_ends_when_every_sender_is_gone() {
        let (outbox, mut rx) = outbox();
        let second = outbox.clone();
        let writer = tokio::spawn(async move {
            let mut got = 0;
            while rx.recv().await.is_some() {
                got += 1;
            }
            got
        });
        tokio::task::yield_now().await;
        assert!(outbox.push(Message::text("a"), 1000).is_ok());
        second.ping();
        drop(outbox);
        tokio::task::yield_now().await;
        drop(second);
        assert_eq!(writer.await.unwrap(), 2);
    }

    #[test]
    fn an_idle_queue_holds_no_memory_and_a_drained_one_keeps_little() {
        let (outbox, mut rx) = outbox();
        assert_eq!(rx.batch.capacity(), 0);
        for _ in 0..1000 {
            assert!(outbox.push(Message::text("x"), 1 << 20).is_ok());
        }
        while rx.try_recv().is_some() {}
        assert!(rx.try_recv().is_none());
        assert!(rx.batch.capacity() <= KEEP_CAPACITY);
        assert_eq!(outbox.queued(), 0);
    }

    #[test]
    fn after_a_heartbeat_a_queue_at_rest_holds_no_memory() {
        let (outbox, mut rx) = outbox();
        for round in 0..3 {
            assert!(outbox.push(Message::text("x"), 1 << 20).is_ok());
            assert!(rx.try_recv().is_some());
            assert!(rx.try_recv().is_none());
            // Between batches the deques keep what they had: no allocation per batch.
            let kept = rx.batch.capacity() + outbox.shared.queue().capacity();
            assert!(kept > 0, "round {round}");
        }
        outbox.ping();
        assert!(
            outbox
                .push(Message::text("after the ping"), 1 << 20)
                .is_ok()
        );
        assert!(matches!(rx.try_recv(), Some(Outbound::Ping)));
        // Something is still queued: nothing is given back yet.
        assert!(matches!(rx.try_recv(), Some(Outbound::Message(_))));
        assert!(rx.try_recv().is_none());
        assert_eq!(rx.batch.capacity(), 0);
        assert_eq!(outbox.shared.queue().capacity(), 0);
        // And the queue goes on.
        assert!(outbox.push(Message::text("y"), 1 << 20).is_ok());
        assert!(rx.try_recv().is_some());
    }
}
