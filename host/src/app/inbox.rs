//! An app's event queue: many senders (the app's connections, the HTTP layer, the
//! clock), one receiver (the actor), bounded, waiting senders served in turn.
//!
//! Why not `tokio::sync::mpsc`: every app of a node holds its queue for its whole
//! life, and most apps of a multi-tenant node are idle. Tokio's channel allocates its
//! first block of 32 slots when it is made and keeps it (with its cache-padded
//! fields, ~2.4 KB per app, a third of an idle tenant's heap). This one is a
//! `VecDeque` behind a lock, which allocates nothing until the first input and gives
//! its storage back when the actor unloads ([`Inbox::shrink`]); the bound is a
//! semaphore's permits, as in tokio's. Uncontended, a send or a receive is one lock
//! and one atomic operation on the semaphore, as in tokio's bounded channel.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, Semaphore, TryAcquireError};

/// The queue a sender could not put its value in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError<T> {
    /// As many values as the bound wait already.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// The receiver is gone; the value was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Closed<T>(pub(crate) T);

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// One permit per free place; closed with the receiver.
    space: Semaphore,
    /// The receiver waits here for the first value of an empty queue, or the last
    /// sender's end.
    ready: Notify,
    /// Senders that keep the queue open (weak ones do not count).
    senders: AtomicUsize,
    bound: usize,
}

struct Queue<T> {
    values: VecDeque<T>,
    /// The receiver is gone: nothing is queued any more.
    closed: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        // A panic while the lock is held leaves the queue consistent (a push or a
        // pop either happened or did not): poison is not a reason to stop.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `value` if there is room.
    fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.space.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(value)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(value)),
        }
        self.push(value).map_err(TrySendError::Closed)
    }

    /// Queues every value of `values`, in order, if there is room for all of them:
    /// one lock and one take of places for the lot. `values` is emptied then; it
    /// keeps them when the queue is full or closed.
    fn try_send_all(&self, values: &mut Vec<T>) -> Result<(), TrySendError<()>> {
        let n = u32::try_from(values.len()).unwrap_or(u32::MAX);
        match self.space.try_acquire_many(n) {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(())),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(())),
        }
        let mut queue = self.lock();
        if queue.closed {
            return Err(TrySendError::Closed(()));
        }
        let was_empty = queue.values.is_empty();
        queue.values.extend(values.drain(..));
        drop(queue);
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Queues `value` (a place is held for it); gives it back if the receiver is gone.
    fn push(&self, value: T) -> Result<(), T> {
        let mut queue = self.lock();
        if queue.closed {
            return Err(value);
        }
        let was_empty = queue.values.is_empty();
        queue.values.push_back(value);
        drop(queue);
        // A receiver only waits after it saw the queue empty.
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }
}

/// A queue of at most `bound` values, and its receiver.
pub(crate) fn channel<T>(bound: usize) -> (Sender<T>, Inbox<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            values: VecDeque::new(),
            closed: false,
        }),
        space: Semaphore::new(bound),
        ready: Notify::new(),
        senders: AtomicUsize::new(1),
        bound,
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Inbox { shared },
    )
}

/// The sending side; the queue stays open while one exists.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `value` if there is room.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.shared.try_send(value)
    }

    /// Queues all of `values`, in order, if there is room for all of them (see
    /// [`TrySendError`]); `values` keeps them if not.
    pub(crate) fn try_send_all(&self, values: &mut Vec<T>) -> Result<(), TrySendError<()>> {
        self.shared.try_send_all(values)
    }

    /// Queues `value`, waiting (in turn with other waiting senders) for room.
    pub(crate) async fn send(&self, value: T) -> Result<(), Closed<T>> {
        match self.shared.space.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return Err(Closed(value)),
        }
        self.shared.push(value).map_err(Closed)
    }

    /// A sender that does not keep the queue open.
    pub(crate) fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            shared: self.shared.clone(),
        }
    }

    /// Values waiting (and being taken) now.
    pub(crate) fn queued(&self) -> usize {
        self.shared
            .bound
            .saturating_sub(self.shared.space.available_permits())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.ready.notify_one();
        }
    }
}

/// A sender that does not keep the queue open: the receiver ends when the last
/// [`Sender`] goes, whatever weak ones are left.
pub(crate) struct WeakSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> WeakSender<T> {
    /// Queues `value` if there is room and a [`Sender`] still keeps the queue open.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.shared.senders.load(Ordering::Acquire) == 0 {
            return Err(TrySendError::Closed(value));
        }
        self.shared.try_send(value)
    }
}

/// The receiving side (the actor's). Dropping it closes the queue: senders get their
/// values back, and what was queued is dropped.
pub(crate) struct Inbox<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Inbox<T> {
    /// The next value, if one waits.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let value = self.shared.lock().values.pop_front()?;
        self.shared.space.add_permits(1);
        Some(value)
    }

    /// Takes values from the front of the queue while `take` accepts them, at most
    /// `max`, handing each accepted one to `put`; the first one `take` refuses (it
    /// hands it back) stays first. One lock and one release of places for the lot,
    /// where [`Inbox::try_recv`] takes both per value.
    pub(crate) fn take_while<U>(
        &mut self,
        max: usize,
        mut take: impl FnMut(T) -> Result<U, T>,
        mut put: impl FnMut(U),
    ) {
        let mut taken = 0;
        {
            let mut queue = self.shared.lock();
            while taken < max
                && let Some(value) = queue.values.pop_front()
            {
                match take(value) {
                    Ok(accepted) => {
                        put(accepted);
                        taken += 1;
                    }
                    Err(refused) => {
                        queue.values.push_front(refused);
                        break;
                    }
                }
            }
        }
        if taken > 0 {
            self.shared.space.add_permits(taken);
        }
    }

    /// The next value, waiting for one; `None` once no [`Sender`] is left and the
    /// queue is empty.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(value) = self.try_recv() {
                return Some(value);
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                // A value queued by the last sender before it went is still taken.
                return self.try_recv();
            }
            // A value queued (or the last sender gone) after the look above left a
            // permit in `ready`: this returns at once then.
            self.shared.ready.notified().await;
        }
    }

    /// Gives back the queue's storage while it is empty (an idle app unloading).
    pub(crate) fn shrink(&mut self) {
        let mut queue = self.shared.lock();
        if queue.values.is_empty() {
            queue.values = VecDeque::new();
        }
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        self.shared.space.close();
        let values = {
            let mut queue = self.shared.lock();
            queue.closed = true;
            std::mem::take(&mut queue.values)
        };
        // Dropped outside the lock: a value's drop may answer someone (a reply channel).
        drop(values);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn values_come_out_in_the_order_they_went_in() {
        let (tx, mut rx) = channel(8);
        let other = tx.clone();
        for i in 0..4 {
            tx.try_send(i).unwrap();
            other.try_send(10 + i).unwrap();
        }
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv()).collect();
        assert_eq!(got, [0, 10, 1, 11, 2, 12, 3, 13]);
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn a_full_queue_refuses_until_a_value_is_taken() {
        let (tx, mut rx) = channel(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.queued(), 2);
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(tx.queued(), 1);
        tx.try_send(3).unwrap();
        assert_eq!(rx.try_recv(), Some(2));
        assert_eq!(rx.try_recv(), Some(3));
        assert_eq!(tx.queued(), 0);
    }

    #[test]
    fn take_while_stops_at_max_or_at_a_refused_value_which_stays_first() {
        let (tx, mut rx) = channel(8);
        for i in [2, 4, 6, 8, 9, 10] {
            tx.try_send(i).unwrap();
        }
        let even = |i: i32| if i % 2 == 0 { Ok(i * 10) } else { Err(i) };
        let mut got = Vec::new();
        rx.take_while(3, even, |i| got.push(i));
        assert_eq!(got, [20, 40, 60]);
        assert_eq!(
            tx.queued(),
            3,
            "the places of the values taken are free again"
        );
        rx.take_while(8, even, |i| got.push(i));
        assert_eq!(got, [20, 40, 60, 80]);
        assert_eq!(rx.try_recv(), Some(9));
        assert_eq!(rx.try_recv(), Some(10));
        assert_eq!(tx.queued(), 0);
        rx.take_while(8, even, |i| got.push(i));
        assert_eq!(got.len(), 4, "an empty queue gives nothing");
    }

    #[test]
    fn try_send_all_queues_the_lot_in_order_or_nothing() {
        let (tx, mut rx) = channel(4);
        tx.try_send(0).unwrap();
        let mut lot = vec![1, 2, 3];
        tx.try_send_all(&mut lot).unwrap();
        assert!(lot.is_empty(), "the queued values stayed in the lot");
        assert_eq!(tx.queued(), 4);
        let mut more = vec![4];
        assert_eq!(tx.try_send_all(&mut more), Err(TrySendError::Full(())));
        assert_eq!(more, [4], "a refused lot keeps its values");
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv()).collect();
        assert_eq!(got, [0, 1, 2, 3]);
        let mut too_many = vec![5, 6, 7, 8, 9];
        assert_eq!(tx.try_send_all(&mut too_many), Err(TrySendError::Full(())));
        assert_eq!(tx.queued(), 0, "a refused lot takes no places");
        drop(rx);
        assert_eq!(tx.try_send_all(&mut more), Err(TrySendError::Closed(())));
        assert_eq!(more, [4]);
    }

    #[tokio::test]
    async fn a_waiting_sender_gets_in_when_room_is_made() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let waiting = tokio::spawn(async move { tx.send(2).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the sender did not wait for room");
        assert_eq!(rx.recv().await, Some(1));
        waiting.await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(2));
        // The waiting sender is gone with its task: the queue ends.
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn the_receiver_wakes_for_a_value_sent_while_it_waits() {
        let (tx, mut rx) = channel(4);
        let receiving = tokio::spawn(async move { (rx.recv().await, rx.recv().await) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(7).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(8).unwrap();
        assert_eq!(receiving.await.unwrap(), (Some(7), Some(8)));
    }

    #[tokio::test]
    async fn the_last_senders_end_ends_the_receiver_after_what_was_queued() {
        let (tx, mut rx) = channel(4);
        let weak = tx.downgrade();
        tx.try_send(1).unwrap();
        let receiving = tokio::spawn(async move {
            let first = rx.recv().await;
            (first, rx.recv().await)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        assert_eq!(receiving.await.unwrap(), (Some(1), None));
        assert_eq!(weak.try_send(2), Err(TrySendError::Closed(2)));
    }

    #[tokio::test]
    async fn a_gone_receiver_gives_values_back_and_drops_what_was_queued() {
        let (tx, rx) = channel(1);
        let queued = Arc::new(());
        tx.try_send(queued.clone()).unwrap();
        let tx = Arc::new(tx);
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(Arc::new(())).await.is_err() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert_eq!(Arc::strong_count(&queued), 1, "the queued value was kept");
        assert!(waiting.await.unwrap(), "the waiting sender was not told");
        assert!(matches!(tx.try_send(queued), Err(TrySendError::Closed(_))));
    }

    #[test]
    fn a_weak_sender_queues_while_a_strong_one_lives() {
        let (tx, mut rx) = channel(4);
        let weak = tx.downgrade();
        weak.try_send(1).unwrap();
        assert_eq!(rx.try_recv(), Some(1));
    }

    #[test]
    fn shrinking_an_empty_queue_gives_its_storage_back() {
        let (tx, mut rx) = channel(64);
        for i in 0..40 {
            tx.try_send(i).unwrap();
        }
        rx.shrink();
        assert!(
            rx.shared.lock().values.capacity() >= 40,
            "a full queue shrank"
        );
        while rx.try_recv().is_some() {}
        rx.shrink();
        assert_eq!(rx.shared.lock().values.capacity(), 0);
        tx.try_send(1).unwrap();
        assert_eq!(rx.try_recv(), Some(1));
    }
}
