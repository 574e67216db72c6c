//! Timers held by the gateway (contract 0.2): they fire in order, repeat, cancel,
//! survive a hot reload, are retried on a fresh instance after a trap (three
//! attempts in all); and the dashboard that runs on one.

use std::time::Duration;

use wsgate_tests::{Client, TestGateway, app, copied_app, plugins, rebuild, until};

async fn testbed() -> TestGateway {
    TestGateway::start(vec![app("t", "/t", plugins::TESTBED)]).await
}

/// Reads until the answer to `whoami`; returns what came before it.
async fn until_id(client: &mut Client) -> Vec<String> {
    client.send_text("whoami").await;
    let mut before = Vec::new();
    loop {
        let text = client.recv_text().await;
        if text.parse::<u64>().is_ok() {
            return before;
        }
        before.push(text);
    }
}

#[tokio::test]
async fn timers_fire_in_the_order_they_are_due() {
    let gw = testbed().await;
    let mut a = gw.connect("/t").await;
    a.send_text("timer late 150").await;
    a.send_text("timer soon 20").await;
    a.send_text("timer middle 80").await;
    assert_eq!(a.recv_text().await, "timer soon");
    assert_eq!(a.recv_text().await, "timer middle");
    assert_eq!(a.recv_text().await, "timer late");
    let stats = gw.gateway.app_stats("t").unwrap();
    assert_eq!((stats.timers_set, stats.timers_fired), (3, 3));
}

#[tokio::test]
async fn a_repeating_timer_repeats_until_cancelled_and_a_key_set_again_replaces_it() {
    let gw = testbed().await;
    let mut a = gw.connect("/t").await;
    a.send_text("timer r 20 20").await;
    for _ in 0..3 {
        assert_eq!(a.recv_text().await, "timer r");
    }
    a.send_text("cancel r").await;
    // Ticks already on their way may arrive; after the cancel is through, none.
    let _ = until_id(&mut a).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(until_id(&mut a).await.is_empty(), "a cancelled timer fired");

    a.send_text("timer once 60000").await;
    a.send_text("timer once 20").await;
    assert_eq!(a.recv_text().await, "timer once");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        until_id(&mut a).await.is_empty(),
        "the replaced timer fired too"
    );
}

#[tokio::test]
async fn a_timer_survives_a_hot_reload() {
    let (_dir, path, app) = copied_app(plugins::TESTBED, "t", "/t");
    let gw = TestGateway::start(vec![app]).await;
    gw.gateway.watch_plugins().unwrap();
    let mut a = gw.connect("/t").await;
    a.send_text("timer across 1500").await;
    rebuild(&path, "v2");
    until("the reload", || {
        gw.gateway.app_stats("t").unwrap().reloads_applied == 1
    })
    .await;
    assert_eq!(a.recv_text().await, "timer across");
}

#[tokio::test]
async fn a_timer_whose_hook_traps_is_retried_three_times_in_all_and_others_are_served() {
    let gw = testbed().await;
    let mut a = gw.connect("/t").await;
    a.send_text("timer-panic p 20").await;
    until("three traps", || {
        gw.gateway.app_stats("t").unwrap().traps == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = gw.gateway.app_stats("t").unwrap();
    assert_eq!(stats.traps, 3, "no fourth attempt: {stats:?}");
    assert_eq!(stats.timers_fired, 3);
    // A timer trap has no connection to close: the client is still served.
    a.send_text("still here").await;
    assert_eq!(a.recv_text().await, "still here");
}

/// The ticks `client` receives, as JSON.
async fn tick(client: &mut Client) -> serde_json::Value {
    let tick = client.recv_json().await;
    assert_eq!(tick["type"], "tick", "{tick}");
    tick
}

#[tokio::test]
async fn the_dashboard_ticks_with_a_rising_seq_also_across_a_reload() {
    the_dashboard_ticks_with_a_rising_seq_also_across_a_reload_with(plugins::DASHBOARD).await;
}

/// The dashboard's test body, for each implementation of it (Rust, JavaScript).
pub(crate) async fn the_dashboard_ticks_with_a_rising_seq_also_across_a_reload_with(plugin: &str) {
    let (_dir, path, app) = copied_app(plugin, "dashboard", "/dashboard");
    let gw = TestGateway::start(vec![app]).await;
    gw.gateway.watch_plugins().unwrap();
    let mut a = gw.connect("/dashboard").await;
    a.send_text(r#"{"type":"interval","ms":100}"#).await;
    let first = tick(&mut a).await;
    let mut b = gw.connect("/dashboard").await;
    let mut seq = first["seq"].as_u64().unwrap();
    // Both watchers see the same ticks, counting both.
    let mut both = tick(&mut a).await;
    while both["connections"] != 2 {
        seq = both["seq"].as_u64().unwrap();
        both = tick(&mut a).await;
    }
    assert_eq!(both["seq"].as_u64().unwrap(), seq + 1);
    assert_eq!(tick(&mut b).await, both);
    seq += 1;

    rebuild(&path, "v2");
    until("the reload", || {
        gw.gateway.app_stats("dashboard").unwrap().reloads_applied == 1
    })
    .await;
    for _ in 0..5 {
        let next = tick(&mut a).await["seq"].as_u64().unwrap();
        assert_eq!(next, seq + 1, "seq goes on by one, across the reload");
        seq = next;
    }
    a.send_text(r#"{"type":"interval","ms":5}"#).await;
    loop {
        let message = a.recv_json().await;
        if message["type"] == "error" {
            break;
        }
    }
}
