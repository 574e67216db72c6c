//! What a trapping hook costs: for 50 panics in the hostile plugin, the time to make
//! the fresh instance (measured by the gateway) and the time a client sees from its
//! message to the close frame, and until a bystander of the same app is answered.
//! Prints medians; asserts nothing about time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark"
)]

use std::time::{Duration, Instant};

use wsgate_tests::{TestGateway, app, plugins};

const TRAPS: usize = 50;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() {
    wsgate_tests::init_logs_at("warn");
    let mut hostile = app("hostile", "/h", plugins::HOSTILE);
    // Do not let the breaker trip: this measures recovery, not the crash loop.
    hostile.limits.crash_loop.traps = 1_000_000;
    let gw = TestGateway::start(vec![hostile]).await;
    let mut bystander = gw.connect("/h").await;
    let (mut instance, mut to_close, mut to_served) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..TRAPS {
        let mut culprit = gw.connect("/h").await;
        let started = Instant::now();
        culprit.send_text("panic").await;
        assert_eq!(culprit.recv_close().await.0, 1011);
        to_close.push(started.elapsed());
        bystander.send_text(format!("after {n}")).await;
        assert_eq!(bystander.recv_text().await, format!("after {n}"));
        to_served.push(started.elapsed());
        let stats = gw.gateway.app_stats("hostile").unwrap();
        assert_eq!(stats.recoveries, n as u64 + 1);
        instance.push(Duration::from_micros(stats.last_recovery_us));
    }
    println!(
        "trap recovery over {TRAPS} panics (medians): fresh instance {:.0} µs; \
         client message -> close 1011 {:.0} µs; -> bystander answered {:.0} µs",
        median(instance),
        median(to_close),
        median(to_served)
    );
}
