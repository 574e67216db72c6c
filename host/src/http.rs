//! The HTTP side: routing a request to its app, checking the WebSocket handshake
//! (RFC 6455 §4.2.1), asking the app's `on-accept`, and answering 101 or an error.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::task::TaskTracker;

use crate::app::admission::Refusal;
use crate::app::{AcceptOutcome, AppHandle};
use crate::apps::Apps;
use crate::connection;
use crate::plugin::types;

/// The response body type.
pub(crate) type Body = Full<Bytes>;

/// What every request handler shares: the routes, the connection id counter and the
/// tracker of open WebSocket connections.
pub(crate) struct Shared {
    pub(crate) apps: Apps,
    /// The gateway's endpoints are on `admin_listen`, not on the main port.
    pub(crate) admin_separate: bool,
    pub(crate) next_conn: AtomicU64,
    pub(crate) connections: TaskTracker,
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn upgrade_required(body: &str) -> Response<Body> {
    let mut response = text(StatusCode::UPGRADE_REQUIRED, body);
    let headers = response.headers_mut();
    headers.insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    response
}

/// Whether the comma-separated header `name` has `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The subprotocols offered in every `Sec-WebSocket-Protocol` header, in order.
fn subprotocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks the handshake headers; returns the client's key, or the error response.
fn check_handshake(req: &Request<Incoming>) -> Result<HeaderValue, Box<Response<Body>>> {
    let headers = req.headers();
    let wants_upgrade = has_token(headers, header::UPGRADE, "websocket");
    if req.method() != Method::GET {
        return Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake must be a GET request\n",
        )));
    }
    if !wants_upgrade {
        return Err(Box::new(upgrade_required(
            "this is a WebSocket endpoint: connect with a WebSocket client\n",
        )));
    }
    if req.version() != Version::HTTP_11 {
        return Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs HTTP/1.1\n",
        )));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            "the `Connection` header must contain `Upgrade`\n",
        )));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(Box::new(upgrade_required(
            "unsupported `Sec-WebSocket-Version`: this server speaks 13\n",
        )));
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY).cloned();
    let valid = key.as_ref().is_some_and(|k| {
        base64::engine::general_purpose::STANDARD
            .decode(k.as_bytes())
            .is_ok_and(|raw| raw.len() == 16)
    });
    match key {
        Some(key) if valid => Ok(key),
        _ => Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            "`Sec-WebSocket-Key` must be 16 bytes in base64\n",
        ))),
    }
}

fn plugin_request(
    req: &Request<Incoming>,
    remote: SocketAddr,
    subprotocols: Vec<String>,
) -> types::Request {
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    types::Request {
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers,
        remote_addr: remote.to_string(),
        subprotocols,
    }
}

/// The paths of the gateway's own endpoints; no app may use them as its route.
pub(crate) const RESERVED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /readyz`: 200 when every app is loaded and not failed, else 503; the body
/// lists the apps.
fn readiness(shared: &Shared) -> Response<Body> {
    let apps: Vec<serde_json::Value> = shared
        .apps
        .summaries()
        .into_iter()
        .map(|(name, route, stats)| {
            serde_json::json!({
                "name": name,
                "route": route,
                "ready": !stats.failed,
                "plugin_hash": format!("{:016x}", stats.plugin_hash),
                "connections": stats.connections,
                "reloads_applied": stats.reloads_applied,
                "reloads_refused": stats.reloads_refused,
                "traps": stats.traps,
            })
        })
        .collect();
    let ready = apps.iter().all(|a| a["ready"] == true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &serde_json::json!({"ready": ready, "apps": apps}))
}

/// The gateway's own endpoints: `/healthz`, `/readyz`, `/metrics`.
fn admin_endpoint(req: &Request<Incoming>, shared: &Shared) -> Option<Response<Body>> {
    if req.method() != Method::GET {
        return None;
    }
    match req.uri().path() {
        "/healthz" => Some(json(StatusCode::OK, &serde_json::json!({"status": "ok"}))),
        "/readyz" => Some(readiness(shared)),
        "/metrics" => {
            let mut response = text(StatusCode::OK, shared.apps.metrics.render());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Some(response)
        }
        _ => None,
    }
}

/// Answers one request on the `admin_listen` address: the gateway's endpoints only.
pub(crate) async fn handle_admin(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Body>, Infallible> {
    Ok(admin_endpoint(&req, &shared).unwrap_or_else(|| text(StatusCode::NOT_FOUND, "not found\n")))
}

/// Answers one HTTP request.
pub(crate) async fn handle(
    mut req: Request<Incoming>,
    shared: Arc<Shared>,
    remote: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    if !shared.admin_separate
        && let Some(response) = admin_endpoint(&req, &shared)
    {
        return Ok(response);
    }
    let Some(app) = shared.apps.route(req.uri().path()) else {
        let head = req.method() == Method::HEAD;
        if (head || req.method() == Method::GET)
            && let Some(files) = shared.apps.static_files()
        {
            return Ok(crate::static_files::serve(&files, req.uri().path(), head).await);
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
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app is failing; try again later\n",
        ));
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
    let Ok(outcome) = app.accept(conn, request).await else {
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app is not running\n",
        ));
    };
    let subprotocol = match outcome {
        AcceptOutcome::Deny { status, reason } => {
            app.stats.metrics.denied.inc();
            return Ok(deny(&app, conn, status, reason));
        }
        AcceptOutcome::Allow { subprotocol } => subprotocol.filter(|p| {
            let offered = offered.contains(p);
            if !offered {
                tracing::warn!(app = %app.name, conn, "plugin chose subprotocol {p:?}, which the client did not offer; selecting none");
            }
            offered
        }),
    };

    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    app.stats.metrics.accepted.inc();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = derive_accept_key(key.as_bytes());
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = subprotocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }

    let on_upgrade = hyper::upgrade::on(&mut req);
    // No span per connection: one lives as long as its connection and costs an idle
    // connection 0.37 KiB (the subscriber's slot, formatted fields and extensions),
    // for a handful of debug events, which carry `app` and `conn` themselves.
    shared.connections.spawn(async move {
        // The connection holds its place in the app's limits until it ends.
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let config = WebSocketConfig::default()
                    .read_buffer_size(app.limits.read_buffer_size)
                    .max_message_size(Some(app.limits.max_message_size))
                    .max_frame_size(Some(app.limits.max_frame_size));
                let io = TokioIo::new(upgraded);
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                connection::serve(ws, conn, app).await;
            }
            Err(e) => {
                tracing::debug!(app = %app.name, conn, "the upgrade did not complete: {e}");
            }
        }
    });
    Ok(response)
}

fn deny(app: &AppHandle, conn: u64, status: u16, reason: String) -> Response<Body> {
    let status = match StatusCode::from_u16(status) {
        Ok(s) if s.is_client_error() || s.is_server_error() => s,
        _ => {
            tracing::warn!(app = %app.name, conn, "plugin denied with HTTP status {status}, which is not an error status; answering 403");
            StatusCode::FORBIDDEN
        }
    };
    tracing::debug!(app = %app.name, conn, status = status.as_u16(), "handshake denied: {reason}");
    text(status, reason)
}
