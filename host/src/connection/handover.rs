//! The hand-over: the messages that one socket read brought go to the app's actor
//! together, under one lock of its queue and one take of its places, where each
//! message alone cost a lock and an atomic operation on the queue's semaphore.
//!
//! The reader keeps the messages it parsed while the next frame is already there
//! (at most [`MAX`]), and hands them over before it waits for anything, before it
//! looks at its timer or the writer, and before the connection's last events: the
//! actor sees them in the order they came, and never later than the reader waits.

use crate::app::{AppGone, AppHandle, Input};

/// At most this many messages wait in the reader before they go.
pub(super) const MAX: usize = 32;

/// The messages parsed and not yet handed over. Holds no storage while empty: an
/// idle connection keeps nothing here, and the connection's task (whose state every
/// connection holds for its whole life) only the list's three words.
#[derive(Default)]
pub(super) struct Handover {
    /// The waiting messages, in order.
    inputs: Vec<Input>,
}

impl Handover {
    /// Whether nothing waits.
    pub(super) fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Whether [`MAX`] messages wait.
    pub(super) fn is_full(&self) -> bool {
        self.inputs.len() >= MAX
    }

    /// Adds `input` after those waiting.
    pub(super) fn push(&mut self, input: Input) {
        self.inputs.push(input);
    }

    /// Hands what waits to `app`'s actor, in order, if its queue has room for it
    /// now; `Ok(false)`: it has not, and everything still waits (see
    /// [`Handover::flush`]). Gives the storage back.
    pub(super) fn try_flush(&mut self, app: &AppHandle) -> Result<bool, AppGone> {
        let sent = match self.inputs.len() {
            0 => return Ok(true),
            // A lone message (a client that waits for each reply): no lot to take.
            1 => match self.inputs.pop().map(|input| app.try_send(input)) {
                Some(Ok(Some(refused))) => {
                    self.inputs.push(refused);
                    false
                }
                Some(Err(gone)) => return Err(gone),
                Some(Ok(None)) | None => true,
            },
            _ => app.try_send_all(&mut self.inputs)?,
        };
        if sent {
            self.inputs = Vec::new();
        }
        Ok(sent)
    }

    /// Hands what waits to `app`'s actor, in order, waiting for room in its queue
    /// (one message at a time then, in turn with the app's other connections).
    pub(super) async fn flush(&mut self, app: &AppHandle) -> Result<(), AppGone> {
        if self.try_flush(app)? {
            return Ok(());
        }
        Box::pin(async {
            for input in self.inputs.drain(..) {
                app.send(input).await?;
            }
            Ok(())
        })
        .await?;
        self.inputs = Vec::new();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::model::Event;

    fn event(n: u64) -> Input {
        Input::Event(Event::Close {
            conn: n,
            code: 1000,
            reason: String::new(),
        })
    }

    fn conns(inbox: &mut crate::app::inbox::Inbox<Input>) -> Vec<u64> {
        std::iter::from_fn(|| inbox.try_recv())
            .map(|input| match input {
                Input::Event(Event::Close { conn, .. }) => conn,
                _ => unreachable!("only events were queued"),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_lone_message_and_a_run_of_them_arrive_in_order_and_nothing_is_kept() {
        let (app, mut inbox) = AppHandle::for_test(Limits::default());
        let mut handover = Handover::default();
        handover.push(event(1));
        assert!(!handover.is_empty());
        handover.flush(&app).await.unwrap();
        assert!(handover.is_empty());
        assert_eq!(conns(&mut inbox), [1]);

        for n in 2..2 + MAX as u64 {
            assert!(!handover.is_full());
            handover.push(event(n));
        }
        assert!(handover.is_full());
        handover.flush(&app).await.unwrap();
        assert!(handover.is_empty());
        assert_eq!(handover.inputs.capacity(), 0, "the storage was kept");
        assert_eq!(conns(&mut inbox), (2..2 + MAX as u64).collect::<Vec<_>>());
        handover.flush(&app).await.unwrap();
        assert!(
            conns(&mut inbox).is_empty(),
            "an empty flush sent something"
        );
    }

    #[tokio::test]
    async fn a_run_larger_than_the_room_left_waits_for_room_and_keeps_its_order() {
        let (app, mut inbox) = AppHandle::for_test(Limits::default());
        // Leave room for 3 only.
        for n in 0..(crate::app::EVENT_QUEUE - 3) as u64 {
            app.send(event(1_000 + n)).await.unwrap();
        }
        let mut handover = Handover::default();
        for n in 0..5 {
            handover.push(event(n));
        }
        let taking = tokio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < crate::app::EVENT_QUEUE + 2 {
                if let Some(Input::Event(Event::Close { conn, .. })) = inbox.recv().await {
                    got.push(conn);
                }
            }
            got
        });
        handover.flush(&app).await.unwrap();
        let got = taking.await.unwrap();
        assert_eq!(got[got.len() - 5..], [0, 1, 2, 3, 4]);
    }
}
