//! Snapshot and restore for plugins whose state is a serde type.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Implements [`Plugin::snapshot`](crate::Plugin::snapshot) and
/// [`Plugin::restore`](crate::Plugin::restore) by (de)serializing the whole plugin
/// value as JSON. Write it inside the `impl Plugin` block:
///
/// ```
/// use std::collections::BTreeMap;
/// use wsgate_plugin::{ConnectionId, Plugin};
///
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// struct Names(BTreeMap<ConnectionId, String>);
///
/// impl Plugin for Names {
///     wsgate_plugin::serde_state!();
/// }
///
/// let mut old = Names::default();
/// old.0.insert(ConnectionId(1), "alice".into());
/// let mut new = Names::default();
/// new.restore(&old.snapshot()).unwrap();
/// assert_eq!(new.0[&ConnectionId(1)], "alice");
/// ```
#[macro_export]
macro_rules! serde_state {
    () => {
        fn snapshot(&self) -> ::std::vec::Vec<u8> {
            $crate::state::to_bytes(self)
        }
        fn restore(&mut self, state: &[u8]) -> ::std::result::Result<(), ::std::string::String> {
            $crate::state::restore_into(self, state)
        }
    };
}

/// Serializes `value` for a snapshot. A value that cannot be serialized (a map with
/// keys JSON cannot hold, say) is a bug of the plugin: it is logged and the snapshot
/// is empty, so the next version starts from its default state.
pub fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    match serde_json::to_vec(value) {
        Ok(bytes) => bytes,
        Err(e) => {
            crate::log::error(&format!("snapshot: cannot serialize the plugin state: {e}"));
            Vec::new()
        }
    }
}

/// Replaces `target` with the state in `bytes`. An empty snapshot (the previous
/// version kept no state) leaves `target` as it is.
///
/// # Errors
/// The bytes are not a serialized `T` (the state's type changed incompatibly): the
/// message says why, and the gateway keeps the previous version serving.
pub fn restore_into<T: DeserializeOwned>(target: &mut T, bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(());
    }
    *target =
        serde_json::from_slice(bytes).map_err(|e| format!("cannot restore the state: {e}"))?;
    Ok(())
}
