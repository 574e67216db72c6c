//! Replies before the close: what the app answers to messages that came before a
//! client's close frame, or before a frame that breaks the protocol, reaches the client
//! before the gateway's close frame, however the bytes arrive.

use wsgate_tests::raw::{RawWs, close_payload, encode, op};
use wsgate_tests::{TestGateway, app, plugins};

/// How many times each case runs: a lost reply depended on timing.
const ROUNDS: usize = 100;

/// Sends `message` and then `after` in one write; expects the echo, then a close
/// frame with `code`.
async fn echo_then_close(gw: &TestGateway, round: usize, after: &[u8], code: u16) {
    let mut ws = RawWs::connect(gw.addr, "/echo").await;
    let text = format!("last words {round}");
    let mut bytes = encode(true, 0, op::TEXT, text.as_bytes(), true);
    bytes.extend_from_slice(after);
    ws.send_raw(&bytes).await;
    let first = ws.frame().await.expect("a frame");
    assert_eq!(
        (
            first.opcode,
            String::from_utf8_lossy(&first.payload).into_owned()
        ),
        (op::TEXT, text),
        "round {round}: the echo comes first"
    );
    assert_eq!(ws.close_code().await, code, "round {round}");
}

#[tokio::test]
async fn a_message_and_a_close_in_one_write_get_the_echo_then_the_close() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    let close = encode(true, 0, op::CLOSE, &close_payload(1000, b"bye"), true);
    for round in 0..ROUNDS {
        echo_then_close(&gw, round, &close, 1000).await;
    }
}

#[tokio::test]
async fn a_message_and_a_protocol_violation_in_one_write_get_the_echo_then_1002() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    let violations = [
        ("reserved bits", encode(true, 0b100, op::TEXT, b"x", true)),
        ("reserved opcode", encode(true, 0, 0x3, b"x", true)),
        (
            "stray continuation",
            encode(true, 0, op::CONTINUATION, b"x", true),
        ),
        ("unmasked frame", encode(true, 0, op::TEXT, b"x", false)),
    ];
    for round in 0..ROUNDS {
        let (_, bad) = &violations[round % violations.len()];
        echo_then_close(&gw, round, bad, 1002).await;
    }
}

#[tokio::test]
async fn a_close_alone_is_answered_at_once_and_the_closing_handshake_still_completes() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    let mut ws = RawWs::connect(gw.addr, "/echo").await;
    ws.send(true, op::CLOSE, &close_payload(4000, b"done"))
        .await;
    assert_eq!(ws.close_code().await, 4000);
    // A close the gateway starts (the app closes) is answered by the client's close,
    // which the gate must not hold.
    let gw = TestGateway::start(vec![app("t", "/t", plugins::TESTBED)]).await;
    let mut ws = RawWs::connect(gw.addr, "/t").await;
    ws.send(true, op::TEXT, b"close 4001 bye").await;
    assert_eq!(ws.close_code().await, 4001);
    ws.send(true, op::CLOSE, &close_payload(4001, b"")).await;
    ws.expect_tcp_closed().await;
}

/// Frames a client writes together with its handshake, before the answer (as some
/// pipelining clients do), are read by the HTTP layer with the request: the gateway
/// must hand them on, in order, small and large alike.
#[tokio::test]
async fn frames_sent_with_the_handshake_are_all_echoed_in_order() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    for round in 0..20 {
        let mut texts: Vec<String> = (0..16).map(|i| format!("early {round} {i}")).collect();
        texts.push("x".repeat(20_000 + round));
        let mut first = Vec::new();
        for text in &texts {
            first.extend_from_slice(&encode(true, 0, op::TEXT, text.as_bytes(), true));
        }
        let mut ws = RawWs::connect_sending(gw.addr, "/echo", &first).await;
        for text in &texts {
            let frame = ws.frame().await.expect("an echo");
            assert_eq!(frame.opcode, op::TEXT, "round {round}");
            assert_eq!(frame.payload, text.as_bytes(), "round {round}");
        }
    }
}
