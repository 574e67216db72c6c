//! Listening: the accept loop (with its back-off on errors) and HTTP/1.1 on each
//! accepted connection, for the main and the admin listener alike.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::config::ServerSettings;
use crate::http::{self, Shared};

/// Accepts connections on `listener`, handing each to `serve`, until `shutdown`
/// completes. An accept error (out of file descriptors, a connection reset before
/// accept) backs off a little instead of spinning.
pub(super) async fn accept_until(
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
    mut serve: impl FnMut(tokio::net::TcpStream, SocketAddr),
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => serve(tcp, remote),
                Err(e) => {
                    tracing::warn!("accept failed on {:?}: {e}", listener.local_addr().ok());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// The HTTP/1.1 settings of every listener: the handshake timeout and the header
/// size limit.
pub(super) fn http1_builder(settings: &ServerSettings) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.handshake_timeout)
        .max_buf_size(settings.max_header_bytes);
    builder
}

/// Serves HTTP/1.1 on one client connection (plain or TLS) until it closes or
/// upgrades: requests go to [`http::handle`].
pub(super) async fn serve_http<IO>(
    io: IO,
    remote: SocketAddr,
    shared: Arc<Shared>,
    settings: &ServerSettings,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| http::handle(req, shared.clone(), remote));
    let served = http1_builder(settings)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(%remote, "HTTP connection ended: {e}");
    }
}
