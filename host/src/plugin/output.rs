//! A plugin's standard output and error, and its `log` import, go to `tracing`, one
//! event per line, tagged with the app, and rate-limited per app: a plugin cannot
//! flood the log (the lines past the limit are counted and reported).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

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

/// Lines a plugin may log per second, on average.
pub(crate) const LOG_LINES_PER_SECOND: f64 = 100.0;
/// Lines a plugin may log in a burst.
pub(crate) const LOG_BURST: f64 = 200.0;

/// The log of one app's plugin: a token bucket in front of `tracing`.
pub(crate) struct PluginLog {
    app: Arc<str>,
    bucket: Mutex<Bucket>,
}

/// The token bucket of one plugin's log, and the count of lines it dropped.
struct Bucket {
    tokens: f64,
    last: Instant,
    suppressed: u64,
    last_report: Instant,
}

/// What to do with one log line.
#[derive(Debug, PartialEq, Eq)]
enum Admit {
    /// Write it.
    Write,
    /// Write that `n` lines were dropped, then it.
    Report(u64),
    /// Drop it (counted).
    Drop,
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self {
            tokens: LOG_BURST,
            last: now,
            suppressed: 0,
            last_report: now,
        }
    }

    /// Takes a token for a line at `now`. Dropped lines are reported at most once a
    /// second, with the next line that gets through.
    fn admit(&mut self, now: Instant) -> Admit {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * LOG_LINES_PER_SECOND;
        self.tokens = (self.tokens + refill).min(LOG_BURST);
        self.last = now;
        if self.tokens < 1.0 {
            self.suppressed += 1;
            return Admit::Drop;
        }
        self.tokens -= 1.0;
        if self.suppressed > 0 && now.saturating_duration_since(self.last_report).as_secs() >= 1 {
            self.last_report = now;
            return Admit::Report(std::mem::take(&mut self.suppressed));
        }
        Admit::Write
    }
}

impl PluginLog {
    /// The log of app `app`.
    pub(crate) fn new(app: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            app,
            bucket: Mutex::new(Bucket::new(Instant::now())),
        })
    }

    /// The app's name.
    pub(crate) fn app(&self) -> &Arc<str> {
        &self.app
    }

    /// Writes one line, unless the plugin is over its rate.
    pub(crate) fn write(&self, level: LogLevel, message: &str) {
        let admit = self
            .bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(Instant::now());
        if admit == Admit::Drop {
            return;
        }
        if let Admit::Report(suppressed) = admit {
            tracing::warn!(
                target: "wsgate::plugin",
                app = %self.app,
                suppressed,
                "plugin log over {LOG_LINES_PER_SECOND} lines/s: {suppressed} lines dropped"
            );
        }
        log(&self.app, level, message);
    }
}

/// Writes `message` of `app`'s plugin to the log at `level`.
fn log(app: &str, level: LogLevel, message: &str) {
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
            Stream::Stdout => LogLevel::Info,
            Stream::Stderr => LogLevel::Warn,
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
            .filter(|_| bucket.admit(start) != Admit::Drop)
            .count();
        assert_eq!(burst, LOG_BURST as usize);
        // Ten seconds of a line every millisecond: 100 lines a second get through.
        let mut written = 0;
        let mut reports = Vec::new();
        for ms in 1..=10_000u64 {
            match bucket.admit(start + Duration::from_millis(ms)) {
                Admit::Write => written += 1,
                Admit::Report(n) => {
                    written += 1;
                    reports.push(n);
                }
                Admit::Drop => {}
            }
        }
        assert!((990..=1010).contains(&written), "{written}");
        assert!((9..=11).contains(&reports.len()), "{reports:?}");
        let dropped: u64 = reports.iter().sum();
        assert!(dropped > 8_000, "{dropped}");
    }
}
