use serde_json::{Value, json};
use wsgate::config::Limits;
use wsgate_tests::{Client, TestGateway, app, plugins, within};

async fn testbed() -> TestGateway {
    TestGateway::start(vec![app("testbed", "/t", plugins::TESTBED)]).await
}

async fn id_of(client: &mut Client) -> u64 {
    client.send_text("whoami").await;
    client.recv_text().await.parse().unwrap()
}

/// Asks the testbed (through `observer`) for its hook log until `conn`'s `on-close`
/// is in it, and returns `conn`'s entries.
async fn hooks_of(observer: &mut Client, conn: u64) -> Vec<Value> {
    within("on-close to be recorded", async {
        loop {
            observer.send_text("events").await;
            let events = observer.recv_json().await;
            let mine: Vec<Value> = events
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["conn"] == conn)
                .cloned()
                .collect();
            if mine.iter().any(|e| e["hook"] == "close") {
                return mine;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test]
async fn the_clients_close_code_and_reason_reach_on_close_exactly_once() {
    let gw = testbed().await;
    let mut observer = gw.connect("/t").await;
    let mut client = gw.connect("/t").await;
    let conn = id_of(&mut client).await;
    let echoed = client.close(4001, "see you").await;
    assert_eq!(
        echoed,
        Some(4001),
        "the gateway answers with the client's code"
    );
    let hooks = hooks_of(&mut observer, conn).await;
    assert_eq!(
        hooks,
        [json!({"hook": "close", "conn": conn, "code": 4001, "reason": "see you"})]
    );
}

#[tokio::test]
async fn a_close_frame_without_a_code_is_reported_as_1005() {
    let gw = testbed().await;
    let mut observer = gw.connect("/t").await;
    let mut client = gw.connect("/t").await;
    let conn = id_of(&mut client).await;
    within("close", futures_util::SinkExt::close(&mut client.ws))
        .await
        .unwrap();
    let hooks = hooks_of(&mut observer, conn).await;
    assert_eq!(
        hooks,
        [json!({"hook": "close", "conn": conn, "code": 1005, "reason": ""})]
    );
}

#[tokio::test]
async fn a_dropped_tcp_connection_is_reported_as_1006() {
    let gw = testbed().await;
    let mut observer = gw.connect("/t").await;
    let mut client = gw.connect("/t").await;
    let conn = id_of(&mut client).await;
    drop(client);
    let hooks = hooks_of(&mut observer, conn).await;
    assert_eq!(
        hooks,
        [json!({"hook": "close", "conn": conn, "code": 1006, "reason": ""})]
    );
}

#[tokio::test]
async fn a_plugin_close_delivers_its_exact_code_and_reason() {
    let gw = testbed().await;
    let mut observer = gw.connect("/t").await;
    let mut client = gw.connect("/t").await;
    let conn = id_of(&mut client).await;
    client
        .send_text("close 4321 see you later, alligator")
        .await;
    assert_eq!(
        client.recv_close().await,
        (4321, "see you later, alligator".to_owned())
    );
    // on-close then reports the code the client answered with.
    let hooks = hooks_of(&mut observer, conn).await;
    assert_eq!(hooks[0]["code"], 4321, "{hooks:?}");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
}

#[tokio::test]
async fn codes_a_server_may_not_send_become_1011() {
    let gw = testbed().await;
    for code in [0, 999, 1004, 1005, 1006, 1015, 2000, 5000, 65535] {
        let mut client = gw.connect("/t").await;
        client.send_text(format!("close {code} nope")).await;
        let (sent, reason) = client.recv_close().await;
        assert_eq!(sent, 1011, "asked for {code}");
        assert_eq!(reason, "nope");
    }
}

#[tokio::test]
async fn a_long_close_reason_is_cut_to_fit_the_frame() {
    let gw = testbed().await;
    let mut client = gw.connect("/t").await;
    let long = "ä".repeat(100);
    client.send_text(format!("close 4000 {long}")).await;
    let (code, reason) = client.recv_close().await;
    assert_eq!(code, 4000);
    assert!(
        reason.len() <= 123 && reason.len() >= 122,
        "{} bytes",
        reason.len()
    );
    assert!(long.starts_with(&reason));
}

#[tokio::test]
async fn a_message_over_the_limit_closes_1009_after_on_error_then_on_close() {
    let mut limited = app("testbed", "/t", plugins::TESTBED);
    limited.limits = Limits {
        max_message_size: 1024,
        max_frame_size: 1024,
        ..Limits::default()
    };
    let gw = TestGateway::start(vec![limited]).await;
    let mut observer = gw.connect("/t").await;
    let mut client = gw.connect("/t").await;
    let conn = id_of(&mut client).await;
    client.send_text("x".repeat(1024)).await;
    assert_eq!(
        client.recv_text().await.len(),
        1024,
        "exactly the limit passes"
    );
    client.send_text("x".repeat(1025)).await;
    assert_eq!(client.recv_close().await.0, 1009);
    let hooks = hooks_of(&mut observer, conn).await;
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert_eq!(
        hooks[0],
        json!({"hook": "error", "conn": conn, "kind": "MessageTooBig"})
    );
    assert_eq!(hooks[1]["code"], 1009);
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001() {
    let gw = testbed().await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(gw.connect("/t").await);
    }
    let stopping = tokio::spawn(gw.stop());
    for client in &mut clients {
        assert_eq!(client.recv_close().await.0, 1001);
    }
    within("shutdown", stopping).await.unwrap();
}
