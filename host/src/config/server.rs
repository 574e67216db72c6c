//! Gateway-wide protocol settings: the top-level keys of the config file besides
//! `listen`.
//!
//! ```toml
//! handshake_timeout_ms = 10000     # time to send the request headers
//! max_header_bytes = "16 KiB"      # request head size; larger gets 431
//! drain_timeout_ms = 10000         # shutdown waits this long for closing handshakes
//! tls = { cert = "cert.pem", key = "key.pem" }   # serve wss:// (and https://)
//! cache_dir = "/var/cache/wsgate"  # compiled plugins; "" turns the cache off
//!
//! [api]                            # the server API, off unless a token is set
//! token_file = "api.token"         # or token = "…" (a file keeps it out of the config);
//!                                  # WSGATE_API_TOKEN in the environment overrides both
//!
//! [cluster]                        # several nodes over Redis (see `cluster`)
//! redis = "redis://127.0.0.1:6379"
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::cluster::{self, ClusterSettings, RawCluster};
use super::file::{Locator, ranged};
use super::limits::Size;

/// Certificate and key files for `wss://`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file with the certificate chain, leaf first (`tls.cert`).
    pub cert: PathBuf,
    /// PEM file with the private key (`tls.key`): PKCS#8, PKCS#1 or SEC1.
    pub key: PathBuf,
}

/// Settings that apply to the whole gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// `handshake_timeout_ms`: a client must send its request headers within this
    /// time (slowloris defence), or the connection is closed. Default 10 s.
    pub handshake_timeout: Duration,
    /// `max_header_bytes`: largest request head; a larger one gets 431. Default
    /// 16 KiB (at least 8 KiB).
    pub max_header_bytes: usize,
    /// `drain_timeout_ms`: on shutdown, how long to wait for connections to finish
    /// their closing handshakes. Default 10 s.
    pub drain_timeout: Duration,
    /// `tls`: serve TLS (`wss://`) with this certificate and key. Default: plain TCP.
    pub tls: Option<TlsFiles>,
    /// `admin_listen`: serve `/metrics`, `/healthz` and `/readyz` on this address
    /// (plain HTTP) instead of the main port. Default: on the main port.
    pub admin_listen: Option<std::net::SocketAddr>,
    /// `cache_dir`: where compiled plugins are kept, so that a start or a reload does
    /// not compile a plugin it compiled before (wasmtime's cache, keyed by the
    /// plugin's bytes and the engine's settings). Default `$XDG_CACHE_HOME/wsgate`,
    /// else `$HOME/.cache/wsgate`; `""` (or no home) turns it off.
    pub cache_dir: Option<PathBuf>,
    /// `[api]`: the server API (`/api/v1`, on `admin_listen` when set, else on the
    /// main port), for backends. Default: off.
    pub api: Option<ApiSettings>,
    /// `[cluster]`: share rooms, users and connections with other nodes over Redis.
    /// Default: a single node. Changing it needs a restart.
    pub cluster: Option<ClusterSettings>,
}

/// The server API's settings (`[api]`).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// The bearer token requests must carry (`token`, or the content of
    /// `token_file` without surrounding whitespace). Never logged.
    pub token: String,
}

/// The environment variable whose value, when set, is the server API's token (over
/// `[api]`'s): it keeps the token out of files, and turns the API on for the demo.
pub const API_TOKEN_ENV: &str = "WSGATE_API_TOKEN";

/// `token` without surrounding whitespace, if it is strong enough.
fn checked_token(token: &str) -> Result<String, &'static str> {
    let token = token.trim();
    if token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the API token must be at least 16 characters, without spaces");
    }
    Ok(token.to_owned())
}

impl ApiSettings {
    /// The settings [`API_TOKEN_ENV`] gives, if it is set (and not empty).
    ///
    /// # Errors
    /// A message naming the variable, if its token is too weak.
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(API_TOKEN_ENV) {
            Ok(token) if !token.trim().is_empty() => checked_token(&token)
                .map(|token| Some(Self { token }))
                .map_err(|e| format!("{API_TOKEN_ENV}: {e}")),
            _ => Ok(None),
        }
    }
}

impl std::fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSettings").finish_non_exhaustive()
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            max_header_bytes: 16 << 10,
            drain_timeout: Duration::from_secs(10),
            tls: None,
            admin_listen: None,
            cache_dir: default_cache_dir(),
            api: None,
            cluster: None,
        }
    }
}

/// `$XDG_CACHE_HOME/wsgate`, else `$HOME/.cache/wsgate` (absolute paths only).
fn default_cache_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    absolute("XDG_CACHE_HOME")
        .or_else(|| absolute("HOME").map(|home| home.join(".cache")))
        .map(|base| base.join("wsgate"))
}

/// The `tls` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    cert: String,
    key: String,
}

/// The top-level server keys as written.
pub(crate) struct RawServer<'a> {
    pub(crate) handshake_timeout_ms: Option<&'a Spanned<u64>>,
    pub(crate) max_header_bytes: Option<&'a Spanned<Size>>,
    pub(crate) drain_timeout_ms: Option<&'a Spanned<u64>>,
    pub(crate) tls: Option<&'a Spanned<RawTls>>,
    pub(crate) admin_listen: Option<&'a Spanned<String>>,
    pub(crate) cache_dir: Option<&'a Spanned<String>>,
    pub(crate) api: Option<&'a Spanned<RawApi>>,
    pub(crate) cluster: Option<&'a Spanned<RawCluster>>,
}

/// The `[api]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    token: Option<String>,
    token_file: Option<String>,
}

/// A duration in ms of `key`, from 1 to `max`.
fn millis(
    loc: &Locator<'_>,
    key: &str,
    value: &Spanned<u64>,
    max: u64,
) -> Result<Duration, ConfigError> {
    ranged(loc, key, value, 1, max, " ms").map(Duration::from_millis)
}

/// Validates the server keys; relative paths are resolved against `base`.
pub(crate) fn resolve(
    loc: &Locator<'_>,
    raw: &RawServer<'_>,
    base: &std::path::Path,
) -> Result<ServerSettings, ConfigError> {
    let mut settings = ServerSettings::default();
    if let Some(v) = raw.handshake_timeout_ms {
        settings.handshake_timeout = millis(loc, "handshake_timeout_ms", v, 600_000)?;
    }
    if let Some(v) = raw.max_header_bytes {
        let bytes = v.get_ref().bytes();
        if !(8 << 10..=1 << 20).contains(&bytes) {
            return Err(loc.at(
                v,
                format!("`max_header_bytes` must be from 8192 to 1048576 bytes, not {bytes}"),
            ));
        }
        settings.max_header_bytes = bytes as usize;
    }
    if let Some(v) = raw.drain_timeout_ms {
        settings.drain_timeout = millis(loc, "drain_timeout_ms", v, 600_000)?;
    }
    if let Some(tls) = raw.tls {
        let t = tls.get_ref();
        if t.cert.trim().is_empty() || t.key.trim().is_empty() {
            return Err(loc.at(tls, "`tls` needs `cert` and `key`: the paths of PEM files"));
        }
        settings.tls = Some(TlsFiles {
            cert: base.join(&t.cert),
            key: base.join(&t.key),
        });
    }
    if let Some(admin) = raw.admin_listen {
        let text = admin.get_ref();
        settings.admin_listen = Some(super::parse_listen(text).ok_or_else(|| {
            loc.at(
                admin,
                format!("`admin_listen` must be an IP address and port such as \"127.0.0.1:9000\", not {text:?}"),
            )
        })?);
    }
    if let Some(api) = raw.api {
        let token = match (&api.get_ref().token, &api.get_ref().token_file) {
            (Some(token), None) => token.clone(),
            (None, Some(file)) => {
                let path = base.join(file);
                std::fs::read_to_string(&path).map_err(|e| {
                    loc.at(
                        api,
                        format!("`api.token_file`: cannot read {}: {e}", path.display()),
                    )
                })?
            }
            _ => {
                return Err(loc.at(api, "`[api]` needs exactly one of `token` and `token_file`"));
            }
        };
        let token = checked_token(&token).map_err(|e| loc.at(api, e))?;
        settings.api = Some(ApiSettings { token });
    }
    if let Some(api) = ApiSettings::from_env().map_err(|e| loc.error(None, e))? {
        settings.api = Some(api);
    }
    if let Some(c) = raw.cluster {
        settings.cluster = Some(cluster::resolve(loc, c)?);
    }
    if let Some(dir) = raw.cache_dir {
        let dir = dir.get_ref().trim();
        settings.cache_dir = (!dir.is_empty()).then(|| base.join(dir));
    }
    Ok(settings)
}
