//! The config file as written (serde structs that keep each value's place in the
//! file) and its validation into [`Config`]: every error names the file, the line
//! and the key.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::cluster::RawCluster;
use super::limits::{self, RawLimits, Size};
use super::server::{self, RawApi, RawServer, RawTls};
use super::{
    AppConfig, Config, ConfigError, DEFAULT_LISTEN, PluginSource, RESERVED_PATHS, StaticSource,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    handshake_timeout_ms: Option<Spanned<u64>>,
    max_header_bytes: Option<Spanned<Size>>,
    drain_timeout_ms: Option<Spanned<u64>>,
    tls: Option<Spanned<RawTls>>,
    admin_listen: Option<Spanned<String>>,
    cache_dir: Option<Spanned<String>>,
    api: Option<Spanned<RawApi>>,
    cluster: Option<Spanned<RawCluster>>,
    limits: Option<RawLimits>,
    #[serde(default)]
    app: Vec<Spanned<RawApp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Spanned<String>,
    route: Spanned<String>,
    plugin: Spanned<String>,
    #[serde(rename = "static")]
    static_dir: Option<Spanned<String>>,
    limits: Option<RawLimits>,
}

/// Turns byte offsets of a file into line and column numbers.
pub(crate) struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    pub(crate) fn error(&self, offset: Option<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            location: offset.map(|o| self.position(o)),
            message: message.into(),
        }
    }

    pub(crate) fn at<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.error(Some(value.span().start), message)
    }
}

/// Checks that `value` of `key` is within `min..=max` (`unit` follows the bounds in
/// the message) and returns it.
pub(crate) fn ranged(
    loc: &Locator<'_>,
    key: &str,
    value: &Spanned<u64>,
    min: u64,
    max: u64,
    unit: &str,
) -> Result<u64, ConfigError> {
    let v = *value.get_ref();
    if v < min || v > max {
        return Err(loc.at(
            value,
            format!("`{key}` must be from {min} to {max}{unit}, not {v}"),
        ));
    }
    Ok(v)
}

/// Validates `text`, the content of the config file `path` (relative plugin
/// paths are resolved against the folder of `path`).
///
/// # Errors
/// [`ConfigError::Invalid`] naming the line and key of the first problem.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let loc = Locator { file: path, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_owned();
        loc.error(e.span().map(|s| s.start), message)
    })?;
    let listen = match &raw.listen {
        None => DEFAULT_LISTEN,
        Some(l) => super::parse_listen(l.get_ref()).ok_or_else(|| {
            loc.at(
                l,
                format!(
                    "`listen` must be an IP address and port such as \"127.0.0.1:8000\" (or \"localhost:8000\"), not {:?}",
                    l.get_ref()
                ),
            )
        })?,
    };
    if raw.app.is_empty() {
        return Err(loc.error(
            None,
            "no app is defined: add an [[app]] table with `name`, `route` and `plugin`",
        ));
    }
    // Relative paths of the config are resolved (and shown in errors) absolute.
    let parent = path.parent().unwrap_or(Path::new("."));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let absolute = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    let base = absolute.as_path();
    let server = server::resolve(
        &loc,
        &RawServer {
            handshake_timeout_ms: raw.handshake_timeout_ms.as_ref(),
            max_header_bytes: raw.max_header_bytes.as_ref(),
            drain_timeout_ms: raw.drain_timeout_ms.as_ref(),
            tls: raw.tls.as_ref(),
            admin_listen: raw.admin_listen.as_ref(),
            cache_dir: raw.cache_dir.as_ref(),
            api: raw.api.as_ref(),
            cluster: raw.cluster.as_ref(),
        },
        base,
    )?;
    let mut apps: Vec<AppConfig> = Vec::with_capacity(raw.app.len());
    for app in &raw.app {
        let app = app.get_ref();
        let config = validate_app(&loc, app, base, raw.limits.as_ref())?;
        if apps.iter().any(|a| a.name == config.name) {
            return Err(loc.at(
                &app.name,
                format!("`name`: two apps are called {:?}", config.name),
            ));
        }
        if let Some(other) = apps.iter().find(|a| a.route == config.route) {
            return Err(loc.at(
                &app.route,
                format!(
                    "`route`: {:?} is already the route of app {:?}",
                    config.route, other.name
                ),
            ));
        }
        if config.static_files.is_some()
            && let Some(other) = apps.iter().find(|a| a.static_files.is_some())
            && let Some(dir) = &app.static_dir
        {
            return Err(loc.at(
                dir,
                format!(
                    "`static`: app {:?} serves static files already; only one app may",
                    other.name
                ),
            ));
        }
        apps.push(config);
    }
    Ok(Config {
        listen,
        apps,
        server,
    })
}

fn validate_app(
    loc: &Locator<'_>,
    app: &RawApp,
    base: &Path,
    global: Option<&RawLimits>,
) -> Result<AppConfig, ConfigError> {
    let name = app.name.get_ref();
    if name.is_empty() || name.len() > 64 {
        return Err(loc.at(&app.name, "`name` must be 1 to 64 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(loc.at(
            &app.name,
            format!("`name` {name:?} may only hold ASCII letters, digits, '-', '_' and '.'"),
        ));
    }
    let route = app.route.get_ref();
    if !route.starts_with('/') {
        return Err(loc.at(
            &app.route,
            format!(
                "`route` must start with '/', like \"/{}\"",
                route.trim_start_matches('/')
            ),
        ));
    }
    if RESERVED_PATHS.contains(&route.as_str()) || route.starts_with("/api/v1/") {
        return Err(loc.at(
            &app.route,
            format!("`route` {route:?} is reserved for the gateway's own endpoint"),
        ));
    }
    if route
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(loc.at(
            &app.route,
            format!("`route` {route:?} must be a plain path: no spaces, '?' or '#'"),
        ));
    }
    let plugin = app.plugin.get_ref();
    if plugin.trim().is_empty() {
        return Err(loc.at(
            &app.plugin,
            "`plugin` must be the path of a .wasm component",
        ));
    }
    Ok(AppConfig {
        name: name.clone(),
        route: route.clone(),
        plugin: PluginSource::File(base.join(plugin)),
        limits: limits::resolve(loc, global, app.limits.as_ref())?,
        static_files: match &app.static_dir {
            Some(dir) if dir.get_ref().trim().is_empty() => {
                return Err(loc.at(dir, "`static` must be the path of a folder"));
            }
            Some(dir) => Some(StaticSource::Dir(base.join(dir.get_ref()))),
            None => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::{Limits, SlowConsumer, TlsFiles};

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/wsgate/gw.toml")).map_err(|e| e.to_string())
    }

    const ONE_APP: &str = "[[app]]\nname = \"chat\"\nroute = \"/ws\"\nplugin = \"chat.wasm\"\n";

    #[test]
    fn a_minimal_file_gets_the_default_listen_and_relative_plugin_paths() {
        let config = parse(ONE_APP).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.apps[0].name, "chat");
        assert_eq!(config.apps[0].route, "/ws");
        assert_eq!(
            config.apps[0].plugin,
            PluginSource::File(PathBuf::from("/etc/wsgate/chat.wasm"))
        );
    }

    #[test]
    fn unknown_keys_name_the_file_line_and_key() {
        let err = parse(&format!("{ONE_APP}colour = \"red\"\n"))
            .err()
            .unwrap_or_default();
        assert!(
            err.starts_with("/etc/wsgate/gw.toml:5:1: unknown field `colour`"),
            "{err}"
        );
        let err = parse("lisen = \"127.0.0.1:1\"\n").err().unwrap_or_default();
        assert!(
            err.starts_with("/etc/wsgate/gw.toml:1:1: unknown field `lisen`"),
            "{err}"
        );
    }

    #[test]
    fn missing_keys_are_named() {
        let err = parse("[[app]]\nname = \"chat\"\nplugin = \"c.wasm\"\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("missing field `route`"), "{err}");
        assert!(err.starts_with("/etc/wsgate/gw.toml:"), "{err}");
    }

    #[test]
    fn bad_values_name_their_line() {
        let cases = [
            ("listen = \"localhost\"\n", "1:10: `listen`"),
            (
                "[[app]]\nname = \"a b\"\nroute = \"/x\"\nplugin = \"p\"\n",
                "2:8: `name`",
            ),
            (
                "[[app]]\nname = \"a\"\nroute = \"x\"\nplugin = \"p\"\n",
                "3:9: `route` must start with '/'",
            ),
            (
                "[[app]]\nname = \"a\"\nroute = \"/x?y\"\nplugin = \"p\"\n",
                "3:9: `route`",
            ),
            (
                "[[app]]\nname = \"a\"\nroute = \"/x\"\nplugin = \"\"\n",
                "4:10: `plugin`",
            ),
            (
                "[[app]]\nname = 3\nroute = \"/x\"\nplugin = \"p\"\n",
                "2:8: invalid type",
            ),
            ("listen = \"127.0.0.1:1\"\n", "no app is defined"),
            ("listen = [\n", "gw.toml:"),
        ];
        for (text, expected) in cases {
            let err = parse(text).err().unwrap_or_default();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn limits_merge_app_over_global_over_defaults() {
        let text = "[limits]\nmemory = \"16 MiB\"\nhook_timeout_ms = 50\nmax_message_size = 4096\n\n\
                    [[app]]\nname = \"a\"\nroute = \"/a\"\nplugin = \"a.wasm\"\n\
                    [app.limits]\nhook_timeout_ms = 20\nmax_connections_per_ip = 3\nslow_consumer = \"drop\"\nread_buffer_size = \"16 KiB\"\n\n\
                    [[app]]\nname = \"b\"\nroute = \"/b\"\nplugin = \"b.wasm\"\n";
        let config = parse(text).unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (config.apps[0].limits, config.apps[1].limits);
        assert_eq!(a.memory, 16 << 20);
        assert_eq!(a.hook_timeout, std::time::Duration::from_millis(20));
        assert_eq!(a.max_connections_per_ip, Some(3));
        assert_eq!(a.slow_consumer, SlowConsumer::Drop);
        assert_eq!((a.max_message_size, a.max_frame_size), (4096, 4096));
        assert_eq!(b.hook_timeout, std::time::Duration::from_millis(50));
        assert_eq!(b.max_connections_per_ip, None);
        assert_eq!(b.max_connections, Limits::default().max_connections);
        assert_eq!(b.slow_consumer, SlowConsumer::Close);
        assert_eq!(a.read_buffer_size, 16 << 10);
        assert_eq!(b.read_buffer_size, 3 << 10);
    }

    #[test]
    fn bad_limits_name_their_key_and_line() {
        let app = "[[app]]\nname = \"a\"\nroute = \"/a\"\nplugin = \"a.wasm\"\n";
        let cases = [
            (
                "[limits]\nhook_timeout_ms = 0\n",
                "2:19: `hook_timeout_ms` must be from 1 to 60000 ms, not 0",
            ),
            (
                "[limits]\nmemory = \"12 parsecs\"\n",
                "2:10: invalid size \"12 parsecs\"",
            ),
            ("[limits]\nmemory = 1024\n", "`memory` must be from 1048576"),
            (
                "[limits]\nmax_frame_size = \"2 MiB\"\n",
                "`max_frame_size` (2097152) must not exceed `max_message_size` (1048576)",
            ),
            (
                "[limits]\nslow_consumer = \"ignore\"\n",
                "unknown variant `ignore`",
            ),
            (
                "[limits]\nmax_conections = 5\n",
                "unknown field `max_conections`",
            ),
            (
                "[limits]\nmax_connections = 0\n",
                "`max_connections` must be from 1",
            ),
            (
                "[limits]\nread_buffer_size = 16\n",
                "`read_buffer_size` must be from 256 to 16777216 bytes, not 16",
            ),
            (
                "[limits]\nmax_batch_events = 0\n",
                "`max_batch_events` must be from 1 to 1024, not 0",
            ),
            (
                "[limits]\nmin_timer_ms = 0\n",
                "`min_timer_ms` must be from 1 to 60000 ms, not 0",
            ),
            (
                "[limits]\nmax_rooms_per_connection = 0\n",
                "`max_rooms_per_connection` must be from 1",
            ),
        ];
        for (limits, expected) in cases {
            let err = parse(&format!("{limits}{app}")).err().unwrap_or_default();
            assert!(err.contains(expected), "{limits:?}: {err}");
        }
        let err = parse(&format!("{app}[app.limits]\nmax_commands = -1\n"))
            .err()
            .unwrap_or_default();
        assert!(err.contains("gw.toml:6:"), "{err}");
    }

    #[test]
    fn server_keys_and_tls_paths_are_read_and_checked() {
        let text = format!(
            "handshake_timeout_ms = 2500\nmax_header_bytes = \"32 KiB\"\ndrain_timeout_ms = 3000\n\
             tls = {{ cert = \"certs/c.pem\", key = \"/abs/k.pem\" }}\n{ONE_APP}"
        );
        let config = parse(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.server.handshake_timeout,
            std::time::Duration::from_millis(2500)
        );
        assert_eq!(config.server.max_header_bytes, 32 << 10);
        assert_eq!(
            config.server.drain_timeout,
            std::time::Duration::from_secs(3)
        );
        assert_eq!(
            config.server.tls,
            Some(TlsFiles {
                cert: PathBuf::from("/etc/wsgate/certs/c.pem"),
                key: PathBuf::from("/abs/k.pem"),
            })
        );
        for (bad, expected) in [
            (
                "max_header_bytes = 100\n",
                "`max_header_bytes` must be from 8192",
            ),
            (
                "handshake_timeout_ms = 0\n",
                "`handshake_timeout_ms` must be from 1",
            ),
            ("tls = { cert = \"c.pem\" }\n", "missing field `key`"),
            (
                "tls = { cert = \"c.pem\", key = \"k.pem\", ca = \"x\" }\n",
                "unknown field `ca`",
            ),
        ] {
            let err = parse(&format!("{bad}{ONE_APP}")).err().unwrap_or_default();
            assert!(err.contains(expected), "{bad:?}: {err}");
        }
    }

    #[test]
    fn the_api_takes_a_token_or_a_token_file_and_refuses_a_weak_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("t.token"), "from-a-file-0123456789\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let config_path = dir.path().join("gw.toml");
        let parse_at = |text: &str| Config::parse(text, &config_path).map_err(|e| e.to_string());
        let with = |api: &str| format!("{api}\n{ONE_APP}");
        let config =
            parse_at(&with("[api]\ntoken_file = \"t.token\"\n")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.server.api.map(|a| a.token),
            Some("from-a-file-0123456789".to_owned())
        );
        let config = parse_at(&with("[api]\ntoken = \"inline-token-0123456789\"\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.server.api.is_some());
        assert!(
            parse_at(ONE_APP)
                .unwrap_or_else(|e| panic!("{e}"))
                .server
                .api
                .is_none()
        );
        for (api, expected) in [
            ("[api]\n", "exactly one of `token` and `token_file`"),
            (
                "[api]\ntoken = \"a-b-c-d-e-f-g-h-i\"\ntoken_file = \"t.token\"\n",
                "exactly one",
            ),
            ("[api]\ntoken = \"short\"\n", "at least 16 characters"),
            ("[api]\ntoken_file = \"missing.token\"\n", "cannot read"),
            ("[api]\ntokn = \"x\"\n", "unknown field `tokn`"),
        ] {
            let err = parse_at(&with(api)).err().unwrap_or_default();
            assert!(err.contains(expected), "{api:?}: {err}");
        }
    }

    #[test]
    fn localhost_is_the_ipv4_loopback_and_relative_paths_become_absolute() {
        let config = Config::parse(
            &format!("listen = \"localhost:8123\"\nadmin_listen = \"localhost:9123\"\n{ONE_APP}"),
            Path::new("gw.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.listen,
            "127.0.0.1:8123".parse().unwrap_or(DEFAULT_LISTEN)
        );
        assert_eq!(config.server.admin_listen.map(|a| a.port()), Some(9123));
        let PluginSource::File(plugin) = &config.apps[0].plugin else {
            panic!("a file plugin");
        };
        assert!(plugin.is_absolute(), "{}", plugin.display());
        assert!(plugin.ends_with("chat.wasm"));
        let err = parse(&format!("listen = \"localhost\"\n{ONE_APP}"))
            .err()
            .unwrap_or_default();
        assert!(err.contains("(or \"localhost:8000\")"), "{err}");
    }

    #[test]
    fn the_cluster_takes_a_redis_url_and_names_its_node() {
        let with = |cluster: &str| format!("{cluster}\n{ONE_APP}");
        let config = parse(&with(
            "[cluster]\nredis = \"redis://10.0.0.5:6380/2\"\nnode = \"gw-1\"\nprefix = \"prod\"\nnode_ttl_ms = 3000\n",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let cluster = config
            .server
            .cluster
            .unwrap_or_else(|| panic!("no cluster"));
        assert_eq!(cluster.redis, "redis://10.0.0.5:6380/2");
        assert_eq!(cluster.node, "gw-1");
        assert_eq!(cluster.prefix, "prod");
        assert_eq!(cluster.node_ttl, std::time::Duration::from_secs(3));
        let config = parse(&with("[cluster]\nredis = \"redis://127.0.0.1\"\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let cluster = config
            .server
            .cluster
            .unwrap_or_else(|| panic!("no cluster"));
        assert!(!cluster.node.is_empty(), "the hostname by default");
        assert_eq!(cluster.prefix, "wsgate");
        for (cluster, expected) in [
            ("[cluster]\n", "missing field `redis`"),
            (
                "[cluster]\nredis = \"http://x\"\n",
                "2:9: `cluster.redis` must be a URL such as",
            ),
            (
                "[cluster]\nredis = \"redis://h\"\nnode = \"a b\"\n",
                "3:8: `cluster.node` must be 1 to 64",
            ),
            (
                "[cluster]\nredis = \"redis://h\"\nnode_ttl_ms = 10\n",
                "`cluster.node_ttl_ms` must be from 1000",
            ),
            (
                "[cluster]\nredis = \"redis://h\"\nnodes = 2\n",
                "unknown field `nodes`",
            ),
        ] {
            let err = parse(&with(cluster)).err().unwrap_or_default();
            assert!(err.contains(expected), "{cluster:?}: {err}");
        }
    }

    #[test]
    fn one_app_at_most_serves_static_files() {
        let with_static =
            "[[app]]\nname = \"a\"\nroute = \"/a\"\nplugin = \"a.wasm\"\nstatic = \"site\"\n";
        let config = parse(with_static).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.apps[0].static_files,
            Some(StaticSource::Dir(PathBuf::from("/etc/wsgate/site")))
        );
        let twice = format!(
            "{with_static}[[app]]\nname = \"b\"\nroute = \"/b\"\nplugin = \"b.wasm\"\nstatic = \"other\"\n"
        );
        let err = parse(&twice).err().unwrap_or_default();
        assert!(
            err.contains("10:10: `static`: app \"a\" serves static files already"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_and_routes_are_refused() {
        let dup_name =
            format!("{ONE_APP}[[app]]\nname = \"chat\"\nroute = \"/other\"\nplugin = \"p\"\n");
        let err = parse(&dup_name).err().unwrap_or_default();
        assert!(
            err.contains("6:8: `name`: two apps are called \"chat\""),
            "{err}"
        );
        let dup_route =
            format!("{ONE_APP}[[app]]\nname = \"two\"\nroute = \"/ws\"\nplugin = \"p\"\n");
        let err = parse(&dup_route).err().unwrap_or_default();
        assert!(
            err.contains("7:9: `route`: \"/ws\" is already the route of app \"chat\""),
            "{err}"
        );
    }
}
