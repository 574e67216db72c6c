//! The gateway's own endpoints: `/healthz`, `/readyz` and `/metrics`, on the main
//! port or on `admin_listen`.

use std::convert::Infallible;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::Shared;
use super::response::{Body, json, text};

/// `GET /readyz`: 200 when every app is ready (not failed, no hook stuck past its
/// deadline, its queue not full), else 503; the body lists the apps, and the
/// cluster's state when clustered.
fn readiness(shared: &Shared) -> Response<Body> {
    let apps: Vec<serde_json::Value> = shared
        .apps
        .summaries()
        .into_iter()
        .map(|app| {
            let stats = &app.stats;
            serde_json::json!({
                "name": app.name,
                "route": app.route,
                "ready": !stats.failed && !app.stuck() && !app.queue_full(),
                "failed": stats.failed,
                "stuck": app.stuck(),
                "busy_ms": stats.busy_ms,
                "queued": app.queued,
                "queue_full": app.queue_full(),
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
    let mut body = serde_json::json!({"ready": ready, "apps": apps});
    if let Some(cluster) = &shared.apps.cluster {
        // Redis down does not make a node unready: its own traffic flows.
        body["cluster"] = serde_json::json!(cluster.state());
    }
    json(status, &body)
}

/// The gateway's own endpoints: `/healthz`, `/readyz`, `/metrics`.
pub(crate) fn admin_endpoint(req: &Request<Incoming>, shared: &Shared) -> Option<Response<Body>> {
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
    if let Some(response) = admin_endpoint(&req, &shared) {
        return Ok(response);
    }
    if req.uri().path().starts_with(super::api::PREFIX) {
        return Ok(super::api::handle(req, shared).await);
    }
    Ok(text(StatusCode::NOT_FOUND, "not found\n"))
}
