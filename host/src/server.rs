//! Start-up (compile every app's plugin, start its actor), the accept loop, and
//! shutdown.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let config = wsgate::Config::load("wsgate.toml".as_ref())?;
//! let gateway = wsgate::Gateway::start(&config)?;
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::app::{AppHandle, Event, actor};
use crate::config::{Config, PluginSource};
use crate::http::{self, Shared};
use crate::plugin::{LoadedPlugin, PluginEngine, PluginError};

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for connections to finish their closing handshakes.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the gateway cannot start.
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
}

/// A started gateway: every app's plugin is compiled and its actor runs. Serve it on
/// a listener with [`Gateway::serve`].
pub struct Gateway {
    shared: Arc<Shared>,
    apps: Vec<AppHandle>,
}

fn read_plugin(source: &PluginSource) -> Result<Cow<'static, [u8]>, PluginError> {
    match source {
        PluginSource::File(path) => {
            std::fs::read(path)
                .map(Cow::Owned)
                .map_err(|source| PluginError::Read {
                    path: path.clone(),
                    source,
                })
        }
        PluginSource::Embedded { bytes, .. } => Ok(Cow::Borrowed(bytes)),
    }
}

impl Gateway {
    /// Compiles every app's plugin and starts the apps.
    ///
    /// # Errors
    /// [`StartError`] naming the first app whose plugin is missing, is not a
    /// component, or does not implement this host's plugin world.
    pub fn start(config: &Config) -> Result<Self, StartError> {
        let engine = PluginEngine::new().map_err(StartError::Engine)?;
        let mut routes = HashMap::new();
        let mut apps = Vec::new();
        for app in &config.apps {
            let plugin = app.plugin.describe();
            let error = |source| StartError::Plugin {
                app: app.name.clone(),
                plugin: plugin.clone(),
                source,
            };
            let bytes = read_plugin(&app.plugin).map_err(error)?;
            let loaded = LoadedPlugin::compile(&engine, &plugin, &bytes).map_err(error)?;
            tracing::info!(
                app = %app.name,
                route = %app.route,
                plugin = %plugin,
                size = loaded.size,
                compile_ms = loaded.compile_time.as_secs_f64() * 1e3,
                "app ready"
            );
            let handle = actor::spawn(&app.name, loaded, app.limits).map_err(error)?;
            routes.insert(app.route.clone(), handle.clone());
            apps.push(handle);
        }
        let shared = Arc::new(Shared {
            routes,
            next_conn: AtomicU64::new(1),
            connections: TaskTracker::new(),
        });
        Ok(Self { shared, apps })
    }

    /// Serves `listener` until `shutdown` completes; then stops accepting, closes every
    /// connection with 1001 "going away", and waits up to 10 s for them to finish.
    ///
    /// # Errors
    /// Never at present; the `Result` leaves room for listener errors that are fatal.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, remote)) => {
                        let _ = tcp.set_nodelay(true);
                        let shared = self.shared.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| http::handle(req, shared.clone(), remote));
                            let served = http1::Builder::new()
                                .timer(TokioTimer::new())
                                .header_read_timeout(HEADER_READ_TIMEOUT)
                                .serve_connection(TokioIo::new(tcp), service)
                                .with_upgrades()
                                .await;
                            if let Err(e) = served {
                                tracing::debug!(%remote, "HTTP connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors, or a connection reset before accept:
                        // back off a little instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        tracing::info!("shutting down: closing every connection with 1001");
        drop(listener);
        for app in &self.apps {
            let _ = app
                .send(Event::CloseAll {
                    code: 1001,
                    reason: "going away",
                })
                .await;
        }
        self.shared.connections.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.shared.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within {DRAIN_TIMEOUT:?}");
        }
        Ok(())
    }
}
