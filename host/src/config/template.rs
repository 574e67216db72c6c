//! `wsgate config --default`: a config file with every key, its default value and
//! what it does, rendered from the defaults themselves ([`Limits::default`],
//! [`ServerSettings::default`]) so that it cannot drift from them; a test parses it
//! back and checks that it names every key the parser knows.

use std::fmt::Write as _;
use std::time::Duration;

use super::{DEFAULT_LISTEN, Limits, ServerSettings, SlowConsumer};

/// `bytes` as the config writes sizes: `"64 MiB"`, `"16 KiB"`, or a number.
fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("\"{} MiB\"", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("\"{} KiB\"", b >> 10),
        b => b.to_string(),
    }
}

fn ms(duration: Duration) -> u128 {
    duration.as_millis()
}

/// The commented default config, serving one app (`echo`) as an example.
pub fn commented_default() -> String {
    let s = ServerSettings::default();
    let l = Limits::default();
    let mut out = String::new();
    let mut line = |text: String| {
        let _ = writeln!(out, "{text}");
    };
    line("# wsgate config: every key at its default. Keys that are off by default are".into());
    line("# commented out. Relative paths are relative to this file.".into());
    line(String::new());
    line(format!(
        "listen = \"{DEFAULT_LISTEN}\"            # IP and port (or localhost:PORT)"
    ));
    line(format!(
        "handshake_timeout_ms = {}         # time to send the request headers",
        ms(s.handshake_timeout)
    ));
    line(format!(
        "max_header_bytes = {}       # a larger request head gets 431",
        size(s.max_header_bytes)
    ));
    line(format!(
        "drain_timeout_ms = {}             # shutdown waits this long for closing handshakes",
        ms(s.drain_timeout)
    ));
    line("# tls = { cert = \"cert.pem\", key = \"key.pem\" }   # serve wss:// and https://".into());
    line("# admin_listen = \"127.0.0.1:9000\"             # /metrics, /healthz, /readyz (and the API) there".into());
    line("# cache_dir = \"/var/cache/wsgate\"             # compiled plugins; default $XDG_CACHE_HOME/wsgate; \"\" is off".into());
    line(String::new());
    line("# [api]                                        # the server API under /api/v1; off without a token".into());
    line("# token_file = \"api.token\"                     # or token = \"…\" (16+ characters); WSGATE_API_TOKEN overrides".into());
    line(String::new());
    line("# [cluster]                                    # several nodes over Redis".into());
    line("# redis = \"redis://127.0.0.1:6379/0\"".into());
    line("# node = \"gw-1\"                                # default: the hostname".into());
    line("# prefix = \"wsgate\"".into());
    line("# node_ttl_ms = 10000".into());
    line(String::new());
    line("# Limits of every app; an app's own [app.limits] table overrides them.".into());
    line("[limits]".into());
    line(format!(
        "memory = {}                      # the plugin's linear memory",
        size(l.memory)
    ));
    line(format!(
        "hook_timeout_ms = {}                   # a hook running longer traps",
        ms(l.hook_timeout)
    ));
    line(format!(
        "max_connections = {}                 # then 503",
        l.max_connections
    ));
    line("# max_connections_per_ip = 100                 # off by default".into());
    line(format!(
        "max_message_size = {}             # a larger message closes with 1009",
        size(l.max_message_size)
    ));
    line(format!(
        "max_frame_size = {}               # at most max_message_size",
        size(l.max_frame_size)
    ));
    line(format!(
        "outbound_queue_bytes = {}         # waiting for one connection; then slow_consumer",
        size(l.outbound_queue_bytes)
    ));
    let slow = match l.slow_consumer {
        SlowConsumer::Close => "close",
        SlowConsumer::Drop => "drop",
    };
    line(format!(
        "slow_consumer = \"{slow}\"                 # \"close\" (1008) or \"drop\" the message"
    ));
    line(format!(
        "max_commands = {}                    # per hook call",
        l.max_commands
    ));
    line(format!(
        "crash_loop_traps = {}                      # traps within the window trip the breaker",
        l.crash_loop.traps
    ));
    line(format!(
        "crash_loop_window_ms = {}",
        ms(l.crash_loop.window)
    ));
    line(format!(
        "crash_loop_backoff_ms = {}              # doubles while failing, up to 60 s",
        ms(l.crash_loop.backoff)
    ));
    line(format!(
        "ping_interval_ms = {}                # 0: no pings",
        l.ping_interval.map_or(0, ms)
    ));
    line(format!("pong_timeout_ms = {}", ms(l.pong_timeout)));
    line(format!(
        "idle_timeout_ms = {}                     # 0: off",
        l.idle_timeout.map_or(0, ms)
    ));
    line(format!(
        "read_buffer_size = {}              # one read from a socket (a buffer shared, not per connection)",
        size(l.read_buffer_size)
    ));
    line(format!(
        "max_rooms_per_connection = {}",
        l.max_rooms_per_connection
    ));
    line(format!("max_room_name_bytes = {}", l.max_room_name_bytes));
    line(format!(
        "max_attachment_bytes = {}",
        size(l.max_attachment_bytes)
    ));
    line(format!("max_timers = {}", l.max_timers));
    line(format!("min_timer_ms = {}", ms(l.min_timer)));
    line(format!(
        "max_batch_events = {}                      # messages per call into a 0.2 plugin",
        l.max_batch_events
    ));
    line(format!(
        "idle_unload_ms = {}                        # 0: off; else an idle app drops its instance",
        l.idle_unload.map_or(0, ms)
    ));
    line(String::new());
    line("# One table per app.".into());
    line("[[app]]".into());
    line("name = \"echo\"".into());
    line("route = \"/echo\"".into());
    line("plugin = \"echo.wasm\"".into());
    line(
        "# static = \"site\"                             # files served at / (one app at most)"
            .into(),
    );
    line("# [app.limits]                                 # this app's own limits".into());
    line("# hook_timeout_ms = 20".into());
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    #[test]
    fn the_default_config_parses_to_the_defaults() {
        let text = commented_default();
        let config = Config::parse(&text, Path::new("/etc/wsgate/gw.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.apps[0].limits, Limits::default());
        let defaults = ServerSettings::default();
        assert_eq!(config.server.handshake_timeout, defaults.handshake_timeout);
        assert_eq!(config.server.max_header_bytes, defaults.max_header_bytes);
        assert_eq!(config.server.drain_timeout, defaults.drain_timeout);
    }

    /// The keys a table's parser knows, from its own "unknown field" error.
    fn known_keys(table: &str) -> Vec<String> {
        let text = format!(
            "{table}\nno_such_key = 1\n[[app]]\nname = \"a\"\nroute = \"/a\"\nplugin = \"a.wasm\"\n"
        );
        let err = Config::parse(&text, Path::new("/x.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let expected = err
            .split_once("expected one of")
            .map_or("", |(_, keys)| keys);
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_default_config_names_every_key() {
        let text = commented_default();
        let top = known_keys("");
        let limits = known_keys("[limits]");
        let cluster: Vec<String> = ["redis", "node", "prefix", "node_ttl_ms"]
            .map(String::from)
            .into();
        assert!(top.len() > 5 && limits.len() > 20, "{top:?} {limits:?}");
        for key in top.iter().chain(&limits).chain(&cluster) {
            let written = text.lines().any(|line| {
                let line = line.trim_start_matches("# ").trim_start();
                line.starts_with(&format!("{key} ="))
                    || line.starts_with(&format!("[{key}]"))
                    || line.starts_with(&format!("[[{key}]]"))
            });
            assert!(written, "`{key}` is not in the default config:\n{text}");
        }
    }
}
