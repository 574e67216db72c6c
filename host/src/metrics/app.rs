//! The series of each app, held compactly: one allocation of atomics per app (a
//! histogram of hook durations only once that hook has run), shared by every handle
//! to it, and written out at scrape time by one collector for all apps. A node of
//! 10,000 mostly idle tenants holds ~0.5 KiB of metrics per app this way, where a
//! labelled family per metric held ~9 KiB (a hash-map entry, a label string and an
//! `Arc` per series, 14 buckets per hook and app whether it ran or not).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The hooks whose durations are measured, in [`AppSeries::hooks`] order.
/// `wake` is not a hook: it is an unloaded app's way back (a fresh instance and its
/// `restore`), timed with the hooks.
pub(crate) const HOOKS: [&str; 11] = [
    "on-accept",
    "on-connect",
    "on-message",
    "on-binary",
    "on-close",
    "on-error",
    "on-timer",
    "on-backend",
    "snapshot",
    "restore",
    "wake",
];

/// Upper bounds of the hook-duration buckets: 1 µs to ~16 s, ×4 each (and +Inf).
const BOUNDS: [f64; 13] = {
    let mut bounds = [1e-6; 13];
    let mut i = 1;
    while i < bounds.len() {
        bounds[i] = bounds[i - 1] * 4.0;
        i += 1;
    }
    bounds
};

/// A count that only goes up.
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    /// Adds one.
    pub(crate) fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`.
    pub(crate) fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count now.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub(crate) struct Level(AtomicI64);

impl Level {
    /// Sets the value.
    pub(crate) fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// The value now.
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One direction and kind of message traffic.
#[derive(Debug, Default)]
pub(crate) struct Flow {
    messages: Count,
    bytes: Count,
}

impl Flow {
    /// Counts one message of `len` bytes.
    pub(crate) fn count(&self, len: usize) {
        self.count_many(1, len);
    }

    /// Counts `n` messages of `len` bytes each (a broadcast's deliveries).
    pub(crate) fn count_many(&self, n: usize, len: usize) {
        if n > 0 {
            self.messages.inc_by(n as u64);
            self.bytes.inc_by((n as u64).saturating_mul(len as u64));
        }
    }
}

/// The counters of what a plugin's log lost.
#[derive(Debug, Default)]
pub(crate) struct LogCounters {
    /// Lines dropped (over the rate).
    pub(crate) dropped_lines: Count,
    /// Bytes of those lines.
    pub(crate) dropped_bytes: Count,
    /// Lines cut at 4 KiB.
    pub(crate) cut: Count,
}

/// How long one hook's calls took: a histogram over [`BOUNDS`].
#[derive(Debug, Default)]
struct Durations {
    /// Calls per bucket (not cumulative), the last one over every bound.
    buckets: [AtomicU64; BOUNDS.len() + 1],
    /// The calls' total, in nanoseconds.
    sum_ns: AtomicU64,
}

impl Durations {
    fn observe(&self, seconds: f64) {
        let bucket = BOUNDS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BOUNDS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        // Saturating float-to-int: a negative or NaN reading counts as 0.
        self.sum_ns
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }
}

/// Every series of one app.
#[derive(Debug, Default)]
pub(crate) struct AppSeries {
    app: Box<str>,
    pub(crate) connections_open: Level,
    pub(crate) accepted: Count,
    pub(crate) denied: Count,
    pub(crate) refused_limit: Count,
    pub(crate) refused_failed: Count,
    pub(crate) text_in: Flow,
    pub(crate) binary_in: Flow,
    pub(crate) text_out: Flow,
    pub(crate) binary_out: Flow,
    /// Made at a hook's first call: an app that never ran a hook shows none.
    hooks: [OnceLock<Box<Durations>>; HOOKS.len()],
    pub(crate) traps: Count,
    pub(crate) reloads_applied: Count,
    pub(crate) reloads_refused: Count,
    pub(crate) outbound_dropped: Count,
    pub(crate) slow_consumer_closes: Count,
    pub(crate) failed: Level,
    pub(crate) log: LogCounters,
    pub(crate) rooms: Level,
    pub(crate) memberships: Level,
    pub(crate) timers_set: Count,
    pub(crate) timers_fired: Count,
    pub(crate) commands_refused: Count,
    pub(crate) unloaded: Level,
}

impl AppSeries {
    /// Records that `hook` (one of [`HOOKS`]) took `seconds`.
    pub(crate) fn hook_took(&self, hook: &str, seconds: f64) {
        if let Some(i) = HOOKS.iter().position(|&h| h == hook) {
            self.hooks[i].get_or_init(Box::default).observe(seconds);
        }
    }
}

/// A handle to one app's series (cheap to clone: every clone counts into the same).
/// The default one belongs to no gateway (tools and tests): it counts, unseen.
#[derive(Clone, Debug, Default)]
pub(crate) struct AppMetrics(Arc<AppSeries>);

impl Deref for AppMetrics {
    type Target = AppSeries;

    fn deref(&self) -> &AppSeries {
        &self.0
    }
}

/// The apps' series by app name, and the collector that writes them out.
#[derive(Debug, Default)]
pub(crate) struct AppFamilies {
    apps: Mutex<BTreeMap<Box<str>, Arc<AppSeries>>>,
}

impl AppFamilies {
    /// The series of app `app`: the same ones every time for one name, so that an
    /// app started again (a changed config) counts on.
    pub(crate) fn series(&self, app: &str) -> AppMetrics {
        let mut apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        let series = apps.entry(app.into()).or_insert_with(|| {
            Arc::new(AppSeries {
                app: app.into(),
                ..AppSeries::default()
            })
        });
        AppMetrics(series.clone())
    }

    /// Drops the series of app `app` (removed from the config): the next scrape
    /// has none for it. Handles still held (its actor, while it closes its
    /// connections) count on into series nobody writes out; an app added again
    /// under the name starts from zero, which Prometheus reads as a counter reset.
    pub(crate) fn forget(&self, app: &str) {
        self.apps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(app);
    }
}

/// `help` as a registered family's help reads (prometheus-client ends those with a
/// full stop; a collector's descriptors are written as given).
fn sentence(help: &str) -> String {
    format!("{help}.")
}

/// A family's label values beside `app`, and how to read one app's value.
type Rows<'a, T> = &'a [(&'a [(&'a str, &'a str)], fn(&AppSeries) -> T)];

fn counters(
    encoder: &mut DescriptorEncoder<'_>,
    apps: &[&AppSeries],
    name: &str,
    help: &str,
    rows: Rows<'_, u64>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, &sentence(help), None, MetricType::Counter)?;
    for app in apps {
        for (labels, value) in rows {
            let labels: Vec<(&str, &str)> = [("app", &*app.app)]
                .into_iter()
                .chain(labels.iter().copied())
                .collect();
            ConstCounter::new(value(app)).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    apps: &[&AppSeries],
    name: &str,
    help: &str,
    value: fn(&AppSeries) -> i64,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, &sentence(help), None, MetricType::Gauge)?;
    for app in apps {
        ConstGauge::new(value(app)).encode(family.encode_family(&[("app", &*app.app)])?)?;
    }
    Ok(())
}

fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    apps: &[&AppSeries],
    name: &str,
    help: &str,
    value: fn(&AppSeries) -> u64,
) -> fmt::Result {
    counters(encoder, apps, name, help, &[(&[], value)])
}

fn hook_durations(encoder: &mut DescriptorEncoder<'_>, apps: &[&AppSeries]) -> fmt::Result {
    let mut family = encoder.encode_descriptor(
        "hook_duration_seconds",
        "Time spent in plugin hook calls.",
        None,
        MetricType::Histogram,
    )?;
    for app in apps {
        for (hook, durations) in HOOKS.iter().zip(&app.hooks) {
            let Some(d) = durations.get() else { continue };
            let buckets: Vec<(f64, u64)> = BOUNDS
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(d.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
                .collect();
            // The count is the buckets' sum, so the two always agree.
            let count = buckets.iter().map(|&(_, n)| n).sum();
            let sum = d.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            family
                .encode_family(&[("app", &*app.app), ("hook", *hook)])?
                .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
    }
    Ok(())
}

impl Collector for AppFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let apps = self.apps.lock().unwrap_or_else(PoisonError::into_inner);
        let apps: Vec<&AppSeries> = apps.values().map(|s| &**s).collect();
        let e = &mut encoder;
        let apps = &apps[..];
        gauge(
            e,
            apps,
            "connections_open",
            "Open WebSocket connections",
            |s| s.connections_open.get(),
        )?;
        counters(
            e,
            apps,
            "handshakes",
            "Handshakes by outcome: accepted, denied (by the plugin), refused_limit, refused_failed",
            &[
                (&[("outcome", "accepted")], |s| s.accepted.get()),
                (&[("outcome", "denied")], |s| s.denied.get()),
                (&[("outcome", "refused_limit")], |s| s.refused_limit.get()),
                (&[("outcome", "refused_failed")], |s| s.refused_failed.get()),
            ],
        )?;
        const IN_TEXT: &[(&str, &str)] = &[("direction", "in"), ("kind", "text")];
        const IN_BINARY: &[(&str, &str)] = &[("direction", "in"), ("kind", "binary")];
        const OUT_TEXT: &[(&str, &str)] = &[("direction", "out"), ("kind", "text")];
        const OUT_BINARY: &[(&str, &str)] = &[("direction", "out"), ("kind", "binary")];
        counters(
            e,
            apps,
            "messages",
            "Messages by direction and kind",
            &[
                (IN_TEXT, |s| s.text_in.messages.get()),
                (IN_BINARY, |s| s.binary_in.messages.get()),
                (OUT_TEXT, |s| s.text_out.messages.get()),
                (OUT_BINARY, |s| s.binary_out.messages.get()),
            ],
        )?;
        counters(
            e,
            apps,
            "message_bytes",
            "Message payload bytes by direction and kind",
            &[
                (IN_TEXT, |s| s.text_in.bytes.get()),
                (IN_BINARY, |s| s.binary_in.bytes.get()),
                (OUT_TEXT, |s| s.text_out.bytes.get()),
                (OUT_BINARY, |s| s.binary_out.bytes.get()),
            ],
        )?;
        hook_durations(e, apps)?;
        counter(e, apps, "traps", "Hook calls that trapped", |s| {
            s.traps.get()
        })?;
        counters(
            e,
            apps,
            "reloads",
            "Plugin reloads by outcome: applied, refused",
            &[
                (&[("outcome", "applied")], |s| s.reloads_applied.get()),
                (&[("outcome", "refused")], |s| s.reloads_refused.get()),
            ],
        )?;
        counter(
            e,
            apps,
            "outbound_dropped",
            "Messages dropped because a client's outbound queue was full",
            |s| s.outbound_dropped.get(),
        )?;
        counter(
            e,
            apps,
            "slow_consumer_closes",
            "Connections closed with 1008 because their outbound queue was full",
            |s| s.slow_consumer_closes.get(),
        )?;
        gauge(
            e,
            apps,
            "app_failed",
            "1 while the app's crash-loop breaker is tripped",
            |s| s.failed.get(),
        )?;
        counter(
            e,
            apps,
            "plugin_log_dropped_lines",
            "Plugin log lines dropped: over 100 lines/s or 64 KiB/s (with bursts)",
            |s| s.log.dropped_lines.get(),
        )?;
        counter(
            e,
            apps,
            "plugin_log_dropped_bytes",
            "Bytes of the plugin log lines dropped",
            |s| s.log.dropped_bytes.get(),
        )?;
        counter(
            e,
            apps,
            "plugin_log_cut_lines",
            "Plugin log lines cut at 4 KiB",
            |s| s.log.cut.get(),
        )?;
        gauge(e, apps, "rooms", "Rooms with at least one member", |s| {
            s.rooms.get()
        })?;
        gauge(
            e,
            apps,
            "room_memberships",
            "Connections in rooms, counted once per room",
            |s| s.memberships.get(),
        )?;
        counter(e, apps, "timers_set", "Timers set by plugins", |s| {
            s.timers_set.get()
        })?;
        counter(
            e,
            apps,
            "timers_fired",
            "Timer events handed to plugins",
            |s| s.timers_fired.get(),
        )?;
        counter(
            e,
            apps,
            "commands_refused",
            "Plugin commands refused for a limit (rooms, attachments, timers)",
            |s| s.commands_refused.get(),
        )?;
        gauge(
            e,
            apps,
            "app_unloaded",
            "1 while the app is unloaded (idle_unload_ms): no plugin instance, its state with the host",
            |s| s.unloaded.get(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_that_holds_it_and_the_rest_past_the_last() {
        let d = Durations::default();
        for seconds in [0.0, 1e-6, 1.5e-6, 4e-6, 1.0, 100.0] {
            d.observe(seconds);
        }
        let counts: Vec<u64> = d
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts[..3], [2, 2, 0], "≤1 µs twice, ≤4 µs twice");
        assert_eq!(counts[10], 1, "1 s is within 4^10 µs (1.05 s): {counts:?}");
        assert_eq!(
            counts[BOUNDS.len()],
            1,
            "100 s is past the last bound (16.8 s)"
        );
        assert_eq!(counts.iter().sum::<u64>(), 6);
    }

    #[test]
    fn one_name_one_series() {
        let families = AppFamilies::default();
        families.series("a").traps.inc();
        assert_eq!(families.series("a").traps.get(), 1, "the same series again");
        assert_eq!(families.series("b").traps.get(), 0);
    }
}
