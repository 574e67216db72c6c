//! The server API (`/api/v1`): a backend reaches the app's connections, rooms and
//! users, reads what the gateway holds, and hands the plugin events; token checked,
//! bodies bounded, every error a JSON `{"error": …}` with its status.

use wsgate::Config;
use wsgate::config::{ApiSettings, AppConfig, Limits, ServerSettings};
use wsgate_tests::{Client, TestGateway, api_call, app, get, plugins, until};

const TOKEN: &str = "a-token-of-sixteen-or-more";

/// A gateway serving `apps`, with the server API on.
async fn with_api(apps: Vec<AppConfig>) -> TestGateway {
    TestGateway::start_with(Config {
        apps,
        server: ServerSettings {
            api: Some(ApiSettings {
                token: TOKEN.into(),
            }),
            ..ServerSettings::default()
        },
        ..Config::default()
    })
    .await
}

/// The testbed at `/t`, with 1 KiB messages at most.
async fn gateway() -> TestGateway {
    let mut t = app("t", "/t", plugins::TESTBED);
    t.limits = Limits {
        max_message_size: 1024,
        max_frame_size: 1024,
        ..Limits::default()
    };
    with_api(vec![t]).await
}

async fn post(gw: &TestGateway, path: &str, body: &str) -> (u16, serde_json::Value) {
    api_call(gw.addr, "POST", path, Some(TOKEN), body.as_bytes(), false).await
}

async fn id_of(client: &mut Client) -> u64 {
    client.send_text("whoami").await;
    client.recv_text().await.parse().unwrap()
}

#[tokio::test]
async fn no_token_or_a_wrong_one_is_401_and_the_right_one_passes() {
    let gw = gateway().await;
    let path = "/api/v1/apps/t/rooms/x";
    for token in [None, Some("wrong"), Some("a-token-of-sixteen-or-mor")] {
        let (status, body) = api_call(gw.addr, "GET", path, token, b"", false).await;
        assert_eq!(status, 401, "{token:?}");
        assert!(body["error"].as_str().is_some(), "{body}");
    }
    let (status, body) = api_call(gw.addr, "GET", path, Some(TOKEN), b"", false).await;
    assert_eq!((status, body), (200, serde_json::json!({"size": 0})));
}

#[tokio::test]
async fn publish_broadcast_send_and_the_room_size_reach_the_clients() {
    let gw = gateway().await;
    let mut a = gw.connect("/t?room=news").await;
    let mut b = gw.connect("/t?room=news").await;
    let mut c = gw.connect("/t").await;
    let ida = id_of(&mut a).await;
    let idb = id_of(&mut b).await;
    assert_eq!(
        api_call(
            gw.addr,
            "GET",
            "/api/v1/apps/t/rooms/news",
            Some(TOKEN),
            b"",
            false
        )
        .await,
        (200, serde_json::json!({"size": 2}))
    );
    let (status, _) = post(
        &gw,
        &format!("/api/v1/apps/t/rooms/news/publish?except={idb}"),
        "headline",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(a.recv_text().await, "headline");
    let (status, _) = post(&gw, "/api/v1/apps/t/broadcast", "to all").await;
    assert_eq!(status, 200);
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.recv_text().await, "to all");
    }
    let (status, _) = api_call(
        gw.addr,
        "POST",
        &format!("/api/v1/apps/t/connections/{ida}/send"),
        Some(TOKEN),
        &[1, 2, 3],
        true,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(a.recv_binary().await, [1, 2, 3]);
    assert_eq!(id_of(&mut b).await, idb, "b heard no publish and no send");
}

#[tokio::test]
async fn connection_info_users_and_closes() {
    let gw = gateway().await;
    let mut ann1 = gw.connect("/t?user=ann&room=r").await;
    let mut ann2 = gw.connect("/t?user=ann").await;
    let id = id_of(&mut ann1).await;
    let (status, info) = api_call(
        gw.addr,
        "GET",
        &format!("/api/v1/apps/t/connections/{id}"),
        Some(TOKEN),
        b"",
        false,
    )
    .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["user"], "ann");
    assert_eq!(info["rooms"], serde_json::json!(["r"]));
    assert_eq!(info["path"], "/t");
    assert!(info["connected_at_ms"].as_u64().unwrap() > 0);
    assert!(info["buffered_bytes"].is_u64());

    let (status, _) = post(&gw, "/api/v1/apps/t/users/ann/send", "hi ann").await;
    assert_eq!(status, 200);
    assert_eq!(ann1.recv_text().await, "hi ann");
    assert_eq!(ann2.recv_text().await, "hi ann");
    let (status, _) = api_call(
        gw.addr,
        "DELETE",
        "/api/v1/apps/t/users/ann?code=4001&reason=bye",
        Some(TOKEN),
        b"",
        false,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ann1.recv_close().await, (4001, "bye".to_owned()));
    assert_eq!(ann2.recv_close().await, (4001, "bye".to_owned()));

    let mut c = gw.connect("/t").await;
    let idc = id_of(&mut c).await;
    let (status, _) = api_call(
        gw.addr,
        "DELETE",
        &format!("/api/v1/apps/t/connections/{idc}"),
        Some(TOKEN),
        b"",
        false,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(c.recv_close().await.0, 1000);
}

#[tokio::test]
async fn a_backend_event_reaches_the_plugin() {
    let gw = gateway().await;
    let mut a = gw.connect("/t").await;
    let (status, body) = post(&gw, "/api/v1/apps/t/events?name=deploy", "v2 is out").await;
    assert_eq!((status, body), (202, serde_json::json!({"accepted": true})));
    assert_eq!(a.recv_text().await, "backend deploy v2 is out");
}

#[tokio::test]
async fn every_error_has_its_status_and_a_json_error() {
    let gw = gateway().await;
    let mut a = gw.connect("/t").await;
    let ida = id_of(&mut a).await;
    let cases: [(&str, &str, &[u8], bool, u16); 9] = [
        ("POST", "/api/v1/apps/nope/broadcast", b"x", false, 404),
        (
            "POST",
            "/api/v1/apps/t/connections/999999/send",
            b"x",
            false,
            404,
        ),
        (
            "POST",
            "/api/v1/apps/t/connections/abc/send",
            b"x",
            false,
            400,
        ),
        ("DELETE", "/api/v1/apps/t/users/nobody", b"", false, 404),
        (
            "POST",
            "/api/v1/apps/t/broadcast",
            &[0xff, 0xfe],
            false,
            400,
        ),
        (
            "POST",
            "/api/v1/apps/t/broadcast?except=x",
            b"x",
            false,
            400,
        ),
        ("POST", "/api/v1/apps/t/events", b"x", false, 400),
        ("GET", "/api/v1/apps/t/broadcast", b"", false, 405),
        ("GET", "/api/v1/nothing", b"", false, 404),
    ];
    for (method, path, body, binary, expected) in cases {
        let (status, json) = api_call(gw.addr, method, path, Some(TOKEN), body, binary).await;
        assert_eq!(status, expected, "{method} {path}: {json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: {json}"
        );
    }
    let bad_code = format!("/api/v1/apps/t/connections/{ida}?code=1005");
    assert_eq!(
        api_call(gw.addr, "DELETE", &bad_code, Some(TOKEN), b"", false)
            .await
            .0,
        400
    );
    let big = vec![b'x'; 1025];
    assert_eq!(
        api_call(
            gw.addr,
            "POST",
            "/api/v1/apps/t/broadcast",
            Some(TOKEN),
            &big,
            false
        )
        .await
        .0,
        413
    );
    // None of it reached the client.
    assert_eq!(id_of(&mut a).await, ida);
}

#[tokio::test]
async fn a_failed_app_is_503_and_requests_are_counted() {
    let mut h = app("h", "/h", plugins::HOSTILE);
    h.limits.crash_loop.traps = 1;
    h.limits.crash_loop.backoff = std::time::Duration::from_secs(30);
    let gw = with_api(vec![h]).await;
    let mut c = gw.connect("/h").await;
    c.send_text("panic").await;
    until("the app to fail", || {
        gw.gateway.app_stats("h").unwrap().failed
    })
    .await;
    assert_eq!(post(&gw, "/api/v1/apps/h/broadcast", "x").await.0, 503);
    let metrics = get(gw.addr, "/metrics").await;
    assert!(
        metrics.contains("wsgate_api_requests_total{endpoint=\"broadcast\",status=\"503\"} 1"),
        "{metrics}"
    );
}
