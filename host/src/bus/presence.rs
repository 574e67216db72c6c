//! A node's room sizes, as the cluster sees them: the actors record every change
//! ([`Pending`], coalesced: a room that changes 1,000 times between two syncs is
//! written once), and the sync task turns the changes into what Redis must learn
//! ([`Presence::apply`]): sizes to write or delete, room channels to subscribe or
//! leave. A node subscribes only to the rooms it has members in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxBuildHasher;
use tokio::sync::Notify;

use super::wire::{Names, room_field};

/// A room of an app.
pub(crate) type RoomKey = (Arc<str>, Arc<str>);

/// Room sizes changed since the last sync, and the wake-up of the sync task.
#[derive(Default)]
pub(crate) struct Pending {
    changes: Mutex<HashMap<RoomKey, usize, FxBuildHasher>>,
    wake: Notify,
}

impl Pending {
    /// Room `room` of `app` has `size` members on this node now.
    pub(crate) fn record(&self, app: &Arc<str>, room: &Arc<str>, size: usize) {
        self.changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((app.clone(), room.clone()), size);
        self.wake.notify_one();
    }

    /// The changes since the last call.
    pub(crate) fn take(&self) -> Vec<(RoomKey, usize)> {
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        changes.drain().collect()
    }

    /// Waits for the next change.
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }
}

/// What Redis must learn from a batch of changes.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Sync {
    /// Sizes to write: (field, members).
    pub(crate) set: Vec<(String, usize)>,
    /// Sizes to delete (rooms this node no longer has members in).
    pub(crate) delete: Vec<String>,
    /// Room channels to subscribe to.
    pub(crate) subscribe: Vec<String>,
    /// Room channels to leave.
    pub(crate) unsubscribe: Vec<String>,
}

impl Sync {
    /// Nothing to do.
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.delete.is_empty()
            && self.subscribe.is_empty()
            && self.unsubscribe.is_empty()
    }
}

/// The room sizes this node has (last told to Redis).
#[derive(Default)]
pub(crate) struct Presence {
    sizes: HashMap<RoomKey, usize>,
}

impl Presence {
    /// Takes in `changes`, and says what Redis must learn of them.
    pub(crate) fn apply(&mut self, changes: Vec<(RoomKey, usize)>, names: &Names) -> Sync {
        let mut sync = Sync::default();
        for ((app, room), size) in changes {
            let field = room_field(&app, &room);
            let channel = names.room_channel(&app, &room);
            if size == 0 {
                if self.sizes.remove(&(app, room)).is_some() {
                    sync.delete.push(field);
                    sync.unsubscribe.push(channel);
                }
            } else {
                if self.sizes.insert((app, room), size).is_none() {
                    sync.subscribe.push(channel);
                }
                sync.set.push((field, size));
            }
        }
        sync
    }

    /// Everything, for a Redis that lost it (restarted) or never had it.
    pub(crate) fn full(&self, names: &Names) -> Sync {
        let mut sync = Sync::default();
        for ((app, room), &size) in &self.sizes {
            sync.set.push((room_field(app, room), size));
            sync.subscribe.push(names.room_channel(app, room));
        }
        sync
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(app: &str, room: &str) -> RoomKey {
        (app.into(), room.into())
    }

    #[test]
    fn a_room_is_subscribed_on_its_first_member_and_left_with_its_last() {
        let names = Names::new("p");
        let mut presence = Presence::default();
        let sync = presence.apply(vec![(key("chat", "a"), 1)], &names);
        assert_eq!(sync.set, [("chat:a".to_owned(), 1)]);
        assert_eq!(sync.subscribe, ["p:room:chat:a"]);
        let sync = presence.apply(vec![(key("chat", "a"), 2)], &names);
        assert_eq!(sync.set, [("chat:a".to_owned(), 2)]);
        assert!(sync.subscribe.is_empty(), "subscribed already");
        let sync = presence.apply(vec![(key("chat", "a"), 0)], &names);
        assert_eq!(sync.delete, ["chat:a"]);
        assert_eq!(sync.unsubscribe, ["p:room:chat:a"]);
        let sync = presence.apply(vec![(key("chat", "b"), 0)], &names);
        assert!(sync.is_empty(), "a room never told is not deleted");
    }

    #[test]
    fn full_repeats_every_room_with_members() {
        let names = Names::new("p");
        let mut presence = Presence::default();
        presence.apply(
            vec![(key("a", "x"), 3), (key("b", "y"), 1), (key("a", "z"), 0)],
            &names,
        );
        let mut full = presence.full(&names);
        full.set.sort();
        assert_eq!(full.set, [("a:x".to_owned(), 3), ("b:y".to_owned(), 1)]);
        assert_eq!(full.subscribe.len(), 2);
    }

    #[test]
    fn pending_coalesces_changes_to_the_latest_size() {
        let pending = Pending::default();
        let (app, room) = key("a", "x");
        for size in 1..=1000 {
            pending.record(&app, &room, size);
        }
        assert_eq!(pending.take(), [(key("a", "x"), 1000)]);
        assert!(pending.take().is_empty());
    }
}
