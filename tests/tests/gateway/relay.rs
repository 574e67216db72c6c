use wsgate_tests::{TestGateway, app, plugins};

#[tokio::test]
async fn relay_sends_each_message_unchanged_to_every_other_connection() {
    let gw = TestGateway::start(vec![app("relay", "/relay", plugins::RELAY)]).await;
    let mut a = gw.connect("/relay").await;
    let mut b = gw.connect("/relay").await;
    let mut c = gw.connect("/relay").await;
    a.send_text("from a").await;
    assert_eq!(b.recv_text().await, "from a");
    assert_eq!(c.recv_text().await, "from a");
    b.send_binary(vec![0, 1, 255]).await;
    assert_eq!(a.recv_binary().await, vec![0, 1, 255]);
    assert_eq!(c.recv_binary().await, vec![0, 1, 255]);
    // No sender gets its own message back: the next thing a and b get is c's.
    c.send_text("from c").await;
    assert_eq!(a.recv_text().await, "from c");
    assert_eq!(b.recv_text().await, "from c");
}
