//! Compiled plugins shared between apps: one compiled, linked component per distinct
//! plugin (by content), used by every app and every version that has the same bytes,
//! and dropped when the last of them goes. A thousand tenants of one plugin hold its
//! code once.
//!
//! Entries are found by a hash of the bytes and confirmed by the bytes themselves: a
//! tenant cannot get another tenant's code by making a plugin whose hash collides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::loader::{Contract, Pre};

/// A compiled, linked plugin, shared by the apps that serve these bytes.
pub(crate) struct Compiled {
    /// The component's bytes (to confirm a hash match).
    bytes: Box<[u8]>,
    pub(crate) pre: Pre,
    pub(crate) contract: Contract,
    /// See [`LoadedPlugin::batches_safely`](super::LoadedPlugin::batches_safely).
    pub(crate) batches_safely: bool,
}

/// The compiled plugins in use, by the hash of their bytes.
#[derive(Default, Clone)]
pub(crate) struct SharedCode {
    entries: Arc<Mutex<HashMap<u64, Vec<Weak<Compiled>>>>>,
}

impl SharedCode {
    /// The compiled plugin of `bytes` if an app still uses one.
    pub(crate) fn get(&self, hash: u64, bytes: &[u8]) -> Option<Arc<Compiled>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&hash)?
            .iter()
            .filter_map(Weak::upgrade)
            .find(|compiled| *compiled.bytes == *bytes)
    }

    /// Keeps `pre` (compiled from `bytes`) for the next app with the same bytes, and
    /// forgets entries whose last user is gone.
    pub(crate) fn insert(
        &self,
        hash: u64,
        bytes: &[u8],
        pre: Pre,
        contract: Contract,
        batches_safely: bool,
    ) -> Arc<Compiled> {
        let compiled = Arc::new(Compiled {
            bytes: bytes.into(),
            pre,
            contract,
            batches_safely,
        });
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, list| {
            list.retain(|weak| weak.strong_count() > 0);
            !list.is_empty()
        });
        entries
            .entry(hash)
            .or_default()
            .push(Arc::downgrade(&compiled));
        compiled
    }

    /// Distinct compiled plugins in use.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .values()
            .flatten()
            .filter(|weak| weak.strong_count() > 0)
            .count()
    }
}
