//! The gate: what a client sends passes through it to tungstenite, except a frame
//! that ends the connection — a close frame, or one tungstenite fails the connection
//! for (reserved bits or opcode, an unmasked frame, a stray or interleaved
//! continuation, a bad control frame, a frame over `max_frame_size`). The gate stops
//! at such a frame and holds it until the reader has seen the replies to the messages
//! before it go out (or a short time passed): once tungstenite reads a close frame it
//! answers it and refuses to send anything else, so a reply still on its way through
//! the app would be lost.
//!
//! The gate reads only frame headers (a few bytes per frame); after it has held once
//! and let go, it passes everything through.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, ReadBuf};

use super::staging::{Leftover, hand_out};

/// Bytes pass.
const OPEN: u8 = 0;
/// A frame that ends the connection is next: nothing passes until released.
const HOLDING: u8 = 1;
/// Released: everything passes from now on.
const RELEASED: u8 = 2;

/// What the gate and the connection's reader share.
pub(crate) struct GateState {
    state: AtomicU8,
    /// The task reading through the gate, woken on release.
    reader: AtomicWaker,
}

impl Default for GateState {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(OPEN),
            reader: AtomicWaker::new(),
        }
    }
}

impl GateState {
    /// Whether the gate holds a frame that ends the connection.
    pub(crate) fn is_holding(&self) -> bool {
        self.state.load(Ordering::Acquire) == HOLDING
    }

    /// Lets everything through from now on.
    pub(crate) fn release(&self) {
        self.state.store(RELEASED, Ordering::Release);
        self.reader.wake();
    }
}

/// Where the scan of the client's bytes is.
#[derive(Debug, Clone, Copy)]
enum Scan {
    /// In a frame header: `have` of its bytes seen (the first two kept).
    Header { have: u8, head: [u8; 2], len: u64 },
    /// In a payload, `left` bytes to go.
    Payload { left: u64 },
}

/// The client's side of a connection, with the gate in front of tungstenite.
pub(crate) struct Gate<S> {
    inner: S,
    state: Arc<GateState>,
    scan: Scan,
    /// A fragmented data message is in progress.
    fragmented: bool,
    max_frame: u64,
    /// Bytes read past the held frame's start, delivered once released.
    held: Option<Box<Leftover>>,
}

impl<S> Gate<S> {
    /// `inner` behind a gate; frames larger than `max_frame` end the connection.
    pub(crate) fn new(inner: S, max_frame: usize) -> (Self, Arc<GateState>) {
        let state = Arc::new(GateState::default());
        let gate = Self {
            inner,
            state: state.clone(),
            scan: Scan::Header {
                have: 0,
                head: [0; 2],
                len: 0,
            },
            fragmented: false,
            max_frame: u64::try_from(max_frame).unwrap_or(u64::MAX),
            held: None,
        };
        (gate, state)
    }

    /// The socket under the gate.
    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S> super::halves::AtRest for Gate<S> {
    fn at_frame_boundary(&self) -> bool {
        matches!(self.scan, Scan::Header { have: 0, .. })
            && !self.fragmented
            && self.held.is_none()
            && self.state.state.load(Ordering::Acquire) == OPEN
    }
}

/// Whether a frame whose first two header bytes are `b0`, `b1` ends the connection
/// (RFC 6455 §5.2, §5.4, §5.5; a server requires masked frames), `fragmented` if a
/// fragmented data message is in progress.
fn ends_connection(b0: u8, b1: u8, fragmented: bool) -> bool {
    let fin = b0 & 0x80 != 0;
    let rsv = b0 & 0x70;
    let opcode = b0 & 0x0f;
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    let control = opcode >= 8;
    rsv != 0
        || !masked
        || matches!(opcode, 3..=7 | 0xb..=0xf)
        || opcode == 8
        || (control && (!fin || len7 > 125))
        || (opcode == 0 && !fragmented)
        || (matches!(opcode, 1 | 2) && fragmented)
}

impl<S> Gate<S> {
    /// Follows the frames in `bytes` (the next bytes of the stream); returns the
    /// offset at which to hold, if a frame that ends the connection starts (or its
    /// header completes) there.
    fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        // Where the current header started in `bytes` (0 if in an earlier read).
        let mut header_start = 0;
        while i < bytes.len() {
            // The common case, a header whole in this read, in one step.
            if let Scan::Header { have: 0, .. } = self.scan
                && let Some(whole) = self.whole_header(&bytes[i..])
            {
                match whole {
                    Whole::Hold => return Some(i),
                    Whole::Frame { header, payload: 0 } => i += header,
                    Whole::Frame { header, payload } => {
                        i += header;
                        self.scan = Scan::Payload { left: payload };
                    }
                }
                continue;
            }
            match &mut self.scan {
                Scan::Payload { left } => {
                    let step = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    *left -= step as u64;
                    i += step;
                    if *left == 0 {
                        self.scan = Scan::Header {
                            have: 0,
                            head: [0; 2],
                            len: 0,
                        };
                    }
                }
                Scan::Header { have, head, len } => {
                    if *have == 0 {
                        header_start = i;
                    }
                    let byte = bytes[i];
                    i += 1;
                    match *have {
                        0 | 1 => head[usize::from(*have)] = byte,
                        // Extended length, big-endian, after the first two bytes.
                        n if n < 2 + ext_len(head[1]) => *len = (*len << 8) | u64::from(byte),
                        _ => {} // the masking key
                    }
                    *have += 1;
                    let (b0, b1) = (head[0], head[1]);
                    if *have == 2 && ends_connection(b0, b1, self.fragmented) {
                        return Some(header_start);
                    }
                    if *have >= 2 && *have == 2 + ext_len(b1) + mask_len(b1) {
                        let payload = match b1 & 0x7f {
                            126 | 127 => *len,
                            short => u64::from(short),
                        };
                        if payload > self.max_frame {
                            return Some(header_start);
                        }
                        let opcode = b0 & 0x0f;
                        if opcode < 8 {
                            self.fragmented = b0 & 0x80 == 0;
                        }
                        self.scan = if payload == 0 {
                            Scan::Header {
                                have: 0,
                                head: [0; 2],
                                len: 0,
                            }
                        } else {
                            Scan::Payload { left: payload }
                        };
                    }
                }
            }
        }
        None
    }
}

/// What a header that is whole in one read says (see [`Gate::whole_header`]).
enum Whole {
    /// The frame ends the connection: hold at its first byte.
    Hold,
    /// The frame passes: its header's length and its payload's.
    Frame { header: usize, payload: u64 },
}

impl<S> Gate<S> {
    /// The header at the start of `bytes`, if it is all there: what the byte-wise
    /// scan would find in it, in one step. `None` if it is not all there (the scan
    /// goes byte by byte then), but [`Whole::Hold`] as soon as its first two bytes
    /// say the frame ends the connection, as the byte-wise scan does.
    fn whole_header(&mut self, bytes: &[u8]) -> Option<Whole> {
        let (&b0, &b1) = (bytes.first()?, bytes.get(1)?);
        if ends_connection(b0, b1, self.fragmented) {
            return Some(Whole::Hold);
        }
        let ext = usize::from(ext_len(b1));
        let header = 2 + ext + usize::from(mask_len(b1));
        let extended = bytes.get(2..2 + ext)?;
        if bytes.len() < header {
            return None;
        }
        let payload = match b1 & 0x7f {
            126 | 127 => extended
                .iter()
                .fold(0u64, |len, &byte| (len << 8) | u64::from(byte)),
            short => u64::from(short),
        };
        if payload > self.max_frame {
            return Some(Whole::Hold);
        }
        if b0 & 0x0f < 8 {
            self.fragmented = b0 & 0x80 == 0;
        }
        Some(Whole::Frame { header, payload })
    }
}

/// Bytes of extended payload length a header has, from its second byte.
fn ext_len(b1: u8) -> u8 {
    match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    }
}

/// Bytes of masking key a header has, from its second byte.
fn mask_len(b1: u8) -> u8 {
    if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl<S: AsyncRead + Unpin> AsyncRead for Gate<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match this.state.state.load(Ordering::Acquire) {
            RELEASED => {
                if hand_out(&mut this.held, buf) {
                    return Poll::Ready(Ok(()));
                }
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            HOLDING => {
                this.state.reader.register(cx.waker());
                if this.state.state.load(Ordering::Acquire) == HOLDING {
                    return Poll::Pending;
                }
                return Pin::new(this).poll_read(cx, buf);
            }
            _ => {}
        }
        let start = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let Some(at) = this.scan(&buf.filled()[start..]) else {
            return Poll::Ready(Ok(()));
        };
        // Keep what starts at the frame that ends the connection; deliver the rest.
        let cut = start + at;
        this.held = Some(Box::new(Leftover {
            bytes: buf.filled()[cut..].to_vec(),
            at: 0,
        }));
        buf.set_filled(cut);
        this.state.state.store(HOLDING, Ordering::Release);
        if at > 0 {
            return Poll::Ready(Ok(()));
        }
        // Nothing to deliver: wait for the release (the reader sees the hold).
        this.state.reader.register(cx.waker());
        if this.state.state.load(Ordering::Acquire) == HOLDING {
            Poll::Pending
        } else {
            Pin::new(this).poll_read(cx, buf)
        }
    }
}

// Writes go straight to the socket.
super::forward_writes!(Gate);

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![b0];
        match payload.len() {
            n @ 0..=125 => out.push(0x80 | n as u8),
            n @ 126..=65535 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend_from_slice(payload);
        out
    }

    fn gate() -> Gate<()> {
        Gate::new((), 1 << 20).0
    }

    /// The gate held at the frame that starts at `frame`: at its first byte, or (when
    /// that byte came in an earlier piece of `piece` bytes) at the start of the next
    /// piece, which holds its second byte.
    fn assert_held(at: Option<usize>, frame: usize, piece: usize) {
        let split = (frame + 1).is_multiple_of(piece);
        assert!(
            at == Some(frame) || (split && at == Some(frame + 1)),
            "held at {at:?}, the frame starts at {frame}, pieces of {piece}"
        );
    }

    /// Where the gate holds in `stream`, fed in pieces of `piece` bytes.
    fn hold_at(stream: &[u8], piece: usize) -> Option<usize> {
        let mut g = gate();
        let mut offset = 0;
        for chunk in stream.chunks(piece) {
            if let Some(at) = g.scan(chunk) {
                return Some(offset + at);
            }
            offset += chunk.len();
        }
        None
    }

    #[test]
    fn data_frames_pass_and_a_close_is_held_at_its_first_byte_however_the_bytes_come() {
        let text = frame(0x81, b"hello");
        let big = frame(0x82, &[7; 300]);
        let huge = frame(0x82, &[7; 70_000]);
        let ping = frame(0x89, b"p");
        let close = frame(0x88, &[3, 232]);
        let stream = [text, big, huge, ping, close].concat();
        let close_at = stream.len() - 8;
        for piece in [1, 2, 3, 7, 100, 4096, stream.len()] {
            assert_held(hold_at(&stream, piece), close_at, piece);
        }
        assert_eq!(hold_at(&stream[..close_at], 5), None);
    }

    #[test]
    fn every_frame_that_ends_the_connection_is_held() {
        let text = frame(0x81, b"a");
        let start = frame(0x01, b"a"); // a fragmented text message begins
        let cases: [(&str, Vec<u8>); 8] = [
            ("rsv bits", frame(0xC1, b"x")),
            ("reserved opcode", frame(0x83, b"x")),
            ("reserved control opcode", frame(0x8B, b"x")),
            ("stray continuation", frame(0x80, b"x")),
            (
                "data frame inside a fragmented message",
                [start, frame(0x81, b"x")].concat(),
            ),
            ("fragmented ping", frame(0x09, b"x")),
            ("long ping", frame(0x89, &[0; 126])),
            ("unmasked", vec![0x81, 0x01, b'x']),
        ];
        for (what, bad) in cases {
            let stream = [text.clone(), bad.clone()].concat();
            let expected = if what.starts_with("data frame inside") {
                text.len() + 7
            } else {
                text.len()
            };
            assert_held(hold_at(&stream, 1), expected, 1);
            assert_eq!(hold_at(&stream, 4096), Some(expected), "{what}");
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_held_and_continuations_in_order_pass() {
        let mut g = Gate::<()>::new((), 100).0;
        assert_eq!(g.scan(&frame(0x82, &[0; 101])), Some(0));
        let fragmented = [frame(0x01, b"a"), frame(0x89, b""), frame(0x80, b"b")].concat();
        assert_eq!(hold_at(&fragmented, 1), None);
        assert_eq!(hold_at(&fragmented, 4096), None);
    }
}
