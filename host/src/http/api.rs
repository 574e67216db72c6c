//! The server API: a way in for backends, JSON over HTTP under `/api/v1`, on
//! `admin_listen` when set, else on the main port; off unless `[api]` has a token.
//! Every request carries `Authorization: Bearer <token>` (compared in constant time);
//! bodies are bounded by the app's `max_message_size` before they are read. Each call
//! runs in the app's event order, on its actor.

use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use subtle::ConstantTimeEq;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::Shared;
use super::response::{Body, json};
use crate::app::{ApiAnswer, ApiCall, AppHandle};
use crate::bus::Cluster;
use crate::close;
use crate::model::{ConnId, Payload};

/// The endpoints, by route; the name labels the metrics.
const ROUTES: [(&str, &str); 8] = [
    ("/api/v1/apps/{app}/rooms/{room}/publish", "publish"),
    ("/api/v1/apps/{app}/rooms/{room}", "room"),
    ("/api/v1/apps/{app}/broadcast", "broadcast"),
    ("/api/v1/apps/{app}/connections/{id}/send", "send"),
    ("/api/v1/apps/{app}/connections/{id}", "connection"),
    ("/api/v1/apps/{app}/users/{user}/send", "send_user"),
    ("/api/v1/apps/{app}/users/{user}", "user"),
    ("/api/v1/apps/{app}/events", "events"),
];

static ROUTER: LazyLock<matchit::Router<&'static str>> = LazyLock::new(|| {
    let mut router = matchit::Router::new();
    for (route, name) in ROUTES {
        // The routes are constants: they do not conflict.
        let _ = router.insert(route, name);
    }
    router
});

/// The prefix of every API path.
pub(crate) const PREFIX: &str = "/api/v1/";

/// An error answer: `{"error": …}` with `status`.
fn error(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    json(status, &serde_json::json!({"error": message.into()}))
}

/// Whether `req` carries the bearer `token`.
fn authorized(req: &Request<Incoming>, token: &str) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

/// A path parameter, percent-decoded.
fn param(params: &matchit::Params<'_, '_>, name: &str) -> Result<String, Box<Response<Body>>> {
    let raw = params.get(name).unwrap_or_default();
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                format!("`{name}` is not UTF-8"),
            ))
        })
}

/// The values of query parameter `name`, decoded.
fn query_values(req: &Request<Incoming>, name: &str) -> Vec<String> {
    req.uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn connection_id(text: &str) -> Result<ConnId, Box<Response<Body>>> {
    text.parse().map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("{text:?} is not a connection id"),
        ))
    })
}

/// `?except=ID`, repeatable.
fn except(req: &Request<Incoming>) -> Result<Vec<ConnId>, Box<Response<Body>>> {
    query_values(req, "except")
        .iter()
        .map(|id| connection_id(id))
        .collect()
}

/// `?code=&reason=` of a close, checked as a plugin's would be (default 1000).
fn close_args(req: &Request<Incoming>) -> Result<(u16, String), Box<Response<Body>>> {
    let code = match query_values(req, "code").first() {
        None => 1000,
        Some(code) => match code.parse::<u16>() {
            Ok(code) if close::server_may_send(code) => code,
            _ => {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "close code {code:?} is not one a server may send (1000-1003, 1007-1014, 3000-4999)"
                    ),
                )));
            }
        },
    };
    let reason = query_values(req, "reason")
        .first()
        .cloned()
        .unwrap_or_default();
    if reason.len() > close::MAX_REASON_BYTES {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "a close reason is at most 123 bytes",
        )));
    }
    Ok((code, reason))
}

/// The request body as a message: binary for `Content-Type:
/// application/octet-stream`, else text (which must be UTF-8); at most `limit` bytes.
async fn message(req: Request<Incoming>, limit: usize) -> Result<Payload, Box<Response<Body>>> {
    let binary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/octet-stream"));
    let bytes = body(req, limit).await?;
    if binary {
        return Ok(Payload::Binary(bytes));
    }
    Utf8Bytes::try_from(bytes).map(Payload::Text).map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 (send binary with Content-Type: application/octet-stream)",
        ))
    })
}

/// The request body, at most `limit` bytes (read no further).
async fn body(req: Request<Incoming>, limit: usize) -> Result<Bytes, Box<Response<Body>>> {
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Box::new(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over the app's max_message_size ({limit} bytes)"),
            )))
        }
        Err(e) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        ))),
    }
}

/// Answers one API request.
pub(crate) async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Response<Body> {
    let Some(api) = &shared.api else {
        return error(
            StatusCode::NOT_FOUND,
            "the server API is off ([api] has no token)",
        );
    };
    let path = req.uri().path().to_owned();
    let endpoint = ROUTER.at(&path).map_or("unknown", |m| *m.value);
    let response = if authorized(&req, &api.token) {
        match route(req, &shared, &path).await {
            Ok(response) | Err(response) => response,
        }
    } else {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "a valid `Authorization: Bearer <token>` is needed",
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        response
    };
    shared
        .apps
        .metrics
        .api_request(endpoint, response.status().as_u16());
    response
}

async fn route(
    req: Request<Incoming>,
    shared: &Shared,
    path: &str,
) -> Result<Response<Body>, Response<Body>> {
    let unbox = |r: Box<Response<Body>>| *r;
    let Ok(found) = ROUTER.at(path) else {
        return Err(error(StatusCode::NOT_FOUND, "no such API endpoint"));
    };
    let endpoint = *found.value;
    let params = found.params;
    let app_name = param(&params, "app").map_err(unbox)?;
    let Some(app) = shared.apps.handle(&app_name) else {
        return Err(error(StatusCode::NOT_FOUND, format!("no app {app_name:?}")));
    };
    if app.stats.is_failed() {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app is failing; try again later",
        ));
    }
    let method = req.method().clone();
    let limit = app.limits.max_message_size;
    let call = match (endpoint, &method) {
        ("publish", &Method::POST) => {
            let room = param(&params, "room").map_err(unbox)?;
            let except = except(&req).map_err(unbox)?;
            let payload = message(req, limit).await.map_err(unbox)?;
            ApiCall::Publish {
                room,
                payload,
                except,
            }
        }
        ("room", &Method::GET) => ApiCall::RoomSize {
            room: param(&params, "room").map_err(unbox)?,
        },
        ("broadcast", &Method::POST) => {
            let except = except(&req).map_err(unbox)?;
            let payload = message(req, limit).await.map_err(unbox)?;
            ApiCall::Broadcast { payload, except }
        }
        ("send", &Method::POST) => {
            let conn = connection_id(&param(&params, "id").map_err(unbox)?).map_err(unbox)?;
            let payload = message(req, limit).await.map_err(unbox)?;
            ApiCall::Send { conn, payload }
        }
        ("connection", &Method::GET) => ApiCall::Info {
            conn: connection_id(&param(&params, "id").map_err(unbox)?).map_err(unbox)?,
        },
        ("connection", &Method::DELETE) => {
            let conn = connection_id(&param(&params, "id").map_err(unbox)?).map_err(unbox)?;
            let (code, reason) = close_args(&req).map_err(unbox)?;
            ApiCall::Close { conn, code, reason }
        }
        ("send_user", &Method::POST) => {
            let user = param(&params, "user").map_err(unbox)?;
            let payload = message(req, limit).await.map_err(unbox)?;
            ApiCall::SendUser { user, payload }
        }
        ("user", &Method::DELETE) => {
            let user = param(&params, "user").map_err(unbox)?;
            let (code, reason) = close_args(&req).map_err(unbox)?;
            ApiCall::CloseUser { user, code, reason }
        }
        ("events", &Method::POST) => {
            let Some(name) = query_values(&req, "name").into_iter().next() else {
                return Err(error(StatusCode::BAD_REQUEST, "`?name=NAME` is needed"));
            };
            let payload = body(req, limit).await.map_err(unbox)?;
            ApiCall::Event { name, payload }
        }
        _ => {
            return Err(error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not an operation of {path}"),
            ));
        }
    };
    let room = match &call {
        ApiCall::RoomSize { room } => Some(room.clone()),
        _ => None,
    };
    let Ok(answer) = app.api(call).await else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app is not running",
        ));
    };
    if let (ApiAnswer::Size(here), Some(room), Some(cluster)) =
        (&answer, room, &shared.apps.cluster)
    {
        return Ok(cluster_size(cluster, &app_name, &room, *here).await);
    }
    Ok(respond(&app, answer))
}

/// A room's size across the cluster: this node's members and the other live
/// nodes' (from Redis). Redis down: this node's only, marked `"partial": true`.
async fn cluster_size(cluster: &Cluster, app: &str, room: &str, here: usize) -> Response<Body> {
    match cluster.members_elsewhere(app, room).await {
        Ok(elsewhere) => json(
            StatusCode::OK,
            &serde_json::json!({"size": here + elsewhere}),
        ),
        Err(e) => json(
            StatusCode::OK,
            &serde_json::json!({
                "size": here,
                "partial": true,
                "error": format!("the other nodes' members are not counted: Redis: {e}"),
            }),
        ),
    }
}

/// The response for the app's answer.
fn respond(app: &AppHandle, answer: ApiAnswer) -> Response<Body> {
    match answer {
        ApiAnswer::Done => json(StatusCode::OK, &serde_json::json!({"ok": true})),
        ApiAnswer::Accepted => json(StatusCode::ACCEPTED, &serde_json::json!({"accepted": true})),
        ApiAnswer::NotFound(what) => error(StatusCode::NOT_FOUND, format!("no such {what}")),
        ApiAnswer::BadRoom => error(
            StatusCode::BAD_REQUEST,
            format!(
                "a room name is 1 to {} bytes",
                app.limits.max_room_name_bytes
            ),
        ),
        ApiAnswer::Info(info, rooms) => json(
            StatusCode::OK,
            &serde_json::json!({
                "path": info.path,
                "remote_addr": info.remote_addr,
                "user": info.user,
                "rooms": rooms,
                "connected_at_ms": info.connected_at_ms,
                "buffered_bytes": info.buffered_bytes,
                "open": info.open,
            }),
        ),
        ApiAnswer::Size(size) => json(StatusCode::OK, &serde_json::json!({"size": size})),
        ApiAnswer::Failing => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the app is failing; try again later",
        ),
        ApiAnswer::Forwarded => json(
            StatusCode::ACCEPTED,
            &serde_json::json!({"accepted": true, "cluster": true}),
        ),
        ApiAnswer::Elsewhere(node) => error(
            StatusCode::NOT_FOUND,
            format!("the connection is on node number {node}: ask that node"),
        ),
    }
}
