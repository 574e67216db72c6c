//! When to ping a connection, and when to give up on it: the heartbeat
//! (`ping_interval`, `pong_timeout`) and the idle timeout, as a small state machine
//! the connection's reader consults.

use tokio::time::Instant;

use crate::config::Limits;

/// What the reader must do now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Send a ping.
    Ping,
    /// No frame at all since the last ping, for `pong_timeout`: close (1001).
    PongTimeout,
    /// No message for `idle_timeout`: close (1001).
    Idle,
}

/// The heartbeat of one connection.
#[derive(Debug)]
pub(crate) struct Heartbeat<'a> {
    /// The app's limits, read where they are (not copied: the heartbeat is in the
    /// state every connection's task keeps for its whole life).
    limits: &'a Limits,
    next_ping: Option<Instant>,
    /// When the unanswered ping went out.
    awaiting_since: Option<Instant>,
    last_data: Instant,
}

impl<'a> Heartbeat<'a> {
    /// The heartbeat of a connection opened at `now`.
    pub(crate) fn new(limits: &'a Limits, now: Instant) -> Self {
        Self {
            limits,
            next_ping: limits.ping_interval.map(|i| now + i),
            awaiting_since: None,
            last_data: now,
        }
    }

    /// A frame arrived at `now`; `data` if it was a text or binary message.
    #[cfg(test)]
    pub(crate) fn frame(&mut self, now: Instant, data: bool) {
        self.frame_with(data, || now);
    }

    /// A frame arrived; `data` if it was a text or binary message. The clock is read
    /// (`now`) only when an idle timeout needs the time of the last message: not at
    /// every frame of every connection.
    pub(crate) fn frame_with(&mut self, data: bool, now: impl FnOnce() -> Instant) {
        self.awaiting_since = None;
        if data && self.limits.idle_timeout.is_some() {
            self.last_data = now();
        }
    }

    /// The next moment something may be due, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let pong = self.awaiting_since.map(|t| t + self.limits.pong_timeout);
        let ping = if self.awaiting_since.is_some() {
            None
        } else {
            self.next_ping
        };
        let idle = self.limits.idle_timeout.map(|i| self.last_data + i);
        [pong, ping, idle].into_iter().flatten().min()
    }

    /// What is due at `now`, if anything (a ping due is taken as sent).
    pub(crate) fn due(&mut self, now: Instant) -> Option<Due> {
        if self
            .limits
            .idle_timeout
            .is_some_and(|i| now >= self.last_data + i)
        {
            return Some(Due::Idle);
        }
        if let Some(since) = self.awaiting_since {
            return (now >= since + self.limits.pong_timeout).then_some(Due::PongTimeout);
        }
        match (self.next_ping, self.limits.ping_interval) {
            (Some(at), Some(interval)) if now >= at => {
                self.awaiting_since = Some(now);
                self.next_ping = Some(now + interval);
                Some(Due::Ping)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(ping: u64, pong: u64, idle: Option<u64>) -> Limits {
        Limits {
            ping_interval: Some(Duration::from_secs(ping)),
            pong_timeout: Duration::from_secs(pong),
            idle_timeout: idle.map(Duration::from_secs),
            ..Limits::default()
        }
    }

    #[test]
    fn a_silent_peer_is_pinged_then_given_up_on() {
        let t0 = Instant::now();
        let l = limits(25, 10, None);
        let mut hb = Heartbeat::new(&l, t0);
        assert_eq!(hb.deadline(), Some(t0 + Duration::from_secs(25)));
        assert_eq!(hb.due(t0 + Duration::from_secs(24)), None);
        assert_eq!(hb.due(t0 + Duration::from_secs(25)), Some(Due::Ping));
        assert_eq!(hb.deadline(), Some(t0 + Duration::from_secs(35)));
        assert_eq!(hb.due(t0 + Duration::from_secs(34)), None);
        assert_eq!(hb.due(t0 + Duration::from_secs(35)), Some(Due::PongTimeout));
    }

    #[test]
    fn any_frame_answers_the_ping_and_the_next_one_follows_the_interval() {
        let t0 = Instant::now();
        let l = limits(25, 10, None);
        let mut hb = Heartbeat::new(&l, t0);
        assert_eq!(hb.due(t0 + Duration::from_secs(25)), Some(Due::Ping));
        hb.frame(t0 + Duration::from_secs(26), false);
        assert_eq!(hb.deadline(), Some(t0 + Duration::from_secs(50)));
        assert_eq!(hb.due(t0 + Duration::from_secs(40)), None);
        assert_eq!(hb.due(t0 + Duration::from_secs(50)), Some(Due::Ping));
    }

    #[test]
    fn only_messages_keep_an_idle_timeout_away() {
        let t0 = Instant::now();
        let l = limits(25, 10, Some(60));
        let mut hb = Heartbeat::new(&l, t0);
        hb.frame(t0 + Duration::from_secs(20), true);
        assert_eq!(hb.due(t0 + Duration::from_secs(25)), Some(Due::Ping));
        hb.frame(t0 + Duration::from_secs(26), false); // a pong
        assert_eq!(hb.due(t0 + Duration::from_secs(50)), Some(Due::Ping));
        hb.frame(t0 + Duration::from_secs(51), false);
        assert_eq!(hb.due(t0 + Duration::from_secs(75)), Some(Due::Ping));
        hb.frame(t0 + Duration::from_secs(76), false);
        assert_eq!(hb.due(t0 + Duration::from_secs(79)), None);
        assert_eq!(hb.due(t0 + Duration::from_secs(80)), Some(Due::Idle));
    }

    #[test]
    fn without_a_ping_interval_nothing_is_due() {
        let t0 = Instant::now();
        let none = Limits {
            ping_interval: None,
            ..Limits::default()
        };
        let mut hb = Heartbeat::new(&none, t0);
        assert_eq!(hb.deadline(), None);
        assert_eq!(hb.due(t0 + Duration::from_secs(3600)), None);
    }
}
