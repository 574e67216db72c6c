//! A server process's CPU time and resident memory, read from `/proc` (Linux).

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Context;

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`).
fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU time of a process, split into user space and kernel, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTime {
    /// In the process's own code (and its libraries).
    pub user: f64,
    /// In the kernel on its behalf (system calls: the socket work).
    pub system: f64,
}

impl CpuTime {
    /// User + system.
    pub fn total(self) -> f64 {
        self.user + self.system
    }
}

/// CPU time process `pid` used so far, all its threads.
///
/// # Errors
/// The process is gone or `/proc` is not readable.
pub fn cpu_time(pid: u32) -> anyhow::Result<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let (user, system) =
        parse_cpu_ticks(&stat).with_context(|| format!("unexpected /proc/{pid}/stat"))?;
    Ok(CpuTime {
        user: user / ticks_per_second(),
        system: system / ticks_per_second(),
    })
}

/// CPU seconds (user + system) process `pid` used so far, all its threads.
///
/// # Errors
/// The process is gone or `/proc` is not readable.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    cpu_time(pid).map(CpuTime::total)
}

/// utime and stime (fields 14 and 15) of a `/proc/<pid>/stat` line, in ticks. The
/// command name (field 2) may hold spaces and parentheses: fields are counted after
/// its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<(f64, f64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Resident memory of process `pid`, in KiB (`VmRSS`).
///
/// # Errors
/// The process is gone or `/proc` is not readable.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_field(pid, "VmRSS:")
}

/// The number of threads of process `pid`.
///
/// # Errors
/// As [`rss_kib`].
pub fn threads(pid: u32) -> anyhow::Result<u64> {
    status_field(pid, "Threads:")
}

/// A numeric field of `/proc/PID/status` (kB units dropped).
fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// CPU time a process used over a span, and the span's length as measured between
/// the two reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// CPU time used over the span.
    pub time: CpuTime,
    /// Wall-clock seconds between the two reads.
    pub seconds: f64,
}

impl CpuUse {
    /// CPU seconds per wall-clock second over the span (1.0 is one core busy).
    ///
    /// Rates come from this rather than from the time the reads were meant to
    /// happen: a reader on a loaded runtime wakes late, and a late second read
    /// divided by the planned span reads as more than one core for a process
    /// pinned to one.
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.time.total() / self.seconds
        } else {
            0.0
        }
    }
}

/// CPU time of a server over a span: read at the start, then at the end.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: u32,
    start: CpuTime,
    at: Instant,
}

impl CpuMeter {
    /// Starts measuring process `pid`.
    ///
    /// # Errors
    /// As [`cpu_seconds`].
    pub fn start(pid: u32) -> anyhow::Result<Self> {
        Ok(Self {
            pid,
            start: cpu_time(pid)?,
            at: Instant::now(),
        })
    }

    /// CPU seconds used since [`CpuMeter::start`].
    ///
    /// # Errors
    /// As [`cpu_seconds`].
    pub fn used(&self) -> anyhow::Result<f64> {
        self.span().map(|u| u.time.total())
    }

    /// CPU time used since [`CpuMeter::start`] and the wall-clock time since then.
    ///
    /// # Errors
    /// As [`cpu_seconds`].
    pub fn span(&self) -> anyhow::Result<CpuUse> {
        let now = cpu_time(self.pid)?;
        let seconds = self.at.elapsed().as_secs_f64();
        Ok(CpuUse {
            time: CpuTime {
                user: now.user - self.start.user,
                system: now.system - self.start.system,
            },
            seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_counted_after_the_command_name() {
        let line = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0";
        assert_eq!(parse_cpu_ticks(line), Some((250.0, 75.0)));
    }

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
    }

    #[test]
    fn a_span_measures_its_own_length() {
        let meter = CpuMeter::start(std::process::id()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let span = meter.span().unwrap();
        assert!(span.seconds >= 0.05, "{span:?}");
        assert!(span.time.user >= 0.0 && span.time.system >= 0.0, "{span:?}");
    }

    #[test]
    fn a_span_of_no_time_has_no_rate() {
        let span = CpuUse {
            time: CpuTime {
                user: 1.0,
                system: 0.0,
            },
            seconds: 0.0,
        };
        assert_eq!(span.per_second(), 0.0);
        let span = CpuUse {
            seconds: 2.0,
            ..span
        };
        assert_eq!(span.per_second(), 0.5);
    }
}
