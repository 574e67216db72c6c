//! Hot reload: watching plugin files and swapping new versions in under live
//! connections.
//!
//! - [`watcher`]: notify, debounced; reports which watched plugin files changed.
//! - [`reloader`]: the thread that reads a changed file once it is stable, compiles
//!   it off the async runtime and hands it to the app's actor, which swaps it in
//!   between two events with a state handoff (see `app::actor`).

pub(crate) mod reloader;
pub(crate) mod watcher;

pub use watcher::DEBOUNCE;

/// Why plugin files cannot be watched: the OS refused (for example the inotify
/// watch limit, `fs.inotify.max_user_watches`).
#[derive(Debug, thiserror::Error)]
#[error("cannot watch the plugin files: {0}")]
pub struct WatchError(String);

impl WatchError {
    pub(crate) fn new(message: String) -> Self {
        Self(message)
    }
}
