//! [`run`]: what `wsgate serve` does with a config: start the gateway, watch its
//! plugins, reload on SIGHUP, listen on the main and admin addresses, and serve until
//! `shutdown` completes.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio::net::TcpListener;

use super::Gateway;
use super::signals::{Running, reload_on_sighup};
use crate::apps::StartError;
use crate::config::{ClusterSettings, Config, PluginSource};

/// How [`run`] serves a config.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The config file, re-read at each SIGHUP; `None` (the built-in demo): no reload.
    pub config_path: Option<PathBuf>,
    /// Listen here instead of the config's `listen` (`--listen`).
    pub listen: Option<SocketAddr>,
    /// Watch the plugin files and hot-reload new versions (off with `--no-watch`).
    pub watch: bool,
    /// Join the cluster on this Redis URL (`--redis`; sets `[cluster] redis`).
    pub redis: Option<String>,
    /// This node's name in the cluster (`--node`; sets `[cluster] node`).
    pub node: Option<String>,
}

impl ServeOptions {
    /// `--redis` and `--node` applied to `config`.
    ///
    /// # Errors
    /// [`RunError::Flag`] for a bad URL or name, or `--node` without a cluster.
    pub fn apply_cluster_flags(&self, config: &mut Config) -> Result<(), RunError> {
        let flag = |name: &'static str| move |e: String| RunError::Flag(format!("{name} {e}"));
        if let Some(url) = &self.redis {
            let mut cluster = ClusterSettings::for_redis(url).map_err(flag("--redis"))?;
            if let Some(file) = &config.server.cluster {
                cluster.node.clone_from(&file.node);
                cluster.prefix.clone_from(&file.prefix);
                cluster.node_ttl = file.node_ttl;
            }
            config.server.cluster = Some(cluster);
        }
        if let Some(node) = &self.node {
            let Some(cluster) = config.server.cluster.as_mut() else {
                return Err(RunError::Flag(
                    "--node names a node of a cluster: set [cluster] in the config, or --redis URL"
                        .into(),
                ));
            };
            cluster.set_node(node).map_err(flag("--node"))?;
        }
        Ok(())
    }
}

/// Why [`run`] could not serve.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The gateway cannot start (a plugin, the engine, TLS).
    #[error(transparent)]
    Start(#[from] StartError),
    /// An address cannot be listened on: another process may hold it, or it is not
    /// an address of this machine.
    #[error(
        "cannot listen on {addr}{what}: {source}{}",
        if source.kind() == std::io::ErrorKind::AddrInUse {
            "; another process listens there: stop it, or pass --listen ADDR (for example --listen 127.0.0.1:8001)"
        } else {
            ""
        }
    )]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Which one (`""` for `listen`, `" (admin_listen)"`).
        what: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A command-line flag is wrong (the message names it).
    #[error("{0}")]
    Flag(String),
    /// The SIGHUP handler cannot be installed.
    #[error("cannot listen for SIGHUP: {0}")]
    Signal(std::io::Error),
}

/// Starts `config` and serves it until `shutdown` completes, then drains (see
/// [`Gateway::serve`]).
///
/// # Errors
/// [`RunError`] if the gateway cannot start or an address cannot be listened on.
pub async fn run(
    mut config: Config,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    // A reload compares the file with the file: the flags are not in it.
    let file_settings = config.server.clone();
    options.apply_cluster_flags(&mut config)?;
    let gateway = Gateway::start(&config).await?;
    if options.watch {
        match gateway.watch_plugins() {
            Ok(())
                if config
                    .apps
                    .iter()
                    .all(|a| matches!(a.plugin, PluginSource::Embedded { .. })) =>
            {
                tracing::debug!("every plugin is built into the binary: no plugin file to watch");
            }
            Ok(()) => tracing::info!("watching plugin files for new versions"),
            Err(e) => tracing::error!("{e}; plugins reload on SIGHUP only"),
        }
    }
    if let Some(path) = options.config_path {
        let running = Running {
            listen: config.listen,
            settings: file_settings,
        };
        // Installed before "listening": a SIGHUP from then on reloads, never kills.
        reload_on_sighup(gateway.clone(), path, running).map_err(RunError::Signal)?;
    }
    let listen = options.listen.unwrap_or(config.listen);
    let listener = bind(listen, "").await?;
    let admin = match config.server.admin_listen {
        Some(addr) => Some(bind(addr, " (admin_listen)").await?),
        None => None,
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        }
    };
    if let Some(admin) = admin {
        if let Ok(addr) = admin.local_addr() {
            tracing::info!("metrics and health on http://{addr}");
        }
        let gateway = gateway.clone();
        let stopped = stopped();
        tokio::spawn(async move {
            let _ = gateway.serve_admin(admin, stopped).await;
        });
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("listening on ws://{addr}");
        let scheme = if config.server.tls.is_some() {
            "https"
        } else {
            "http"
        };
        if config.apps.iter().any(|a| a.static_files.is_some()) {
            tracing::info!("the page is at {scheme}://{addr}/");
        }
    }
    let serving = gateway.serve(listener, stopped());
    let mut serving = std::pin::pin!(serving);
    tokio::select! {
        _ = &mut serving => {}
        () = shutdown => {
            let _ = stop.send(true);
            let _ = serving.await;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, RunError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Listen { addr, what, source })
}
