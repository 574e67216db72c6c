//! With `max_batch_events` above 1 (off by default), messages that wait for a 0.2
//! plugin are handed over together, in one call (within 1 s of `hook_timeout_ms`
//! each): in order, each once, and all or nothing — when the call traps, the
//! messages are handed over again one by one, so that only the one that traps
//! closes its connection.

use std::time::Duration;

use wsgate::config::Limits;
use wsgate_tests::{TestGateway, app, get, plugins, until};

/// The hostile plugin (it echoes what is not a misdeed) with batches on and a
/// 250 ms deadline: batches of up to 4.
async fn gateway() -> TestGateway {
    let mut h = app("h", "/h", plugins::HOSTILE);
    h.limits = Limits {
        hook_timeout: Duration::from_millis(250),
        max_batch_events: 64,
        ..Limits::default()
    };
    TestGateway::start(vec![h]).await
}

#[tokio::test]
async fn messages_that_waited_together_come_back_in_order_each_once() {
    let gw = gateway().await;
    let mut sleeper = gw.connect("/h").await;
    let mut talker = gw.connect("/h").await;
    // The app is busy for 150 ms: the talker's messages wait, and go in batches.
    sleeper.send_text("sleep 150").await;
    for n in 0..40 {
        talker.send_text(format!("m{n}")).await;
    }
    assert_eq!(sleeper.recv_text().await, "slept");
    for n in 0..40 {
        assert_eq!(talker.recv_text().await, format!("m{n}"));
    }
    talker.send_text("last").await;
    assert_eq!(talker.recv_text().await, "last", "nothing came twice");
    // 42 messages in all, in fewer calls: they went in batches.
    let metrics = get(gw.addr, "/metrics").await;
    let calls: f64 = metrics
        .lines()
        .find(|l| {
            l.starts_with("wsgate_hook_duration_seconds_count")
                && l.contains("app=\"h\"")
                && l.contains("hook=\"on-message\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(
        (1.0..42.0).contains(&calls),
        "{calls} calls for 42 messages"
    );
}

#[tokio::test]
async fn a_trap_in_a_batch_closes_only_its_connection_and_the_others_are_handled_once() {
    let gw = gateway().await;
    let mut sleeper = gw.connect("/h").await;
    let mut before = gw.connect("/h").await;
    let mut culprit = gw.connect("/h").await;
    let mut after = gw.connect("/h").await;
    sleeper.send_text("sleep 150").await;
    before.send_text("one").await;
    culprit.send_text("panic").await;
    after.send_text("two").await;
    assert_eq!(sleeper.recv_text().await, "slept");
    assert_eq!(before.recv_text().await, "one");
    assert_eq!(
        culprit.recv_close().await,
        (1011, "plugin error".to_owned())
    );
    assert_eq!(after.recv_text().await, "two");
    until("the trap counted", || {
        gw.gateway.app_stats("h").unwrap().traps >= 1
    })
    .await;
    before.send_text("three").await;
    assert_eq!(
        before.recv_text().await,
        "three",
        "no message was handled twice"
    );
    assert_eq!(
        gw.gateway.app_stats("h").unwrap().traps,
        1,
        "only the message that trapped counts"
    );
}
