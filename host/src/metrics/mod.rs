//! Prometheus metrics (prometheus-client): one registry per gateway. The node's own
//! series (server API, cluster) are labelled families; every app's series live in
//! one compact block per app (`app`), written out by a collector at scrape time, so
//! that the hot path only touches atomics and an idle tenant costs little. Served as
//! text at `GET /metrics`.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

mod app;

use app::AppFamilies;
pub(crate) use app::{AppMetrics, Flow};

/// Every family, and the registry that renders them.
pub(crate) struct Metrics {
    registry: Registry,
    apps: Arc<AppFamilies>,
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
        let apps = Arc::new(AppFamilies::default());
        registry.register_collector(Box::new(apps.clone()));
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
            apps,
            api_requests,
            cluster_messages,
            cluster_redis_up,
            cluster_nodes,
        }
    }
}

impl Metrics {
    /// The series of app `app` (the same ones again for a name seen before).
    pub(crate) fn app(&self, app: &str) -> AppMetrics {
        self.apps.series(app)
    }

    /// Forgets the series of app `app`, removed from the config.
    pub(crate) fn forget_app(&self, app: &str) {
        self.apps.forget(app);
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apps_series_render_as_labelled_families_and_a_hook_only_once_called() {
        let metrics = Metrics::default();
        let app = metrics.app("chat");
        app.accepted.inc();
        app.text_in.count(5);
        app.hook_took("on-message", 3e-6);
        let text = metrics.render();
        for line in [
            "# HELP wsgate_handshakes Handshakes by outcome: accepted, denied (by the plugin), \
             refused_limit, refused_failed.",
            "# TYPE wsgate_handshakes counter",
            r#"wsgate_handshakes_total{app="chat",outcome="accepted"} 1"#,
            r#"wsgate_message_bytes_total{app="chat",direction="in",kind="text"} 5"#,
            r#"wsgate_hook_duration_seconds_count{app="chat",hook="on-message"} 1"#,
            r#"wsgate_hook_duration_seconds_bucket{le="0.000001",app="chat",hook="on-message"} 0"#,
            r#"wsgate_hook_duration_seconds_bucket{le="0.000004",app="chat",hook="on-message"} 1"#,
            r#"wsgate_hook_duration_seconds_bucket{le="+Inf",app="chat",hook="on-message"} 1"#,
            r#"wsgate_connections_open{app="chat"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        assert!(
            !text.contains(r#"hook="on-error""#),
            "a hook never called has no series"
        );
    }

    #[test]
    fn a_forgotten_app_has_no_series_and_starts_from_zero_if_it_comes_back() {
        let metrics = Metrics::default();
        let gone = metrics.app("gone");
        gone.accepted.inc();
        metrics.app("kept").accepted.inc();
        metrics.forget_app("gone");
        gone.accepted.inc();
        let text = metrics.render();
        assert!(!text.contains(r#"app="gone""#), "{text}");
        assert!(
            text.contains(r#"wsgate_handshakes_total{app="kept",outcome="accepted"} 1"#),
            "{text}"
        );
        assert_eq!(metrics.app("gone").accepted.get(), 0);
    }
}
