//! The demo: what `wsgate serve` runs without a config file, with its plugins and
//! the chat page built into the binary.

use super::{
    AppConfig, Config, DEFAULT_LISTEN, Limits, PluginSource, ServerSettings, StaticSource,
};

impl Config {
    /// The demo: the chat plugin at `/ws` (and its page at `/`), the echo plugin at
    /// `/echo`, the relay plugin at `/relay` and the dashboard at `/dashboard`, on
    /// `127.0.0.1:8000`, all built into
    /// the binary.
    pub fn demo() -> Self {
        let app =
            |name: &str, route: &str, plugin_name: &'static str, bytes: &'static [u8]| AppConfig {
                name: name.into(),
                route: route.into(),
                plugin: PluginSource::Embedded {
                    name: plugin_name,
                    bytes,
                },
                limits: Limits::default(),
                static_files: None,
            };
        let mut demo = Self {
            listen: DEFAULT_LISTEN,
            apps: vec![
                app(
                    "chat",
                    "/ws",
                    "chat",
                    include_bytes!(env!("WSGATE_DEMO_CHAT_WASM")),
                ),
                app(
                    "echo",
                    "/echo",
                    "echo",
                    include_bytes!(env!("WSGATE_DEMO_ECHO_WASM")),
                ),
                app(
                    "relay",
                    "/relay",
                    "relay",
                    include_bytes!(env!("WSGATE_DEMO_RELAY_WASM")),
                ),
                app(
                    "dashboard",
                    "/dashboard",
                    "dashboard",
                    include_bytes!(env!("WSGATE_DEMO_DASHBOARD_WASM")),
                ),
            ],
            server: ServerSettings::default(),
        };
        demo.apps[0].static_files = Some(StaticSource::Embedded(DEMO_PAGE));
        demo
    }
}

/// The demo's chat page (`plugins/chat/static`), served at `/`.
const DEMO_PAGE: &[(&str, &[u8])] = &[
    (
        "index.html",
        include_bytes!("../../../plugins/chat/static/index.html"),
    ),
    (
        "chat.css",
        include_bytes!("../../../plugins/chat/static/chat.css"),
    ),
    (
        "chat.js",
        include_bytes!("../../../plugins/chat/static/chat.js"),
    ),
];
