use wsgate_tests::{TestGateway, app, body_of, get, handshake, plugins, raw_http, status_of};

async fn gateway() -> TestGateway {
    TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let gw = gateway().await;
    let response = raw_http(gw.addr, &handshake("/nowhere", &[])).await;
    assert_eq!(status_of(&response), 404, "{response}");
    let response = get(gw.addr, "/").await;
    assert_eq!(status_of(&response), 404, "{response}");
}

#[tokio::test]
async fn a_plain_get_on_a_route_is_426_with_the_version_header() {
    let gw = gateway().await;
    let response = get(gw.addr, "/echo").await;
    assert_eq!(status_of(&response), 426, "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nsec-websocket-version: 13\r\n"),
        "{response}"
    );
}

#[tokio::test]
async fn a_wrong_or_missing_version_is_426_with_the_version_header() {
    let gw = gateway().await;
    for version in ["8", ""] {
        let response = raw_http(
            gw.addr,
            &handshake("/echo", &[("Sec-WebSocket-Version", version)]),
        )
        .await;
        assert_eq!(status_of(&response), 426, "{version:?}: {response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("sec-websocket-version: 13"),
            "{response}"
        );
    }
}

#[tokio::test]
async fn malformed_upgrades_are_400() {
    let gw = gateway().await;
    let cases: [(&str, String); 5] = [
        (
            "missing key",
            handshake("/echo", &[("Sec-WebSocket-Key", "")]),
        ),
        (
            "key not base64",
            handshake("/echo", &[("Sec-WebSocket-Key", "not base64!!")]),
        ),
        (
            "key of 15 bytes",
            handshake("/echo", &[("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")]),
        ),
        (
            "no Connection: upgrade",
            handshake("/echo", &[("Connection", "keep-alive")]),
        ),
        ("POST", handshake("/echo", &[]).replacen("GET", "POST", 1)),
    ];
    for (what, request) in cases {
        let response = raw_http(gw.addr, &request).await;
        assert_eq!(status_of(&response), 400, "{what}: {response}");
    }
    let http10 = handshake("/echo", &[]).replacen("HTTP/1.1", "HTTP/1.0", 1);
    assert_eq!(
        status_of(&raw_http(gw.addr, &http10).await),
        400,
        "HTTP/1.0"
    );
}

#[tokio::test]
async fn a_valid_handshake_gets_101_with_the_rfc_accept_key() {
    let gw = gateway().await;
    let response = raw_http(gw.addr, &handshake("/echo", &[])).await;
    assert_eq!(status_of(&response), 101, "{response}");
    // The example key of RFC 6455 §1.3 and its answer.
    assert!(
        response
            .to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{response}"
    );
}

#[tokio::test]
async fn healthz_answers_while_the_process_runs() {
    let gw = gateway().await;
    let response = get(gw.addr, "/healthz").await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");
}

#[tokio::test]
async fn readyz_lists_the_apps_and_flips_to_503_when_one_fails() {
    let mut hostile = wsgate_tests::app("hostile", "/h", plugins::HOSTILE);
    hostile.limits.crash_loop.traps = 1;
    hostile.limits.crash_loop.backoff = std::time::Duration::from_secs(30);
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO), hostile]).await;
    let ready = |response: &str| -> serde_json::Value {
        let body = body_of(response);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
    };
    let response = get(gw.addr, "/readyz").await;
    assert_eq!(status_of(&response), 200, "{response}");
    let body = ready(&response);
    assert_eq!(body["ready"], true);
    assert_eq!(body["apps"][0]["name"], "echo");
    assert_eq!(body["apps"][0]["route"], "/echo");
    assert_eq!(
        body["apps"][0]["plugin_hash"].as_str().map(str::len),
        Some(16)
    );

    let mut culprit = gw.connect("/h").await;
    culprit.send_text("panic").await;
    assert_eq!(culprit.recv_close().await.0, 1011);
    // The close may reach the client before the actor records the failure.
    wsgate_tests::until("the breaker", || {
        gw.gateway.app_stats("hostile").unwrap().failed
    })
    .await;
    let response = get(gw.addr, "/readyz").await;
    assert_eq!(status_of(&response), 503, "{response}");
    let body = ready(&response);
    assert_eq!(body["ready"], false);
    assert_eq!(body["apps"][1]["name"], "hostile");
    assert_eq!(body["apps"][1]["ready"], false);
    assert_eq!(body["apps"][0]["ready"], true);
}

#[tokio::test]
async fn static_files_are_served_with_their_type_and_nothing_outside_their_folder() {
    let root = tempfile::tempdir().unwrap();
    let site = root.path().join("site");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(site.join("style.css"), "h1 {}").unwrap();
    std::fs::write(site.join("sub/index.html"), "sub").unwrap();
    std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.path().join("secret.txt"), site.join("link.txt")).unwrap();
    let mut echo = app("echo", "/echo", plugins::ECHO);
    echo.static_files = Some(wsgate::config::StaticSource::Dir(site));
    let gw = TestGateway::start(vec![echo]).await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");

    let index = raw_http(gw.addr, &get("/")).await;
    assert_eq!(status_of(&index), 200, "{index}");
    assert!(
        index.contains("content-type: text/html; charset=utf-8"),
        "{index}"
    );
    assert!(index.ends_with("<h1>hi</h1>"), "{index}");
    let css = raw_http(gw.addr, &get("/style.css")).await;
    assert!(
        css.contains("content-type: text/css; charset=utf-8"),
        "{css}"
    );
    assert!(raw_http(gw.addr, &get("/sub/")).await.ends_with("sub"));
    for path in [
        "/missing.html",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/sub/..%2f..%2fsecret.txt",
        "/link.txt",
        "/sub",
    ] {
        let response = raw_http(gw.addr, &get(path)).await;
        assert_eq!(status_of(&response), 404, "{path}: {response}");
        assert!(!response.contains("secret"), "{path}");
    }
    // The app's own route is still the WebSocket endpoint.
    let mut client = gw.connect("/echo").await;
    client.send_text("hi").await;
    assert_eq!(client.recv_text().await, "hi");
}

/// `handshake("/echo")` with `extra` header lines added after the standard ones.
fn with_lines(extra: &str) -> String {
    handshake("/echo", &[]).replacen("\r\n\r\n", &format!("\r\n{extra}\r\n\r\n"), 1)
}

#[tokio::test]
async fn an_upgrade_without_exactly_one_host_header_is_400() {
    let gw = gateway().await;
    let none = handshake("/echo", &[("Host", "")]);
    let two = with_lines("Host: other");
    for (what, request) in [("no Host", none), ("two Host headers", two)] {
        let response = raw_http(gw.addr, &request).await;
        assert_eq!(status_of(&response), 400, "{what}: {response}");
        assert!(response.contains("`Host`"), "{what}: {response}");
    }
}

#[tokio::test]
async fn an_upgrade_with_a_body_is_400() {
    let gw = gateway().await;
    for (what, extra) in [
        ("a huge Content-Length", "Content-Length: 1000000000"),
        ("a small Content-Length", "Content-Length: 5\r\n\r\nhello"),
        ("chunked", "Transfer-Encoding: chunked\r\n\r\n0\r\n"),
    ] {
        let response = raw_http(gw.addr, &with_lines(extra)).await;
        assert_eq!(status_of(&response), 400, "{what}: {response}");
        assert!(response.contains("no body"), "{what}: {response}");
    }
    // An explicit empty body is no body.
    let response = raw_http(gw.addr, &with_lines("Content-Length: 0")).await;
    assert_eq!(status_of(&response), 101, "{response}");
}
