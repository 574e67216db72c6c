//! Messages that wait for a plugin that imports `host.commit` (every plugin built
//! with an SDK) are handed over together, in one call (up to `max_batch_events`, 16
//! by default, within 1 s of `hook_timeout_ms` each): in order, each once, each
//! handled as if it had come alone (a read sees what the earlier ones did, an
//! attachment an earlier one set is seen) — and when the call traps, the messages
//! after the last commit are handed over again one by one, so that only the one
//! that traps closes its connection, and nothing is done twice.

use std::time::Duration;

use wsgate::config::Limits;
use wsgate_tests::{TestGateway, app, plugins, until};

use crate::metrics::hook_calls;

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

/// The testbed with the default limits but a 250 ms deadline: batches of up to 4.
async fn testbed() -> TestGateway {
    let mut t = app("t", "/t", plugins::TESTBED);
    t.limits = Limits {
        hook_timeout: Duration::from_millis(250),
        ..Limits::default()
    };
    TestGateway::start(vec![t]).await
}

/// Keeps app `app` (at `route`) busy for 150 ms, so that what comes next waits and
/// goes in batches.
async fn busy(gw: &TestGateway, route: &str, app: &str) -> wsgate_tests::Client {
    let mut sleeper = gw.connect(route).await;
    sleeper.send_text("sleep 150").await;
    // The sleep has begun before the test sends what should wait for it.
    until("the app is busy", || {
        gw.gateway.app_stats(app).unwrap().busy_ms > 0
    })
    .await;
    sleeper
}

#[tokio::test]
async fn by_default_a_read_in_a_batch_sees_what_the_earlier_messages_did() {
    let gw = testbed().await;
    let mut talker = gw.connect("/t").await;
    let mut sleeper = busy(&gw, "/t", "t").await;
    for n in 0..8 {
        talker.send_text(format!("join r{n}")).await;
        talker.send_text(format!("room-size r{n}")).await;
    }
    for n in 0..8 {
        talker.send_text(format!("attach x{n}")).await;
        talker.send_text("me").await;
    }
    assert_eq!(sleeper.recv_text().await, "slept");
    for n in 0..8 {
        assert_eq!(talker.recv_text().await, "1", "room r{n} holds the talker");
    }
    for n in 0..8 {
        let me: serde_json::Value = serde_json::from_str(&talker.recv_text().await).unwrap();
        assert_eq!(me["attachment"], format!("x{n}"), "{me}");
    }
    talker.send_text("last").await;
    assert_eq!(talker.recv_text().await, "last", "nothing came twice");
    let calls = hook_calls(&gw, "t", "on-message").await;
    assert!(
        (1.0..34.0).contains(&calls),
        "{calls} calls for 34 messages: they went in batches"
    );
}

#[tokio::test]
async fn after_a_trap_in_a_batch_only_what_was_not_committed_is_handed_over_again() {
    let gw = testbed().await;
    let mut culprit = gw.connect("/t").await;
    let mut hearer = gw.connect("/t").await;
    let mut sleeper = busy(&gw, "/t", "t").await;
    // One batch (one connection's messages keep their order): the read commits the
    // broadcast, then the call traps; only the read and the panic go again.
    culprit.send_text("broadcast-others hello").await;
    culprit.send_text("room-size t").await;
    culprit.send_text("panic").await;
    assert_eq!(sleeper.recv_text().await, "slept");
    assert_eq!(hearer.recv_text().await, "hello");
    assert_eq!(culprit.recv_text().await, "0");
    assert_eq!(
        culprit.recv_close().await,
        (1011, "plugin error".to_owned())
    );
    hearer.send_text("last").await;
    assert_eq!(hearer.recv_text().await, "last", "the broadcast went once");
    assert_eq!(gw.gateway.app_stats("t").unwrap().traps, 1);
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
    let calls = hook_calls(&gw, "h", "on-message").await;
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
