//! Counters of one app: reloads, traps, open connections, dropped commands and
//! messages, and whether the crash-loop breaker has tripped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::metrics::AppMetrics;

/// Live counters of one app, updated by its actor and the reloader.
/// Counters that are also Prometheus metrics live in [`AppMetrics`]; the rest are
/// plain atomics.
#[derive(Debug, Default)]
pub(crate) struct AppStats {
    pub(crate) metrics: AppMetrics,
    plugin_hash: AtomicU64,
    failed: AtomicBool,
    commands_dropped: AtomicU64,
    misbehaviours: AtomicU64,
    recoveries: AtomicU64,
    last_recovery_us: AtomicU64,
    /// When the running hook started (a raw reading of `clock`), 0 while none runs.
    busy_since: AtomicU64,
    /// Times hook calls: two reads per event, so the cheapest clock there is (the
    /// CPU's counter where it is reliable, else the OS clock): the OS clock's two
    /// reads were 1.5 % of the gateway's CPU time in the echo benchmark.
    clock: quanta::Clock,
}

/// A copy of an app's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppStatsSnapshot {
    /// New plugin versions that went live.
    pub reloads_applied: u64,
    /// New plugin versions that were refused (the previous one kept serving).
    pub reloads_refused: u64,
    /// Hook calls that trapped.
    pub traps: u64,
    /// Connections open now.
    pub connections: u64,
    /// A hash of the serving plugin's bytes (changes with each applied version).
    pub plugin_hash: u64,
    /// The crash-loop breaker tripped: the app refuses handshakes until its retry.
    pub failed: bool,
    /// Commands that named a connection that is gone or of another app.
    pub commands_dropped: u64,
    /// Messages dropped because a queue was full (`slow_consumer = "drop"`).
    pub outbound_dropped: u64,
    /// Connections closed with 1008 because their queue was full.
    pub slow_consumer_closes: u64,
    /// Hook calls that broke a rule without trapping (too many commands).
    pub misbehaviours: u64,
    /// Fresh instances made after a trap.
    pub recoveries: u64,
    /// How long the last of them took to make, in microseconds.
    pub last_recovery_us: u64,
    /// How long the hook running now has been running, in milliseconds (0: none).
    pub busy_ms: u64,
    /// Commands refused for a limit (rooms, attachments, timers).
    pub commands_refused: u64,
    /// Rooms with at least one member.
    pub rooms: u64,
    /// Connections in rooms, counted once per room.
    pub memberships: u64,
    /// Timers set so far.
    pub timers_set: u64,
    /// Timer events handed to the plugin so far.
    pub timers_fired: u64,
}

impl AppStats {
    /// Counters reporting to `metrics`.
    pub(crate) fn new(metrics: AppMetrics) -> Self {
        Self {
            metrics,
            ..Self::default()
        }
    }

    pub(crate) fn reload_applied(&self) {
        self.metrics.reloads_applied.inc();
    }

    pub(crate) fn reload_refused(&self) {
        self.metrics.reloads_refused.inc();
    }

    pub(crate) fn trapped(&self) {
        self.metrics.traps.inc();
    }

    pub(crate) fn set_failed(&self, failed: bool) {
        self.failed.store(failed, Ordering::Relaxed);
        self.metrics.failed.set(i64::from(failed));
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn command_dropped(&self) {
        self.commands_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn outbound_dropped(&self) {
        self.metrics.outbound_dropped.inc();
    }

    pub(crate) fn slow_consumer_closed(&self) {
        self.metrics.slow_consumer_closes.inc();
    }

    pub(crate) fn misbehaved(&self) {
        self.misbehaviours.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn recovered(&self, took: std::time::Duration) {
        self.last_recovery_us.store(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.recoveries.fetch_add(1, Ordering::Relaxed);
    }

    /// A hook call starts (`raw` is a reading of [`AppStats::clock`]).
    pub(crate) fn hook_started(&self, raw: u64) {
        self.busy_since.store(raw.max(1), Ordering::Relaxed);
    }

    /// The hook call ended.
    pub(crate) fn hook_ended(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// The clock hook calls are timed with.
    pub(crate) fn clock(&self) -> &quanta::Clock {
        &self.clock
    }

    fn busy_ms(&self) -> u64 {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => 0,
            since => {
                let busy = self.clock.delta(since, self.clock.raw());
                u64::try_from(busy.as_millis()).unwrap_or(u64::MAX)
            }
        }
    }

    /// A command was refused for a limit.
    pub(crate) fn command_refused(&self) {
        self.metrics.commands_refused.inc();
    }

    /// The app has `rooms` rooms with `memberships` members in all.
    pub(crate) fn set_rooms(&self, rooms: usize, memberships: usize) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.metrics.rooms.set(gauge(rooms));
        self.metrics.memberships.set(gauge(memberships));
    }

    /// A timer was set.
    pub(crate) fn timer_set(&self) {
        self.metrics.timers_set.inc();
    }

    /// A timer event was handed to the plugin.
    pub(crate) fn timer_fired(&self) {
        self.metrics.timers_fired.inc();
    }

    pub(crate) fn set_connections(&self, open: usize) {
        self.metrics
            .connections_open
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    pub(crate) fn set_plugin_hash(&self, hash: u64) {
        self.plugin_hash.store(hash, Ordering::Relaxed);
    }

    pub(crate) fn plugin_hash(&self) -> u64 {
        self.plugin_hash.load(Ordering::Relaxed)
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> AppStatsSnapshot {
        AppStatsSnapshot {
            reloads_applied: self.metrics.reloads_applied.get(),
            reloads_refused: self.metrics.reloads_refused.get(),
            traps: self.metrics.traps.get(),
            connections: u64::try_from(self.metrics.connections_open.get()).unwrap_or(0),
            plugin_hash: self.plugin_hash(),
            failed: self.is_failed(),
            commands_dropped: self.commands_dropped.load(Ordering::Relaxed),
            outbound_dropped: self.metrics.outbound_dropped.get(),
            slow_consumer_closes: self.metrics.slow_consumer_closes.get(),
            misbehaviours: self.misbehaviours.load(Ordering::Relaxed),
            recoveries: self.recoveries.load(Ordering::Relaxed),
            last_recovery_us: self.last_recovery_us.load(Ordering::Relaxed),
            busy_ms: self.busy_ms(),
            commands_refused: self.metrics.commands_refused.get(),
            rooms: u64::try_from(self.metrics.rooms.get()).unwrap_or(0),
            memberships: u64::try_from(self.metrics.memberships.get()).unwrap_or(0),
            timers_set: self.metrics.timers_set.get(),
            timers_fired: self.metrics.timers_fired.get(),
        }
    }
}
