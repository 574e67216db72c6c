//! Idle apps unloaded (`idle_unload_ms`): after that long without a hook call the app
//! hands its state to the host (`snapshot`) and drops its plugin instance; the next
//! hook call (a message, a close, a timer, a backend event, a reload) makes a fresh
//! instance and gives the state back (`restore`) first. What the host holds (sockets,
//! rooms, users, attachments, timers) never leaves, and pings are the connections'
//! own business: an unloaded app costs its actor's thread and its queues only.

use std::time::Instant;

use super::Actor;

impl Actor {
    /// Sets the deadline at which the app unloads if no hook runs before.
    pub(super) fn arm_unload(&mut self) {
        self.timers.unload_at = match (self.limits.idle_unload, &self.instance) {
            (Some(idle), Some(_)) => Some(self.last_call + idle),
            _ => None,
        };
    }

    /// Unloads the app if it has been idle for `idle_unload_ms` by `now`.
    pub(super) fn unload_if_idle(&mut self, now: Instant) {
        let Some(idle) = self.limits.idle_unload else {
            return;
        };
        if now < self.last_call + idle {
            return;
        }
        let Some(mut instance) = self.instance.take() else {
            return;
        };
        self.timers.unload_at = None;
        let state = match instance.snapshot() {
            Ok(state) => state,
            Err(trap) => {
                self.stats.trapped();
                tracing::error!(
                    "the plugin trapped in snapshot while unloading ({}); its state is lost",
                    trap.message
                );
                Vec::new()
            }
        };
        tracing::debug!(
            bytes = state.len(),
            "idle: the app is unloaded, its state with the host"
        );
        self.parked = Some(state);
        self.stats.metrics.unloaded.set(1);
    }

    /// Brings an unloaded app back before a hook call: a fresh instance, given its
    /// state. Nothing to do when the app is loaded (or failed).
    pub(super) fn wake(&mut self) {
        let Some(state) = self.parked.take() else {
            return;
        };
        self.stats.metrics.unloaded.set(0);
        let started = Instant::now();
        let mut fresh = match self.fresh_instance() {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::error!("cannot bring the unloaded app back: {e}");
                self.fail(self.limits.crash_loop.backoff);
                return;
            }
        };
        match fresh.restore(&state) {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                tracing::warn!(
                    "the plugin refused its own state at wake ({message}); it starts over"
                );
            }
            Err(trap) => {
                self.stats.trapped();
                tracing::error!(
                    "the plugin trapped in restore at wake ({}); it starts over",
                    trap.message
                );
                match self.fresh_instance() {
                    Ok(again) => fresh = again,
                    Err(e) => {
                        tracing::error!("cannot bring the unloaded app back: {e}");
                        self.fail(self.limits.crash_loop.backoff);
                        return;
                    }
                }
            }
        }
        self.instance = Some(Box::new(fresh));
        let took = started.elapsed();
        self.stats.metrics.hook_took("wake", took.as_secs_f64());
        tracing::debug!(us = took.as_micros(), "the unloaded app is back");
    }

    /// Whether the app can run hooks: loaded, or unloaded and able to wake.
    pub(super) fn serving(&self) -> bool {
        self.instance.is_some() || self.parked.is_some()
    }
}
