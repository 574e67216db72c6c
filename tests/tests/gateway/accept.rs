use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wsgate_tests::{TestGateway, app, handshake, plugins, raw_http, status_of};

async fn testbed() -> TestGateway {
    TestGateway::start(vec![app("testbed", "/t", plugins::TESTBED)]).await
}

#[tokio::test]
async fn a_deny_answers_with_the_plugins_status_and_reason() {
    let gw = testbed().await;
    let response = raw_http(gw.addr, &handshake("/t?deny=401", &[])).await;
    assert_eq!(status_of(&response), 401, "{response}");
    assert!(response.ends_with("denied by testbed"), "{response}");
    let response = raw_http(gw.addr, &handshake("/t?deny=503", &[])).await;
    assert_eq!(status_of(&response), 503, "{response}");
}

#[tokio::test]
async fn a_deny_with_a_non_error_status_becomes_403() {
    let gw = testbed().await;
    for status in ["200", "101", "302", "99", "600"] {
        let response = raw_http(gw.addr, &handshake(&format!("/t?deny={status}"), &[])).await;
        assert_eq!(status_of(&response), 403, "deny={status}: {response}");
    }
}

#[tokio::test]
async fn a_denied_client_sees_the_refusal_and_other_clients_are_served() {
    let gw = testbed().await;
    let refused = tokio_tungstenite::connect_async(gw.url("/t?deny=429")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
        }
        other => panic!("expected an HTTP refusal, got {:?}", other.map(|_| ())),
    }
    let mut client = gw.connect("/t").await;
    client.send_text("still open").await;
    assert_eq!(client.recv_text().await, "still open");
}

#[tokio::test]
async fn the_plugin_selects_an_offered_subprotocol() {
    let gw = testbed().await;
    let mut request = gw.url("/t").into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "chat.v2, chat.v1".parse().unwrap(),
    );
    let (_ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
}

#[tokio::test]
async fn a_subprotocol_the_client_did_not_offer_is_not_sent() {
    let gw = testbed().await;
    let response = raw_http(
        gw.addr,
        &handshake("/t?choose=evil", &[("Sec-WebSocket-Protocol", "chat.v1")]),
    )
    .await;
    assert_eq!(status_of(&response), 101, "{response}");
    assert!(
        !response
            .to_ascii_lowercase()
            .contains("sec-websocket-protocol"),
        "{response}"
    );
}

#[tokio::test]
async fn the_plugin_sees_the_request_path_query_headers_address_and_subprotocols() {
    let gw = testbed().await;
    let mut request = gw.url("/t?room=a%20b&x=1").into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("x-custom", "yes".parse().unwrap());
    headers.insert("sec-websocket-protocol", "p1, p2".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = wsgate_tests::Client { ws };
    client.send_text("request").await;
    let seen = client.recv_json().await;
    assert_eq!(seen["path"], "/t");
    assert_eq!(seen["query"], "room=a%20b&x=1");
    assert_eq!(seen["subprotocols"], serde_json::json!(["p1", "p2"]));
    let headers = seen["headers"].as_array().unwrap();
    assert!(
        headers.contains(&serde_json::json!(["x-custom", "yes"])),
        "{seen}"
    );
    assert!(
        headers.contains(&serde_json::json!(["upgrade", "websocket"])),
        "{seen}"
    );
    let addr = seen["remote_addr"].as_str().unwrap();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
}
