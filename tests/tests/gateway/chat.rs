//! The chat protocol, end to end. Each test body takes the plugin to serve: the
//! tests here run it against the Rust `chat`, and `js.rs` runs the same bodies
//! against `chat-js`, so the two implementations cannot drift apart.

use wsgate_tests::{Client, TestGateway, app, plugins};

const WELCOME: &str = r#"{"type":"welcome","message":"Connected!"}"#;

async fn chat_gateway(plugin: &str) -> TestGateway {
    TestGateway::start(vec![app("chat", "/ws", plugin)]).await
}

async fn expect_all(clients: &mut [&mut Client], json: &str) {
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.recv_text().await, json, "client {i}");
    }
}

#[tokio::test]
async fn three_clients_see_welcome_join_message_and_leave_as_exact_json() {
    three_clients_see_welcome_join_message_and_leave_as_exact_json_with(plugins::CHAT).await;
}

/// The body of [`three_clients_see_welcome_join_message_and_leave_as_exact_json`], for any chat plugin.
pub(crate) async fn three_clients_see_welcome_join_message_and_leave_as_exact_json_with(
    plugin: &str,
) {
    let gw = chat_gateway(plugin).await;
    let mut alice = gw.connect("/ws").await;
    assert_eq!(alice.recv_text().await, WELCOME);
    let mut bob = gw.connect("/ws").await;
    assert_eq!(bob.recv_text().await, WELCOME);
    let mut carol = gw.connect("/ws").await;
    assert_eq!(carol.recv_text().await, WELCOME);

    alice
        .send_text(r#"{"type":"join","username":"Alice"}"#)
        .await;
    expect_all(
        &mut [&mut alice, &mut bob, &mut carol],
        r#"{"type":"join","user":"Alice"}"#,
    )
    .await;
    bob.send_text(r#"{"type":"join","username":"Bob"}"#).await;
    expect_all(
        &mut [&mut alice, &mut bob, &mut carol],
        r#"{"type":"join","user":"Bob"}"#,
    )
    .await;

    alice
        .send_text(r#"{"type":"message","text":"Hello, \"world\"!"}"#)
        .await;
    expect_all(
        &mut [&mut alice, &mut bob, &mut carol],
        r#"{"type":"message","user":"Alice","text":"Hello, \"world\"!"}"#,
    )
    .await;
    bob.send_text("plain <text>").await;
    expect_all(
        &mut [&mut alice, &mut bob, &mut carol],
        r#"{"type":"message","user":"Bob","text":"plain <text>"}"#,
    )
    .await;
    carol.send_text("who am I").await;
    expect_all(
        &mut [&mut alice, &mut bob, &mut carol],
        r#"{"type":"message","user":"Anonymous","text":"who am I"}"#,
    )
    .await;

    alice.close(1000, "bye").await;
    expect_all(
        &mut [&mut bob, &mut carol],
        r#"{"type":"leave","user":"Alice"}"#,
    )
    .await;
    // A dropped TCP connection (no close frame) leaves too.
    drop(bob);
    expect_all(&mut [&mut carol], r#"{"type":"leave","user":"Bob"}"#).await;
}

#[tokio::test]
async fn bad_input_gets_an_error_to_the_sender_only() {
    bad_input_gets_an_error_to_the_sender_only_with(plugins::CHAT).await;
}

/// The body of [`bad_input_gets_an_error_to_the_sender_only`], for any chat plugin.
pub(crate) async fn bad_input_gets_an_error_to_the_sender_only_with(plugin: &str) {
    let gw = chat_gateway(plugin).await;
    let mut alice = gw.connect("/ws").await;
    let mut bob = gw.connect("/ws").await;
    alice.recv_text().await;
    bob.recv_text().await;

    for bad in [
        r#"{"type":"join","username":""}"#.to_owned(),
        format!(r#"{{"type":"join","username":"{}"}}"#, "x".repeat(33)),
        r#"{"type":"nonsense"}"#.to_owned(),
        "y".repeat(2001),
    ] {
        alice.send_text(bad.clone()).await;
        let reply = alice.recv_json().await;
        assert_eq!(reply["type"], "error", "{bad}");
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
    }
    // Bob saw none of it: the next thing he gets is a message broadcast after them.
    alice.send_text("still fine").await;
    assert_eq!(
        bob.recv_text().await,
        r#"{"type":"message","user":"Anonymous","text":"still fine"}"#
    );
}

#[tokio::test]
async fn two_rooms_hear_only_their_own_and_move_tells_both() {
    two_rooms_hear_only_their_own_and_move_tells_both_with(plugins::CHAT).await;
}

/// The body of [`two_rooms_hear_only_their_own_and_move_tells_both`], for any chat plugin.
pub(crate) async fn two_rooms_hear_only_their_own_and_move_tells_both_with(plugin: &str) {
    let gw = chat_gateway(plugin).await;
    let mut alice = gw.connect("/ws").await;
    let mut bob = gw.connect("/ws").await;
    let mut carol = gw.connect("/ws").await;
    for c in [&mut alice, &mut bob, &mut carol] {
        assert_eq!(c.recv_text().await, WELCOME);
    }
    alice
        .send_text(r#"{"type":"join","username":"Alice","room":"rust"}"#)
        .await;
    assert_eq!(alice.recv_text().await, r#"{"type":"join","user":"Alice"}"#);
    bob.send_text(r#"{"type":"join","username":"Bob","room":"rust"}"#)
        .await;
    expect_all(
        &mut [&mut alice, &mut bob],
        r#"{"type":"join","user":"Bob"}"#,
    )
    .await;
    carol
        .send_text(r#"{"type":"join","username":"Carol"}"#)
        .await;
    assert_eq!(carol.recv_text().await, r#"{"type":"join","user":"Carol"}"#);

    alice.send_text("in rust").await;
    expect_all(
        &mut [&mut alice, &mut bob],
        r#"{"type":"message","user":"Alice","text":"in rust"}"#,
    )
    .await;
    carol.send_text(r#"{"type":"who"}"#).await;
    assert_eq!(
        carol.recv_text().await,
        r#"{"type":"users","users":["Carol"],"anonymous":0}"#,
        "the lobby heard nothing of rust, and who is per room"
    );

    bob.send_text(r#"{"type":"move","room":"lobby"}"#).await;
    assert_eq!(alice.recv_text().await, r#"{"type":"leave","user":"Bob"}"#);
    expect_all(
        &mut [&mut bob, &mut carol],
        r#"{"type":"join","user":"Bob"}"#,
    )
    .await;
    bob.send_text("in the lobby").await;
    expect_all(
        &mut [&mut bob, &mut carol],
        r#"{"type":"message","user":"Bob","text":"in the lobby"}"#,
    )
    .await;
    alice.send_text(r#"{"type":"who"}"#).await;
    assert_eq!(
        alice.recv_text().await,
        r#"{"type":"users","users":["Alice"],"anonymous":0}"#
    );
    drop(alice);
    bob.send_text(r#"{"type":"who"}"#).await;
    assert_eq!(
        bob.recv_text().await,
        r#"{"type":"users","users":["Bob","Carol"],"anonymous":0}"#
    );
}
