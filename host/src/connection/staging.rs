//! Staged reads: the socket is read into a buffer of `read_buffer_size` bytes that
//! every connection on the thread shares, and a connection keeps only what its
//! reader has not taken yet (for as long as it has not). An idle connection holds no
//! read buffer: it waits for its socket with nothing allocated, where a buffer of its
//! own would sit there for its whole life (3 KiB of the ~8 KiB an idle connection
//! cost). tungstenite, above, reads in small slices from here (a memory copy, not a
//! system call).

use std::cell::RefCell;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

thread_local! {
    /// What one read from a socket lands in, before it is handed out.
    static STAGE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The socket, read through the thread's stage.
pub(crate) struct Staged<S> {
    inner: S,
    /// How much one read from the socket takes.
    chunk: usize,
    /// Read from the socket and not yet taken.
    rest: Option<Box<Leftover>>,
}

/// Bytes read from the socket that the reader above has not taken yet, from `at` on.
pub(super) struct Leftover {
    pub(super) bytes: Vec<u8>,
    pub(super) at: usize,
}

/// Hands what `slot` holds to `buf`, as much as fits, and empties the slot once all
/// of it is taken; false if the slot was empty.
pub(super) fn hand_out(slot: &mut Option<Box<Leftover>>, buf: &mut ReadBuf<'_>) -> bool {
    let Some(left) = slot.as_mut() else {
        return false;
    };
    let rest = &left.bytes[left.at..];
    let n = rest.len().min(buf.remaining());
    buf.put_slice(&rest[..n]);
    left.at += n;
    if left.at == left.bytes.len() {
        *slot = None;
    }
    true
}

impl<S> Staged<S> {
    /// `inner`, read `chunk` bytes at a time at most.
    pub(crate) fn new(inner: S, chunk: usize) -> Self {
        Self {
            inner,
            chunk: chunk.max(1),
            rest: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Staged<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if hand_out(&mut this.rest, buf) {
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= this.chunk {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        STAGE.with(|stage| {
            // The socket's poll never comes back here: the borrow is not re-entered.
            let mut stage = stage.borrow_mut();
            if stage.len() < this.chunk {
                stage.resize(this.chunk, 0);
            }
            let mut staged = ReadBuf::new(&mut stage[..this.chunk]);
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut staged))?;
            let got = staged.filled();
            let n = got.len().min(buf.remaining());
            buf.put_slice(&got[..n]);
            if n < got.len() {
                this.rest = Some(Box::new(Leftover {
                    bytes: got[n..].to_vec(),
                    at: 0,
                }));
            }
            Poll::Ready(Ok(()))
        })
    }
}

// Writes go straight to the socket.
super::forward_writes!(Staged);

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::Staged;

    /// Everything written comes out in order, in slices smaller than one read from
    /// the socket, and nothing is kept once it is all taken.
    #[tokio::test]
    async fn small_reads_take_a_big_socket_read_in_order_and_keep_nothing_after() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let sent: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&sent).await.unwrap();
        let mut staged = Staged::new(server, 4096);
        let mut got = Vec::new();
        let mut slice = [0u8; 100];
        while got.len() < sent.len() {
            let n = staged.read(&mut slice).await.unwrap();
            assert!(n > 0 && n <= 100);
            got.extend_from_slice(&slice[..n]);
        }
        assert_eq!(got, sent);
        assert!(staged.rest.is_none(), "a drained connection keeps no bytes");
    }

    /// A reader asking for at least one socket read's worth reads the socket directly.
    #[tokio::test]
    async fn a_big_read_goes_to_the_socket_and_the_end_of_the_stream_shows() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        client.write_all(b"hello").await.unwrap();
        drop(client);
        let mut staged = Staged::new(server, 16);
        let mut all = Vec::new();
        staged.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"hello");
        let mut slice = [0u8; 4];
        assert_eq!(staged.read(&mut slice).await.unwrap(), 0);
    }
}
