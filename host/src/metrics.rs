//! Prometheus metrics (prometheus-client): one registry per gateway, one set of
//! labelled families, and per-app handles taken once so that the hot path only
//! touches atomics. Served as text at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `app`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AppLabel {
    pub(crate) app: String,
}

/// `app`, `outcome`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub(crate) app: String,
    pub(crate) outcome: &'static str,
}

/// `app`, `direction` (`in`/`out`), `kind` (`text`/`binary`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FlowLabels {
    pub(crate) app: String,
    pub(crate) direction: &'static str,
    pub(crate) kind: &'static str,
}

/// `app`, `hook`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HookLabels {
    pub(crate) app: String,
    pub(crate) hook: &'static str,
}

fn hook_histogram() -> Histogram {
    // 1 µs to ~16 s.
    Histogram::new(exponential_buckets(1e-6, 4.0, 13))
}

/// Every family, and the registry that renders them.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) connections_open: Family<AppLabel, Gauge>,
    pub(crate) handshakes: Family<OutcomeLabels, Counter>,
    pub(crate) messages: Family<FlowLabels, Counter>,
    pub(crate) bytes: Family<FlowLabels, Counter>,
    pub(crate) hook_seconds: Family<HookLabels, Histogram, fn() -> Histogram>,
    pub(crate) traps: Family<AppLabel, Counter>,
    pub(crate) reloads: Family<OutcomeLabels, Counter>,
    pub(crate) outbound_dropped: Family<AppLabel, Counter>,
    pub(crate) slow_consumer_closes: Family<AppLabel, Counter>,
    pub(crate) failed: Family<AppLabel, Gauge>,
    pub(crate) log_dropped_lines: Family<AppLabel, Counter>,
    pub(crate) log_dropped_bytes: Family<AppLabel, Counter>,
    pub(crate) log_cut: Family<AppLabel, Counter>,
    pub(crate) rooms: Family<AppLabel, Gauge>,
    pub(crate) memberships: Family<AppLabel, Gauge>,
    pub(crate) timers_set: Family<AppLabel, Counter>,
    pub(crate) timers_fired: Family<AppLabel, Counter>,
    pub(crate) commands_refused: Family<AppLabel, Counter>,
    pub(crate) unloaded: Family<AppLabel, Gauge>,
    pub(crate) api_requests: Family<ApiLabels, Counter>,
    pub(crate) cluster_messages: Family<ClusterLabels, Counter>,
    pub(crate) cluster_redis_up: Gauge,
    pub(crate) cluster_nodes: Gauge,
}

/// `direction` (`out`/`in`) and `outcome` of a cluster message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClusterLabels {
    direction: &'static str,
    outcome: &'static str,
}

/// `endpoint` and `status` of a server API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ApiLabels {
    endpoint: &'static str,
    status: u16,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wsgate");
        let connections_open = Family::default();
        registry.register(
            "connections_open",
            "Open WebSocket connections",
            Family::clone(&connections_open),
        );
        let handshakes = Family::default();
        registry.register(
            "handshakes",
            "Handshakes by outcome: accepted, denied (by the plugin), refused_limit, refused_failed",
            Family::clone(&handshakes),
        );
        let messages = Family::default();
        registry.register(
            "messages",
            "Messages by direction and kind",
            Family::clone(&messages),
        );
        let bytes = Family::default();
        registry.register(
            "message_bytes",
            "Message payload bytes by direction and kind",
            Family::clone(&bytes),
        );
        let hook_seconds = Family::new_with_constructor(hook_histogram as fn() -> Histogram);
        registry.register(
            "hook_duration_seconds",
            "Time spent in plugin hook calls",
            Family::clone(&hook_seconds),
        );
        let traps = Family::default();
        registry.register("traps", "Hook calls that trapped", Family::clone(&traps));
        let reloads = Family::default();
        registry.register(
            "reloads",
            "Plugin reloads by outcome: applied, refused",
            Family::clone(&reloads),
        );
        let outbound_dropped = Family::default();
        registry.register(
            "outbound_dropped",
            "Messages dropped because a client's outbound queue was full",
            Family::clone(&outbound_dropped),
        );
        let slow_consumer_closes = Family::default();
        registry.register(
            "slow_consumer_closes",
            "Connections closed with 1008 because their outbound queue was full",
            Family::clone(&slow_consumer_closes),
        );
        let failed = Family::default();
        registry.register(
            "app_failed",
            "1 while the app's crash-loop breaker is tripped",
            Family::clone(&failed),
        );
        let log_dropped_lines = Family::default();
        registry.register(
            "plugin_log_dropped_lines",
            "Plugin log lines dropped: over 100 lines/s or 64 KiB/s (with bursts)",
            Family::clone(&log_dropped_lines),
        );
        let log_dropped_bytes = Family::default();
        registry.register(
            "plugin_log_dropped_bytes",
            "Bytes of the plugin log lines dropped",
            Family::clone(&log_dropped_bytes),
        );
        let log_cut = Family::default();
        registry.register(
            "plugin_log_cut_lines",
            "Plugin log lines cut at 4 KiB",
            Family::clone(&log_cut),
        );
        let rooms = Family::default();
        registry.register(
            "rooms",
            "Rooms with at least one member",
            Family::clone(&rooms),
        );
        let memberships = Family::default();
        registry.register(
            "room_memberships",
            "Connections in rooms, counted once per room",
            Family::clone(&memberships),
        );
        let timers_set = Family::default();
        registry.register(
            "timers_set",
            "Timers set by plugins",
            Family::clone(&timers_set),
        );
        let timers_fired = Family::default();
        registry.register(
            "timers_fired",
            "Timer events handed to plugins",
            Family::clone(&timers_fired),
        );
        let commands_refused = Family::default();
        registry.register(
            "commands_refused",
            "Plugin commands refused for a limit (rooms, attachments, timers)",
            Family::clone(&commands_refused),
        );
        let unloaded = Family::default();
        registry.register(
            "app_unloaded",
            "1 while the app is unloaded (idle_unload_ms): no plugin instance, its state with the host",
            Family::clone(&unloaded),
        );
        let api_requests = Family::default();
        registry.register(
            "api_requests",
            "Server API requests by endpoint and status",
            Family::clone(&api_requests),
        );
        let cluster_messages = Family::default();
        registry.register(
            "cluster_messages",
            "Commands between nodes by direction (out, in) and outcome: published, delivered, \
             dropped_redis_down, dropped_queue_full, dropped_app_busy, undecodable",
            Family::clone(&cluster_messages),
        );
        let cluster_redis_up = Gauge::default();
        registry.register(
            "cluster_redis_up",
            "1 while this node reaches the cluster's Redis (0 without a cluster)",
            cluster_redis_up.clone(),
        );
        let cluster_nodes = Gauge::default();
        registry.register(
            "cluster_nodes",
            "Live nodes of the cluster, as of the last heartbeat",
            cluster_nodes.clone(),
        );
        Self {
            registry,
            connections_open,
            handshakes,
            messages,
            bytes,
            hook_seconds,
            traps,
            reloads,
            outbound_dropped,
            slow_consumer_closes,
            failed,
            log_dropped_lines,
            log_dropped_bytes,
            log_cut,
            rooms,
            memberships,
            timers_set,
            timers_fired,
            commands_refused,
            unloaded,
            api_requests,
            cluster_messages,
            cluster_redis_up,
            cluster_nodes,
        }
    }
}

impl Metrics {
    /// Counts a server API request.
    pub(crate) fn api_request(&self, endpoint: &'static str, status: u16) {
        self.api_requests
            .get_or_create(&ApiLabels { endpoint, status })
            .inc();
    }

    /// Counts `n` cluster messages.
    pub(crate) fn cluster_message(&self, direction: &'static str, outcome: &'static str, n: usize) {
        self.cluster_messages
            .get_or_create(&ClusterLabels { direction, outcome })
            .inc_by(n as u64);
    }

    /// Every metric in the Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// One direction and kind of message traffic.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flow {
    messages: Counter,
    bytes: Counter,
}

impl Flow {
    fn of(metrics: &Metrics, app: &str, direction: &'static str, kind: &'static str) -> Self {
        let labels = FlowLabels {
            app: app.to_owned(),
            direction,
            kind,
        };
        Self {
            messages: metrics.messages.get_or_create_owned(&labels),
            bytes: metrics.bytes.get_or_create_owned(&labels),
        }
    }

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

/// The hooks whose durations are measured, in [`HOOKS`] order.
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

/// The counters of what a plugin's log lost.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogCounters {
    /// Lines dropped (over the rate).
    pub(crate) dropped_lines: Counter,
    /// Bytes of those lines.
    pub(crate) dropped_bytes: Counter,
    /// Lines cut at 4 KiB.
    pub(crate) cut: Counter,
}

/// One app's metric handles.
#[derive(Clone, Debug, Default)]
pub(crate) struct AppMetrics {
    pub(crate) connections_open: Gauge,
    pub(crate) accepted: Counter,
    pub(crate) denied: Counter,
    pub(crate) refused_limit: Counter,
    pub(crate) refused_failed: Counter,
    pub(crate) text_in: Flow,
    pub(crate) binary_in: Flow,
    pub(crate) text_out: Flow,
    pub(crate) binary_out: Flow,
    pub(crate) hooks: Vec<Histogram>,
    pub(crate) traps: Counter,
    pub(crate) reloads_applied: Counter,
    pub(crate) reloads_refused: Counter,
    pub(crate) outbound_dropped: Counter,
    pub(crate) slow_consumer_closes: Counter,
    pub(crate) failed: Gauge,
    pub(crate) log: LogCounters,
    pub(crate) rooms: Gauge,
    pub(crate) memberships: Gauge,
    pub(crate) timers_set: Counter,
    pub(crate) timers_fired: Counter,
    pub(crate) commands_refused: Counter,
    pub(crate) unloaded: Gauge,
}

impl AppMetrics {
    /// The handles of app `app` in `metrics`.
    pub(crate) fn new(metrics: &Metrics, app: &str) -> Self {
        let label = AppLabel {
            app: app.to_owned(),
        };
        let outcome = |family: &Family<OutcomeLabels, Counter>, outcome| {
            family.get_or_create_owned(&OutcomeLabels {
                app: app.to_owned(),
                outcome,
            })
        };
        Self {
            connections_open: metrics.connections_open.get_or_create_owned(&label),
            accepted: outcome(&metrics.handshakes, "accepted"),
            denied: outcome(&metrics.handshakes, "denied"),
            refused_limit: outcome(&metrics.handshakes, "refused_limit"),
            refused_failed: outcome(&metrics.handshakes, "refused_failed"),
            text_in: Flow::of(metrics, app, "in", "text"),
            binary_in: Flow::of(metrics, app, "in", "binary"),
            text_out: Flow::of(metrics, app, "out", "text"),
            binary_out: Flow::of(metrics, app, "out", "binary"),
            hooks: HOOKS
                .iter()
                .map(|&hook| {
                    metrics.hook_seconds.get_or_create_owned(&HookLabels {
                        app: app.to_owned(),
                        hook,
                    })
                })
                .collect(),
            traps: metrics.traps.get_or_create_owned(&label),
            reloads_applied: outcome(&metrics.reloads, "applied"),
            reloads_refused: outcome(&metrics.reloads, "refused"),
            outbound_dropped: metrics.outbound_dropped.get_or_create_owned(&label),
            slow_consumer_closes: metrics.slow_consumer_closes.get_or_create_owned(&label),
            failed: metrics.failed.get_or_create_owned(&label),
            log: LogCounters {
                dropped_lines: metrics.log_dropped_lines.get_or_create_owned(&label),
                dropped_bytes: metrics.log_dropped_bytes.get_or_create_owned(&label),
                cut: metrics.log_cut.get_or_create_owned(&label),
            },
            rooms: metrics.rooms.get_or_create_owned(&label),
            memberships: metrics.memberships.get_or_create_owned(&label),
            timers_set: metrics.timers_set.get_or_create_owned(&label),
            timers_fired: metrics.timers_fired.get_or_create_owned(&label),
            commands_refused: metrics.commands_refused.get_or_create_owned(&label),
            unloaded: metrics.unloaded.get_or_create_owned(&label),
        }
    }

    /// Records that `hook` took `seconds`.
    pub(crate) fn hook_took(&self, hook: &str, seconds: f64) {
        if let Some(i) = HOOKS.iter().position(|&h| h == hook)
            && let Some(histogram) = self.hooks.get(i)
        {
            histogram.observe(seconds);
        }
    }
}
