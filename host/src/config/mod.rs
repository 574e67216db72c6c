//! The gateway's configuration: the public types ([`Config`], [`AppConfig`],
//! [`Limits`], [`ServerSettings`]), read from a TOML file and validated.
//!
//! ```toml
//! listen = "127.0.0.1:8000"   # address and port to serve on
//!
//! [[app]]                     # one table per app
//! name = "chat"               # shown in logs; letters, digits, '-', '_', '.'
//! route = "/ws"               # the URL path clients connect to
//! plugin = "chat.wasm"        # the component, relative to this file
//! ```
//!
//! Unknown keys are errors; every error names the file, the line and the key.
//!
//! - `file`: the file format (serde structs as written) and its validation.
//! - `limits`: per-app limits (`[limits]`, `[app.limits]`).
//! - `server`: gateway-wide settings (the other top-level keys).
//! - `cluster`: `[cluster]`, several nodes over Redis.
//! - `template`: `wsgate config --default`, every key at its default.
//! - `demo`: the embedded demo config (feature `demo`).
//!
//! This module is at the bottom of the house: it imports no other module of the crate.

mod cluster;
#[cfg(feature = "demo")]
mod demo;
mod file;
mod limits;
mod server;
mod template;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use cluster::ClusterSettings;
pub use limits::{CrashLoop, Limits, MAX_BACKOFF, SlowConsumer};
pub use server::{API_TOKEN_ENV, ApiSettings, ServerSettings, TlsFiles};
pub use template::commented_default;

/// The address served when neither the config nor `--listen` names one.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    8000,
));

/// An address to listen on, as a config or the command line writes it: an IP address
/// and port (`127.0.0.1:8000`, `[::1]:8000`), or `localhost:PORT`, which is
/// `127.0.0.1:PORT` (IPv4 loopback: one address is listened on).
pub fn parse_listen(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Some(addr);
    }
    let port = text.strip_prefix("localhost:")?.parse().ok()?;
    Some(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)))
}

/// The paths of the gateway's own endpoints; no app may use them as its route.
pub const RESERVED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// A validated gateway configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address and port the gateway listens on (`listen`, default `127.0.0.1:8000`).
    pub listen: SocketAddr,
    /// The apps, in file order; at least one, with distinct names and routes.
    pub apps: Vec<AppConfig>,
    /// Gateway-wide protocol settings (handshake timeout, header size, TLS…).
    pub server: ServerSettings,
}

impl Default for Config {
    /// No apps, listening on [`DEFAULT_LISTEN`], default settings.
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            apps: Vec::new(),
            server: ServerSettings::default(),
        }
    }
}

/// One app (tenant): a route served by a plugin under limits.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Unique name, used in logs (`name`).
    pub name: String,
    /// The URL path clients connect to, starting with `/` (`route`).
    pub route: String,
    /// Where the plugin component comes from (`plugin`).
    pub plugin: PluginSource,
    /// The limits the app runs under.
    pub limits: Limits,
    /// Files served at the gateway's root (`static`); at most one app has them.
    pub static_files: Option<StaticSource>,
}

/// Where an app's static files come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaticSource {
    /// A folder (`static = "dir"`, relative to the config file).
    Dir(PathBuf),
    /// Files built into the gateway binary (the demo's chat page): (name, bytes).
    Embedded(&'static [(&'static str, &'static [u8])]),
}

/// Where a plugin's component comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginSource {
    /// A `.wasm` file (the config's relative paths are resolved against its folder).
    File(PathBuf),
    /// A component built into the gateway binary (the demo plugins).
    Embedded {
        /// A name for logs.
        name: &'static str,
        /// The component.
        bytes: &'static [u8],
    },
}

impl PluginSource {
    /// How logs name this source: the path, or `embedded:NAME`.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Embedded { name, .. } => format!("embedded:{name}"),
        }
    }
}

/// Why a config cannot be used. The message names the file, and where it can, the line
/// and key to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read: check the path given to `--config`.
    #[error("cannot read the config file {file}: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has unknown or missing keys, or a value is wrong.
    #[error("{file}:{}{message}", location.map(|(l, c)| format!("{l}:{c}: ")).unwrap_or_else(|| " ".into()))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Line and column (1-based) of the offending key or value, when known.
        location: Option<(usize, usize)>,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl Config {
    /// Reads and validates the config file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] if it cannot be read, [`ConfigError::Invalid`] if it is wrong.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Validates `text`, the content of the config file `path` (relative plugin
    /// paths are resolved against the folder of `path`).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the line and key of the first problem.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        file::parse(text, path)
    }
}
