//! Plugins written in JavaScript (`plugins/*-js`, built with the npm SDK in
//! `plugin-sdk/js`): served like any component. They are built by
//! `./scripts/test.sh` (npm), which then runs these tests (`--ignored`): a plain
//! `cargo test` has no JavaScript toolchain to build them with.

use std::path::PathBuf;

use wsgate_tests::{TestGateway, app, copied_app, plugins, replace_by_rename, with_custom_section};

use crate::{chat, reload, sandbox, timers};

/// `plugins/NAME/NAME.wasm`, as `npm run build` writes it.
fn js_plugin(name: &str) -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../plugins/{name}/{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is not built: ./scripts/test.sh builds it (cd plugins/{name} && npm ci && npm run build)",
        path.display()
    );
    path.display().to_string()
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn the_javascript_echo_sends_text_and_binary_back() {
    let gw = TestGateway::start(vec![app("echo-js", "/echo", &js_plugin("echo-js"))]).await;
    let mut one = gw.connect("/echo").await;
    let mut two = gw.connect("/echo").await;
    one.send_text("hello from js").await;
    assert_eq!(one.recv_text().await, "hello from js");
    two.send_binary(vec![0, 1, 2, 255]).await;
    assert_eq!(two.recv_binary().await, [0, 1, 2, 255]);
    one.send_text("é".repeat(1000)).await;
    assert_eq!(
        one.recv_text().await,
        "é".repeat(1000),
        "UTF-8 through QuickJS"
    );
    gw.stop().await;
}

// The chat protocol: the bodies of chat.rs, against the JavaScript chat.

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn chat_js_three_clients_see_welcome_join_message_and_leave_as_exact_json() {
    chat::three_clients_see_welcome_join_message_and_leave_as_exact_json_with(&js_plugin(
        "chat-js",
    ))
    .await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn chat_js_bad_input_gets_an_error_to_the_sender_only() {
    chat::bad_input_gets_an_error_to_the_sender_only_with(&js_plugin("chat-js")).await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn chat_js_two_rooms_hear_only_their_own_and_move_tells_both() {
    chat::two_rooms_hear_only_their_own_and_move_tells_both_with(&js_plugin("chat-js")).await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn the_rust_chat_swapped_for_the_javascript_one_keeps_its_users() {
    let (_dir, path, app) = copied_app(plugins::CHAT, "app", "/ws");
    let gw = reload::watching(app).await;
    let mut alice = gw.connect("/ws").await;
    let mut bob = gw.connect("/ws").await;
    for (client, name) in [(&mut alice, "Alice"), (&mut bob, "Bob")] {
        client.recv_text().await; // welcome
        client
            .send_text(format!(
                r#"{{"type":"join","username":"{name}","room":"rust"}}"#
            ))
            .await;
    }
    assert_eq!(alice.recv_text().await, r#"{"type":"join","user":"Alice"}"#);
    assert_eq!(alice.recv_text().await, r#"{"type":"join","user":"Bob"}"#);
    assert_eq!(bob.recv_text().await, r#"{"type":"join","user":"Bob"}"#);

    replace_by_rename(&path, &std::fs::read(js_plugin("chat-js")).unwrap());
    reload::applied(&gw, 1).await;
    bob.send_text("now in JavaScript").await;
    for client in [&mut alice, &mut bob] {
        assert_eq!(
            client.recv_text().await,
            r#"{"type":"message","user":"Bob","text":"now in JavaScript"}"#,
            "the name and room the Rust chat left in the gateway"
        );
    }
    alice.send_text(r#"{"type":"who"}"#).await;
    assert_eq!(
        alice.recv_text().await,
        r#"{"type":"users","users":["Alice","Bob"],"anonymous":0}"#,
        "the host reads (room members, connection info) from JavaScript"
    );
    gw.stop().await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn dashboard_js_ticks_with_a_rising_seq_also_across_a_reload() {
    timers::the_dashboard_ticks_with_a_rising_seq_also_across_a_reload_with(&js_plugin(
        "dashboard-js",
    ))
    .await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn the_rust_dashboard_swapped_for_the_javascript_one_counts_on() {
    let (_dir, path, app) = copied_app(plugins::DASHBOARD, "app", "/d");
    let gw = reload::watching(app).await;
    let mut a = gw.connect("/d").await;
    a.send_text(r#"{"type":"interval","ms":100}"#).await;
    let tick = |text: String| -> u64 {
        let tick: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(tick["type"], "tick", "{text}");
        tick["seq"].as_u64().unwrap()
    };
    let before = tick(a.recv_text().await);
    replace_by_rename(&path, &std::fs::read(js_plugin("dashboard-js")).unwrap());
    reload::applied(&gw, 1).await;
    // Ticks of the Rust version may still be on their way: the JavaScript one goes on
    // from where the Rust one's state left off, by one, on the timer the gateway held.
    let mut last = before;
    for _ in 0..5 {
        let seq = tick(a.recv_text().await);
        assert_eq!(
            seq,
            last + 1,
            "one count, no gap and no restart, across the swap"
        );
        last = seq;
    }
    assert_eq!(gw.gateway.app_stats("app").unwrap().traps, 0);
    gw.stop().await;
}

// The sandbox holds a JavaScript hook as it holds a Rust one.

async fn js_culprit(misdeed: &str) {
    let gw = sandbox::only_the_culprit_of(&js_plugin("hostile-js"), misdeed).await;
    assert_eq!(
        gw.gateway.app_stats("hostile").unwrap().traps,
        1,
        "{misdeed}"
    );
    gw.stop().await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn a_javascript_exception_is_a_trap_of_its_instance_only() {
    js_culprit("throw").await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn an_endless_javascript_loop_is_stopped_at_its_deadline() {
    js_culprit("loop").await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn javascript_allocating_without_end_stops_at_the_memory_limit() {
    js_culprit("alloc").await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn javascript_recursing_without_end_is_a_trap() {
    js_culprit("stack").await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn a_javascript_plugin_keeps_its_json_state_over_a_hot_reload() {
    let (_dir, path, app) = copied_app(&js_plugin("hostile-js"), "app", "/h");
    let gw = reload::watching(app).await;
    let mut client = gw.connect("/h").await;
    for expected in ["1", "2"] {
        client.send_text("count").await;
        assert_eq!(client.recv_text().await, expected);
    }
    client.send_text("log").await;
    assert_eq!(client.recv_text().await, "logged", "the log import works");
    let bytes = std::fs::read(&path).unwrap();
    replace_by_rename(&path, &with_custom_section(&bytes, "v2"));
    reload::applied(&gw, 1).await;
    client.send_text("count").await;
    assert_eq!(
        client.recv_text().await,
        "3",
        "the count came over the reload"
    );
    gw.stop().await;
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn the_javascript_relay_broadcasts_and_publishes_to_the_room_asked_for() {
    let gw = TestGateway::start(vec![app("relay", "/relay", &js_plugin("relay-js"))]).await;
    let mut a = gw.connect("/relay?room=r").await;
    let mut b = gw.connect("/relay?room=r").await;
    let mut outside = gw.connect("/relay").await;
    a.send_text("to the room").await;
    assert_eq!(b.recv_text().await, "to the room");
    outside.send_binary(vec![7, 8]).await;
    assert_eq!(
        a.recv_binary().await,
        [7, 8],
        "a broadcast reaches every other"
    );
    assert_eq!(b.recv_binary().await, [7, 8]);
    b.send_text("again").await;
    assert_eq!(a.recv_text().await, "again");
    assert!(
        outside
            .recv_within(std::time::Duration::from_millis(200))
            .await
            .is_none(),
        "nothing of the room reached the connection outside it"
    );
    gw.stop().await;
}
