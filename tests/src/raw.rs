//! A WebSocket client made of bytes on a TCP stream, for the conformance tests: it
//! sends frames no library would (unmasked, reserved bits, bad opcodes, broken
//! fragmentation, invalid UTF-8) and reads the server's frames as they are.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{handshake, within};

/// Opcodes (RFC 6455 §5.2).
pub mod op {
    /// Continuation frame.
    pub const CONTINUATION: u8 = 0x0;
    /// Text frame.
    pub const TEXT: u8 = 0x1;
    /// Binary frame.
    pub const BINARY: u8 = 0x2;
    /// Close frame.
    pub const CLOSE: u8 = 0x8;
    /// Ping frame.
    pub const PING: u8 = 0x9;
    /// Pong frame.
    pub const PONG: u8 = 0xA;
}

/// A frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// Opcode.
    pub opcode: u8,
    /// Payload (server frames are unmasked).
    pub payload: Vec<u8>,
}

/// A connected raw WebSocket client.
pub struct RawWs {
    tcp: TcpStream,
    buffered: Vec<u8>,
}

/// Encodes a client frame; `mask` as RFC 6455 requires of clients (tests may omit it).
pub fn encode(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 0x7) << 4) | (opcode & 0xF)];
    let mask_bit = if mask { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A close frame's payload: the code, then the reason's bytes.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

impl RawWs {
    /// Connects to `path` and completes a valid handshake.
    pub async fn connect(addr: SocketAddr, path: &str) -> Self {
        Self::connect_sending(addr, path, &[]).await
    }

    /// Connects to `path` and writes the handshake and `first` (frames, say) in one
    /// write, before the server has answered: the server reads them together.
    pub async fn connect_sending(addr: SocketAddr, path: &str, first: &[u8]) -> Self {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut request = handshake(path, &[]).into_bytes();
        request.extend_from_slice(first);
        tcp.write_all(&request).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = within("the handshake answer", tcp.read(&mut byte))
                .await
                .unwrap();
            assert_eq!(n, 1, "the server closed during the handshake");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Self {
            tcp,
            buffered: Vec::new(),
        }
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// Sends one masked frame.
    pub async fn send(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.send_raw(&encode(fin, 0, opcode, payload, true)).await;
    }

    async fn fill(&mut self, n: usize) -> bool {
        let mut buf = [0u8; 4096];
        while self.buffered.len() < n {
            match within("a frame from the server", self.tcp.read(&mut buf)).await {
                Ok(0) | Err(_) => return false,
                Ok(k) => self.buffered.extend_from_slice(&buf[..k]),
            }
        }
        true
    }

    /// The next frame, or `None` at the end of the stream.
    pub async fn frame(&mut self) -> Option<Frame> {
        if !self.fill(2).await {
            return None;
        }
        let (b0, b1) = (self.buffered[0], self.buffered[1]);
        assert_eq!(b1 & 0x80, 0, "the server masked a frame");
        let (len, header) = match b1 & 0x7F {
            126 => {
                assert!(self.fill(4).await);
                (
                    usize::from(u16::from_be_bytes([self.buffered[2], self.buffered[3]])),
                    4,
                )
            }
            127 => {
                assert!(self.fill(10).await);
                let mut n = [0u8; 8];
                n.copy_from_slice(&self.buffered[2..10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            n => (usize::from(n), 2),
        };
        assert!(
            self.fill(header + len).await,
            "the stream ended inside a frame"
        );
        let payload = self.buffered[header..header + len].to_vec();
        self.buffered.drain(..header + len);
        Some(Frame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0F,
            payload,
        })
    }

    /// Reads frames until a close frame; returns its code (1005 if it has none).
    pub async fn close_code(&mut self) -> u16 {
        loop {
            match self.frame().await {
                Some(f) if f.opcode == op::CLOSE => {
                    return if f.payload.len() >= 2 {
                        u16::from_be_bytes([f.payload[0], f.payload[1]])
                    } else {
                        1005
                    };
                }
                Some(_) => {}
                None => panic!("the server closed TCP without a close frame"),
            }
        }
    }

    /// Waits until the server closes the TCP connection (§7.1.1).
    pub async fn expect_tcp_closed(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            match within("the server to close TCP", self.tcp.read(&mut buf)).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// A close frame from the server with `code`, then the end of TCP.
    pub async fn expect_close(&mut self, code: u16) {
        assert_eq!(self.close_code().await, code);
        self.expect_tcp_closed().await;
    }
}
