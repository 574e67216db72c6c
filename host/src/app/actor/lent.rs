//! The app's side of the host lent to the plugin's store for a call of several
//! messages, so that the plugin's `commit` runs commands in the middle of the call
//! (see `plugin::Committer`): the registry and the timers, moved into the store and
//! back.

use std::sync::Arc;

use super::Actor;
use crate::app::registry::Registry;
use crate::app::stats::AppStats;
use crate::app::timers::Timers;
use crate::config::Limits;
use crate::directory::Directory;
use crate::model::Command;
use crate::plugin::Committer;

/// What a commit needs to run commands, moved out of the actor for one call.
pub(super) struct Lent {
    registry: Registry,
    timers: Timers,
    limits: Arc<Limits>,
    stats: Arc<AppStats>,
}

impl Committer for Lent {
    fn directory(&self) -> &Directory {
        &self.registry.dir
    }

    fn run(&mut self, commands: &mut dyn Iterator<Item = Command>) {
        self.registry
            .execute(commands, &self.limits, &self.stats, &mut self.timers);
    }
}

impl Actor {
    /// Moves the registry and the timers into the instance's store for a call of
    /// `events` messages. `false` (nothing moved) without an instance. Take them
    /// back with [`Actor::take_back`].
    pub(super) fn lend_host(&mut self, events: usize) -> bool {
        let Some(instance) = self.instance.as_deref_mut() else {
            return false;
        };
        let lent = Box::new(Lent {
            registry: std::mem::take(&mut self.registry),
            timers: std::mem::take(&mut self.timers),
            limits: self.limits.clone(),
            stats: self.stats.clone(),
        });
        let events = u32::try_from(events).unwrap_or(u32::MAX);
        instance.lend_host(lent, events, self.limits.max_commands);
        true
    }

    /// Takes back what [`Actor::lend_host`] moved, and returns how many of the
    /// call's messages its commits answered (their commands have run).
    pub(super) fn take_back(&mut self) -> usize {
        let Some((host, handled)) = self.instance.as_deref_mut().and_then(|i| i.take_host()) else {
            return 0;
        };
        let host: Box<dyn std::any::Any> = host;
        match host.downcast::<Lent>() {
            Ok(lent) => {
                let Lent {
                    registry, timers, ..
                } = *lent;
                self.registry = registry;
                self.timers = timers;
            }
            Err(_) => unreachable!("only the actor lends the host, and only a `Lent`"),
        }
        usize::try_from(handled).unwrap_or(usize::MAX)
    }
}
