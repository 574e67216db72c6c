//! The actor without sockets: traps, the breaker and its retry, reloads.

use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::app::outbox::{OutboxReceiver, outbox};
use crate::app::stats::AppStats;
use bytes::Bytes;

use crate::app::{AcceptOutcome, AppHandle, Input, Joining, Outbound};
use crate::config::Limits;
use crate::directory::{Handshake, Member};
use crate::model::{Event, Request};
use crate::plugin::{LoadedPlugin, PluginEngine};

const TESTBED: &[u8] = include_bytes!(env!("WSGATE_FIXTURE_TESTBED_WASM"));
const WAIT: Duration = Duration::from_secs(20);

fn testbed() -> LoadedPlugin {
    let engine = PluginEngine::new().unwrap_or_else(|e| panic!("{e}"));
    LoadedPlugin::compile(&engine, "testbed", TESTBED).unwrap_or_else(|e| panic!("{e}"))
}

/// The testbed app's actor, without sockets.
fn app(limits: Limits) -> (AppHandle, Arc<AppStats>) {
    let stats = Arc::new(AppStats::default());
    let handle = crate::app::actor::spawn(
        "testbed",
        testbed(),
        limits,
        stats.clone(),
        None,
        &crate::app::alarm::Clock::start(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (handle, stats)
}

async fn connect(app: &AppHandle, conn: u64) -> OutboxReceiver {
    let (tx, rx) = outbox();
    let member = Member::new(None, Bytes::new(), Handshake::default(), tx.gauge());
    let joining = Joining {
        conn,
        outbox: tx,
        member,
        attachment: Bytes::new(),
        rooms: Vec::new(),
    };
    send(app, Input::Connect(Box::new(joining))).await;
    rx
}

async fn send(app: &AppHandle, input: Input) {
    assert!(app.send(input).await.is_ok(), "the actor is gone");
}

async fn say(app: &AppHandle, conn: u64, text: &str) {
    let text = Utf8Bytes::from(text.to_owned());
    send(app, Input::Event(Event::Text { conn, text })).await;
}

/// Hands the app a new testbed version (the same bytes: a swap all the same).
fn reload(app: &AppHandle) {
    app.reload(testbed(), "test".into(), std::time::Instant::now());
}

/// The next thing queued for a connection, as text.
async fn next(rx: &mut OutboxReceiver) -> String {
    let out = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("nothing queued within {WAIT:?}"));
    match out {
        Some(Outbound::Message(Message::Text(t))) => t.as_str().to_owned(),
        Some(Outbound::Close { code, reason }) => format!("close {code} {reason}"),
        other => format!("{other:?}"),
    }
}

async fn accept(app: &AppHandle, conn: u64) -> AcceptOutcome {
    let request = Request {
        path: "/t".into(),
        query: String::new(),
        headers: Vec::new(),
        remote_addr: "127.0.0.1:1".into(),
        subprotocols: Vec::new(),
    };
    app.accept(conn, request)
        .await
        .unwrap_or_else(|_| panic!("the actor is gone"))
}

/// Connection 1 comes and closes with 4000: the testbed keeps that in its state
/// (`events` shows it), which reloads and unloading must hand over.
async fn leave_a_mark(app: &AppHandle) {
    let _one = connect(app, 1).await;
    let close = Event::Close {
        conn: 1,
        code: 4000,
        reason: "gone".into(),
    };
    send(app, Input::Event(close)).await;
}

#[tokio::test]
async fn a_trap_closes_its_connection_with_1011_and_a_fresh_instance_serves_the_rest() {
    let (app, stats) = app(Limits::default());
    let mut one = connect(&app, 1).await;
    let mut two = connect(&app, 2).await;
    say(&app, 1, "panic").await;
    assert_eq!(next(&mut one).await, "close 1011 plugin error");
    say(&app, 2, "whoami").await;
    assert_eq!(next(&mut two).await, "2");
    let s = stats.snapshot();
    assert_eq!((s.traps, s.recoveries, s.failed), (1, 1, false));
}

#[tokio::test]
async fn traps_in_a_row_trip_the_breaker_and_the_retry_brings_the_app_back() {
    let mut limits = Limits::default();
    limits.crash_loop.traps = 2;
    limits.crash_loop.backoff = Duration::from_millis(50);
    let (app, stats) = app(limits);
    let mut one = connect(&app, 1).await;
    let mut two = connect(&app, 2).await;
    let mut three = connect(&app, 3).await;
    say(&app, 1, "panic").await;
    say(&app, 2, "panic").await;
    assert_eq!(next(&mut one).await, "close 1011 plugin error");
    assert_eq!(next(&mut two).await, "close 1011 plugin error");
    assert_eq!(next(&mut three).await, "close 1011 app failed");
    assert!(matches!(accept(&app, 4).await, AcceptOutcome::Failing));
    // The retry comes after the backoff, through the actor's own queue.
    let back = tokio::time::timeout(WAIT, async {
        while stats.is_failed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(back.is_ok(), "the app did not come back");
    assert!(matches!(accept(&app, 5).await, AcceptOutcome::Allow { .. }));
    let mut five = connect(&app, 5).await;
    say(&app, 5, "whoami").await;
    assert_eq!(next(&mut five).await, "5");
}

#[tokio::test]
async fn a_reload_hands_the_state_over_and_a_refused_one_keeps_the_old_version() {
    let (app, stats) = app(Limits::default());
    leave_a_mark(&app).await;
    reload(&app);
    let mut two = connect(&app, 2).await;
    say(&app, 2, "events").await;
    let events = next(&mut two).await;
    assert!(events.contains("\"code\":4000"), "state lost: {events}");
    assert_eq!(stats.snapshot().reloads_applied, 1);

    // A snapshot that makes the next version's restore trap: refused, the old
    // version serves on with its state.
    say(&app, 2, "poison").await;
    assert_eq!(next(&mut two).await, "poisoned");
    reload(&app);
    say(&app, 2, "events").await;
    let after = next(&mut two).await;
    assert!(after.contains("\"code\":4000"), "state lost: {after}");
    let s = stats.snapshot();
    assert_eq!((s.reloads_applied, s.reloads_refused), (1, 1));
}

/// Waits until the app's unloaded gauge reads `value`.
async fn until_unloaded(stats: &AppStats, value: i64) {
    let reached = tokio::time::timeout(WAIT, async {
        while stats.metrics.unloaded.get() != value {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "the unloaded gauge never read {value}");
}

#[tokio::test]
async fn an_idle_app_unloads_and_the_next_event_brings_it_back_with_its_state() {
    let limits = Limits {
        idle_unload: Some(Duration::from_millis(30)),
        ..Limits::default()
    };
    let (app, stats) = app(limits);
    leave_a_mark(&app).await;
    until_unloaded(&stats, 1).await;
    // A new connection wakes it: its state came back through snapshot and restore.
    let mut two = connect(&app, 2).await;
    say(&app, 2, "events").await;
    let events = next(&mut two).await;
    assert!(events.contains("\"code\":4000"), "state lost: {events}");
    assert_eq!(stats.metrics.unloaded.get(), 0);

    // Unloaded again, a reload hands the state over all the same.
    until_unloaded(&stats, 1).await;
    reload(&app);
    say(&app, 2, "events").await;
    let events = next(&mut two).await;
    assert!(
        events.contains("\"code\":4000"),
        "state lost over the reload: {events}"
    );
    assert_eq!(stats.snapshot().reloads_applied, 1);
    // The connection stayed open all along.
    say(&app, 2, "whoami").await;
    assert_eq!(next(&mut two).await, "2");
}

/// What is queued for a connection until its close, as text.
async fn until_closed(rx: &mut OutboxReceiver) -> String {
    loop {
        let out = next(rx).await;
        if out.starts_with("close ") {
            return out;
        }
    }
}

#[tokio::test]
async fn a_connection_that_completes_its_handshake_after_the_shutdown_close_is_closed_too() {
    let (app, _stats) = app(Limits::default());
    let mut early = connect(&app, 1).await;
    app.close_all(crate::close::SHUTDOWN);
    assert_eq!(until_closed(&mut early).await, "close 1001 going away");
    // Its upgrade raced the shutdown: it reaches the app after the order.
    let mut late = connect(&app, 2).await;
    assert_eq!(until_closed(&mut late).await, "close 1001 going away");
}
