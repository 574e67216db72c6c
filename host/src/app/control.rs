//! Orders to an app's actor that must never wait on its event queue: a new plugin
//! version, new limits, "close every connection", "finish". Each is a slot (the
//! latest order of a kind wins) beside the queue, with a flag the actor looks at
//! after every input: a reload, a config change or a shutdown reaches an app whose
//! queue is full, or whose hook is running, as soon as that hook returns, and the
//! one giving the order (the reloader, a config reload, shutdown) never waits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

use super::Reload;
use crate::close::Close;
use crate::config::Limits;

/// The orders waiting for one actor (the bulky ones boxed: every app keeps the
/// slots, filled only for a moment).
#[derive(Default)]
pub(crate) struct Orders {
    /// Swap in this plugin version (a newer one replaces an older one not yet taken).
    pub(crate) reload: Option<Box<Reload>>,
    /// Apply these limits.
    pub(crate) limits: Option<Box<Limits>>,
    /// Close every connection with this code and reason.
    pub(crate) close_all: Option<Close>,
    /// Shut down: handle what is queued, run `on-close` for every connection still
    /// open, answer here, and stop.
    pub(crate) finish: Option<oneshot::Sender<()>>,
}

/// The slots and their flag, shared by an app's handles and its actor.
#[derive(Default)]
pub(crate) struct Control {
    pending: AtomicBool,
    orders: Mutex<Orders>,
}

impl Control {
    /// Puts an order in its slot.
    pub(crate) fn give(&self, order: impl FnOnce(&mut Orders)) {
        order(&mut self.orders.lock().unwrap_or_else(PoisonError::into_inner));
        self.pending.store(true, Ordering::Release);
    }

    /// The orders given since the last call, if any (one atomic load when none).
    pub(crate) fn take(&self) -> Option<Orders> {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return None;
        }
        Some(std::mem::take(
            &mut *self.orders.lock().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_order_of_a_kind_wins_and_taking_empties_the_slots() {
        let control = Control::default();
        assert!(control.take().is_none());
        let limits = |max_connections| Limits {
            max_connections,
            ..Limits::default()
        };
        control.give(|o| o.limits = Some(Box::new(limits(1))));
        control.give(|o| o.limits = Some(Box::new(limits(2))));
        control.give(|o| o.close_all = Some(crate::close::SHUTDOWN));
        let orders = control.take().unwrap();
        assert_eq!(orders.limits.map(|l| l.max_connections), Some(2));
        assert_eq!(orders.close_all, Some(crate::close::SHUTDOWN));
        assert!(control.take().is_none());
    }
}
