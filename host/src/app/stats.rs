//! Counters of one app: reloads, traps and open connections.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one app, updated by its actor and the reloader.
#[derive(Debug, Default)]
pub(crate) struct AppStats {
    reloads_applied: AtomicU64,
    reloads_refused: AtomicU64,
    traps: AtomicU64,
    connections: AtomicU64,
    plugin_hash: AtomicU64,
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
}

impl AppStats {
    pub(crate) fn reload_applied(&self) {
        self.reloads_applied.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reload_refused(&self) {
        self.reloads_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn trapped(&self) {
        self.traps.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_connections(&self, open: usize) {
        self.connections.store(open as u64, Ordering::Relaxed);
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
            reloads_applied: self.reloads_applied.load(Ordering::Relaxed),
            reloads_refused: self.reloads_refused.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            plugin_hash: self.plugin_hash(),
        }
    }
}
