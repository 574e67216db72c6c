//! `GET /metrics`: Prometheus text, parsed with a Prometheus parser, with counters
//! checked after a known amount of traffic.

use prometheus_parse::{Scrape, Value};
use wsgate_tests::{TestGateway, app, body_of, get, plugins, raw_http, status_of};

/// The value of the sample `name` whose labels include all of `labels`.
fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
    match found.map(|s| &s.value) {
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        other => panic!("no sample {name}{labels:?}: {other:?}"),
    }
}

/// How many times hook `hook` of `app` ran, as `scrape` has it: the count of its
/// duration histogram (0 if it has not run).
fn hook_count(scrape: &Scrape, app: &str, hook: &str) -> f64 {
    scrape
        .samples
        .iter()
        .find(|x| {
            x.metric == "wsgate_hook_duration_seconds"
                && x.labels.get("app") == Some(app)
                && x.labels.get("hook") == Some(hook)
        })
        .map_or(0.0, |x| match &x.value {
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            other => panic!("{other:?}"),
        })
}

/// How many times hook `hook` of `app` has run now (a fresh scrape).
pub(crate) async fn hook_calls(gw: &TestGateway, app: &str, hook: &str) -> f64 {
    hook_count(&scrape(gw).await, app, hook)
}

async fn scrape(gw: &TestGateway) -> Scrape {
    let response = get(gw.addr, "/metrics").await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(
        response.contains("content-type: text/plain; version=0.0.4"),
        "{response}"
    );
    let body = body_of(&response);
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

#[tokio::test]
async fn metrics_count_handshakes_messages_bytes_and_hook_calls() {
    let gw = TestGateway::start(vec![app("metered", "/m", plugins::ECHO)]).await;
    let mut client = gw.connect("/m").await;
    for n in 0..5 {
        client.send_text(format!("message {n}")).await; // 9 bytes
        client.recv_text().await;
    }
    for _ in 0..3 {
        client.send_binary(vec![1, 2, 3, 4]).await;
        client.recv_binary().await;
    }
    let refused = raw_http(
        gw.addr,
        &wsgate_tests::handshake("/m", &[("Sec-WebSocket-Version", "8")]),
    )
    .await;
    assert_eq!(status_of(&refused), 426);

    let app = ("app", "metered");
    let flow = |direction, kind| [app, ("direction", direction), ("kind", kind)];
    // An echo is counted right after it is queued: it may reach the client first.
    let s = wsgate_tests::within("the last echo to be counted", async {
        loop {
            let s = scrape(&gw).await;
            if sample(&s, "wsgate_messages_total", &flow("out", "binary")) == 3.0 {
                return s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(
        sample(
            &s,
            "wsgate_handshakes_total",
            &[app, ("outcome", "accepted")]
        ),
        1.0
    );
    assert_eq!(sample(&s, "wsgate_connections_open", &[app]), 1.0);
    assert_eq!(
        sample(&s, "wsgate_messages_total", &flow("in", "text")),
        5.0
    );
    assert_eq!(
        sample(&s, "wsgate_messages_total", &flow("out", "text")),
        5.0
    );
    assert_eq!(
        sample(&s, "wsgate_messages_total", &flow("in", "binary")),
        3.0
    );
    assert_eq!(
        sample(&s, "wsgate_messages_total", &flow("out", "binary")),
        3.0
    );
    assert_eq!(
        sample(&s, "wsgate_message_bytes_total", &flow("in", "text")),
        45.0
    );
    assert_eq!(
        sample(&s, "wsgate_message_bytes_total", &flow("in", "binary")),
        12.0
    );
    assert_eq!(
        sample(&s, "wsgate_message_bytes_total", &flow("out", "binary")),
        12.0
    );
    assert_eq!(
        hook_count(&s, "metered", "on-message"),
        5.0,
        "on-message ran five times"
    );
    assert_eq!(sample(&s, "wsgate_traps_total", &[app]), 0.0);
}

#[tokio::test]
async fn metrics_count_traps_refusals_and_slow_consumers() {
    let mut hostile = app("rowdy", "/h", plugins::HOSTILE);
    hostile.limits.max_connections = 2;
    let gw = TestGateway::start(vec![hostile]).await;
    let mut flooded = gw.connect("/h").await;
    let mut culprit = gw.connect("/h").await;
    let refused = raw_http(gw.addr, &wsgate_tests::handshake("/h", &[])).await;
    assert_eq!(status_of(&refused), 503);
    culprit.send_text("storm 300 32768").await;
    assert_eq!(flooded.recv_close().await.0, 1008);
    culprit.send_text("panic").await;
    assert_eq!(culprit.recv_close().await.0, 1011);
    wsgate_tests::until("the trap to be counted", || {
        gw.gateway.app_stats("rowdy").unwrap().traps == 1
    })
    .await;

    let s = scrape(&gw).await;
    let app = ("app", "rowdy");
    assert_eq!(
        sample(
            &s,
            "wsgate_handshakes_total",
            &[app, ("outcome", "refused_limit")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &s,
            "wsgate_handshakes_total",
            &[app, ("outcome", "accepted")]
        ),
        2.0
    );
    assert_eq!(sample(&s, "wsgate_slow_consumer_closes_total", &[app]), 1.0);
    assert_eq!(sample(&s, "wsgate_traps_total", &[app]), 1.0);
    assert_eq!(sample(&s, "wsgate_app_failed", &[app]), 0.0);
}
