//! The [`Gateway`]: start-up (compile every app's plugin, start its actor), the accept
//! loop, hot reload (plugin files and config), and shutdown; [`run`], what `wsgate
//! serve` does with a config (listeners, SIGHUP, signals).
//!
//! - `listen`: the accept loop and HTTP/1.1 per connection.
//! - `run`: binding the listeners and serving until a signal.
//! - `signals`: SIGHUP (config reload) and SIGTERM / Ctrl-C (shutdown).
//! - `overload`: at the open-file limit (backoff, a spare descriptor), and the
//!   start-up check of that limit.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = wsgate::Config::load("wsgate.toml".as_ref())?;
//! let gateway = wsgate::Gateway::start(&config).await?;
//! gateway.watch_plugins()?;
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

mod listen;
mod overload;
mod run;
mod signals;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use crate::app::AppHandle;
use crate::app::stats::AppStatsSnapshot;
pub use crate::apps::StartError;
use crate::apps::{Apps, ConfigChanges};
use crate::bus::{Cluster, ids};
use crate::close::SHUTDOWN;
use crate::config::{Config, ServerSettings};
use crate::http::{self, Shared};
use crate::metrics::Metrics;
use crate::plugin::PluginEngine;
use crate::reload::watcher::PluginWatcher;
use crate::reload::{WatchError, reloader};
use listen::{accept_until, http1_builder, serve_http};
pub use run::{RunError, ServeOptions, run};
pub use signals::shutdown_signal;

/// How long shutdown waits, after the drain, for the apps to run their last
/// `on-close` hooks.
const FINISH_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// A started gateway: every app's plugin is compiled and its actor runs. Serve it on
/// a listener with [`Gateway::serve`]. Cheap to clone: clones are the same gateway.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    watcher: Arc<Mutex<Option<PluginWatcher>>>,
    settings: ServerSettings,
    tls: Option<TlsAcceptor>,
    /// The spare descriptor for answering at the open-file limit.
    reserve: Arc<overload::Reserve>,
}

impl Gateway {
    /// Joins the cluster (with `[cluster]`), compiles every app's plugin and starts the
    /// apps.
    ///
    /// # Errors
    /// [`StartError`] naming the first app whose plugin is missing, is not a
    /// component, or does not implement this host's plugin world; or the cluster's
    /// Redis cannot be reached.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        overload::check_address_space(config)?;
        overload::check_open_files(config);
        let tls = config
            .server
            .tls
            .as_ref()
            .map(crate::tls::acceptor)
            .transpose()?;
        let engine = PluginEngine::with_cache(config.server.cache_dir.as_deref())
            .map_err(StartError::Engine)?;
        let metrics = Arc::<Metrics>::default();
        let cluster = match &config.server.cluster {
            Some(settings) => Some(Cluster::join(settings, metrics.clone()).await?),
            None => None,
        };
        let first_id = ids::first_id(cluster.as_ref().map_or(0, Cluster::node));
        let apps = Apps::start(engine, config, metrics, cluster.clone())?;
        let shared = Arc::new(Shared {
            apps,
            admin_separate: config.server.admin_listen.is_some(),
            api: config.server.api.clone(),
            next_conn: AtomicU64::new(first_id),
            connections: TaskTracker::new(),
        });
        if let Some(cluster) = cluster {
            let weak = Arc::downgrade(&shared);
            cluster.set_deliver(Box::new(move |app, command| {
                weak.upgrade()
                    .and_then(|shared| shared.apps.handle(app))
                    .is_some_and(|handle| handle.try_remote(command))
            }));
        }
        Ok(Self {
            shared,
            watcher: Arc::new(Mutex::new(None)),
            settings: config.server.clone(),
            tls,
            reserve: overload::Reserve::new(),
        })
    }

    /// Watches every app's plugin file: a new version that compiles and fits the
    /// plugin world is swapped in under live connections, with its state handed
    /// over; one that does not is refused with a log line. Config reloads keep the
    /// watched set current.
    ///
    /// # Errors
    /// [`WatchError`] if the OS refuses the watch (for example inotify limits).
    pub fn watch_plugins(&self) -> Result<(), WatchError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut watcher = PluginWatcher::new(tx)?;
        watcher.watch(&self.shared.apps.plugin_files())?;
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        let lookup = move |path: &std::path::Path| {
            weak.upgrade()
                .map(|shared| shared.apps.using_file(path))
                .unwrap_or_default()
        };
        reloader::spawn(self.shared.apps.engine().clone(), Box::new(lookup), rx)
            .map_err(|e| WatchError::new(format!("cannot start the reloader thread: {e}")))?;
        *self.watcher.lock().unwrap_or_else(PoisonError::into_inner) = Some(watcher);
        Ok(())
    }

    /// Applies a new config to the running gateway (what SIGHUP does): added apps
    /// start, removed apps close their connections with 1001, changed routes, limits
    /// and plugins apply (plugins with a state handoff), unchanged apps are not
    /// touched. A config whose plugins do not all load is refused whole. `listen`
    /// cannot change without a restart.
    ///
    /// Blocking (it compiles plugins): call it off the async runtime.
    ///
    /// # Errors
    /// [`StartError`] naming the first app whose plugin cannot be loaded.
    pub fn reload_config(&self, config: &Config) -> Result<ConfigChanges, StartError> {
        let changes = self.shared.apps.apply(config)?;
        if let Some(watcher) = self
            .watcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            && let Err(e) = watcher.watch(&self.shared.apps.plugin_files())
        {
            tracing::warn!("{e}");
        }
        Ok(changes)
    }

    /// Serves the gateway's endpoints (`/metrics`, `/healthz`, `/readyz`) on
    /// `listener` (the config's `admin_listen`) until `shutdown` completes.
    ///
    /// # Errors
    /// Never at present, as [`Gateway::serve`].
    pub async fn serve_admin(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let shared = self.shared.clone();
        let builder = http1_builder(&self.settings);
        accept_until(&listener, shutdown, &self.reserve, |tcp, remote, room| {
            let shared = shared.clone();
            let builder = builder.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| http::handle_admin(req, shared.clone()));
                let served = builder.serve_connection(TokioIo::new(tcp), service).await;
                if let Err(e) = served {
                    tracing::debug!(%remote, "admin connection ended: {e}");
                }
                // Taken at the open-file limit: the spare descriptor comes back.
                drop(room);
            });
        })
        .await;
        Ok(())
    }

    /// The counters of app `name`, or `None` if no app has that name.
    pub fn app_stats(&self, name: &str) -> Option<AppStatsSnapshot> {
        self.shared.apps.handle(name).map(|h| h.stats.snapshot())
    }

    /// Serves `listener` until `shutdown` completes; then stops accepting, closes every
    /// connection with 1001 "going away", and waits up to `drain_timeout_ms` (10 s by
    /// default) for them to finish.
    ///
    /// # Errors
    /// Never at present; the `Result` leaves room for listener errors that are fatal.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        accept_until(&listener, shutdown, &self.reserve, |tcp, remote, room| {
            let _ = tcp.set_nodelay(true);
            let shared = self.shared.clone();
            let settings = self.settings.clone();
            let tls = self.tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve_http(tcp, remote, shared, &settings, room).await,
                    Some(tls) => {
                        match tokio::time::timeout(settings.handshake_timeout, tls.accept(tcp))
                            .await
                        {
                            Ok(Ok(stream)) => {
                                serve_http(stream, remote, shared, &settings, room).await;
                            }
                            Ok(Err(e)) => tracing::debug!(%remote, "TLS handshake failed: {e}"),
                            Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                        }
                    }
                }
            });
        })
        .await;
        tracing::info!("shutting down: closing every connection with 1001");
        drop(listener);
        let apps = self.shared.apps.handles();
        for app in &apps {
            app.close_all(SHUTDOWN);
        }
        self.shared.connections.close();
        let drain = self.settings.drain_timeout;
        if tokio::time::timeout(drain, self.shared.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within the drain timeout ({drain:?})");
        }
        // Every app runs on-close for the connections it still has, then stops; an
        // app stuck in a hook is not waited for longer than FINISH_WAIT.
        let finished = apps.iter().map(AppHandle::finish).collect::<Vec<_>>();
        let all = async {
            for done in finished {
                let _ = done.await;
            }
        };
        if tokio::time::timeout(FINISH_WAIT, all).await.is_err() {
            tracing::warn!("an app did not finish in time; stopping without it");
        }
        // Last: the apps' last words (on-close of their connections) may be for
        // other nodes.
        if let Some(cluster) = &self.shared.apps.cluster {
            cluster.leave().await;
        }
        Ok(())
    }
}
