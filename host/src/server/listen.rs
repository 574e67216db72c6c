//! Listening: the accept loop (with its back-off on errors and its answer at the
//! open-file limit, see `overload`) and HTTP/1.1 on each accepted connection, for
//! the main and the admin listener alike.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use futures_util::FutureExt as _;

use super::overload::{AcceptErrors, Borrowed, Reserve, out_of_files};
use crate::config::ServerSettings;
use crate::http::{self, Shared};

/// Accepts connections on `listener`, handing each to `serve`, until `shutdown`
/// completes. An accept error backs off (doubling up to a second) instead of
/// spinning, and is logged once a second with a count. At the open-file limit the
/// `reserve`'s spare descriptor makes room for one connection, handed to `serve`
/// with the [`Borrowed`] spare: it is to be answered briefly (see [`http::shed`])
/// and the spare comes back when it is dropped.
pub(super) async fn accept_until(
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
    reserve: &Arc<Reserve>,
    mut serve: impl FnMut(tokio::net::TcpStream, SocketAddr, Option<Borrowed>),
) {
    let name = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let mut errors = AcceptErrors::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    errors.ok();
                    serve(tcp, remote, None);
                }
                Err(e) => {
                    let pause = errors.failed(&e, &name);
                    if out_of_files(&e)
                        && let Some(room) = reserve.borrow()
                    {
                        match listener.accept().now_or_never() {
                            Some(Ok((tcp, remote))) => {
                                serve(tcp, remote, Some(room));
                                continue;
                            }
                            _ => drop(room),
                        }
                    }
                    tokio::time::sleep(pause).await;
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
/// upgrades: requests go to [`http::handle`]; with `shedding` (the connection was
/// taken at the open-file limit) to [`http::shed`], one request, no keep-alive.
pub(super) async fn serve_http<IO>(
    io: IO,
    remote: SocketAddr,
    shared: Arc<Shared>,
    settings: &ServerSettings,
    shedding: Option<Borrowed>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if let Some(room) = shedding {
        let service = service_fn(move |req| http::shed(req, shared.clone()));
        let _ = http1_builder(settings)
            .keep_alive(false)
            .serve_connection(TokioIo::new(io), service)
            .await;
        drop(room);
        return;
    }
    let service = service_fn(move |req| http::handle(req, shared.clone(), remote));
    let served = http1_builder(settings)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(%remote, "HTTP connection ended: {e}");
    }
}
