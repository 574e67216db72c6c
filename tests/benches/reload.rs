//! Hot-reload latency: how long from a new chat plugin file landing on disk (renamed
//! into place) to the new version serving, over 20 swaps between `chat` and
//! `chat-v2` with three users joined. Prints the median and the spread; asserts
//! nothing about time (machines are noisy).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark"
)]

use std::time::{Duration, Instant};

use wsgate::config::{AppConfig, Limits, PluginSource};
use wsgate_tests::{TestGateway, plugins, replace_by_rename};

const SWAPS: usize = 20;

#[tokio::main]
async fn main() {
    wsgate_tests::init_logs_at("warn");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.wasm");
    std::fs::copy(plugins::CHAT, &path).unwrap();
    let app = AppConfig {
        name: "chat".into(),
        route: "/ws".into(),
        plugin: PluginSource::File(path.clone()),
        limits: Limits::default(),
        static_files: None,
    };
    let gw = TestGateway::start(vec![app]).await;
    gw.gateway.watch_plugins().unwrap();
    let mut clients = Vec::new();
    for name in ["Alice", "Bob", "Carol"] {
        let mut client = gw.connect("/ws").await;
        client.recv_text().await;
        client
            .send_text(format!(r#"{{"type":"join","username":"{name}"}}"#))
            .await;
        clients.push(client);
    }
    let builds = [
        std::fs::read(plugins::CHAT_V2).unwrap(),
        std::fs::read(plugins::CHAT).unwrap(),
    ];
    let mut times = Vec::with_capacity(SWAPS);
    for swap in 0..SWAPS {
        let before = gw.gateway.app_stats("chat").unwrap().reloads_applied;
        let started = Instant::now();
        replace_by_rename(&path, &builds[swap % 2]);
        while gw.gateway.app_stats("chat").unwrap().reloads_applied == before {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "reload (file renamed into place -> new chat version serving), {SWAPS} swaps: \
         median {:.1} ms, min {:.1} ms, max {:.1} ms (includes the {} ms debounce and the stability check)",
        ms(times[SWAPS / 2]),
        ms(times[0]),
        ms(times[SWAPS - 1]),
        wsgate::reload::DEBOUNCE.as_millis()
    );
    assert_eq!(gw.gateway.app_stats("chat").unwrap().connections, 3);
}
