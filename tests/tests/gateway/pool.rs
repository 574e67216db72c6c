//! The apps' worker pool: every app's actor runs on a few shared threads, one app's
//! messages handled in order, and apps whose hooks hold every worker do not stall
//! the others (the pool grows).

use std::time::Duration;

use wsgate::config::{AppConfig, Limits};
use wsgate_tests::{TestGateway, app, plugins, until};

/// The threads of this process whose names start with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .filter(|name| name.starts_with(prefix))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn forty_apps_answer_each_in_order_on_a_few_shared_threads() {
    let apps: Vec<AppConfig> = (0..40)
        .map(|i| app(&format!("e{i}"), &format!("/e{i}"), plugins::ECHO))
        .collect();
    let gw = TestGateway::start(apps).await;
    let mut clients = Vec::new();
    for i in 0..40 {
        clients.push(gw.connect(&format!("/e{i}")).await);
    }
    // Every client's 100 messages in flight at once, over every app at once.
    for (i, client) in clients.iter_mut().enumerate() {
        for n in 0..100 {
            client.send_text(format!("{i}:{n}")).await;
        }
    }
    for (i, client) in clients.iter_mut().enumerate() {
        for n in 0..100 {
            assert_eq!(client.recv_text().await, format!("{i}:{n}"), "app e{i}");
        }
    }
    let workers = wsgate::app_workers().unwrap();
    assert_eq!(
        threads_named("wsgate-app-"),
        0,
        "no thread of its own for any app"
    );
    assert!(
        threads_named("wsgate-apps-") <= workers + 1,
        "the pool's workers and its watcher only: {} threads for {workers} workers",
        threads_named("wsgate-apps-")
    );
    gw.stop().await;
}

#[tokio::test]
async fn apps_looping_on_every_worker_do_not_stall_the_others() {
    // One looping app more than there are workers now: each holds a worker until its
    // deadline, far away.
    let loopers = wsgate::app_workers().unwrap() + 1;
    let limits = Limits {
        hook_timeout: Duration::from_secs(6),
        ..Limits::default()
    };
    let mut apps: Vec<AppConfig> = (0..loopers)
        .map(|i| {
            let mut hostile = app(&format!("h{i}"), &format!("/h{i}"), plugins::HOSTILE);
            hostile.limits = limits;
            hostile
        })
        .collect();
    apps.push(app("echo", "/echo", plugins::ECHO));
    let gw = TestGateway::start(apps).await;
    let mut culprits = Vec::new();
    for i in 0..loopers {
        let mut culprit = gw.connect(&format!("/h{i}")).await;
        culprit.send_text("loop").await;
        culprits.push(culprit);
    }
    until("every looping app in its hook", || {
        (0..loopers).all(|i| gw.gateway.app_stats(&format!("h{i}")).unwrap().busy_ms > 0)
    })
    .await;
    let mut echo = gw.connect("/echo").await;
    echo.send_text("still served").await;
    assert_eq!(echo.recv_text().await, "still served");
    for i in 0..loopers {
        assert_eq!(
            gw.gateway.app_stats(&format!("h{i}")).unwrap().traps,
            0,
            "the echo came back while app h{i} was still looping"
        );
    }
    assert!(wsgate::app_workers().unwrap() > loopers, "the pool grew");
    for culprit in &mut culprits {
        assert_eq!(
            culprit.recv_close().await.0,
            1011,
            "each loop ends at its deadline"
        );
    }
    gw.stop().await;
}
