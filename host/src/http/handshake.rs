//! The WebSocket handshake (RFC 6455 §4.2.1): checking the upgrade request, what the
//! plugin's `on-accept` sees of it, and the answers it leads to.

use std::net::SocketAddr;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::response::{Body, text, upgrade_required};
use crate::app::AppHandle;
use crate::model::{self, ConnId, cut};

/// The longest deny reason sent to a client, in bytes; a longer one is cut.
pub(crate) const MAX_DENY_REASON: usize = 1024;

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
pub(crate) fn subprotocols(headers: &HeaderMap) -> Vec<String> {
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
pub(crate) fn check_handshake(req: &Request<Incoming>) -> Result<HeaderValue, Box<Response<Body>>> {
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
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host header.
    if headers.get_all(header::HOST).iter().count() != 1 {
        return Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            "an HTTP/1.1 request needs exactly one `Host` header\n",
        )));
    }
    // RFC 6455 §4.1 / RFC 9110 §9.3.1: the upgrade GET has no body.
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|v| v.as_bytes() != b"0");
    if has_body {
        return Err(Box::new(text(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake has no body (no `Content-Length` above 0, no `Transfer-Encoding`)\n",
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

/// What the plugin's `on-accept` sees of the request.
pub(crate) fn plugin_request(
    req: &Request<Incoming>,
    remote: SocketAddr,
    subprotocols: Vec<String>,
) -> model::Request {
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
    model::Request {
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers,
        remote_addr: remote.to_string(),
        subprotocols,
    }
}

/// The 101 answer completing the handshake of `key`, selecting `subprotocol`.
pub(crate) fn switching(key: &HeaderValue, subprotocol: Option<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
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
    response
}

/// The answer to a handshake the plugin denied: its status if it is an error
/// status (else 403), its reason as the body.
pub(crate) fn deny(app: &AppHandle, conn: ConnId, status: u16, reason: &str) -> Response<Body> {
    let status = match StatusCode::from_u16(status) {
        Ok(s) if s.is_client_error() || s.is_server_error() => s,
        _ => {
            tracing::warn!(app = %app.name, conn, "plugin denied with HTTP status {status}, which is not an error status; answering 403");
            StatusCode::FORBIDDEN
        }
    };
    let body = cut(reason, MAX_DENY_REASON);
    if body.len() < reason.len() {
        tracing::warn!(
            app = %app.name,
            conn,
            "plugin denied with a reason of {} bytes; cut at {MAX_DENY_REASON}",
            reason.len()
        );
    }
    tracing::debug!(app = %app.name, conn, status = status.as_u16(), "handshake denied: {body}");
    text(status, body.to_owned())
}
