//! The HTTP side: routing a request to its app (or to the gateway's endpoints or
//! static files), the WebSocket handshake, and the answers.
//!
//! - `handshake`: checking the upgrade request (RFC 6455 §4.2.1), what `on-accept` sees.
//! - `admin`: `/healthz`, `/readyz`, `/metrics`.
//! - `api`: the server API for backends (`/api/v1`).
//! - `static_files`: an app's static files at the root (the demo's chat page).
//! - `response`: the body type and the answers the gateway writes itself.

mod admin;
mod api;
mod handshake;
mod response;
mod static_files;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_util::task::TaskTracker;

use admin::admin_endpoint;
pub(crate) use admin::handle_admin;
use handshake::{check_handshake, deny, plugin_request, subprotocols, switching};
pub(crate) use response::Body;
use response::{APP_FAILING, text};

use crate::app::admission::Refusal;
use crate::app::{AcceptOutcome, Welcome};
use crate::apps::Apps;
use crate::connection;
use crate::directory::Handshake;

/// Answers a request taken at the open-file limit: the gateway's endpoints as
/// usual (unless they are on `admin_listen`), anything else 503.
pub(crate) async fn shed(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Body>, Infallible> {
    if !shared.admin_separate
        && let Some(response) = admin_endpoint(&req, &shared)
    {
        return Ok(response);
    }
    Ok(text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the gateway is at its open-file limit; try again later\n",
    ))
}

/// What every request handler shares: the routes, the connection id counter and the
/// tracker of open WebSocket connections.
pub(crate) struct Shared {
    pub(crate) apps: Apps,
    /// The gateway's endpoints are on `admin_listen`, not on the main port.
    pub(crate) admin_separate: bool,
    /// The server API's settings, when it is on.
    pub(crate) api: Option<crate::config::ApiSettings>,
    pub(crate) next_conn: AtomicU64,
    pub(crate) connections: TaskTracker,
}

/// Answers one HTTP request.
pub(crate) async fn handle(
    mut req: Request<Incoming>,
    shared: Arc<Shared>,
    remote: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    if !shared.admin_separate {
        if let Some(response) = admin_endpoint(&req, &shared) {
            return Ok(response);
        }
        if req.uri().path().starts_with(api::PREFIX) {
            return Ok(api::handle(req, shared).await);
        }
    }
    let Some(app) = shared.apps.route(req.uri().path()) else {
        let head = req.method() == Method::HEAD;
        if (head || req.method() == Method::GET)
            && let Some(files) = shared.apps.static_files()
        {
            return Ok(static_files::serve(&files, req.uri().path(), head).await);
        }
        return Ok(text(
            StatusCode::NOT_FOUND,
            "no app is served at this path\n",
        ));
    };
    let key = match check_handshake(&req) {
        Ok(key) => key,
        Err(response) => return Ok(*response),
    };
    let counters = &app.stats.metrics;
    if app.stats.is_failed() {
        counters.refused_failed.inc();
        return Ok(text(StatusCode::SERVICE_UNAVAILABLE, APP_FAILING));
    }
    let slot = match app.admission.admit(remote.ip(), &app.limits) {
        Ok(slot) => slot,
        Err(refusal) => {
            counters.refused_limit.inc();
            tracing::debug!(app = %app.name, %remote, ?refusal, "handshake refused: connection limit");
            let body = match refusal {
                Refusal::Full => "the app has reached its connection limit; try again later\n",
                Refusal::FullForIp => "too many connections from your address; try again later\n",
            };
            return Ok(text(StatusCode::SERVICE_UNAVAILABLE, body));
        }
    };
    let offered = subprotocols(req.headers());
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let request = plugin_request(&req, remote, offered.clone());
    let mut handshake = Handshake {
        path: request.path.clone(),
        query: request.query.clone(),
        remote_addr: Some(remote),
        subprotocol: None,
        connected_at_ms: 0,
    };
    let Ok(outcome) = app.accept(conn, request).await else {
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app is not running\n",
        ));
    };
    let (subprotocol, user, attachment, rooms) = match outcome {
        AcceptOutcome::Deny { status, reason } => {
            app.stats.metrics.denied.inc();
            return Ok(deny(&app, conn, status, &reason));
        }
        // Counted as denials, as the plugin's own refusals are.
        AcceptOutcome::Failing => {
            app.stats.metrics.denied.inc();
            return Ok(text(StatusCode::SERVICE_UNAVAILABLE, APP_FAILING));
        }
        AcceptOutcome::Trapped => {
            app.stats.metrics.denied.inc();
            return Ok(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the app failed to handle the connection\n",
            ));
        }
        AcceptOutcome::Allow {
            subprotocol,
            user,
            attachment,
            rooms,
        } => {
            let subprotocol = subprotocol.filter(|p| {
                let offered = offered.contains(p);
                if !offered {
                    let p = crate::model::cut(p, 64);
                    tracing::warn!(app = %app.name, conn, "plugin chose subprotocol {p:?}, which the client did not offer; selecting none");
                }
                offered
            });
            (subprotocol, user, attachment, rooms)
        }
    };
    handshake.subprotocol.clone_from(&subprotocol);
    handshake.connected_at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let welcome = Box::new(Welcome {
        user,
        attachment,
        rooms,
        handshake,
    });
    let response = switching(&key, subprotocol);
    app.stats.metrics.accepted.inc();

    let on_upgrade = hyper::upgrade::on(&mut req);
    // No span per connection: one lives as long as its connection and costs an idle
    // connection 0.37 KiB (the subscriber's slot, formatted fields and extensions),
    // for a handful of debug events, which carry `app` and `conn` themselves.
    // The connection holds its place in the app's limits (`slot`) until it ends.
    shared.connections.spawn(connection::serve(
        async move { on_upgrade.await.map(TokioIo::new) },
        slot,
        conn,
        app,
        welcome,
    ));
    Ok(response)
}
