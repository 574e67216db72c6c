//! The harness of wsgate's end-to-end tests: start a gateway on port 0 with plugins
//! compiled from `plugins/`, connect real WebSocket clients, speak raw HTTP.
//!
//! Every wait is bounded by [`TIMEOUT`], so a broken gateway fails a test instead of
//! hanging it. Gateway logs are captured per test and shown when it fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test harness states expectations by panicking"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wsgate::config::{AppConfig, Limits, PluginSource};
use wsgate::{Config, Gateway};

pub mod raw;
pub mod redis;

/// Paths of the plugin components built from `plugins/` for these tests.
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}

/// The longest any single wait in a test may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// An app of `plugin` (a path from [`plugins`]) at `route`, with default limits.
pub fn app(name: &str, route: &str, plugin: &str) -> AppConfig {
    AppConfig {
        name: name.into(),
        route: route.into(),
        plugin: PluginSource::File(PathBuf::from(plugin)),
        limits: Limits::default(),
        static_files: None,
    }
}

/// A copy of `plugin` in a fresh folder, and app `name` serving it at `route`: a
/// test replaces the copy to hot-reload it (the folder goes with the `TempDir`).
pub fn copied_app(
    plugin: &str,
    name: &str,
    route: &str,
) -> (tempfile::TempDir, PathBuf, AppConfig) {
    let dir = tempfile::tempdir().unwrap();
    let (path, app) = copied_app_in(dir.path(), plugin, name, route);
    (dir, path, app)
}

/// A copy of `plugin` at `dir/name/plugin.wasm`, and app `name` serving it at
/// `route`: several apps whose copies share one folder.
pub fn copied_app_in(
    dir: &std::path::Path,
    plugin: &str,
    name: &str,
    route: &str,
) -> (PathBuf, AppConfig) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("plugin.wasm");
    std::fs::copy(plugin, &path).unwrap();
    let app = AppConfig {
        plugin: PluginSource::File(path.clone()),
        ..app(name, route, plugin)
    };
    (path, app)
}

/// Shows the gateway's logs of the running test (only when it fails).
pub fn init_logs() {
    init_logs_at("wsgate=debug");
}

/// Logs at `filter` unless `RUST_LOG` says otherwise; the first call wins (benchmarks
/// call it with `warn` before starting a gateway).
pub fn init_logs_at(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter)),
        )
        .with_test_writer()
        .try_init();
}

/// A gateway serving on an ephemeral loopback port.
pub struct TestGateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The gateway itself, for its counters and reloads.
    pub gateway: Gateway,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestGateway {
    /// Starts a gateway serving `apps`.
    pub async fn start(apps: Vec<AppConfig>) -> Self {
        Self::start_with(Config {
            apps,
            ..Config::default()
        })
        .await
    }

    /// Starts a gateway with `config`, on an ephemeral loopback port whatever its
    /// `listen` says.
    pub async fn start_with(mut config: Config) -> Self {
        init_logs();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let gateway = Gateway::start(&config)
            .await
            .unwrap_or_else(|e| panic!("gateway start failed: {e}"));
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = gateway.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
        });
        Self {
            addr,
            gateway,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `ws://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Connects a WebSocket client to `path`; panics if the handshake fails.
    pub async fn connect(&self, path: &str) -> Client {
        let (ws, _) = within("connect", tokio_tungstenite::connect_async(self.url(path)))
            .await
            .unwrap_or_else(|e| panic!("connecting to {path} failed: {e}"));
        Client { ws }
    }

    /// Shuts the gateway down (close 1001 to everyone) and waits until it returns.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            within("gateway shutdown", task).await.unwrap().unwrap();
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls `condition` every 10 ms until it holds, panicking with `what` after
/// [`TIMEOUT`]. For waiting on the file system, whose events come when they come.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    within(what, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// `component` with a custom section appended: a second, different build of the same
/// plugin (different bytes, same code).
pub fn with_custom_section(component: &[u8], name: &str) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name.as_bytes());
    let mut out = component.to_vec();
    out.push(0);
    leb128(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

/// Replaces the file at `path` with `bytes` the way `mv` does: written beside it,
/// then renamed over it in one step.
pub fn replace_by_rename(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("wasm.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A new build of the plugin at `path` (same code, other bytes), put in place the
/// way `mv` does: a hot reload.
pub fn rebuild(path: &std::path::Path, tag: &str) {
    let bytes = std::fs::read(path).unwrap();
    replace_by_rename(path, &with_custom_section(&bytes, tag));
}

/// Awaits `future`, panicking with `what` if it takes longer than [`TIMEOUT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {TIMEOUT:?} waiting for {what}"))
}

/// A client of the echo app that checks every answer until stopped.
pub struct EchoProbe {
    stop: oneshot::Sender<()>,
    task: JoinHandle<u64>,
}

impl EchoProbe {
    /// Starts checking the echo app at `/echo` of `gw`.
    pub async fn start(gw: &TestGateway) -> Self {
        let mut client = gw.connect("/echo").await;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut n: u64 = 0;
            loop {
                if stopped.try_recv().is_ok() {
                    return n;
                }
                client.send_text(format!("probe {n}")).await;
                assert_eq!(
                    client.recv_text().await,
                    format!("probe {n}"),
                    "the echo app answered wrong"
                );
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        Self { stop, task }
    }

    /// Stops the probe; every echo was right, and there were some.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let answered = within("the echo probe", self.task).await.unwrap();
        assert!(answered > 0, "the echo app answered nothing");
    }
}

/// A WebSocket client (tokio-tungstenite), over plain TCP unless said otherwise.
pub struct Client<S = MaybeTlsStream<TcpStream>> {
    /// The underlying stream, for tests that need it.
    pub ws: WebSocketStream<S>,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Client<S> {
    /// Sends a text message.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        within("send", self.ws.send(Message::text(text)))
            .await
            .unwrap();
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: impl Into<Vec<u8>>) {
        let data: Vec<u8> = data.into();
        within("send", self.ws.send(Message::binary(data)))
            .await
            .unwrap();
    }

    /// The next data or close message (pings and pongs are skipped).
    pub async fn recv(&mut self) -> Message {
        loop {
            let next = within("a message", self.ws.next()).await;
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(message)) => return message,
                Some(Err(e)) => panic!("receive failed: {e}"),
                None => panic!("the connection ended while a message was expected"),
            }
        }
    }

    /// The next data or close message if one comes within `wait` (pings and pongs
    /// skipped): for traffic that is at most once, retried until it arrives.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Message> {
        tokio::time::timeout(wait, self.recv()).await.ok()
    }

    /// The next message, which must be text.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Message::Text(text) => text.as_str().to_owned(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// The next message, which must be JSON text.
    pub async fn recv_json(&mut self) -> serde_json::Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// The next message, which must be binary.
    pub async fn recv_binary(&mut self) -> Vec<u8> {
        match self.recv().await {
            Message::Binary(data) => data.to_vec(),
            other => panic!(
                "expected a binary message, got {:?}",
                other
                    .to_text()
                    .map(|t| t.chars().take(80).collect::<String>())
            ),
        }
    }

    /// Reads until the server's close frame and returns its code and reason, then
    /// waits for the connection to end.
    pub async fn recv_close(&mut self) -> (u16, String) {
        loop {
            match self.recv().await {
                Message::Close(frame) => {
                    let result = frame.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), f.reason.as_str().to_owned())
                    });
                    // tungstenite answers the close frame; drain until the end.
                    while let Some(Ok(_)) =
                        within("the end of the connection", self.ws.next()).await
                    {
                    }
                    return result;
                }
                Message::Text(_) | Message::Binary(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Starts the closing handshake with `code` and `reason` and waits for the
    /// server's answer; returns the code the server echoed.
    pub async fn close(&mut self, code: u16, reason: &str) -> Option<u16> {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        within("close", self.ws.close(Some(frame))).await.unwrap();
        let mut echoed = None;
        while let Some(next) = within("the close answer", self.ws.next()).await {
            match next {
                Ok(Message::Close(frame)) => echoed = frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        echoed
    }
}

/// Sends `request` (raw HTTP) to `addr` and returns the response head and body as
/// text, read until the server closes or [`TIMEOUT`].
pub async fn raw_http(addr: SocketAddr, request: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = within("an HTTP response", tcp.read(&mut buf)).await;
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
        // Answers with a body are complete once the body is in (no keep-alive wait).
        if let Some(text) = complete_response(&response) {
            return text;
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

fn complete_response(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    // Without a length (a 101 answer) the head is the whole response.
    (body.len() >= length.unwrap_or(0)).then(|| text.into_owned())
}

/// The status code of a raw HTTP response.
pub fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

/// The body of a raw HTTP response (empty when it has none).
pub fn body_of(response: &str) -> &str {
    response.split("\r\n\r\n").nth(1).unwrap_or_default()
}

/// `METHOD path` with `body`, authorized with `token` (none if `None`); the status
/// and the JSON body.
pub async fn api_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    binary: bool,
) -> (u16, serde_json::Value) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if binary {
        request.push_str("Content-Type: application/octet-stream\r\n");
    }
    request.push_str("\r\n");
    request.push_str(&String::from_utf8_lossy(body));
    let response = raw_http(addr, &request).await;
    let json = serde_json::from_str(body_of(&response)).unwrap_or_default();
    (status_of(&response), json)
}

/// `GET path` with nothing but a Host header, sent raw; the whole response.
pub async fn get(addr: SocketAddr, path: &str) -> String {
    raw_http(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")).await
}

/// A raw handshake request for `path`: the standard headers of a valid one, except
/// that each of `overrides` replaces the header of its name (an empty value drops it)
/// or is added.
pub fn handshake(path: &str, overrides: &[(&str, &str)]) -> String {
    let mut headers = vec![
        ("Host", "localhost"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    for &(name, value) in overrides {
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(header) => header.1 = value,
            None => headers.push((name, value)),
        }
    }
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in headers.into_iter().filter(|(_, v)| !v.is_empty()) {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request
}
