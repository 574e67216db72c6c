use wsgate_tests::{TestGateway, app, plugins, within};

async fn echo_gateway() -> TestGateway {
    TestGateway::start(vec![app("echo", "/echo", plugins::ECHO)]).await
}

/// Sizes at the edges of the frame-length encodings (7-bit, 16-bit, 64-bit) and the
/// default message limit (1 MiB, which must pass).
const SIZES: [usize; 5] = [0, 125, 126, 64 << 10, 1 << 20];

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn text_comes_back_as_the_same_text_at_every_size() {
    let gw = echo_gateway().await;
    let mut client = gw.connect("/echo").await;
    for len in SIZES {
        let text: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        client.send_text(text.clone()).await;
        assert_eq!(client.recv_text().await, text, "size {len}");
    }
    let unicode = "héllo wörld — ✓ 🦀".repeat(1000);
    client.send_text(unicode.clone()).await;
    assert_eq!(client.recv_text().await, unicode);
}

#[tokio::test]
async fn binary_comes_back_as_the_same_binary_at_every_size() {
    let gw = echo_gateway().await;
    let mut client = gw.connect("/echo").await;
    for len in SIZES {
        let data = pattern(len);
        client.send_binary(data.clone()).await;
        assert_eq!(client.recv_binary().await, data, "size {len}");
    }
}

#[tokio::test]
async fn two_hundred_concurrent_clients_each_get_their_own_messages_back() {
    let gw = echo_gateway().await;
    let mut tasks = Vec::new();
    for id in 0..200 {
        let url = gw.url("/echo");
        tasks.push(tokio::spawn(async move {
            let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            let mut client = wsgate_tests::Client { ws };
            for n in 0..20 {
                let text = format!("client {id} message {n}");
                client.send_text(text.clone()).await;
                assert_eq!(client.recv_text().await, text);
            }
            client.send_binary(vec![id as u8; 300]).await;
            assert_eq!(client.recv_binary().await, vec![id as u8; 300]);
            client.close(1000, "done").await;
        }));
    }
    for task in tasks {
        within("a client", task).await.unwrap();
    }
}

#[tokio::test]
async fn pipelined_messages_come_back_in_order() {
    let gw = echo_gateway().await;
    let mut client = gw.connect("/echo").await;
    for n in 0..1000 {
        client.send_text(n.to_string()).await;
    }
    for n in 0..1000 {
        assert_eq!(client.recv_text().await, n.to_string());
    }
}
