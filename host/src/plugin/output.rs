//! A plugin's standard output and error, and its `log` import, go to `tracing`, one
//! event per line, tagged with the app, and bounded per app: a line is cut at
//! [`MAX_LINE`] bytes, and a token bucket allows [`LOG_LINES_PER_SECOND`] lines and
//! [`LOG_BYTES_PER_SECOND`] bytes a second (with bursts): a plugin cannot flood the
//! log. What is cut or dropped is counted (`/metrics`) and reported in the log.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use super::bindings::{v0_1, v0_2};
use crate::metrics::AppMetrics;
use crate::model::cut;

/// Longest line forwarded, in bytes; the rest of a longer line is cut.
pub(crate) const MAX_LINE: usize = 4096;

/// The severity of a log line (every contract version's `log-level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl From<v0_1::types::LogLevel> for Level {
    fn from(l: v0_1::types::LogLevel) -> Self {
        use v0_1::types::LogLevel as L;
        match l {
            L::Trace => Self::Trace,
            L::Debug => Self::Debug,
            L::Info => Self::Info,
            L::Warn => Self::Warn,
            L::Error => Self::Error,
        }
    }
}

impl From<v0_2::types::LogLevel> for Level {
    fn from(l: v0_2::types::LogLevel) -> Self {
        use v0_2::types::LogLevel as L;
        match l {
            L::Trace => Self::Trace,
            L::Debug => Self::Debug,
            L::Info => Self::Info,
            L::Warn => Self::Warn,
            L::Error => Self::Error,
        }
    }
}

/// Which of the plugin's output streams.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    /// Standard output: logged at info.
    Stdout,
    /// Standard error (panic messages): logged at warn.
    Stderr,
}

/// Lines a plugin may log per second, on average.
pub(crate) const LOG_LINES_PER_SECOND: f64 = 100.0;
/// Lines a plugin may log in a burst.
pub(crate) const LOG_BURST: f64 = 200.0;
/// Bytes a plugin may log per second, on average.
pub(crate) const LOG_BYTES_PER_SECOND: f64 = 64.0 * 1024.0;
/// Bytes a plugin may log in a burst.
pub(crate) const LOG_BYTES_BURST: f64 = 256.0 * 1024.0;

/// The log of one app's plugin: a token bucket in front of `tracing`.
pub(crate) struct PluginLog {
    app: Arc<str>,
    bucket: Mutex<Bucket>,
    /// Its app's series (what the log lost is counted there).
    metrics: AppMetrics,
}

/// The token buckets (lines and bytes) of one plugin's log, and what they dropped.
struct Bucket {
    lines: f64,
    bytes: f64,
    last: Instant,
    suppressed: u64,
    suppressed_bytes: u64,
    last_report: Instant,
}

/// What to do with one log line.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Write it.
    Write,
    /// Write that `lines` lines of `bytes` bytes were dropped, then it.
    Report { lines: u64, bytes: u64 },
    /// Drop it (counted).
    Drop,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self {
            lines: LOG_BURST,
            bytes: LOG_BYTES_BURST,
            last: now,
            suppressed: 0,
            suppressed_bytes: 0,
            last_report: now,
        }
    }

    /// Takes the tokens for a line of `len` bytes at `now`. Dropped lines are
    /// reported at most once a second, with the next line that gets through.
    fn admit(&mut self, now: Instant, len: usize) -> Admit {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.lines = (self.lines + elapsed * LOG_LINES_PER_SECOND).min(LOG_BURST);
        self.bytes = (self.bytes + elapsed * LOG_BYTES_PER_SECOND).min(LOG_BYTES_BURST);
        self.last = now;
        let len_f = len as f64;
        if self.lines < 1.0 || self.bytes < len_f {
            self.suppressed += 1;
            self.suppressed_bytes += len as u64;
            return Admit::Drop;
        }
        self.lines -= 1.0;
        self.bytes -= len_f;
        if self.suppressed > 0 && now.saturating_duration_since(self.last_report).as_secs() >= 1 {
            self.last_report = now;
            return Admit::Report {
                lines: std::mem::take(&mut self.suppressed),
                bytes: std::mem::take(&mut self.suppressed_bytes),
            };
        }
        Admit::Write
    }
}

impl PluginLog {
    /// The log of app `app`, counting its losses in `metrics`.
    pub(crate) fn new(app: Arc<str>, metrics: AppMetrics) -> Arc<Self> {
        Arc::new(Self {
            app,
            bucket: Mutex::new(Bucket::new(Instant::now())),
            metrics,
        })
    }

    /// Writes one line, cut at [`MAX_LINE`] bytes, unless the plugin is over its
    /// rate.
    pub(crate) fn write(&self, level: Level, message: &str) {
        let line = cut(message, MAX_LINE);
        if line.len() < message.len() {
            self.metrics.log.cut.inc();
        }
        let admit = self
            .bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(Instant::now(), line.len());
        match admit {
            Admit::Drop => {
                self.metrics.log.dropped_lines.inc();
                self.metrics.log.dropped_bytes.inc_by(line.len() as u64);
                return;
            }
            Admit::Report { lines, bytes } => tracing::warn!(
                target: "wsgate::plugin",
                app = %self.app,
                lines,
                bytes,
                "plugin log over {LOG_LINES_PER_SECOND} lines/s or {LOG_BYTES_PER_SECOND} bytes/s: \
                 {lines} lines ({bytes} bytes) dropped"
            ),
            Admit::Write => {}
        }
        if line.len() < message.len() {
            let whole = message.len();
            log(
                &self.app,
                level,
                &format!("{line}… [cut: the line had {whole} bytes]"),
            );
        } else {
            log(&self.app, level, line);
        }
    }
}

/// Writes `message` of `app`'s plugin to the log at `level`.
fn log(app: &str, level: Level, message: &str) {
    match level {
        Level::Trace => tracing::trace!(target: "wsgate::plugin", app, "{message}"),
        Level::Debug => tracing::debug!(target: "wsgate::plugin", app, "{message}"),
        Level::Info => tracing::info!(target: "wsgate::plugin", app, "{message}"),
        Level::Warn => tracing::warn!(target: "wsgate::plugin", app, "{message}"),
        Level::Error => tracing::error!(target: "wsgate::plugin", app, "{message}"),
    }
}

/// A plugin output stream that logs each complete line.
#[derive(Clone)]
pub(crate) struct LogOutput {
    log: Arc<PluginLog>,
    stream: Stream,
}

impl LogOutput {
    /// The `stream` of the plugin writing to `log`.
    pub(crate) fn new(log: Arc<PluginLog>, stream: Stream) -> Self {
        Self { log, stream }
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
            Stream::Stdout => Level::Info,
            Stream::Stderr => Level::Warn,
        };
        self.out.log.write(level, line);
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_flood_gets_its_burst_then_its_rate_and_drops_are_reported_once_a_second() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        let burst = (0..1000)
            .filter(|_| bucket.admit(start, 10) != Admit::Drop)
            .count();
        assert_eq!(burst, LOG_BURST as usize);
        // Ten seconds of a line every millisecond: 100 lines a second get through.
        let mut written = 0;
        let mut reports = Vec::new();
        for ms in 1..=10_000u64 {
            match bucket.admit(start + Duration::from_millis(ms), 10) {
                Admit::Write => written += 1,
                Admit::Report { lines, .. } => {
                    written += 1;
                    reports.push(lines);
                }
                Admit::Drop => {}
            }
        }
        assert!((990..=1010).contains(&written), "{written}");
        assert!((9..=11).contains(&reports.len()), "{reports:?}");
        let dropped: u64 = reports.iter().sum();
        assert!(dropped > 8_000, "{dropped}");
    }

    #[test]
    fn big_lines_spend_the_byte_budget_first() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        // 4 KiB lines: the 256 KiB burst lets 64 through, well under 200 lines.
        let burst = (0..200)
            .filter(|_| bucket.admit(start, MAX_LINE) != Admit::Drop)
            .count();
        assert_eq!(burst, 64);
        // Then 64 KiB a second: 16 lines of 4 KiB, one every 62.5 ms.
        let later = (1..=1000u64)
            .filter(|ms| bucket.admit(start + Duration::from_millis(*ms), MAX_LINE) != Admit::Drop)
            .count();
        assert!((15..=17).contains(&later), "{later}");
    }

    #[test]
    fn lines_are_cut_at_a_char_boundary() {
        assert_eq!(cut("short", MAX_LINE), "short");
        let long = "é".repeat(3000); // 6000 bytes
        let line = cut(&long, MAX_LINE);
        assert!(line.len() <= MAX_LINE && line.len() >= MAX_LINE - 1);
        assert!(line.chars().all(|c| c == 'é'));
    }
}
