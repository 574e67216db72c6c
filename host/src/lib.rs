//! wsgate: a WebSocket gateway whose application logic runs as sandboxed
//! WebAssembly components.
//!
//! The host owns every socket, the HTTP upgrade and all WebSocket framing; plugins
//! (components implementing `wit/plugin.wit`) see events and answer with commands.
//!
//! # Layout
//! - [`config`]: the TOML config file, its validation, and the embedded demo.
//! - [`check`]: `wsgate check`, loading every plugin without serving.
//! - [`plugin`]: compiling, linking and calling plugins under limits.
//! - `app`: one actor per app that owns the plugin instance and its connections.
//! - `http`: routing, handshake validation and the HTTP answers (404, 426, 400…).
//! - `connection`: one WebSocket connection: reading, writing, closing.
//! - `heartbeat`: when to ping a connection and when to give up on it.
//! - `tls`: the rustls acceptor for `wss://`.
//! - `metrics`: Prometheus metrics, served at `/metrics`.
//! - `static_files`: an app's static files (the demo's chat page).
//! - `close`: close codes a server may send.
//! - `apps`: the set of running apps, and applying a new config to them.
//! - [`reload`]: watching plugin files and handing new versions to their apps.
//! - [`server`]: the accept loop, start-up and shutdown ([`Gateway`]).
//! - [`scaffold`]: `wsgate new`, a plugin crate from a template.

pub mod check;
pub mod config;
pub mod plugin;
pub mod reload;
pub mod scaffold;
pub mod server;

mod app;
mod apps;
mod close;
mod connection;
mod heartbeat;
mod http;
mod metrics;
mod static_files;
mod tls;

pub use app::stats::AppStatsSnapshot;
pub use apps::ConfigChanges;
pub use config::{Config, ConfigError};
pub use plugin::PluginError;
pub use reload::WatchError;
pub use server::{Gateway, StartError};
pub use tls::TlsError;
