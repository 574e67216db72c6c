//! Protocol behaviour beyond framing: handshake limits, heartbeat, backpressure,
//! graceful shutdown, TLS.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsgate::Config;
use wsgate::config::{Limits, ServerSettings, TlsFiles};
use wsgate_tests::raw::{RawWs, op};
use wsgate_tests::{Client, TestGateway, app, handshake, plugins, raw_http, status_of, within};

#[tokio::test]
async fn request_headers_over_max_header_bytes_get_431() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    let big = "x".repeat(20 << 10);
    let response = raw_http(gw.addr, &handshake("/echo", &[("X-Big", &big)])).await;
    assert_eq!(
        status_of(&response),
        431,
        "{}",
        &response[..response.len().min(200)]
    );
}

#[tokio::test]
async fn a_client_that_sends_its_headers_too_slowly_is_disconnected() {
    let gw = TestGateway::start_with(Config {
        apps: vec![app("echo", "/echo", plugins::ECHO)],
        server: ServerSettings {
            handshake_timeout: Duration::from_millis(300),
            ..ServerSettings::default()
        },
        ..Config::default()
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // The gateway closes the connection (without a 408: hyper sends none on a header
    // timeout). Finishing the read at all proves the close: the client never stops.
    let _ = within("the slow client to be cut off", tcp.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

fn heartbeat_app(ping_ms: u64, pong_ms: u64, idle_ms: Option<u64>) -> wsgate::config::AppConfig {
    let mut echo = app("echo", "/echo", plugins::ECHO);
    echo.limits = Limits {
        ping_interval: Some(Duration::from_millis(ping_ms)),
        pong_timeout: Duration::from_millis(pong_ms),
        idle_timeout: idle_ms.map(Duration::from_millis),
        ..Limits::default()
    };
    echo
}

#[tokio::test]
async fn a_client_that_never_answers_pings_is_closed_with_1001() {
    let gw = TestGateway::start(vec![heartbeat_app(200, 200, None)]).await;
    let mut ws = RawWs::connect(gw.addr, "/echo").await;
    let ping = ws.frame().await.unwrap();
    assert_eq!(ping.opcode, op::PING);
    ws.expect_close(1001).await;
}

#[tokio::test]
async fn a_client_that_sends_no_message_for_idle_timeout_is_closed_with_1001() {
    let gw = TestGateway::start(vec![heartbeat_app(50, 5_000, Some(400))]).await;
    let mut ws = RawWs::connect(gw.addr, "/echo").await;
    // Answer every ping: liveness is not activity.
    loop {
        let Some(frame) = ws.frame().await else {
            panic!("the connection ended without a close frame");
        };
        match frame.opcode {
            op::PING => ws.send(true, op::PONG, &frame.payload).await,
            op::CLOSE => {
                assert_eq!(
                    u16::from_be_bytes([frame.payload[0], frame.payload[1]]),
                    1001
                );
                break;
            }
            other => panic!("unexpected opcode {other}"),
        }
    }
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_1008_while_100_others_get_every_broadcast() {
    const MESSAGES: usize = 10_000;
    let mut testbed = app("testbed", "/t", plugins::TESTBED);
    testbed.limits.outbound_queue_bytes = 256 << 10;
    let gw = TestGateway::start(vec![testbed]).await;

    // The stalled client: a raw socket with a small receive buffer that never reads.
    // 10,000 × 512 B is more than the kernel's buffers and the 256 KiB queue hold.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(gw.addr).await.unwrap();
    stalled
        .write_all(handshake("/t", &[]).as_bytes())
        .await
        .unwrap();

    let mut receivers = Vec::new();
    for _ in 0..100 {
        let mut client = gw.connect("/t").await;
        receivers.push(tokio::spawn(async move {
            for n in 0..MESSAGES {
                let text = client.recv_text().await;
                assert_eq!(text, format!("{n:0>512}"), "every broadcast, in order");
            }
        }));
    }
    let mut sender: Client = gw.connect("/t").await;
    for n in 0..MESSAGES {
        sender.send_text(format!("broadcast {n:0>512}")).await;
        if n % 100 == 99 {
            // Stay close to the receivers: wait for our own copy.
            while sender.recv_text().await != format!("{n:0>512}") {}
        }
    }
    for receiver in receivers {
        within("a receiver", receiver).await.unwrap();
    }
    // The stalled client's queue overflowed: 1008, counted.
    wsgate_tests::until("the stalled client to be closed", || {
        gw.gateway
            .app_stats("testbed")
            .unwrap()
            .slow_consumer_closes
            == 1
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_fifty_clients_with_1001_and_runs_on_close_for_each() {
    let gw = TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(gw.connect("/echo").await);
    }
    let stopping = tokio::spawn(gw.stop());
    for client in &mut clients {
        assert_eq!(client.recv_close().await, (1001, "going away".to_owned()));
    }
    within("shutdown", stopping).await.unwrap();
}

#[tokio::test]
async fn wss_serves_over_tls_with_the_configured_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let gw = TestGateway::start_with(Config {
        apps: vec![app("echo", "/echo", plugins::ECHO)],
        server: ServerSettings {
            tls: Some(TlsFiles {
                cert: cert_path,
                key: key_path,
            }),
            ..ServerSettings::default()
        },
        ..Config::default()
    })
    .await;

    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let client_config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async("wss://localhost/echo", tls)
        .await
        .unwrap();
    let mut client = Client { ws };
    client.send_text("over TLS").await;
    assert_eq!(client.recv_text().await, "over TLS");

    // A plain-TCP client gets no WebSocket from a TLS port.
    let plain = tokio_tungstenite::connect_async(gw.url("/echo")).await;
    assert!(plain.is_err());
}
