//! Signals: SIGHUP re-reads the config file and applies it; SIGTERM and Ctrl-C shut
//! the gateway down.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::Gateway;
use crate::config::{Config, ServerSettings};

/// What was running when the gateway started: a reload that changes it can only
/// say it applies at the next start.
#[derive(Clone)]
pub(super) struct Running {
    /// The config file's `listen`.
    pub(super) listen: SocketAddr,
    /// The server settings.
    pub(super) settings: ServerSettings,
}

/// Listens for SIGHUP now (so that a SIGHUP from here on reloads, never kills) and
/// re-reads `path` at each one; a config with errors is refused whole and the running
/// one stays.
///
/// # Errors
/// The OS refuses the signal handler.
#[cfg(unix)]
pub(super) fn reload_on_sighup(
    gateway: Gateway,
    path: PathBuf,
    running: Running,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            reload(&gateway, &path, &running).await;
        }
    });
    Ok(())
}

/// No SIGHUP here: the config is read at start only.
#[cfg(not(unix))]
pub(super) fn reload_on_sighup(
    _gateway: Gateway,
    _path: PathBuf,
    _running: Running,
) -> std::io::Result<()> {
    Ok(())
}

/// Re-reads and applies the config file (off the async runtime: it compiles).
async fn reload(gateway: &Gateway, path: &std::path::Path, running: &Running) {
    tracing::info!(file = %path.display(), "SIGHUP: reloading the config");
    let gateway = gateway.clone();
    let file = path.to_path_buf();
    let running = running.clone();
    let applied = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let config = Config::load(&file).map_err(|e| e.to_string())?;
        if config.listen != running.listen {
            tracing::warn!(
                "`listen` changed to {}; it applies at the next start",
                config.listen
            );
        }
        if config.server != running.settings {
            tracing::warn!(
                "handshake_timeout_ms, max_header_bytes, drain_timeout_ms, tls, admin_listen, cache_dir, [api] or [cluster] changed; \
                 they apply at the next start"
            );
        }
        gateway.reload_config(&config).map_err(|e| e.to_string())
    })
    .await;
    match applied {
        Ok(Ok(changes)) => tracing::info!(
            added = ?changes.added,
            removed = ?changes.removed,
            changed = ?changes.changed,
            unchanged = changes.unchanged.len(),
            "config reloaded"
        ),
        Ok(Err(e)) => tracing::error!("config reload refused, the running config stays: {e}"),
        Err(e) => tracing::error!("config reload failed: {e}"),
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
