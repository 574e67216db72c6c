//! RFC 6455 conformance, bytes on a TCP stream: each test proves one rule and checks
//! the exact close code the gateway answers with, then that it closes TCP (§7.1.1).

use serde_json::json;
use wsgate_tests::raw::{RawWs, close_payload, encode, op};
use wsgate_tests::{TestGateway, app, plugins};

async fn echo() -> TestGateway {
    TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await
}

async fn raw(gw: &TestGateway) -> RawWs {
    RawWs::connect(gw.addr, "/echo").await
}

/// Sends `bytes` on a fresh connection and expects a close frame with `code`.
async fn answers(bytes: &[u8], code: u16) {
    let gw = echo().await;
    let mut ws = raw(&gw).await;
    ws.send_raw(bytes).await;
    ws.expect_close(code).await;
}

#[tokio::test]
async fn s5_1_an_unmasked_client_frame_is_closed_with_1002() {
    answers(&encode(true, 0, op::TEXT, b"hello", false), 1002).await;
}

#[tokio::test]
async fn s5_2_reserved_bits_without_an_extension_are_closed_with_1002() {
    for rsv in [0b100, 0b010, 0b001] {
        answers(&encode(true, rsv, op::TEXT, b"hello", true), 1002).await;
    }
}

#[tokio::test]
async fn s5_2_reserved_data_opcodes_are_closed_with_1002() {
    for opcode in 0x3..=0x7 {
        answers(&encode(true, 0, opcode, b"x", true), 1002).await;
    }
}

#[tokio::test]
async fn s5_2_reserved_control_opcodes_are_closed_with_1002() {
    for opcode in 0xB..=0xF {
        answers(&encode(true, 0, opcode, b"x", true), 1002).await;
    }
}

#[tokio::test]
async fn s5_4_a_fragmented_control_frame_is_closed_with_1002() {
    answers(&encode(false, 0, op::PING, b"frag", true), 1002).await;
}

#[tokio::test]
async fn s5_5_a_control_frame_over_125_bytes_is_closed_with_1002() {
    answers(&encode(true, 0, op::PING, &[0u8; 126], true), 1002).await;
}

#[tokio::test]
async fn s5_4_a_continuation_without_a_start_is_closed_with_1002() {
    answers(&encode(true, 0, op::CONTINUATION, b"orphan", true), 1002).await;
}

#[tokio::test]
async fn s5_4_a_new_data_frame_inside_a_fragmented_message_is_closed_with_1002() {
    let mut bytes = encode(false, 0, op::TEXT, b"first ", true);
    bytes.extend(encode(true, 0, op::TEXT, b"second", true));
    answers(&bytes, 1002).await;
}

#[tokio::test]
async fn s5_4_fragments_are_reassembled_and_control_frames_may_come_between() {
    let gw = echo().await;
    let mut ws = raw(&gw).await;
    ws.send(false, op::TEXT, b"hel").await;
    ws.send(true, op::PING, b"between").await;
    ws.send(false, op::CONTINUATION, "lo, wö".as_bytes()).await;
    ws.send(true, op::CONTINUATION, b"rld").await;
    let pong = ws.frame().await.unwrap();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (op::PONG, &b"between"[..])
    );
    let echoed = ws.frame().await.unwrap();
    assert_eq!(
        (echoed.opcode, echoed.payload),
        (op::TEXT, "hello, wörld".as_bytes().to_vec())
    );
}

#[tokio::test]
async fn s5_5_2_a_ping_is_answered_with_its_payload_without_waking_the_plugin() {
    let gw = echo().await;
    let mut ws = raw(&gw).await;
    ws.send(true, op::PING, b"are you there").await;
    let pong = ws.frame().await.unwrap();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (op::PONG, &b"are you there"[..])
    );
    // Had the ping reached the echo plugin, its echo would come before this one.
    ws.send(true, op::TEXT, b"next").await;
    let next = ws.frame().await.unwrap();
    assert_eq!(
        (next.opcode, next.payload.as_slice()),
        (op::TEXT, &b"next"[..])
    );
}

#[tokio::test]
async fn s5_5_3_an_unsolicited_pong_is_ignored() {
    let gw = echo().await;
    let mut ws = raw(&gw).await;
    ws.send(true, op::PONG, b"unasked").await;
    ws.send(true, op::TEXT, b"still here").await;
    let next = ws.frame().await.unwrap();
    assert_eq!(
        (next.opcode, next.payload.as_slice()),
        (op::TEXT, &b"still here"[..])
    );
}

#[tokio::test]
async fn s8_1_invalid_utf8_in_a_text_frame_is_closed_with_1007() {
    answers(&encode(true, 0, op::TEXT, &[0x68, 0xC3, 0x28], true), 1007).await;
}

#[tokio::test]
async fn s8_1_invalid_utf8_across_fragments_is_closed_with_1007() {
    let mut bytes = encode(false, 0, op::TEXT, b"ok so far ", true);
    bytes.extend(encode(true, 0, op::CONTINUATION, &[0xED, 0xA0, 0x80], true));
    answers(&bytes, 1007).await;
}

#[tokio::test]
async fn s8_1_a_character_split_across_fragments_is_valid() {
    let gw = echo().await;
    let mut ws = raw(&gw).await;
    let euro = "€".as_bytes(); // three bytes
    ws.send(false, op::TEXT, &euro[..1]).await;
    ws.send(true, op::CONTINUATION, &euro[1..]).await;
    assert_eq!(ws.frame().await.unwrap().payload, euro);
}

#[tokio::test]
async fn s5_5_1_invalid_utf8_in_a_close_reason_is_closed_with_1007() {
    answers(
        &encode(
            true,
            0,
            op::CLOSE,
            &close_payload(1000, &[0xFF, 0xFE]),
            true,
        ),
        1007,
    )
    .await;
}

#[tokio::test]
async fn s5_5_1_a_close_frame_with_a_one_byte_payload_is_closed_with_1002() {
    answers(&encode(true, 0, op::CLOSE, &[0x03], true), 1002).await;
}

#[tokio::test]
async fn s7_4_close_codes_a_peer_may_not_send_are_answered_with_1002() {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        answers(
            &encode(true, 0, op::CLOSE, &close_payload(code, b""), true),
            1002,
        )
        .await;
    }
}

#[tokio::test]
async fn s7_4_valid_close_codes_are_echoed() {
    for code in [1000, 1001, 1003, 1007, 1011, 3000, 4000, 4999] {
        answers(
            &encode(true, 0, op::CLOSE, &close_payload(code, b"bye"), true),
            code,
        )
        .await;
    }
}

#[tokio::test]
async fn s5_5_1_a_close_frame_without_a_code_is_answered_without_one() {
    let gw = echo().await;
    let mut ws = raw(&gw).await;
    ws.send(true, op::CLOSE, b"").await;
    assert_eq!(ws.close_code().await, 1005);
    ws.expect_tcp_closed().await;
}

#[tokio::test]
async fn s10_4_a_message_over_the_limit_is_closed_with_1009() {
    let mut limited = app("echo", "/echo", plugins::ECHO);
    limited.limits.max_message_size = 1000;
    limited.limits.max_frame_size = 1000;
    let gw = TestGateway::start(vec![limited]).await;
    let mut ws = raw(&gw).await;
    ws.send(true, op::BINARY, &[1u8; 1001]).await;
    ws.expect_close(1009).await;
    // The limit holds for a message split into small frames too.
    let mut ws = raw(&gw).await;
    ws.send(false, op::BINARY, &[1u8; 600]).await;
    ws.send(true, op::CONTINUATION, &[1u8; 600]).await;
    ws.expect_close(1009).await;
}

#[tokio::test]
async fn s7_1_1_on_error_then_on_close_see_what_happened() {
    let gw = TestGateway::start(vec![app("testbed", "/t", plugins::TESTBED)]).await;
    let mut observer = gw.connect("/t").await;
    let mut ws = RawWs::connect(gw.addr, "/t").await;
    ws.send(true, op::TEXT, b"whoami").await;
    let conn: u64 = String::from_utf8(ws.frame().await.unwrap().payload)
        .unwrap()
        .parse()
        .unwrap();
    ws.send_raw(&encode(true, 0, op::TEXT, b"unmasked", false))
        .await;
    ws.expect_close(1002).await;
    let events = wsgate_tests::within("the hooks", async {
        loop {
            observer.send_text("events").await;
            let events = observer.recv_json().await;
            if events.as_array().is_some_and(|e| e.len() == 2) {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(
        events,
        json!([
            {"hook": "error", "conn": conn, "kind": "Protocol"},
            {"hook": "close", "conn": conn, "code": 1002, "reason": "protocol error"},
        ])
    );
}
