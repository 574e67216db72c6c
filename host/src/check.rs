//! `wsgate check`: load every app's plugin of a config without serving, and say for
//! each whether it would start.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::Config;
use crate::plugin::instance::InstanceLimits;
use crate::plugin::output::PluginLog;
use crate::plugin::{LoadedPlugin, PluginEngine, PluginError, PluginInstance};

/// What checking one app found.
#[derive(Debug)]
pub struct AppCheck {
    /// The app's name.
    pub app: String,
    /// Its route.
    pub route: String,
    /// Its plugin (path, or `embedded:NAME`).
    pub plugin: String,
    /// How long compiling took, or why the plugin cannot serve.
    pub result: Result<Duration, PluginError>,
}

/// Reads, compiles and instantiates the plugin of every app of `config`, without
/// starting anything; one result per app, in config order.
///
/// # Errors
/// [`PluginError::Engine`] if wasmtime cannot be set up at all.
pub fn check(config: &Config) -> Result<Vec<AppCheck>, PluginError> {
    let engine = PluginEngine::with_cache(config.server.cache_dir.as_deref())?;
    Ok(config
        .apps
        .iter()
        .map(|app| {
            let plugin = app.plugin.describe();
            let result = crate::plugin::loader::read(&app.plugin).and_then(|bytes| {
                let loaded = LoadedPlugin::compile(&engine, &plugin, &bytes)?;
                let limits = InstanceLimits::from(&app.limits);
                PluginInstance::new(
                    &loaded,
                    PluginLog::new(app.name.as_str().into(), Default::default()),
                    limits,
                )?;
                Ok(loaded.compile_time)
            });
            AppCheck {
                app: app.name.clone(),
                route: app.route.clone(),
                plugin,
                result,
            }
        })
        .collect())
}

/// Whether an address the config listens on is free now.
#[derive(Debug)]
pub struct AddressCheck {
    /// `listen` or `admin_listen`.
    pub key: &'static str,
    /// The address.
    pub addr: SocketAddr,
    /// Bound and let go at once, or what the OS said.
    pub result: std::io::Result<()>,
}

/// Binds every address `config` listens on and lets it go at once: taken ones are
/// reported (by another process, or by this gateway already serving it).
pub fn addresses(config: &Config) -> Vec<AddressCheck> {
    std::iter::once(("listen", config.listen))
        .chain(config.server.admin_listen.map(|a| ("admin_listen", a)))
        .map(|(key, addr)| AddressCheck {
            key,
            addr,
            result: std::net::TcpListener::bind(addr).map(drop),
        })
        .collect()
}

/// Whether the cluster's Redis answers, when `config` has `[cluster]`: `None`
/// without one. Blocking (it runs its own small runtime).
pub fn cluster(config: &Config) -> Option<(String, Result<(), String>)> {
    let settings = config.server.cluster.as_ref()?;
    let shown = settings
        .redis
        .split_once('@')
        .map_or(settings.redis.clone(), |(_, host)| {
            format!("redis://…@{host}")
        });
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime
                .block_on(crate::bus::ping(settings))
                .map_err(|e| e.to_string())
        });
    Some((shown, result))
}
