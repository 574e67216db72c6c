//! The HTTP answers the gateway writes itself: plain text, JSON, 426.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

/// The response body type of every answer.
pub(crate) type Body = Full<Bytes>;

/// The body of a 503 for an app whose breaker tripped.
pub(crate) const APP_FAILING: &str = "the app is failing; try again later\n";

/// A plain-text answer.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// 426 Upgrade Required, naming the WebSocket version this server speaks.
pub(crate) fn upgrade_required(body: &str) -> Response<Body> {
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

/// A JSON answer.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
