use wsgate_tests::{TestGateway, app, plugins};

async fn two_apps() -> TestGateway {
    TestGateway::start(vec![
        app("left", "/left", plugins::TESTBED),
        app("right", "/right", plugins::TESTBED),
    ])
    .await
}

#[tokio::test]
async fn connection_ids_are_unique_across_apps() {
    let gw = two_apps().await;
    let mut ids = std::collections::HashSet::new();
    for path in ["/left", "/right", "/left", "/right"] {
        let mut client = gw.connect(path).await;
        client.send_text("whoami").await;
        assert!(ids.insert(client.recv_text().await), "duplicate id");
    }
}

#[tokio::test]
async fn a_command_naming_another_apps_connection_is_dropped() {
    let gw = two_apps().await;
    let mut victim = gw.connect("/left").await;
    victim.send_text("whoami").await;
    let victim_id = victim.recv_text().await;
    let mut attacker = gw.connect("/right").await;
    attacker
        .send_text(format!("send {victim_id} injected"))
        .await;
    attacker.send_text("after").await;
    assert_eq!(
        attacker.recv_text().await,
        "after",
        "the attacker's app went on"
    );
    // The victim's next message is its own echo, not the injected text.
    victim.send_text("mine").await;
    assert_eq!(victim.recv_text().await, "mine");
}

#[tokio::test]
async fn broadcasts_reach_only_the_apps_own_connections() {
    let gw = two_apps().await;
    let mut left_a = gw.connect("/left").await;
    let mut left_b = gw.connect("/left").await;
    let mut right = gw.connect("/right").await;
    left_a.send_text("broadcast hello left").await;
    assert_eq!(left_a.recv_text().await, "hello left");
    assert_eq!(left_b.recv_text().await, "hello left");
    right.send_text("ping").await;
    assert_eq!(
        right.recv_text().await,
        "ping",
        "the other app's client got nothing else"
    );
}

#[tokio::test]
async fn broadcast_except_skips_the_sender() {
    let gw = two_apps().await;
    let mut a = gw.connect("/left").await;
    let mut b = gw.connect("/left").await;
    a.send_text("broadcast-others for b").await;
    assert_eq!(b.recv_text().await, "for b");
    a.send_text("ping").await;
    assert_eq!(
        a.recv_text().await,
        "ping",
        "the sender did not get its own broadcast"
    );
    a.send_binary(vec![1, 2, 3]).await;
    assert_eq!(b.recv_binary().await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_panicking_hook_closes_that_connection_1011_and_the_app_keeps_serving() {
    let gw = two_apps().await;
    let mut bystander = gw.connect("/left").await;
    let mut culprit = gw.connect("/left").await;
    culprit.send_text("panic").await;
    assert_eq!(culprit.recv_close().await.0, 1011);
    bystander.send_text("still here").await;
    assert_eq!(bystander.recv_text().await, "still here");
    let mut newcomer = gw.connect("/left").await;
    newcomer.send_text("hello").await;
    assert_eq!(newcomer.recv_text().await, "hello");
}

#[tokio::test]
async fn a_packed_answer_that_breaks_the_format_is_a_trap_of_its_call_only() {
    let gw = TestGateway::start(vec![app("bad", "/bad", plugins::BAD_PACKED)]).await;
    let mut bystander = gw.connect("/bad").await;
    bystander.send_text("fine").await;
    assert_eq!(bystander.recv_text().await, "fine");
    for broken in ["unknown", "cut", "not-utf8", "no-command"] {
        let mut culprit = gw.connect("/bad").await;
        culprit.send_text(broken).await;
        assert_eq!(culprit.recv_close().await.0, 1011, "{broken}");
        bystander.send_text(broken.to_uppercase()).await;
        assert_eq!(bystander.recv_text().await, broken.to_uppercase());
    }
}
