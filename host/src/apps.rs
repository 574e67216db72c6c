//! The set of running apps: starting them, and applying a new config to them (SIGHUP)
//! without touching the apps that did not change.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use crate::app::alarm::Clock;
use crate::app::stats::AppStats;
use crate::app::{AppHandle, actor};
use crate::bus::{Cluster, ClusterError};
use crate::close::APP_REMOVED;
use crate::config::{AppConfig, Config, PluginSource};
use crate::metrics::Metrics;
use crate::plugin::loader::{self, content_hash};
use crate::plugin::{LoadedPlugin, PluginEngine, PluginError};
use crate::reload::watcher::absolute;

/// Why the gateway cannot start, or a config cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An app's plugin cannot be loaded: the message names the app, the plugin and
    /// what is wrong with it.
    #[error("app {app:?}: plugin {plugin}: {source}")]
    Plugin {
        /// The app's name.
        app: String,
        /// The plugin's path (or `embedded:NAME`).
        plugin: String,
        /// What is wrong.
        source: PluginError,
    },
    /// The WebAssembly engine cannot be set up.
    #[error(transparent)]
    Engine(PluginError),
    /// The process's address-space limit (`ulimit -v`, `LimitAS=`) is below what the
    /// apps' plugin instances reserve.
    #[error(
        "the address-space limit of this process ({limit_mib} MiB, `ulimit -v`) is below what \
         {apps} app(s) reserve: about {needed_mib} MiB (wasmtime reserves 4 GiB of address space, \
         not memory, for each plugin instance's linear memory); raise the limit \
         (`ulimit -v unlimited`, or LimitAS=infinity in a systemd unit) or serve fewer apps"
    )]
    AddressSpace {
        /// The limit, in MiB.
        limit_mib: u64,
        /// About what the apps need, in MiB.
        needed_mib: u64,
        /// How many apps the config has.
        apps: usize,
    },
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// `[cluster]` is set and the node cannot join: Redis is unreachable or refused.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// The routes: URL path → app. Read by every handshake, written by config reloads.
pub(crate) type Routes = RwLock<HashMap<String, AppHandle>>;

/// One running app.
pub(crate) struct RunningApp {
    pub(crate) config: AppConfig,
    pub(crate) handle: AppHandle,
}

/// The running apps, by name.
pub(crate) struct Apps {
    engine: PluginEngine,
    pub(crate) metrics: Arc<Metrics>,
    /// The cluster every app's registry reaches the other nodes through.
    pub(crate) cluster: Option<Cluster>,
    /// Wakes every app's actor at its deadlines.
    clock: Clock,
    /// Held for the whole of a config apply, so that two never interleave.
    applying: Mutex<()>,
    /// Boxed: a tree node holds eleven entries, most of them empty slots.
    apps: Mutex<BTreeMap<String, Box<RunningApp>>>,
    pub(crate) routes: Routes,
}

/// What `/readyz` shows of one app.
pub(crate) struct AppSummary {
    pub(crate) name: String,
    pub(crate) route: String,
    pub(crate) stats: crate::AppStatsSnapshot,
    /// Inputs waiting in its actor's queue.
    pub(crate) queued: usize,
    pub(crate) hook_timeout: std::time::Duration,
}

impl AppSummary {
    /// The app's hook has run past its deadline by more than a second: something
    /// holds it that the deadline does not stop.
    pub(crate) fn stuck(&self) -> bool {
        u128::from(self.stats.busy_ms) > self.hook_timeout.as_millis() + 1000
    }

    /// Its actor's queue is full: connections wait to hand over their events.
    pub(crate) fn queue_full(&self) -> bool {
        self.queued >= crate::app::EVENT_QUEUE
    }
}

/// What a config reload changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConfigChanges {
    /// Apps started.
    pub added: Vec<String>,
    /// Apps stopped (their connections closed with 1001).
    pub removed: Vec<String>,
    /// Apps whose route, limits or plugin changed.
    pub changed: Vec<String>,
    /// Apps left as they were.
    pub unchanged: Vec<String>,
}

/// Reads and compiles the plugin of `app`.
fn compile(engine: &PluginEngine, app: &AppConfig) -> Result<LoadedPlugin, StartError> {
    let plugin = app.plugin.describe();
    let error = |source| StartError::Plugin {
        app: app.name.clone(),
        plugin: plugin.clone(),
        source,
    };
    let bytes = loader::read(&app.plugin).map_err(error)?;
    LoadedPlugin::compile(engine, &plugin, &bytes).map_err(error)
}

fn start(
    app: &AppConfig,
    plugin: LoadedPlugin,
    metrics: &Metrics,
    cluster: Option<&Cluster>,
    clock: &Clock,
) -> Result<Box<RunningApp>, StartError> {
    let stats = Arc::new(AppStats::new(metrics.app(&app.name)));
    tracing::info!(
        app = %app.name,
        route = %app.route,
        plugin = %app.plugin.describe(),
        size = plugin.size,
        contract = %plugin.contract,
        packed = plugin.takes_packed(),
        compile_ms = %format_args!("{:.1}", plugin.compile_time.as_secs_f64() * 1e3),
        "app ready"
    );
    let handle = actor::spawn(
        &app.name,
        plugin,
        app.limits,
        stats,
        cluster.cloned(),
        clock,
    )
    .map_err(|source| StartError::Plugin {
        app: app.name.clone(),
        plugin: app.plugin.describe(),
        source,
    })?;
    Ok(Box::new(RunningApp {
        config: app.clone(),
        handle,
    }))
}

impl Apps {
    /// Compiles and starts every app of `config`.
    pub(crate) fn start(
        engine: PluginEngine,
        config: &Config,
        metrics: Arc<Metrics>,
        cluster: Option<Cluster>,
    ) -> Result<Self, StartError> {
        let clock = Clock::start();
        let mut apps = BTreeMap::new();
        let mut routes = HashMap::new();
        for app in &config.apps {
            let running = start(
                app,
                compile(&engine, app)?,
                &metrics,
                cluster.as_ref(),
                &clock,
            )?;
            routes.insert(app.route.clone(), running.handle.clone());
            apps.insert(app.name.clone(), running);
        }
        Ok(Self {
            engine,
            metrics,
            cluster,
            clock,
            applying: Mutex::new(()),
            apps: Mutex::new(apps),
            routes: RwLock::new(routes),
        })
    }

    pub(crate) fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    /// The app serving `path`.
    pub(crate) fn route(&self, path: &str) -> Option<AppHandle> {
        self.routes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .cloned()
    }

    /// Handles of every running app.
    pub(crate) fn handles(&self) -> Vec<AppHandle> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.values().map(|a| a.handle.clone()).collect()
    }

    /// The static files served at the root, if an app has them.
    pub(crate) fn static_files(&self) -> Option<crate::config::StaticSource> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.values().find_map(|a| a.config.static_files.clone())
    }

    /// Every app's name, route, counters and health, in name order.
    pub(crate) fn summaries(&self) -> Vec<AppSummary> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.values()
            .map(|a| AppSummary {
                name: a.config.name.clone(),
                route: a.config.route.clone(),
                stats: a.handle.stats.snapshot(),
                queued: a.handle.queued(),
                hook_timeout: a.handle.limits.hook_timeout,
            })
            .collect()
    }

    /// The handle of app `name`.
    pub(crate) fn handle(&self, name: &str) -> Option<AppHandle> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.get(name).map(|a| a.handle.clone())
    }

    /// The absolute paths of every plugin file in use.
    pub(crate) fn plugin_files(&self) -> Vec<PathBuf> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.values()
            .filter_map(|a| match &a.config.plugin {
                PluginSource::File(path) => Some(absolute(path)),
                PluginSource::Embedded { .. } => None,
            })
            .collect()
    }

    /// The apps whose plugin is the file `path` (absolute).
    pub(crate) fn using_file(&self, path: &Path) -> Vec<AppHandle> {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        apps.values()
            .filter(|a| matches!(&a.config.plugin, PluginSource::File(p) if absolute(p) == path))
            .map(|a| a.handle.clone())
            .collect()
    }

    /// Applies `config`: starts added apps, stops removed ones (closing their
    /// connections with 1001), updates changed routes and limits, hands changed
    /// plugins to their apps (state handoff), and leaves the rest alone. Every new or
    /// changed plugin is compiled first: if one fails, nothing is applied.
    ///
    /// Blocking (it compiles): call it off the async runtime.
    pub(crate) fn apply(&self, config: &Config) -> Result<ConfigChanges, StartError> {
        let since = Instant::now();
        // One apply at a time; readers of the apps are not held up meanwhile.
        let _applying = self.applying.lock().unwrap_or_else(PoisonError::into_inner);
        let running: HashMap<String, (PluginSource, u64)> = {
            let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
            apps.iter()
                .map(|(name, a)| {
                    (
                        name.clone(),
                        (a.config.plugin.clone(), a.handle.stats.plugin_hash()),
                    )
                })
                .collect()
        };

        // Prepare, without the lock: compile everything new before touching anything.
        let mut compiled: HashMap<String, LoadedPlugin> = HashMap::new();
        for app in &config.apps {
            let plugin_changed = match running.get(&app.name) {
                None => true,
                Some((plugin, hash)) => {
                    *plugin != app.plugin
                        || loader::read(&app.plugin)
                            .map(|bytes| content_hash(&bytes) != *hash)
                            .unwrap_or(true)
                }
            };
            if plugin_changed {
                compiled.insert(app.name.clone(), compile(&self.engine, app)?);
            }
        }

        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        let mut changes = ConfigChanges::default();
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let wanted: BTreeMap<&str, &AppConfig> =
            config.apps.iter().map(|a| (a.name.as_str(), a)).collect();
        let removed: Vec<String> = apps
            .keys()
            .filter(|n| !wanted.contains_key(n.as_str()))
            .cloned()
            .collect();
        for name in removed {
            if let Some(running) = apps.remove(&name) {
                routes.remove(&running.config.route);
                running.handle.close_all(APP_REMOVED);
                self.metrics.forget_app(&name);
                tracing::info!(app = %name, "app removed: its connections are closed with 1001");
                changes.removed.push(name);
            }
        }
        // Routes of changed apps move before new routes are added.
        for app in &config.apps {
            if let Some(running) = apps.get(&app.name)
                && running.config.route != app.route
            {
                routes.remove(&running.config.route);
            }
        }
        for app in &config.apps {
            let plugin = compiled.remove(&app.name);
            match apps.get_mut(&app.name) {
                None => {
                    let Some(plugin) = plugin else { continue };
                    let running = start(
                        app,
                        plugin,
                        &self.metrics,
                        self.cluster.as_ref(),
                        &self.clock,
                    )?;
                    routes.insert(app.route.clone(), running.handle.clone());
                    apps.insert(app.name.clone(), running);
                    changes.added.push(app.name.clone());
                }
                Some(running) => {
                    let before = running.config.clone();
                    let reloaded = plugin.is_some();
                    if before.limits != app.limits {
                        running.handle.limits = Arc::new(app.limits);
                        running.handle.set_limits(app.limits);
                    }
                    if let Some(plugin) = plugin {
                        running.handle.reload(plugin, app.plugin.describe(), since);
                    }
                    routes.insert(app.route.clone(), running.handle.clone());
                    running.config = app.clone();
                    if reloaded || before.route != app.route || before.limits != app.limits {
                        changes.changed.push(app.name.clone());
                    } else {
                        changes.unchanged.push(app.name.clone());
                    }
                }
            }
        }
        Ok(changes)
    }
}
