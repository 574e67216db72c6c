//! Many tenants on one node: a thousand apps of one plugin file (compiled once,
//! run on the shared worker pool), a hot reload of that file reaching every one with
//! its own state, and an idle app unloaded and woken with its rooms, attachment and
//! timers intact.

use std::time::Duration;

use wsgate::config::{AppConfig, PluginSource};
use wsgate_tests::{
    TestGateway, app, copied_app, get, plugins, replace_by_rename, until, with_custom_section,
};

const APPS: usize = 1000;

#[tokio::test]
async fn a_thousand_apps_answer_and_a_reload_of_their_shared_file_keeps_each_ones_state() {
    let (_dir, path, first) = copied_app(plugins::TESTBED, "t0", "/t0");
    let apps: Vec<AppConfig> = (0..APPS)
        .map(|i| AppConfig {
            plugin: PluginSource::File(path.clone()),
            ..app(&format!("t{i}"), &format!("/t{i}"), plugins::TESTBED)
        })
        .collect();
    assert_eq!(apps[0].plugin, first.plugin);
    let gw = TestGateway::start(apps).await;
    gw.gateway.watch_plugins().unwrap();

    // Each app sees one connection of its own come and go: its state.
    let mut ids = Vec::with_capacity(APPS);
    for i in 0..APPS {
        let mut client = gw.connect(&format!("/t{i}")).await;
        client.send_text("whoami").await;
        ids.push(client.recv_text().await);
        client.close(4000, "mark").await;
    }
    until("every mark handled", || {
        (0..APPS).all(|i| gw.gateway.app_stats(&format!("t{i}")).unwrap().connections == 0)
    })
    .await;

    let bytes = std::fs::read(&path).unwrap();
    replace_by_rename(&path, &with_custom_section(&bytes, "v2"));
    until("every app on the new version", || {
        (0..APPS).all(|i| {
            gw.gateway
                .app_stats(&format!("t{i}"))
                .unwrap()
                .reloads_applied
                >= 1
        })
    })
    .await;
    for (i, id) in ids.iter().enumerate() {
        let mut client = gw.connect(&format!("/t{i}")).await;
        client.send_text("events").await;
        let events: serde_json::Value = serde_json::from_str(&client.recv_text().await).unwrap();
        let closes: Vec<&serde_json::Value> = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["hook"] == "close")
            .collect();
        assert_eq!(
            closes.len(),
            1,
            "app t{i}: its one close, no other app's: {events}"
        );
        assert_eq!(
            (closes[0]["conn"].to_string(), &closes[0]["code"]),
            (id.clone(), &serde_json::json!(4000)),
            "app t{i} kept its own state over the reload"
        );
    }
    gw.stop().await;
}

/// Whether `/metrics` shows app `name` unloaded.
async fn unloaded(gw: &TestGateway, name: &str) -> bool {
    get(gw.addr, "/metrics")
        .await
        .contains(&format!("wsgate_app_unloaded{{app=\"{name}\"}} 1"))
}

#[tokio::test]
async fn an_unloaded_app_keeps_rooms_attachment_and_timers_and_a_timer_wakes_it() {
    let mut idle = app("idle", "/idle", plugins::TESTBED);
    idle.limits.idle_unload = Some(Duration::from_millis(100));
    let gw = TestGateway::start(vec![idle]).await;
    let mut client = gw.connect("/idle").await;
    for command in ["join lobby", "attach seat-7", "timer wake 1500"] {
        client.send_text(command).await;
    }
    client.send_text("whoami").await;
    let id = client.recv_text().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !unloaded(&gw, "idle").await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app never unloaded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        client.recv_text().await,
        "timer wake",
        "the timer woke the app"
    );
    client.send_text("rooms").await;
    assert_eq!(client.recv_text().await, r#"["lobby"]"#);
    client.send_text("me").await;
    let me: serde_json::Value = serde_json::from_str(&client.recv_text().await).unwrap();
    assert_eq!(me["attachment"], "seat-7");
    assert_eq!(me["id"].to_string(), id);
    gw.stop().await;
}
