//! An app's timers: one deadline heap on its actor (not a thread or a task per
//! timer); the gateway's clock (`alarm`) wakes the actor at the earliest deadline
//! when it is idle. The crash-loop retry is a deadline here too.
//!
//! Timers live in the host: they survive hot reloads and traps, and die with the
//! gateway. A timer set again with the same key replaces the old one; the heap keeps
//! stale entries until they surface (each carries its timer's generation).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// How many times a timer whose hook traps is handed to a fresh instance in all.
pub(crate) const MAX_ATTEMPTS: u8 = 3;

/// One timer.
struct Timer {
    due: Instant,
    generation: u64,
    repeat: Option<Duration>,
    data: Bytes,
    attempts: u8,
}

/// A due timer, for its `timer` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    pub(crate) key: Arc<str>,
    pub(crate) data: Bytes,
    /// How many times this firing was handed over before (after traps).
    pub(crate) attempts: u8,
}

/// The timers of one app, and the actor's own deadline (the crash-loop retry).
#[derive(Default)]
pub(crate) struct Timers {
    by_key: HashMap<Arc<str>, Timer>,
    heap: BinaryHeap<Reverse<(Instant, u64, Arc<str>)>>,
    generation: u64,
    /// When to retry a failed app.
    pub(crate) retry_at: Option<Instant>,
    /// When the app unloads if nothing happens before (`idle_unload_ms`).
    pub(crate) unload_at: Option<Instant>,
}

impl Timers {
    /// How many timers are set.
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether `key` is set.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// Sets (or replaces) timer `key`, due at `due`, then every `repeat`.
    pub(crate) fn set(&mut self, key: &str, due: Instant, repeat: Option<Duration>, data: Bytes) {
        let key: Arc<str> = match self.by_key.get_key_value(key) {
            Some((k, _)) => k.clone(),
            None => Arc::from(key),
        };
        self.generation += 1;
        let timer = Timer {
            due,
            generation: self.generation,
            repeat,
            data,
            attempts: 0,
        };
        self.heap.push(Reverse((due, self.generation, key.clone())));
        self.by_key.insert(key, timer);
    }

    /// Cancels timer `key`; false if there was none.
    pub(crate) fn cancel(&mut self, key: &str) -> bool {
        self.by_key.remove(key).is_some()
    }

    /// The earliest deadline: a timer's, the retry's or the unload's.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale();
        let timer = self.heap.peek().map(|Reverse((due, _, _))| *due);
        [timer, self.retry_at, self.unload_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((_, generation, key))) = self.heap.peek() {
            let live = self
                .by_key
                .get(key)
                .is_some_and(|t| t.generation == *generation);
            if live {
                return;
            }
            self.heap.pop();
        }
    }

    /// The next timer due at `now`, if any: a one-shot one is gone from then on, a
    /// repeating one is due again a period later (never in the past).
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        self.drop_stale();
        let Reverse((due, _, _)) = self.heap.peek()?;
        if *due > now {
            return None;
        }
        let Reverse((_, _, key)) = self.heap.pop()?;
        let timer = self.by_key.get_mut(&key)?;
        let fired = Due {
            key: key.clone(),
            data: timer.data.clone(),
            attempts: timer.attempts,
        };
        timer.attempts = 0;
        match timer.repeat {
            Some(every) => {
                let mut next = timer.due + every;
                if next <= now {
                    next = now + every;
                }
                timer.due = next;
                self.generation += 1;
                timer.generation = self.generation;
                self.heap.push(Reverse((next, self.generation, key)));
            }
            None => {
                self.by_key.remove(&key);
            }
        }
        Some(fired)
    }

    /// `fired`'s hook trapped: hand it over again now (to the fresh instance), unless
    /// it had its [`MAX_ATTEMPTS`]. Returns whether it will be retried.
    pub(crate) fn retry(&mut self, fired: Due, now: Instant) -> bool {
        let attempts = fired.attempts + 1;
        if attempts >= MAX_ATTEMPTS {
            return false;
        }
        self.generation += 1;
        let generation = self.generation;
        match self.by_key.get_mut(&fired.key) {
            // A repeating timer (still set): this firing comes first.
            Some(timer) => {
                timer.due = now;
                timer.generation = generation;
                timer.attempts = attempts;
            }
            None => {
                self.by_key.insert(
                    fired.key.clone(),
                    Timer {
                        due: now,
                        generation,
                        repeat: None,
                        data: fired.data,
                        attempts,
                    },
                );
            }
        }
        self.heap.push(Reverse((now, generation, fired.key)));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn timers_come_due_in_order_and_a_key_set_again_replaces_its_timer() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set("b", t0 + ms(20), None, Bytes::from_static(b"2"));
        t.set("a", t0 + ms(10), None, Bytes::from_static(b"1"));
        t.set("c", t0 + ms(30), None, Bytes::new());
        t.set("c", t0 + ms(5), None, Bytes::from_static(b"new"));
        assert_eq!(t.next_deadline(), Some(t0 + ms(5)));
        assert_eq!(t.pop_due(t0), None);
        let order: Vec<(String, Bytes)> = std::iter::from_fn(|| t.pop_due(t0 + ms(100)))
            .map(|d| (d.key.to_string(), d.data))
            .collect();
        assert_eq!(
            order,
            [
                ("c".into(), Bytes::from_static(b"new")),
                ("a".into(), Bytes::from_static(b"1")),
                ("b".into(), Bytes::from_static(b"2")),
            ]
        );
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_repeating_timer_comes_back_a_period_later_until_cancelled() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set("tick", t0 + ms(10), Some(ms(10)), Bytes::new());
        for n in 1..=3 {
            assert!(t.pop_due(t0 + ms(10 * n)).is_some(), "tick {n}");
            assert_eq!(t.next_deadline(), Some(t0 + ms(10 * (n + 1))));
        }
        // Far behind: the next one is a period from now, not a burst of catch-ups.
        assert!(t.pop_due(t0 + ms(1000)).is_some());
        assert_eq!(t.next_deadline(), Some(t0 + ms(1010)));
        assert!(t.cancel("tick"));
        assert!(!t.cancel("tick"));
        assert_eq!(t.pop_due(t0 + ms(5000)), None);
    }

    #[test]
    fn a_trapped_firing_is_retried_at_most_three_times_in_all() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        t.set("once", t0, None, Bytes::from_static(b"d"));
        let mut handed = 0;
        while let Some(due) = t.pop_due(t0) {
            handed += 1;
            assert_eq!(due.data, Bytes::from_static(b"d"));
            if !t.retry(due, t0) {
                break;
            }
        }
        assert_eq!(handed, 3);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn the_retry_deadline_counts_too() {
        let t0 = Instant::now();
        let mut t = Timers {
            retry_at: Some(t0 + ms(50)),
            ..Timers::default()
        };
        t.set("a", t0 + ms(80), None, Bytes::new());
        assert_eq!(t.next_deadline(), Some(t0 + ms(50)));
    }
}
