//! The crash-loop breaker: counts an app's traps in a sliding window and decides
//! when the app must stop trying for a while, with a backoff that doubles while the
//! failures go on.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{CrashLoop, MAX_BACKOFF};

/// The pause after `previous` while failures go on: twice as long, up to
/// [`MAX_BACKOFF`].
pub(crate) fn next_backoff(previous: Duration) -> Duration {
    (previous * 2).min(MAX_BACKOFF)
}

/// The trap history of one app.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    traps: VecDeque<Instant>,
    backoff: Option<Duration>,
    last_trip: Option<Instant>,
}

impl Breaker {
    /// Records a trap at `now`. Returns the pause before the next try when this trap
    /// trips the breaker (`policy.traps` traps within `policy.window`).
    pub(crate) fn record(&mut self, now: Instant, policy: &CrashLoop) -> Option<Duration> {
        self.traps.push_back(now);
        while self
            .traps
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) > policy.window)
        {
            self.traps.pop_front();
        }
        if self.traps.len() < policy.traps as usize {
            return None;
        }
        self.traps.clear();
        let backoff = match (self.backoff, self.last_trip) {
            // Failing again soon after the last pause: wait twice as long.
            (Some(previous), Some(last))
                if now.saturating_duration_since(last) <= previous * 2 + policy.window =>
            {
                next_backoff(previous)
            }
            _ => policy.backoff,
        };
        self.backoff = Some(backoff);
        self.last_trip = Some(now);
        Some(backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CrashLoop = CrashLoop {
        traps: 3,
        window: Duration::from_secs(10),
        backoff: Duration::from_secs(1),
    };

    #[test]
    fn n_traps_within_the_window_trip_it() {
        let mut b = Breaker::default();
        let t0 = Instant::now();
        assert_eq!(b.record(t0, &POLICY), None);
        assert_eq!(b.record(t0 + Duration::from_secs(1), &POLICY), None);
        assert_eq!(
            b.record(t0 + Duration::from_secs(2), &POLICY),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn traps_spread_wider_than_the_window_do_not() {
        let mut b = Breaker::default();
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(
                b.record(t0 + Duration::from_secs(6 * i), &POLICY),
                None,
                "trap {i}"
            );
        }
    }

    #[test]
    fn the_backoff_doubles_while_failures_go_on_and_is_capped() {
        let mut b = Breaker::default();
        let mut now = Instant::now();
        let mut pauses = Vec::new();
        for _ in 0..8 {
            for _ in 0..3 {
                now += Duration::from_millis(10);
                if let Some(pause) = b.record(now, &POLICY) {
                    pauses.push(pause.as_secs());
                    now += pause;
                }
            }
        }
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60]);
        // Quiet for long: back to the first pause.
        now += Duration::from_secs(600);
        let tripped = (0..3)
            .filter_map(|_| b.record(now, &POLICY))
            .collect::<Vec<_>>();
        assert_eq!(tripped, [Duration::from_secs(1)]);
    }
}
