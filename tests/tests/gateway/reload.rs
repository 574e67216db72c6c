//! Hot reload: new plugin versions swap in under live connections, with their state;
//! broken ones are refused and the running version keeps serving.

use std::io::Write;

use wsgate::config::AppConfig;
use wsgate::{Config, Gateway};
use wsgate_tests::{
    Client, TestGateway, copied_app, plugins, replace_by_rename, until, with_custom_section, within,
};

pub(crate) async fn watching(app: AppConfig) -> TestGateway {
    let gw = TestGateway::start(vec![app]).await;
    gw.gateway.watch_plugins().unwrap();
    gw
}

pub(crate) async fn applied(gw: &TestGateway, n: u64) {
    until(&format!("{n} applied reloads"), || {
        gw.gateway.app_stats("app").unwrap().reloads_applied >= n
    })
    .await;
}

async fn refused(gw: &TestGateway, n: u64) {
    until(&format!("{n} refused reloads"), || {
        gw.gateway.app_stats("app").unwrap().reloads_refused >= n
    })
    .await;
}

async fn join(client: &mut Client, name: &str) {
    client.recv_text().await; // welcome
    client
        .send_text(format!(r#"{{"type":"join","username":"{name}"}}"#))
        .await;
}

#[tokio::test]
async fn chat_users_survive_a_reload_and_the_new_behaviour_shows_at_once() {
    let (_dir, path, app) = copied_app(plugins::CHAT, "app", "/ws");
    let gw = watching(app).await;
    let mut clients = [
        gw.connect("/ws").await,
        gw.connect("/ws").await,
        gw.connect("/ws").await,
    ];
    for (client, name) in clients.iter_mut().zip(["Alice", "Bob", "Carol"]) {
        join(client, name).await;
    }
    for client in &mut clients {
        for _ in 0..3 {
            assert_eq!(client.recv_json().await["type"], "join");
        }
    }

    replace_by_rename(&path, &std::fs::read(plugins::CHAT_V2).unwrap());
    applied(&gw, 1).await;

    clients[1].send_text("after the reload").await;
    for client in &mut clients {
        let message = client.recv_json().await;
        assert_eq!(
            message,
            serde_json::json!({"type": "message", "user": "Bob", "text": "after the reload", "version": 2}),
            "the name survived and the new version answered"
        );
    }
    let [alice, ..] = &mut clients;
    alice.close(1000, "bye").await;
    for client in &mut clients[1..] {
        assert_eq!(client.recv_json().await["user"], "Alice");
    }
    until("two open connections", || {
        gw.gateway.app_stats("app").unwrap().connections == 2
    })
    .await;
}

#[tokio::test]
async fn twenty_swaps_under_a_stream_lose_reorder_and_duplicate_nothing() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let (_dir, path, app) = copied_app(plugins::ECHO, "app", "/echo");
    let gw = watching(app).await;
    let client = gw.connect("/echo").await;
    let (mut sink, mut stream) = client.ws.split();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let (total_tx, mut total_rx) = tokio::sync::oneshot::channel::<u64>();

    let sender = tokio::spawn(async move {
        let mut sent: u64 = 0;
        loop {
            sink.send(Message::text(sent.to_string())).await.unwrap();
            sent += 1;
            tokio::select! {
                _ = &mut stopped => return (sent, sink),
                () = tokio::time::sleep(std::time::Duration::from_millis(1)) => {}
            }
        }
    });
    let receiver = tokio::spawn(async move {
        let mut received: u64 = 0;
        let mut total = None;
        loop {
            if total == Some(received) {
                return received;
            }
            tokio::select! {
                t = &mut total_rx, if total.is_none() => total = Some(t.unwrap()),
                next = stream.next() => match next {
                    Some(Ok(Message::Text(text))) => {
                        assert_eq!(text.as_str(), received.to_string(), "every number once, in order");
                        received += 1;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => panic!("the connection ended after {received} echoes: {other:?}"),
                },
            }
        }
    });

    // Two different builds, both echoing numbers.
    let builds = [
        std::fs::read(plugins::TESTBED).unwrap(),
        std::fs::read(plugins::ECHO).unwrap(),
    ];
    for swap in 0..20u64 {
        replace_by_rename(&path, &builds[(swap % 2) as usize]);
        applied(&gw, swap + 1).await;
    }
    stop.send(()).unwrap();
    let (sent, _sink) = within("the sender", sender).await.unwrap();
    total_tx.send(sent).unwrap();
    let received = within("every echo", receiver).await.unwrap();
    assert_eq!(received, sent);
    assert!(sent > 20, "messages flowed during the swaps ({sent})");
    let stats = gw.gateway.app_stats("app").unwrap();
    assert_eq!((stats.reloads_applied, stats.reloads_refused), (20, 0));
    assert_eq!(stats.connections, 1, "the connection never closed");
}

#[tokio::test]
async fn broken_truncated_and_wrong_world_files_are_refused_and_the_old_version_answers() {
    let (_dir, path, app) = copied_app(plugins::ECHO, "app", "/echo");
    let gw = watching(app).await;
    let mut client = gw.connect("/echo").await;
    let echo = std::fs::read(plugins::ECHO).unwrap();
    let bad: [(&str, Vec<u8>); 4] = [
        ("not wasm", b"this is not a component".to_vec()),
        ("truncated", echo[..echo.len() / 3].to_vec()),
        ("wrong world", std::fs::read(plugins::NO_HANDLER).unwrap()),
        (
            "other contract version",
            std::fs::read(plugins::OLD_CONTRACT).unwrap(),
        ),
    ];
    for (n, (what, bytes)) in bad.iter().enumerate() {
        replace_by_rename(&path, bytes);
        refused(&gw, n as u64 + 1).await;
        client
            .send_text(format!("still echoing after {what}"))
            .await;
        assert_eq!(
            client.recv_text().await,
            format!("still echoing after {what}")
        );
    }
    assert_eq!(gw.gateway.app_stats("app").unwrap().reloads_applied, 0);
    let mut newcomer = gw.connect("/echo").await;
    newcomer.send_text("new connections are served too").await;
    assert_eq!(newcomer.recv_text().await, "new connections are served too");
}

#[tokio::test]
async fn a_version_that_refuses_the_state_is_refused_and_the_old_state_stays() {
    let (_dir, path, app) = copied_app(plugins::CHAT, "app", "/ws");
    let gw = watching(app).await;
    let mut alice = gw.connect("/ws").await;
    join(&mut alice, "Alice").await;
    alice.recv_json().await;
    // The testbed cannot read the chat's state: its restore says so.
    replace_by_rename(&path, &std::fs::read(plugins::TESTBED).unwrap());
    refused(&gw, 1).await;
    alice.send_text("hello").await;
    assert_eq!(
        alice.recv_text().await,
        r#"{"type":"message","user":"Alice","text":"hello"}"#,
        "the chat still serves, Alice still known"
    );
}

#[tokio::test]
async fn a_version_that_traps_in_restore_is_refused_and_the_old_state_stays() {
    let (_dir, path, app) = copied_app(plugins::TESTBED, "app", "/t");
    let gw = watching(app).await;
    let mut observer = gw.connect("/t").await;
    let gone = gw.connect("/t").await;
    drop(gone); // one on-close in the testbed's state
    until_events(&mut observer, 1).await;
    observer.send_text("poison").await;
    assert_eq!(observer.recv_text().await, "poisoned");
    let second_build = with_custom_section(&std::fs::read(plugins::TESTBED).unwrap(), "build-2");
    replace_by_rename(&path, &second_build);
    refused(&gw, 1).await;
    observer.send_text("events").await;
    let events = observer.recv_json().await;
    assert_eq!(
        events.as_array().map(Vec::len),
        Some(1),
        "state intact: {events}"
    );
}

async fn until_events(observer: &mut Client, n: usize) {
    within("the testbed's events", async {
        loop {
            observer.send_text("events").await;
            if observer.recv_json().await.as_array().map(Vec::len) == Some(n) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_file_written_in_two_steps_is_loaded_only_whole() {
    let (_dir, path, app) = copied_app(plugins::CHAT, "app", "/ws");
    let gw = watching(app).await;
    let v2 = std::fs::read(plugins::CHAT_V2).unwrap();
    // Like `cp` of a large file: truncate, write part, pause, write the rest.
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&v2[..v2.len() / 2]).unwrap();
    file.flush().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    file.write_all(&v2[v2.len() / 2..]).unwrap();
    drop(file);
    applied(&gw, 1).await;
    let mut client = gw.connect("/ws").await;
    assert_eq!(
        client.recv_json().await["version"],
        2,
        "the whole new version serves"
    );
    assert_eq!(gw.gateway.app_stats("app").unwrap().reloads_applied, 1);
}

#[tokio::test]
async fn a_copy_in_place_is_picked_up() {
    let (_dir, path, app) = copied_app(plugins::CHAT, "app", "/ws");
    let gw = watching(app).await;
    std::fs::copy(plugins::CHAT_V2, &path).unwrap();
    applied(&gw, 1).await;
    let mut client = gw.connect("/ws").await;
    assert_eq!(client.recv_json().await["version"], 2);
}

fn config(apps: Vec<AppConfig>) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        apps,
        ..Config::default()
    }
}

fn app_at(name: &str, route: &str, plugin: &str) -> AppConfig {
    wsgate_tests::app(name, route, plugin)
}

#[tokio::test]
async fn a_config_reload_adds_removes_and_changes_apps_and_leaves_the_rest() {
    let gw = TestGateway::start(vec![
        app_at("keep", "/keep", plugins::ECHO),
        app_at("drop", "/drop", plugins::ECHO),
        app_at("move", "/move", plugins::ECHO),
    ])
    .await;
    let mut kept = gw.connect("/keep").await;
    let mut dropped = gw.connect("/drop").await;
    let mut moved = gw.connect("/move").await;

    let next = config(vec![
        app_at("keep", "/keep", plugins::ECHO),
        app_at("move", "/moved", plugins::ECHO),
        app_at("new", "/new", plugins::CHAT),
    ]);
    let gateway: Gateway = gw.gateway.clone();
    let changes = tokio::task::spawn_blocking(move || gateway.reload_config(&next))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changes.added, ["new"]);
    assert_eq!(changes.removed, ["drop"]);
    assert_eq!(changes.changed, ["move"]);
    assert_eq!(changes.unchanged, ["keep"]);

    assert_eq!(dropped.recv_close().await.0, 1001);
    for client in [&mut kept, &mut moved] {
        client.send_text("still here").await;
        assert_eq!(client.recv_text().await, "still here");
    }
    let mut newcomer = gw.connect("/new").await;
    assert_eq!(newcomer.recv_json().await["type"], "welcome");
    let _ = gw.connect("/moved").await;
    let old_route = wsgate_tests::raw_http(gw.addr, &wsgate_tests::handshake("/move", &[])).await;
    assert_eq!(wsgate_tests::status_of(&old_route), 404);
    // The removed app's series are gone from /metrics; the others' stay.
    let metrics = wsgate_tests::get(gw.addr, "/metrics").await;
    assert!(!metrics.contains(r#"app="drop""#), "{metrics}");
    for name in ["keep", "move", "new"] {
        assert!(
            metrics.contains(&format!(r#"wsgate_connections_open{{app="{name}"}}"#)),
            "{name}: {metrics}"
        );
    }
}

#[tokio::test]
async fn a_config_whose_plugin_fails_is_refused_whole() {
    let gw = TestGateway::start(vec![app_at("keep", "/keep", plugins::ECHO)]).await;
    let mut kept = gw.connect("/keep").await;
    let broken = config(vec![
        app_at("new", "/new", plugins::CHAT),
        app_at("bad", "/bad", "/nonexistent/bad.wasm"),
    ]);
    let gateway = gw.gateway.clone();
    let err = tokio::task::spawn_blocking(move || gateway.reload_config(&broken))
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("app \"bad\""), "{err}");
    kept.send_text("untouched").await;
    assert_eq!(kept.recv_text().await, "untouched");
    let new_route = wsgate_tests::raw_http(gw.addr, &wsgate_tests::handshake("/new", &[])).await;
    assert_eq!(
        wsgate_tests::status_of(&new_route),
        404,
        "nothing of the bad config applied"
    );
}
