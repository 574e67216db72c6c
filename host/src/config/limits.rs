//! Per-app limits: the `[limits]` table (defaults for every app) and each app's
//! `[app.limits]` table, merged over the built-in defaults and validated.
//!
//! ```toml
//! [limits]                       # every app
//! memory = "64 MiB"
//! hook_timeout_ms = 100
//!
//! [[app]]
//! name = "chat"
//! route = "/ws"
//! plugin = "chat.wasm"
//! [app.limits]                   # this app only; overrides [limits]
//! max_connections = 500
//! ```

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::file::{Locator, ranged};

/// What to do with a connection whose outbound queue is full (`slow_consumer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlowConsumer {
    /// Close it with 1008 "slow consumer" (default): memory stays bounded and the
    /// client learns why.
    Close,
    /// Drop the message that does not fit and keep the connection.
    Drop,
}

/// The crash-loop breaker: `traps` traps within `window` put the app in a failed
/// state (handshakes get 503, connections are closed with 1011) for `backoff`, then
/// it retries; the backoff doubles at each failure in a row, up to 60 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashLoop {
    /// Traps that trip the breaker (`crash_loop_traps`, default 5).
    pub traps: u32,
    /// The window they must fall in (`crash_loop_window_ms`, default 10 000).
    pub window: Duration,
    /// The first pause before a retry (`crash_loop_backoff_ms`, default 1 000).
    pub backoff: Duration,
}

/// The longest pause between two retries of a failed app.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Per-app limits. Every field's doc names its key and default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `memory`: cap on the plugin's linear memory; growing past it traps. Default 64 MiB.
    pub memory: usize,
    /// `hook_timeout_ms`: deadline of one hook call; a hook past it traps. Default 100 ms.
    pub hook_timeout: Duration,
    /// `max_connections`: open connections of the app; the next handshake gets 503.
    /// Default 10 000.
    pub max_connections: usize,
    /// `max_connections_per_ip`: open connections of the app from one IP address; the
    /// next handshake gets 503. Default: no limit.
    pub max_connections_per_ip: Option<usize>,
    /// `max_message_size`: largest message a client may send; a larger one closes
    /// the connection with 1009 (`on-error`, then `on-close`). Default 1 MiB.
    pub max_message_size: usize,
    /// `max_frame_size`: largest frame a client may send (at most
    /// `max_message_size`). Default: `max_message_size`.
    pub max_frame_size: usize,
    /// `outbound_queue_bytes`: bytes waiting to be sent to one connection; past it the
    /// `slow_consumer` policy applies. Default 1 MiB.
    pub outbound_queue_bytes: usize,
    /// `slow_consumer`: `"close"` (1008, default) or `"drop"` (the message).
    pub slow_consumer: SlowConsumer,
    /// `max_commands`: commands one hook call may return; a hook returning more has
    /// none of them run and counts as a misbehaving call (1011). Default 10 000.
    pub max_commands: usize,
    /// The crash-loop breaker.
    pub crash_loop: CrashLoop,
    /// `ping_interval_ms`: the gateway pings each connection this often (`0`: never).
    /// Default 25 s, below the idle timeouts of common proxies.
    pub ping_interval: Option<Duration>,
    /// `pong_timeout_ms`: a connection that sends no frame at all (pong or other)
    /// within this time after a ping is closed with 1001. Default 10 s.
    pub pong_timeout: Duration,
    /// `idle_timeout_ms`: a connection that sends no message (pings and pongs do not
    /// count) for this long is closed with 1001. Default: off.
    pub idle_timeout: Option<Duration>,
    /// `read_buffer_size`: one read from the socket takes at most this much. The
    /// buffer it lands in is shared by the connections of a thread; a connection keeps
    /// only what its reader has not taken yet, so an idle one holds none of it.
    /// Larger takes big messages in fewer reads. Default 3 KiB: a 4 KiB message takes
    /// two reads.
    pub read_buffer_size: usize,
    /// `max_rooms_per_connection`: rooms one connection may be in; a `join` past it is
    /// refused (with a warning, counted). Default 64.
    pub max_rooms_per_connection: usize,
    /// `max_room_name_bytes`: longest room name; a command naming a longer (or an
    /// empty) room is refused. Default 256.
    pub max_room_name_bytes: usize,
    /// `max_attachment_bytes`: largest attachment of a connection; a larger
    /// `set-attachment` (or `allow.attachment`) is refused. Default 16 KiB.
    pub max_attachment_bytes: usize,
    /// `max_timers`: timers one app may have set at once; a `set-timer` past it is
    /// refused. Default 10,000.
    pub max_timers: usize,
    /// `min_timer_ms`: the shortest timer delay and repeat; a shorter one is refused.
    /// Default 10 ms.
    pub min_timer: Duration,
    /// `max_batch_events`: messages waiting for a 0.2 plugin handed over in one call
    /// at most (also at most what fits in 1 s of `hook_timeout_ms` per message).
    /// Default 16. Only a plugin that imports `host.commit` (every plugin built with
    /// an SDK) gets batches; any other (0.1.0, or 0.2.0 built before `commit`) gets
    /// one per call whatever this says: its reads would not show what the call's
    /// earlier messages' commands changed.
    pub max_batch_events: usize,
    /// `idle_unload_ms`: an app with no hook call for this long hands its state to
    /// the host (`snapshot`) and drops its plugin instance; the next event makes a
    /// fresh one and gives the state back (`restore`). Sockets, rooms, users,
    /// attachments and timers stay in the host meanwhile, and pings are answered
    /// without waking it. Default 0: off.
    pub idle_unload: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 64 << 20,
            hook_timeout: Duration::from_millis(100),
            max_connections: 10_000,
            max_connections_per_ip: None,
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            outbound_queue_bytes: 1 << 20,
            slow_consumer: SlowConsumer::Close,
            max_commands: 10_000,
            crash_loop: CrashLoop {
                traps: 5,
                window: Duration::from_secs(10),
                backoff: Duration::from_secs(1),
            },
            ping_interval: Some(Duration::from_secs(25)),
            pong_timeout: Duration::from_secs(10),
            idle_timeout: None,
            read_buffer_size: 3 << 10,
            max_rooms_per_connection: 64,
            max_room_name_bytes: 256,
            max_attachment_bytes: 16 << 10,
            max_timers: 10_000,
            min_timer: Duration::from_millis(10),
            max_batch_events: 16,
            idle_unload: None,
        }
    }
}

/// A size in bytes: an integer, or a string with a unit (`"64 MiB"`, `"512KiB"`,
/// `"1 MB"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Size(u64);

impl Size {
    /// The size in bytes.
    pub(crate) fn bytes(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bytes(n) => Ok(Self(n)),
            Raw::Text(text) => text
                .trim()
                .parse::<bytesize::ByteSize>()
                .map(|b| Self(b.as_u64()))
                .map_err(|e| {
                    serde::de::Error::custom(format!(
                        "invalid size {text:?} ({e}): write bytes as a number, or a number and a unit such as \"64 MiB\""
                    ))
                }),
        }
    }
}

/// The `[limits]` or `[app.limits]` table as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    memory: Option<Spanned<Size>>,
    hook_timeout_ms: Option<Spanned<u64>>,
    max_connections: Option<Spanned<u64>>,
    max_connections_per_ip: Option<Spanned<u64>>,
    max_message_size: Option<Spanned<Size>>,
    max_frame_size: Option<Spanned<Size>>,
    outbound_queue_bytes: Option<Spanned<Size>>,
    slow_consumer: Option<Spanned<SlowConsumer>>,
    max_commands: Option<Spanned<u64>>,
    crash_loop_traps: Option<Spanned<u64>>,
    crash_loop_window_ms: Option<Spanned<u64>>,
    crash_loop_backoff_ms: Option<Spanned<u64>>,
    ping_interval_ms: Option<Spanned<u64>>,
    pong_timeout_ms: Option<Spanned<u64>>,
    idle_timeout_ms: Option<Spanned<u64>>,
    read_buffer_size: Option<Spanned<Size>>,
    max_rooms_per_connection: Option<Spanned<u64>>,
    max_room_name_bytes: Option<Spanned<u64>>,
    max_attachment_bytes: Option<Spanned<Size>>,
    max_timers: Option<Spanned<u64>>,
    min_timer_ms: Option<Spanned<u64>>,
    max_batch_events: Option<Spanned<u64>>,
    idle_unload_ms: Option<Spanned<u64>>,
}

/// The app's value of a key if set, else the global one, with its place in the file.
fn pick<'a, T>(
    app: Option<&'a Option<Spanned<T>>>,
    global: Option<&'a Option<Spanned<T>>>,
) -> Option<&'a Spanned<T>> {
    app.and_then(Option::as_ref)
        .or_else(|| global.and_then(Option::as_ref))
}

fn size(
    loc: &Locator<'_>,
    key: &str,
    value: &Spanned<Size>,
    min: u64,
    max: u64,
) -> Result<usize, ConfigError> {
    let bytes = Spanned::new(value.span(), value.get_ref().0);
    let v = ranged(loc, key, &bytes, min, max, " bytes")?;
    usize::try_from(v).map_err(|_| loc.at(value, format!("`{key}` is too large for this machine")))
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

macro_rules! both {
    ($app:expr, $global:expr, $field:ident) => {
        pick($app.map(|l| &l.$field), $global.map(|l| &l.$field))
    };
}

/// Merges an app's limits over the global ones over the defaults, and validates them.
pub(crate) fn resolve(
    loc: &Locator<'_>,
    global: Option<&RawLimits>,
    app: Option<&RawLimits>,
) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    if let Some(v) = both!(app, global, memory) {
        limits.memory = size(loc, "memory", v, MIB, 4 * GIB)?;
    }
    if let Some(v) = both!(app, global, hook_timeout_ms) {
        limits.hook_timeout =
            Duration::from_millis(ranged(loc, "hook_timeout_ms", v, 1, 60_000, " ms")?);
    }
    if let Some(v) = both!(app, global, max_connections) {
        limits.max_connections = ranged(loc, "max_connections", v, 1, 10_000_000, "")? as usize;
    }
    if let Some(v) = both!(app, global, max_connections_per_ip) {
        limits.max_connections_per_ip =
            Some(ranged(loc, "max_connections_per_ip", v, 1, 10_000_000, "")? as usize);
    }
    let message = both!(app, global, max_message_size);
    if let Some(v) = message {
        limits.max_message_size = size(loc, "max_message_size", v, 1, GIB)?;
    }
    limits.max_frame_size = limits.max_message_size;
    if let Some(v) = both!(app, global, max_frame_size) {
        limits.max_frame_size = size(loc, "max_frame_size", v, 1, GIB)?;
        if limits.max_frame_size > limits.max_message_size {
            return Err(loc.at(
                v,
                format!(
                    "`max_frame_size` ({}) must not exceed `max_message_size` ({})",
                    limits.max_frame_size, limits.max_message_size
                ),
            ));
        }
    }
    if let Some(v) = both!(app, global, outbound_queue_bytes) {
        limits.outbound_queue_bytes = size(loc, "outbound_queue_bytes", v, KIB, 4 * GIB)?;
    }
    if let Some(v) = both!(app, global, slow_consumer) {
        limits.slow_consumer = *v.get_ref();
    }
    if let Some(v) = both!(app, global, max_commands) {
        limits.max_commands = ranged(loc, "max_commands", v, 1, 10_000_000, "")? as usize;
    }
    if let Some(v) = both!(app, global, crash_loop_traps) {
        limits.crash_loop.traps = ranged(loc, "crash_loop_traps", v, 1, 1_000_000, "")? as u32;
    }
    if let Some(v) = both!(app, global, crash_loop_window_ms) {
        limits.crash_loop.window = Duration::from_millis(ranged(
            loc,
            "crash_loop_window_ms",
            v,
            1,
            86_400_000,
            " ms",
        )?);
    }
    if let Some(v) = both!(app, global, crash_loop_backoff_ms) {
        limits.crash_loop.backoff =
            Duration::from_millis(ranged(loc, "crash_loop_backoff_ms", v, 1, 60_000, " ms")?);
    }
    if let Some(v) = both!(app, global, ping_interval_ms) {
        let ms = ranged(loc, "ping_interval_ms", v, 0, 3_600_000, " ms")?;
        limits.ping_interval = (ms > 0).then(|| Duration::from_millis(ms));
    }
    if let Some(v) = both!(app, global, pong_timeout_ms) {
        limits.pong_timeout =
            Duration::from_millis(ranged(loc, "pong_timeout_ms", v, 1, 3_600_000, " ms")?);
    }
    if let Some(v) = both!(app, global, idle_unload_ms) {
        let ms = ranged(loc, "idle_unload_ms", v, 0, 86_400_000, " ms")?;
        limits.idle_unload = (ms > 0).then(|| Duration::from_millis(ms));
    }
    if let Some(v) = both!(app, global, idle_timeout_ms) {
        let ms = ranged(loc, "idle_timeout_ms", v, 0, 86_400_000, " ms")?;
        limits.idle_timeout = (ms > 0).then(|| Duration::from_millis(ms));
    }
    if let Some(v) = both!(app, global, read_buffer_size) {
        limits.read_buffer_size = size(loc, "read_buffer_size", v, 256, 16 * MIB)?;
    }
    if let Some(v) = both!(app, global, max_rooms_per_connection) {
        limits.max_rooms_per_connection =
            ranged(loc, "max_rooms_per_connection", v, 1, 100_000, "")? as usize;
    }
    if let Some(v) = both!(app, global, max_room_name_bytes) {
        limits.max_room_name_bytes =
            ranged(loc, "max_room_name_bytes", v, 1, 65_536, " bytes")? as usize;
    }
    if let Some(v) = both!(app, global, max_attachment_bytes) {
        limits.max_attachment_bytes = size(loc, "max_attachment_bytes", v, 0, 16 * MIB)?;
    }
    if let Some(v) = both!(app, global, max_timers) {
        limits.max_timers = ranged(loc, "max_timers", v, 0, 10_000_000, "")? as usize;
    }
    if let Some(v) = both!(app, global, min_timer_ms) {
        limits.min_timer = Duration::from_millis(ranged(loc, "min_timer_ms", v, 1, 60_000, " ms")?);
    }
    if let Some(v) = both!(app, global, max_batch_events) {
        limits.max_batch_events = ranged(loc, "max_batch_events", v, 1, 1024, "")? as usize;
    }
    Ok(limits)
}
