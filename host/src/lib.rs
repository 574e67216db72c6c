//! wsgate: a WebSocket gateway whose application logic runs as sandboxed
//! WebAssembly components.
//!
//! The host owns every socket, the HTTP upgrade and all WebSocket framing; plugins
//! (components implementing `wit/plugin.wit`) see events and answer with commands.
//!
//! # Layout
//! Bottom first; a module imports only modules above it in this list (checked by
//! `tests/layers.rs`, which fails on a back-import), so the house has no circle.
//! - `model`: the host's own events, commands and handshake types; every contract
//!   version's bindings convert to and from them at the plugin boundary.
//! - `directory`: what the host holds of an app's connections (users,
//!   attachments, rooms), outliving every plugin instance.
//! - `close`: every close code and reason the gateway sends, and the rules for a
//!   plugin's.
//! - [`config`]: the public config types, the TOML file and its validation, the demo.
//! - `metrics`: Prometheus metrics, served at `/metrics`.
//! - `tls`: the rustls acceptor for `wss://`.
//! - [`scaffold`]: `wsgate new`, a plugin crate from a template.
//! - [`plugin`]: compiling, linking and calling plugins under limits (bindings per
//!   contract version, host imports, plugin output).
//! - `bus`: the cluster's backplane (Redis pub/sub): commands for other nodes'
//!   connections, rooms and users, node numbers in connection ids, room sizes.
//! - [`check`]: `wsgate check`, loading every plugin without serving.
//! - `app`: one actor per app that owns the plugin instance, the registry of its
//!   connections (the command interpreter), admission, the breaker; it sees a
//!   connection only through its outbox.
//! - `connection`: one WebSocket connection: reader, writer, heartbeat, failures.
//! - [`reload`]: watching plugin files and handing new versions to their apps.
//! - `apps`: the set of running apps, starting them and applying a new config.
//! - `http`: routing, the handshake, the gateway's endpoints, static files.
//! - [`server`]: the [`Gateway`] (accept loop, start-up, shutdown), listeners,
//!   signals, and [`server::run`] (what `wsgate serve` does).
//! - [`dev`]: `wsgate dev`, building the plugin crates and building again at every
//!   change.
//!
//! `main.rs` is the command line only (clap), on top of all of them.

pub mod check;
pub mod config;
pub mod dev;
pub mod plugin;
pub mod reload;
pub mod scaffold;
pub mod server;

mod app;
mod apps;
mod bus;
mod close;
mod connection;
mod directory;
mod http;
mod metrics;
mod model;
mod tls;

pub use app::pool::workers as app_workers;
pub use app::stats::AppStatsSnapshot;
pub use apps::{ConfigChanges, StartError};
pub use bus::ClusterError;
pub use config::{Config, ConfigError};
pub use plugin::PluginError;
pub use reload::WatchError;
pub use server::Gateway;
pub use tls::TlsError;
