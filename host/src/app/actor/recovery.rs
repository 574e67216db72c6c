//! The actor's recovery: traps counted toward the breaker, fresh instances, the
//! failed state and its retry, and hot reloads with their state handoff.

use std::time::{Duration, Instant};

use super::Actor;
use crate::app::Reload;
use crate::app::breaker::next_backoff;
use crate::close::APP_FAILED;
use crate::plugin::instance::InstanceLimits;
use crate::plugin::output::MAX_LINE;
use crate::plugin::{LoadedPlugin, PluginError, PluginInstance};

impl Actor {
    /// Counts a trap or misbehaving call toward the breaker; trips it, or makes sure a
    /// live instance serves on.
    pub(super) fn count_failure(&mut self) {
        match self.breaker.record(Instant::now(), &self.limits.crash_loop) {
            Some(pause) => self.fail(pause),
            None if self.instance.is_none() => self.recover(),
            None => {}
        }
    }

    /// A fresh instance of the serving plugin version.
    pub(super) fn fresh_instance(&self) -> Result<PluginInstance, PluginError> {
        PluginInstance::new(
            &self.plugin,
            self.log.clone(),
            InstanceLimits::from(&*self.limits),
        )
    }

    pub(super) fn recover(&mut self) {
        let started = Instant::now();
        match self.fresh_instance() {
            Ok(instance) => {
                self.instance = Some(Box::new(instance));
                let took = started.elapsed();
                self.stats.recovered(took);
                tracing::info!(us = took.as_micros(), "a fresh plugin instance serves");
            }
            Err(e) => {
                tracing::error!("cannot start a fresh plugin instance: {e}");
                self.fail(self.limits.crash_loop.backoff);
            }
        }
    }

    /// Trips the breaker: every connection is closed with 1011, handshakes get 503,
    /// and a retry comes after `pause`.
    pub(super) fn fail(&mut self, pause: Duration) {
        let crash_loop = self.limits.crash_loop;
        tracing::error!(
            traps = crash_loop.traps,
            window_ms = crash_loop.window.as_millis(),
            retry_in_ms = pause.as_millis(),
            "crash loop: the app failed; closing its connections with 1011 and refusing handshakes until the retry"
        );
        self.instance = None;
        self.stats.set_failed(true);
        self.registry
            .close_all(APP_FAILED.code(), APP_FAILED.reason);
        self.pause = pause;
        self.retry_after(pause);
    }

    /// Retries the failed app after `pause` (a deadline beside its timers).
    pub(super) fn retry_after(&mut self, pause: Duration) {
        self.timers.retry_at = Some(Instant::now() + pause);
        self.alarm.set(self.timers.next_deadline());
    }

    pub(super) fn retry(&mut self) {
        if !self.stats.is_failed() {
            return;
        }
        match self.fresh_instance() {
            Ok(instance) => {
                self.instance = Some(Box::new(instance));
                self.stats.set_failed(false);
                tracing::info!("the app recovered from its crash loop: a fresh instance serves");
            }
            Err(e) => {
                self.pause = next_backoff(self.pause);
                tracing::error!(
                    retry_in_ms = self.pause.as_millis(),
                    "the app's retry failed: {e}"
                );
                self.retry_after(self.pause);
            }
        }
    }

    /// Swaps in a new plugin version between two events: the old instance's
    /// `snapshot` goes to the new instance's `restore`. If the new version cannot be
    /// instantiated or refuses the state, the old one keeps serving, state intact.
    pub(super) fn reload(&mut self, reload: Reload) {
        let Reload {
            plugin,
            origin,
            since,
        } = reload;
        match self.swap(plugin) {
            Ok(()) => {
                self.stats.reload_applied();
                if self.stats.is_failed() {
                    self.stats.set_failed(false);
                    tracing::info!("the new version ends the app's failed state");
                }
                tracing::info!(
                    file = %origin,
                    ms = %format_args!("{:.1}", since.elapsed().as_secs_f64() * 1e3),
                    "reloaded: the new plugin version serves (time from change to serving)"
                );
            }
            Err(reason) => {
                self.stats.reload_refused();
                tracing::warn!(file = %origin, "reload refused, the previous version keeps serving: {reason}");
            }
        }
    }

    pub(super) fn swap(&mut self, plugin: LoadedPlugin) -> Result<(), String> {
        // An unloaded app's state is handed over like a loaded one's.
        self.wake();
        let mut fresh = PluginInstance::new(
            &plugin,
            self.log.clone(),
            InstanceLimits::from(&*self.limits),
        )
        .map_err(|e| e.to_string())?;
        let state = match self.instance.as_deref_mut().map(PluginInstance::snapshot) {
            Some(Ok(state)) => state,
            Some(Err(trap)) => {
                // The old instance is dead now; its state is lost either way.
                tracing::error!(
                    "the serving version trapped in snapshot ({}); its state is lost",
                    trap.message
                );
                self.stats.trapped();
                self.instance = None;
                Vec::new()
            }
            None => Vec::new(),
        };
        let restored = match fresh.restore(&state) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(format!(
                "the new version refused the state: {}",
                crate::model::cut(&message, MAX_LINE)
            )),
            Err(trap) => Err(format!(
                "the new version trapped in restore: {}",
                trap.message
            )),
        };
        if let Err(reason) = restored {
            if self.instance.is_none() && !self.stats.is_failed() {
                self.recover();
            }
            return Err(reason);
        }
        self.stats.set_plugin_hash(plugin.hash);
        self.instance = Some(Box::new(fresh));
        self.plugin = plugin;
        Ok(())
    }
}
