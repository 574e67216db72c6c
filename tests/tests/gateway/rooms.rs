//! Contract 0.2 over real sockets: rooms, users and attachments held by the gateway
//! (surviving hot reloads and traps), the host reads, and the limits on all of them.
//! The testbed plugin drives them with text commands.

use std::time::Duration;

use wsgate::config::Limits;
use wsgate_tests::{Client, TestGateway, app, copied_app, plugins, rebuild, until};

async fn testbed() -> TestGateway {
    TestGateway::start(vec![app("t", "/t", plugins::TESTBED)]).await
}

async fn json(client: &mut Client, command: &str) -> serde_json::Value {
    client.send_text(command).await;
    client.recv_json().await
}

/// Asks `client` for its id, and reads until the answer: what came before it is
/// returned (messages in flight are seen, nothing is left unread).
async fn drain_until_id(client: &mut Client) -> (u64, Vec<String>) {
    client.send_text("whoami").await;
    let mut before = Vec::new();
    loop {
        let text = client.recv_text().await;
        match text.parse() {
            Ok(id) => return (id, before),
            Err(_) => before.push(text),
        }
    }
}

#[tokio::test]
async fn only_members_hear_a_room_and_a_closed_connection_leaves_it() {
    let gw = testbed().await;
    let mut a = gw.connect("/t").await;
    let mut b = gw.connect("/t").await;
    let mut c = gw.connect("/t").await;
    let (ida, _) = drain_until_id(&mut a).await;
    let (idb, _) = drain_until_id(&mut b).await;
    a.send_text("join x").await;
    b.send_text("join x").await;
    assert_eq!(
        json(&mut c, "members x").await,
        serde_json::json!([ida, idb])
    );
    a.send_text("publish x hello room").await;
    assert_eq!(a.recv_text().await, "hello room");
    assert_eq!(b.recv_text().await, "hello room");
    let (_, heard) = drain_until_id(&mut c).await;
    assert!(heard.is_empty(), "a non-member heard {heard:?}");
    drop(a);
    until("the closed member to leave the room", || {
        gw.gateway.app_stats("t").unwrap().memberships == 1
    })
    .await;
    assert_eq!(json(&mut c, "members x").await, serde_json::json!([idb]));
    assert_eq!(json(&mut c, "room-size x").await, serde_json::json!(1));
}

#[tokio::test]
async fn publish_leaves_out_the_excepted_and_a_join_then_publish_reaches_the_newcomer() {
    let gw = testbed().await;
    let mut a = gw.connect("/t?room=x").await;
    let mut b = gw.connect("/t?room=x").await;
    a.send_text("publish-others x psst").await;
    assert_eq!(b.recv_text().await, "psst");
    let (_, heard) = drain_until_id(&mut a).await;
    assert!(heard.is_empty(), "the sender heard {heard:?}");
    // A connection that joins and publishes in one answer hears its own publish.
    let mut c = gw.connect("/t").await;
    c.send_text("join y").await;
    c.send_text("publish y first").await;
    assert_eq!(c.recv_text().await, "first");
}

#[tokio::test]
async fn a_users_connections_all_get_send_user_and_close_user() {
    let gw = testbed().await;
    let mut alice1 = gw.connect("/t?user=alice").await;
    let mut alice2 = gw.connect("/t?user=alice").await;
    let mut bob = gw.connect("/t?user=bob").await;
    let me = json(&mut alice1, "me").await;
    assert_eq!(me["user"], "alice");
    // No attachment: the event's is empty (the host lowers it without a call into
    // the plugin), and so it is again after one was set and cleared.
    assert_eq!(me["attachment"], "", "{me}");
    alice1.send_text("attach note").await;
    assert_eq!(json(&mut alice1, "me").await["attachment"], "note");
    alice1.send_text("attach").await;
    assert_eq!(json(&mut alice1, "me").await["attachment"], "", "cleared");
    bob.send_text("send-user alice hi alice").await;
    assert_eq!(alice1.recv_text().await, "hi alice");
    assert_eq!(alice2.recv_text().await, "hi alice");
    let (_, heard) = drain_until_id(&mut bob).await;
    assert!(heard.is_empty(), "{heard:?}");
    bob.send_text("close-user alice 4000 bye alice").await;
    assert_eq!(alice1.recv_close().await, (4000, "bye alice".to_owned()));
    assert_eq!(alice2.recv_close().await, (4000, "bye alice".to_owned()));
    assert_eq!(json(&mut bob, "me").await["user"], "bob");
}

/// A copy of the testbed at a path of its own, served at `/t` and watched.
async fn reloadable() -> (tempfile::TempDir, std::path::PathBuf, TestGateway) {
    let (dir, path, app) = copied_app(plugins::TESTBED, "t", "/t");
    let gw = TestGateway::start(vec![app]).await;
    gw.gateway.watch_plugins().unwrap();
    (dir, path, gw)
}

#[tokio::test]
async fn attachments_users_and_rooms_survive_a_reload_and_a_trap() {
    let (_dir, path, gw) = reloadable().await;
    let mut a = gw.connect("/t?user=ann&room=r1&attach=first").await;
    assert_eq!(json(&mut a, "rooms").await, serde_json::json!(["r1"]));
    a.send_text("attach second note").await;
    let expected = serde_json::json!({"user": "ann", "attachment": "second note"});
    let check = |me: serde_json::Value| {
        assert_eq!(me["user"], expected["user"], "{me}");
        assert_eq!(me["attachment"], expected["attachment"], "{me}");
    };
    check(json(&mut a, "me").await);

    rebuild(&path, "v2");
    until("the reload", || {
        gw.gateway.app_stats("t").unwrap().reloads_applied == 1
    })
    .await;
    check(json(&mut a, "me").await);
    assert_eq!(json(&mut a, "rooms").await, serde_json::json!(["r1"]));

    let mut culprit = gw.connect("/t").await;
    culprit.send_text("panic").await;
    assert_eq!(culprit.recv_close().await.0, 1011);
    check(json(&mut a, "me").await);
    assert_eq!(json(&mut a, "rooms").await, serde_json::json!(["r1"]));

    // And in on-close, the gateway still hands the plugin the attachment.
    let mut observer = gw.connect("/t").await;
    let (ida, _) = drain_until_id(&mut a).await;
    drop(a);
    let close = wsgate_tests::within("a's on-close", async {
        loop {
            let events = json(&mut observer, "events").await;
            let found = events
                .as_array()
                .and_then(|e| e.iter().find(|e| e["conn"] == ida).cloned());
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(close["attachment"], "second note", "{close}");
    assert_eq!(close["user"], "ann", "{close}");
}

#[tokio::test]
async fn connection_info_answers_from_the_gateway() {
    let gw = testbed().await;
    let mut a = gw.connect("/t?user=ann&k=v").await;
    let info = json(&mut a, "info").await;
    assert_eq!(info["path"], "/t", "{info}");
    assert_eq!(info["query"], "user=ann&k=v", "{info}");
    assert_eq!(info["user"], "ann", "{info}");
    assert_eq!(info["open"], true, "{info}");
    assert!(
        info["connected_at_ms"].as_u64().unwrap() > 1_700_000_000_000,
        "{info}"
    );
    assert!(
        info["remote_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{info}"
    );
}

/// A testbed app whose limits are `limits`.
async fn limited(limits: Limits) -> TestGateway {
    let mut t = app("t", "/t", plugins::TESTBED);
    t.limits = limits;
    TestGateway::start(vec![t]).await
}

async fn refused(gw: &TestGateway, n: u64) {
    until(&format!("{n} refused commands"), || {
        gw.gateway.app_stats("t").unwrap().commands_refused >= n
    })
    .await;
}

#[tokio::test]
async fn every_limit_refuses_its_command_and_the_connection_stays() {
    let gw = limited(Limits {
        max_rooms_per_connection: 3,
        max_timers: 2,
        ..Limits::default()
    })
    .await;
    let mut a = gw.connect("/t").await;
    a.send_text("join-many 5").await;
    refused(&gw, 2).await;
    assert_eq!(json(&mut a, "rooms").await.as_array().unwrap().len(), 3);
    a.send_text(format!("join {}", "r".repeat(257))).await;
    refused(&gw, 3).await;
    a.send_text(format!("attach-bytes {}", 16 * 1024 + 1)).await;
    refused(&gw, 4).await;
    a.send_text("attach-bytes 16384").await;
    assert_eq!(
        json(&mut a, "me").await["attachment"]
            .as_str()
            .unwrap()
            .len(),
        16384
    );
    a.send_text("timer fast 5").await;
    refused(&gw, 5).await;
    a.send_text("timer t1 60000").await;
    a.send_text("timer t2 60000").await;
    a.send_text("timer t3 60000").await;
    refused(&gw, 6).await;
    a.send_text("timer t2 60000").await; // replaces: not a new timer
    let (_, heard) = drain_until_id(&mut a).await;
    assert!(heard.is_empty(), "{heard:?}");
    let stats = gw.gateway.app_stats("t").unwrap();
    assert_eq!(stats.commands_refused, 6, "{stats:?}");
    assert_eq!((stats.traps, stats.misbehaviours), (0, 0));
}

#[tokio::test]
async fn a_0_1_plugin_is_still_served() {
    let gw = TestGateway::start(vec![app("old", "/old", plugins::V01_ECHO)]).await;
    let mut client = gw.connect("/old").await;
    client.send_text("from the past").await;
    assert_eq!(client.recv_text().await, "from the past");
    client.send_binary(vec![1, 2, 3]).await;
    assert_eq!(client.recv_binary().await, [1, 2, 3]);
}
