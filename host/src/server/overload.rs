//! At the open-file limit: accept errors back off (not a tight loop) and are logged
//! once a second with a count, and one spare descriptor, kept open for this, lets
//! the gateway still take one connection at a time and answer it — `/healthz`,
//! `/readyz` and `/metrics` as usual, anything else 503 — instead of going silent.
//! Also the start-up checks of the open-file limit against the apps' connection
//! limits, and of the address-space limit against what their plugins reserve.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::apps::StartError;
use crate::config::Config;

/// The first pause after an accept error; it doubles while errors go on.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Accept errors are logged at most this often (with how many there were).
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Whether an accept error means the process or the system is out of descriptors.
pub(super) fn out_of_files(e: &std::io::Error) -> bool {
    // EMFILE 24, ENFILE 23 (Linux and the BSDs alike).
    matches!(e.raw_os_error(), Some(23 | 24))
}

/// One descriptor held back for answering at the limit.
#[derive(Default)]
pub(crate) struct Reserve {
    spare: Mutex<Option<std::fs::File>>,
}

/// Gives the spare descriptor back when the connection it made room for ends.
pub(super) struct Borrowed(Arc<Reserve>);

impl Drop for Borrowed {
    fn drop(&mut self) {
        self.0.fill();
    }
}

impl Reserve {
    /// A reserve holding one descriptor (none if even that cannot be opened).
    pub(crate) fn new() -> Arc<Self> {
        let reserve = Arc::new(Self::default());
        reserve.fill();
        reserve
    }

    fn fill(&self) {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.is_none() {
            *spare = std::fs::File::open("/dev/null").ok();
        }
    }

    /// Closes the spare descriptor, making room for one connection; `None` if it is
    /// in use already.
    pub(super) fn borrow(self: &Arc<Self>) -> Option<Borrowed> {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        drop(spare);
        Some(Borrowed(self.clone()))
    }
}

/// The accept errors of one listener: backoff and rate-limited log lines.
pub(super) struct AcceptErrors {
    backoff: Duration,
    unreported: u64,
    last_log: Option<Instant>,
}

impl AcceptErrors {
    pub(super) fn new() -> Self {
        Self {
            backoff: FIRST_BACKOFF,
            unreported: 0,
            last_log: None,
        }
    }

    /// An accept succeeded: errors start over.
    pub(super) fn ok(&mut self) {
        self.backoff = FIRST_BACKOFF;
    }

    /// Counts `e` (logging at most once a second) and returns how long to pause.
    pub(super) fn failed(&mut self, e: &std::io::Error, listener: &str) -> Duration {
        self.unreported += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|at| now.duration_since(at) >= LOG_EVERY)
        {
            let count = std::mem::take(&mut self.unreported);
            if out_of_files(e) {
                tracing::warn!(
                    listener,
                    errors = count,
                    "at the open-file limit: connections wait in the backlog; \
                     /healthz, /readyz and /metrics still answer, one connection at a time \
                     (raise the limit with `ulimit -n` or LimitNOFILE=, or lower max_connections): {e}"
                );
            } else {
                tracing::warn!(listener, errors = count, "accept failed: {e}");
            }
            self.last_log = Some(now);
        }
        let pause = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        pause
    }
}

/// Address space wasmtime reserves for one linear memory (4 GiB, plus its guard
/// pages): reserved, not used, but counted by an address-space limit (`ulimit -v`).
const RESERVED_PER_MEMORY: u64 = (4 << 30) + (64 << 20);
/// Address space the gateway needs besides its plugins' memories (code, stacks,
/// the runtime's threads).
const RESERVED_BASE: u64 = 1 << 30;

/// The process's address-space limit (soft), if it has one.
#[cfg(target_os = "linux")]
fn address_space_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::As).current
}

/// The process's address-space limit (soft), if it has one.
#[cfg(not(target_os = "linux"))]
fn address_space_limit() -> Option<u64> {
    None
}

/// Refuses to start when the address-space limit is below what the apps' plugin
/// instances reserve (each app holds one instance, each instance a 4 GiB
/// reservation per linear memory), with what to do, rather than failing in the
/// middle of start-up.
pub(super) fn check_address_space(config: &Config) -> Result<(), StartError> {
    let Some(limit) = address_space_limit() else {
        return Ok(());
    };
    let needed = RESERVED_BASE + config.apps.len() as u64 * RESERVED_PER_MEMORY;
    if limit < needed {
        return Err(StartError::AddressSpace {
            limit_mib: limit >> 20,
            needed_mib: needed >> 20,
            apps: config.apps.len(),
        });
    }
    Ok(())
}

/// The process's open-file limit (soft), if it has one.
#[cfg(target_os = "linux")]
pub(super) fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// The process's open-file limit (soft), if it has one.
#[cfg(not(target_os = "linux"))]
pub(super) fn open_file_limit() -> Option<u64> {
    None
}

/// Warns when the apps' `max_connections` add up past the open-file limit: the
/// gateway would hit the limit before the apps' own limits.
pub(super) fn check_open_files(config: &Config) {
    let Some(limit) = open_file_limit() else {
        return;
    };
    let wanted: u64 = config
        .apps
        .iter()
        .map(|a| a.limits.max_connections as u64)
        .sum();
    if wanted > limit {
        tracing::warn!(
            open_file_limit = limit,
            max_connections = wanted,
            "the apps' max_connections add up to more connections than this process may open; \
             past the open-file limit new connections wait (raise it with `ulimit -n` or \
             LimitNOFILE=, or lower max_connections)"
        );
    }
}
