//! Sandboxing: a hostile plugin in one app harms neither the other apps nor the host.
//! Each test runs an echo app beside the hostile one, with a client that checks every
//! echo while the hostile app misbehaves.

use std::time::Duration;

use wsgate::config::{AppConfig, CrashLoop, Limits};
use wsgate_tests::{
    Client, EchoProbe, TestGateway, app, handshake, plugins, raw_http, status_of, until, within,
};

fn hostile(plugin: &str, limits: Limits) -> AppConfig {
    let mut hostile = app("hostile", "/h", plugin);
    hostile.limits = limits;
    hostile
}

/// The echo app at `/echo` beside the hostile one at `/h`, held to `limits`.
pub(crate) async fn gateway(limits: Limits) -> TestGateway {
    gateway_with(plugins::HOSTILE, limits).await
}

/// The echo app beside `plugin` as the hostile app at `/h`.
async fn gateway_with(plugin: &str, limits: Limits) -> TestGateway {
    TestGateway::start(vec![
        app("echo", "/echo", plugins::ECHO),
        hostile(plugin, limits),
    ])
    .await
}

/// `culprit` sends `misdeed`; it is closed with 1011, a bystander of the same app and
/// a newcomer are served, the echo app never missed a beat.
async fn only_the_culprit_suffers(misdeed: &str) -> TestGateway {
    only_the_culprit_of(plugins::HOSTILE, misdeed).await
}

/// [`only_the_culprit_suffers`] with `plugin` as the hostile app (`js.rs` runs it
/// against the JavaScript one).
pub(crate) async fn only_the_culprit_of(plugin: &str, misdeed: &str) -> TestGateway {
    let gw = gateway_with(plugin, Limits::default()).await;
    let probe = EchoProbe::start(&gw).await;
    let mut bystander = gw.connect("/h").await;
    let mut culprit = gw.connect("/h").await;
    culprit.send_text(misdeed).await;
    assert_eq!(
        culprit.recv_close().await,
        (1011, "plugin error".to_owned()),
        "{misdeed}"
    );
    bystander.send_text("still served").await;
    assert_eq!(bystander.recv_text().await, "still served");
    let mut newcomer = gw.connect("/h").await;
    newcomer.send_text("hello").await;
    assert_eq!(newcomer.recv_text().await, "hello");
    probe.finish().await;
    gw
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_deadline() {
    let gw = only_the_culprit_suffers("loop").await;
    assert_eq!(gw.gateway.app_stats("hostile").unwrap().traps, 1);
}

#[tokio::test]
async fn unbounded_allocation_stops_at_the_memory_cap() {
    let gw = only_the_culprit_suffers("alloc").await;
    assert_eq!(gw.gateway.app_stats("hostile").unwrap().traps, 1);
}

#[tokio::test]
async fn a_panic_ends_only_its_instance() {
    let gw = only_the_culprit_suffers("panic").await;
    assert_eq!(gw.gateway.app_stats("hostile").unwrap().traps, 1);
}

#[tokio::test]
async fn a_stack_overflow_ends_only_its_instance() {
    let gw = only_the_culprit_suffers("stack").await;
    assert_eq!(gw.gateway.app_stats("hostile").unwrap().traps, 1);
}

#[tokio::test]
async fn a_hook_building_a_million_commands_hits_the_memory_cap() {
    // A million commands do not fit in the default 64 MiB: the hook traps.
    let gw = only_the_culprit_suffers("commands 1000000").await;
    let stats = gw.gateway.app_stats("hostile").unwrap();
    assert_eq!((stats.traps, stats.misbehaviours), (1, 0));
}

#[tokio::test]
async fn a_hook_returning_more_than_max_commands_has_none_run() {
    let gw = only_the_culprit_suffers("commands 20000").await;
    let stats = gw.gateway.app_stats("hostile").unwrap();
    assert_eq!((stats.misbehaviours, stats.traps), (1, 0));
}

#[tokio::test]
async fn a_hook_at_max_commands_has_them_all_run() {
    let limits = Limits {
        max_commands: 50,
        ..Limits::default()
    };
    let gw = gateway(limits).await;
    let mut client = gw.connect("/h").await;
    client.send_text("commands 50").await;
    for _ in 0..50 {
        assert_eq!(client.recv_text().await, "");
    }
    client.send_text("commands 51").await;
    assert_eq!(
        client.recv_close().await.0,
        1011,
        "51 is over the limit: none run"
    );
}

#[tokio::test]
async fn a_broadcast_storm_closes_the_flooded_client_1008_and_spares_the_rest() {
    let gw = gateway(Limits::default()).await;
    let probe = EchoProbe::start(&gw).await;
    let mut storm = gw.connect("/h").await;
    let mut flooded = gw.connect("/h").await;
    // 300 × 32 KiB to the other client: far past its 1 MiB queue.
    storm.send_text("storm 300 32768").await;
    assert_eq!(
        flooded.recv_close().await,
        (1008, "slow consumer".to_owned())
    );
    storm.send_text("the sender is still served").await;
    assert_eq!(storm.recv_text().await, "the sender is still served");
    let stats = gw.gateway.app_stats("hostile").unwrap();
    assert_eq!(stats.slow_consumer_closes, 1);
    let mut newcomer = gw.connect("/h").await;
    newcomer.send_text("after the storm").await;
    assert_eq!(newcomer.recv_text().await, "after the storm");
    probe.finish().await;
}

#[tokio::test]
async fn a_storm_under_the_drop_policy_drops_messages_and_keeps_the_connection() {
    let limits = Limits {
        slow_consumer: wsgate::config::SlowConsumer::Drop,
        ..Limits::default()
    };
    let gw = gateway(limits).await;
    let mut storm = gw.connect("/h").await;
    let mut flooded = gw.connect("/h").await;
    storm.send_text("storm 200 32768").await;
    // The actor handles one event at a time: this answer means the storm is done.
    storm.send_text("done?").await;
    assert_eq!(storm.recv_text().await, "done?");
    let dropped = gw.gateway.app_stats("hostile").unwrap().outbound_dropped;
    assert!(dropped > 0, "the queue overflowed");
    for _ in 0..200 - dropped {
        assert_eq!(flooded.recv_text().await.len(), 32768);
    }
    flooded.send_text("still open").await;
    assert_eq!(flooded.recv_text().await, "still open");
}

#[tokio::test]
async fn a_log_flood_leaves_everyone_served() {
    let gw = gateway(Limits::default()).await;
    let probe = EchoProbe::start(&gw).await;
    let mut flooder = gw.connect("/h").await;
    flooder.send_text("log 3000").await;
    assert_eq!(flooder.recv_text().await, "logged");
    probe.finish().await;
}

#[tokio::test]
async fn plugins_reach_no_environment_arguments_files_or_network() {
    let gw = gateway(Limits::default()).await;
    let mut client = gw.connect("/h").await;
    client.send_text("probe").await;
    let found = client.recv_json().await;
    assert_eq!(
        found,
        serde_json::json!({"env": [], "args": [], "file": false, "dir": false, "tcp": false, "dns": false})
    );
}

#[tokio::test]
async fn a_crash_loop_fails_the_app_with_503_and_1011_then_it_retries() {
    let limits = Limits {
        crash_loop: CrashLoop {
            traps: 3,
            window: Duration::from_secs(30),
            backoff: Duration::from_millis(500),
        },
        ..Limits::default()
    };
    let gw = gateway(limits).await;
    let probe = EchoProbe::start(&gw).await;
    let mut survivor = gw.connect("/h").await;
    for _ in 0..3 {
        let mut culprit: Client = gw.connect("/h").await;
        culprit.send_text("panic").await;
        assert_eq!(culprit.recv_close().await.0, 1011);
    }
    assert_eq!(survivor.recv_close().await, (1011, "app failed".to_owned()));
    assert!(gw.gateway.app_stats("hostile").unwrap().failed);
    let refused = raw_http(gw.addr, &handshake("/h", &[])).await;
    assert_eq!(status_of(&refused), 503, "{refused}");
    until("the app's retry", || {
        !gw.gateway.app_stats("hostile").unwrap().failed
    })
    .await;
    let mut back = gw.connect("/h").await;
    back.send_text("back").await;
    assert_eq!(back.recv_text().await, "back");
    probe.finish().await;
}

#[tokio::test]
async fn the_connection_limit_plus_one_gets_503_and_a_freed_place_is_reused() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let gw = gateway(limits).await;
    let mut first = gw.connect("/h").await;
    let _second = gw.connect("/h").await;
    let refused = raw_http(gw.addr, &handshake("/h", &[])).await;
    assert_eq!(status_of(&refused), 503, "{refused}");
    let _other_app = gw.connect("/echo").await;
    first.close(1000, "bye").await;
    within("a freed place", async {
        loop {
            if tokio_tungstenite::connect_async(gw.url("/h")).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_per_ip_limit_plus_one_gets_503() {
    let limits = Limits {
        max_connections_per_ip: Some(1),
        ..Limits::default()
    };
    let gw = gateway(limits).await;
    let _first = gw.connect("/h").await;
    let refused = raw_http(gw.addr, &handshake("/h", &[])).await;
    assert_eq!(status_of(&refused), 503, "{refused}");
}

#[tokio::test]
async fn a_message_of_exactly_the_default_limit_passes_and_one_byte_more_closes_1009() {
    let gw = gateway(Limits::default()).await;
    let mut client = gw.connect("/h").await;
    let limit = Limits::default().max_message_size;
    client.send_text("x".repeat(limit)).await;
    assert_eq!(client.recv_text().await.len(), limit);
    client.send_binary(vec![7; limit + 1]).await;
    assert_eq!(client.recv_close().await.0, 1009);
}
