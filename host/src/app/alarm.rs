//! Wakes idle actors at their earliest deadline (a timer, a retry, an idle unload):
//! one task on the runtime for every app of the gateway, holding each app's next
//! deadline in a `DelayQueue`, hands an actor an [`Input::Wake`] when its deadline
//! passes. (A task and a watch channel per app were ~0.9 KB of every idle tenant;
//! an app's entry here is ~0.1 KB, and none while it has no deadline.)

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio_util::time::{DelayQueue, delay_queue};

use super::Input;
use super::inbox::{TrySendError, WeakSender};

/// What an alarm asks of the clock.
enum Order {
    /// A new alarm, for the actor behind `inbox`.
    Register {
        alarm: u64,
        inbox: WeakSender<Input>,
    },
    /// Wake the alarm's actor at `at`, or no longer (`None`).
    Set { alarm: u64, at: Option<Instant> },
    /// The actor is gone.
    Forget(u64),
}

/// The gateway's clock: a handle to its task (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    /// `None` outside a runtime: then deadlines are only seen at the actor's next input.
    orders: Option<mpsc::UnboundedSender<Order>>,
    next_alarm: Arc<AtomicU64>,
}

impl Clock {
    /// Starts the clock's task on the current runtime (none outside one).
    pub(crate) fn start() -> Self {
        let orders = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (orders, inbox) = mpsc::unbounded_channel();
                runtime.spawn(run(inbox));
                Some(orders)
            }
            Err(_) => {
                tracing::warn!("no async runtime: the apps' timers fire only with their events");
                None
            }
        };
        Self {
            orders,
            next_alarm: Arc::default(),
        }
    }

    /// The alarm of the actor behind `inbox`.
    pub(crate) fn alarm(&self, inbox: WeakSender<Input>) -> Alarm {
        let id = self.next_alarm.fetch_add(1, Ordering::Relaxed);
        self.order(Order::Register { alarm: id, inbox });
        Alarm {
            id,
            clock: self.clone(),
            at: None,
        }
    }

    fn order(&self, order: Order) {
        if let Some(orders) = &self.orders {
            // The clock's task ends only with the runtime, and the actors with it.
            let _ = orders.send(order);
        }
    }
}

/// One actor's alarm: it wakes the actor at the deadline last set.
pub(crate) struct Alarm {
    id: u64,
    clock: Clock,
    /// The deadline last handed to the clock.
    at: Option<Instant>,
}

impl Alarm {
    /// Sets the actor's earliest deadline (nothing is sent if it did not change).
    pub(crate) fn set(&mut self, at: Option<Instant>) {
        if self.at == at {
            return;
        }
        self.at = at;
        self.clock.order(Order::Set { alarm: self.id, at });
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        self.clock.order(Order::Forget(self.id));
    }
}

/// The clock's task: each alarm's actor and its key in the queue while it has a
/// deadline.
async fn run(mut orders: mpsc::UnboundedReceiver<Order>) {
    let mut queue: DelayQueue<u64> = DelayQueue::new();
    let mut alarms: HashMap<u64, (WeakSender<Input>, Option<delay_queue::Key>)> = HashMap::new();
    loop {
        tokio::select! {
            order = orders.recv() => match order {
                None => return,
                Some(Order::Register { alarm, inbox }) => {
                    alarms.insert(alarm, (inbox, None));
                }
                Some(Order::Set { alarm, at }) => {
                    // Orders come in the order given: an alarm is registered first.
                    let Some(entry) = alarms.get_mut(&alarm) else { continue };
                    entry.1 = match (at, entry.1.take()) {
                        (Some(at), Some(key)) => {
                            queue.reset_at(&key, at.into());
                            Some(key)
                        }
                        (Some(at), None) => Some(queue.insert_at(alarm, at.into())),
                        (None, Some(key)) => {
                            queue.remove(&key);
                            None
                        }
                        (None, None) => None,
                    };
                }
                Some(Order::Forget(alarm)) => {
                    if let Some((_, Some(key))) = alarms.remove(&alarm) {
                        queue.remove(&key);
                    }
                }
            },
            Some(expired) = queue.next(), if !queue.is_empty() => {
                let alarm = expired.into_inner();
                if let Some((inbox, key)) = alarms.get_mut(&alarm) {
                    *key = None;
                    match inbox.try_send(Input::Wake) {
                        // A full queue means a busy actor: it looks anyway.
                        Ok(()) | Err(TrySendError::Full(_)) => {}
                        Err(TrySendError::Closed(_)) => {
                            alarms.remove(&alarm);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_alarm_wakes_its_actor_at_the_last_deadline_set_and_not_after_it_is_cleared() {
        let clock = Clock::start();
        let (events, mut inbox) = crate::app::inbox::channel(8);
        let mut alarm = clock.alarm(events.downgrade());
        let now = Instant::now();
        alarm.set(Some(now + Duration::from_secs(3600)));
        alarm.set(Some(now + Duration::from_millis(20)));
        let woke = tokio::time::timeout(Duration::from_secs(5), inbox.recv()).await;
        assert!(
            matches!(woke, Ok(Some(Input::Wake))),
            "the later setting won"
        );
        alarm.set(Some(Instant::now() + Duration::from_millis(20)));
        alarm.set(None);
        let quiet = tokio::time::timeout(Duration::from_millis(200), inbox.recv()).await;
        assert!(quiet.is_err(), "a cleared alarm does not ring");

        let (other, mut other_inbox) = crate::app::inbox::channel(8);
        let mut second = clock.alarm(other.downgrade());
        second.set(Some(Instant::now() + Duration::from_millis(10)));
        alarm.set(Some(Instant::now() + Duration::from_millis(30)));
        let first = tokio::time::timeout(Duration::from_secs(5), other_inbox.recv()).await;
        assert!(
            matches!(first, Ok(Some(Input::Wake))),
            "each alarm its own actor"
        );
        let then = tokio::time::timeout(Duration::from_secs(5), inbox.recv()).await;
        assert!(matches!(then, Ok(Some(Input::Wake))));
    }
}
