//! Hooks that block in a host call (a WASI sleep, a clock poll), plugins that hand the
//! host huge strings, and apps whose queue is full: none of them holds another app, a
//! reload or the gateway. Each misdeed here would take a minute unchecked; the tests
//! wait at most [`TIMEOUT`](wsgate_tests::TIMEOUT) (20 s), so they tell a cut wait from
//! a long one without timing anything.

use std::time::Duration;

use wsgate::config::Limits;
use wsgate_tests::{
    EchoProbe, TestGateway, body_of, copied_app_in, get, handshake, plugins, raw_http, rebuild,
    status_of, until, within,
};

use crate::sandbox::gateway;

/// A minute: far past any deadline in these tests.
const LONG_MS: u64 = 60_000;

/// The culprit's misdeed ends in 1011 at its deadline; the echo app never missed a
/// beat; the app's next client is served by a fresh instance.
async fn cut_at_the_deadline(misdeed: &str) {
    let gw = gateway(Limits::default()).await;
    let probe = EchoProbe::start(&gw).await;
    let mut culprit = gw.connect("/h").await;
    culprit.send_text(misdeed).await;
    assert_eq!(
        culprit.recv_close().await,
        (1011, "plugin error".to_owned()),
        "{misdeed}"
    );
    let mut next = gw.connect("/h").await;
    next.send_text("hello").await;
    assert_eq!(next.recv_text().await, "hello");
    probe.finish().await;
    let stats = gw.gateway.app_stats("hostile").unwrap();
    assert_eq!(stats.traps, 1, "the overrun counts toward the breaker");
}

#[tokio::test]
async fn a_hook_that_sleeps_in_wasi_is_stopped_at_its_deadline() {
    cut_at_the_deadline(&format!("sleep {LONG_MS}")).await;
}

#[tokio::test]
async fn a_hook_that_polls_the_clock_is_stopped_at_its_deadline() {
    cut_at_the_deadline(&format!("poll-clock {LONG_MS}")).await;
}

#[tokio::test]
async fn an_on_accept_that_sleeps_gets_500_at_its_deadline() {
    let gw = gateway(Limits::default()).await;
    let probe = EchoProbe::start(&gw).await;
    let response = raw_http(gw.addr, &handshake(&format!("/h?sleep={LONG_MS}"), &[])).await;
    assert_eq!(status_of(&response), 500, "{response}");
    let mut next = gw.connect("/h").await;
    next.send_text("served").await;
    assert_eq!(next.recv_text().await, "served");
    probe.finish().await;
}

#[tokio::test]
async fn a_snapshot_that_sleeps_is_cut_and_the_reload_goes_on_without_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let (path, hostile) = copied_app_in(dir.path(), plugins::HOSTILE, "hostile", "/h");
    let (_, echo) = copied_app_in(dir.path(), plugins::ECHO, "echo", "/echo");
    let gw = TestGateway::start(vec![echo, hostile]).await;
    gw.gateway.watch_plugins().unwrap();
    let probe = EchoProbe::start(&gw).await;
    let mut client = gw.connect("/h").await;
    client.send_text(format!("sleep-snapshot {LONG_MS}")).await;
    assert_eq!(client.recv_text().await, "armed");
    rebuild(&path, "v2");
    until("the reload despite the sleeping snapshot", || {
        gw.gateway.app_stats("hostile").unwrap().reloads_applied == 1
    })
    .await;
    client.send_text("still here").await;
    assert_eq!(client.recv_text().await, "still here");
    assert_eq!(gw.gateway.app_stats("hostile").unwrap().traps, 1);
    probe.finish().await;
}

/// `/readyz` of `gw`, as JSON.
async fn readyz(gw: &TestGateway) -> (u16, serde_json::Value) {
    let response = get(gw.addr, "/readyz").await;
    let body = body_of(&response);
    (status_of(&response), serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn an_app_busy_with_a_full_queue_delays_no_other_app_and_readyz_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // Sorted before the echo app's file: the reloader meets it first.
    let (hostile_path, mut hostile) =
        copied_app_in(dir.path(), plugins::HOSTILE, "a-hostile", "/h");
    hostile.limits.hook_timeout = Duration::from_secs(30);
    let (echo_path, echo) = copied_app_in(dir.path(), plugins::ECHO, "b-echo", "/echo");
    let gw = TestGateway::start(vec![echo, hostile]).await;
    gw.gateway.watch_plugins().unwrap();
    let probe = EchoProbe::start(&gw).await;

    // A hook legitimately busy for 15 s (its deadline is 30 s), and a client whose
    // messages pile up behind it until the app's queue is full.
    let mut sleeper = gw.connect("/h").await;
    let mut flooder = gw.connect("/h").await;
    sleeper.send_text("sleep 15000").await;
    let flood = tokio::spawn(async move {
        for n in 0..2000 {
            flooder.send_text(format!("m{n}")).await;
        }
        flooder
    });
    let full = within("a full queue in /readyz", async {
        loop {
            let (status, body) = readyz(&gw).await;
            let app = body["apps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["name"] == "a-hostile")
                .cloned()
                .unwrap();
            if app["queue_full"] == true {
                return (status, app);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(full.0, 503, "{:?}", full.1);
    assert_eq!(full.1["ready"], false, "{:?}", full.1);
    assert!(full.1["busy_ms"].as_u64().unwrap() > 0, "{:?}", full.1);

    // New versions of both plugins: the echo app's goes live while the other app is
    // still in its hook.
    rebuild(&hostile_path, "v2");
    rebuild(&echo_path, "v2");
    until("the echo app's reload", || {
        gw.gateway.app_stats("b-echo").unwrap().reloads_applied == 1
    })
    .await;
    let hostile_now = gw.gateway.app_stats("a-hostile").unwrap();
    assert_eq!(hostile_now.reloads_applied, 0, "the busy app is still busy");
    assert!(hostile_now.busy_ms > 0, "{hostile_now:?}");
    probe.finish().await;
    flood.abort();
}

async fn metric(gw: &TestGateway, line_start: &str) -> String {
    let response = get(gw.addr, "/metrics").await;
    response
        .lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_else(|| panic!("no {line_start} in {response}"))
        .to_owned()
}

#[tokio::test]
async fn a_huge_log_line_is_cut_and_a_flood_of_bytes_is_dropped_and_counted() {
    // Writing 32 MiB into the guest and copying it out takes tens of milliseconds in a
    // debug build, past the 100 ms default on a loaded machine; the deadline is not what
    // this test is about (the two above are), so it gets a wide one.
    let gw = gateway(Limits {
        hook_timeout: Duration::from_secs(10),
        ..Limits::default()
    })
    .await;
    let mut client = gw.connect("/h").await;
    client.send_text(format!("log-huge {}", 32 << 20)).await;
    assert_eq!(client.recv_text().await, "logged");
    assert_eq!(
        metric(&gw, "wsgate_plugin_log_cut_lines_total{app=\"hostile\"}").await,
        "wsgate_plugin_log_cut_lines_total{app=\"hostile\"} 1"
    );
    // 150 lines of 4 KiB: fewer than the 200-line burst, more than the 256 KiB one.
    client.send_text("log-flood 150 4096").await;
    assert_eq!(client.recv_text().await, "logged");
    let dropped = metric(
        &gw,
        "wsgate_plugin_log_dropped_bytes_total{app=\"hostile\"}",
    )
    .await;
    let bytes: u64 = dropped.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(bytes >= 4096 * 80, "{dropped}");
}

#[tokio::test]
async fn a_huge_deny_reason_is_cut_at_1_kib() {
    let gw = gateway(Limits::default()).await;
    let response = raw_http(gw.addr, &handshake("/h?deny-huge=10000000", &[])).await;
    assert_eq!(status_of(&response), 403, "{}", &response[..200]);
    let body = body_of(&response);
    assert_eq!(body.len(), 1024);
    assert!(body.bytes().all(|b| b == b'd'));
}
