//! The load generator against a real gateway, briefly: its modes count what really
//! happened (no timing is asserted; the benchmark suite measures speed).

use std::time::Duration;

use wsgate_load::broadcast::{self, BroadcastOptions};
use wsgate_load::client::Target;
use wsgate_load::connect::{self, ConnectOptions};
use wsgate_load::echo::{self, EchoOptions};
use wsgate_tests::{TestGateway, app, plugins, within};

#[tokio::test]
async fn echo_load_gets_every_message_back_from_several_source_addresses() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    let report = within(
        "echo load",
        echo::run(&EchoOptions {
            target: Target::new(gw.addr, "/echo").unwrap(),
            connections: 4,
            size: 32,
            binary: false,
            depth: 4,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(300),
            sources: 2,
            server_pid: Some(std::process::id()),
            batched: false,
            client: wsgate_load::echo::EchoClient::Tungstenite,
        }),
    )
    .await
    .unwrap();
    assert_eq!(report.failures, 0);
    assert!(report.msgs_per_sec > 0.0, "{report:?}");
    assert!(report.latency.p50_us > 0.0, "{report:?}");
    assert!(report.server_cpu_s.is_some(), "{report:?}");
    gw.stop().await;
}

#[tokio::test]
async fn broadcast_load_sees_every_relayed_message_at_every_receiver() {
    let gw = TestGateway::start(vec![app("relay", "/relay", plugins::RELAY)]).await;
    let report = within(
        "broadcast load",
        broadcast::run(&BroadcastOptions {
            target: Target::new(gw.addr, "/relay").unwrap(),
            receivers: 5,
            rates: vec![100.0],
            size: 32,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(400),
            sources: 1,
            server_pids: Vec::new(),
            also: None,
            max_p99: Duration::from_secs(10),
            attempts: 1,
        }),
    )
    .await
    .unwrap();
    assert_eq!(report.receivers, 5);
    assert_eq!(report.failures, 0);
    let step = &report.steps[0];
    // Nothing is lost: every message the sender sent in the window reached all five.
    assert!(step.ratio >= 0.99 && step.ratio <= 1.0, "{step:?}");
    assert!(step.delivered_per_sec > 0.0 && step.passed, "{step:?}");
    gw.stop().await;
}

/// A `connect` load on `gw`'s echo, in this process, reading this process's memory.
fn connect_options(
    gw: &TestGateway,
    steps: Vec<usize>,
    sources: usize,
    echo_first: usize,
) -> ConnectOptions {
    ConnectOptions {
        target: Target::new(gw.addr, "/echo").unwrap(),
        steps,
        sources,
        processes: 1,
        settle: Duration::from_millis(50),
        server_pid: Some(std::process::id()),
        echo_first,
    }
}

#[tokio::test]
async fn connect_load_holds_its_connections_and_reads_the_server_memory() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    let report = within(
        "connect load",
        connect::run(&connect_options(&gw, vec![10, 30], 3, 0)),
    )
    .await
    .unwrap();
    assert_eq!((report.opened, report.failed), (30, 0));
    assert_eq!(report.steps.len(), 2);
    assert!(report.steps.iter().all(|s| s.rss_kib.is_some()));
    gw.stop().await;
}

#[tokio::test]
async fn connect_load_can_have_each_connection_echo_a_message_before_it_idles() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    let report = within(
        "connect load with a message first",
        // Over tungstenite's read buffer and a frame header's 16-bit length.
        connect::run(&connect_options(&gw, vec![6], 2, 70_000)),
    )
    .await
    .unwrap();
    // A connection whose message did not come back whole counts as failed.
    assert_eq!((report.opened, report.failed), (6, 0));
    gw.stop().await;
}

#[test]
fn the_load_generator_refuses_to_load_another_machine() {
    let err = Target::new("192.0.2.1:80".parse().unwrap(), "/echo").unwrap_err();
    assert!(err.to_string().contains("not a loopback address"), "{err}");
}
