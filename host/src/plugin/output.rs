//! A plugin's standard output and error, and its `log` import, go to `tracing`, one
//! event per line, tagged with the app.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::bindings::types::LogLevel;

/// Longest line forwarded; the rest of a longer line is cut.
const MAX_LINE: usize = 4096;

/// Which of the plugin's output streams.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    /// Standard output: logged at info.
    Stdout,
    /// Standard error (panic messages): logged at warn.
    Stderr,
}

/// Writes `message` of `app`'s plugin to the log at `level`.
pub(crate) fn log(app: &str, level: LogLevel, message: &str) {
    match level {
        LogLevel::Trace => tracing::trace!(target: "wsgate::plugin", app, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "wsgate::plugin", app, "{message}"),
        LogLevel::Info => tracing::info!(target: "wsgate::plugin", app, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "wsgate::plugin", app, "{message}"),
        LogLevel::Error => tracing::error!(target: "wsgate::plugin", app, "{message}"),
    }
}

/// A plugin output stream that logs each complete line.
#[derive(Clone)]
pub(crate) struct LogOutput {
    app: Arc<str>,
    stream: Stream,
}

impl LogOutput {
    /// The `stream` of `app`'s plugin.
    pub(crate) fn new(app: Arc<str>, stream: Stream) -> Self {
        Self { app, stream }
    }
}

impl IsTerminal for LogOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter {
            out: self.clone(),
            pending: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp2 guests exist here; WASIp3's async streams are not linked.
        Box::new(tokio::io::sink())
    }
}

/// Buffers one stream's bytes until a newline.
struct LineWriter {
    out: LogOutput,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end_matches(['\r', '\n']);
        let level = match self.out.stream {
            Stream::Stdout => LogLevel::Info,
            Stream::Stderr => LogLevel::Warn,
        };
        log(&self.out.app, level, line);
    }

    fn flush_pending(&mut self) {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.emit(&pending);
        }
    }
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut rest = &bytes[..];
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(i + 1);
            self.append(line);
            self.flush_pending();
            rest = tail;
        }
        self.append(rest);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

impl LineWriter {
    fn append(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.pending.len());
        self.pending
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush_pending();
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}
