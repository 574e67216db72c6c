//! Plugins written in JavaScript (`plugins/*-js`, built with the npm SDK in
//! `plugin-sdk/js`): served like any component. They are built by
//! `./scripts/test.sh` (npm), which then runs these tests (`--ignored`): a plain
//! `cargo test` has no JavaScript toolchain to build them with.

use std::path::PathBuf;

use wsgate_tests::{TestGateway, app};

/// `plugins/NAME/NAME.wasm`, as `npm run build` writes it.
fn js_plugin(name: &str) -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../plugins/{name}/{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is not built: ./scripts/test.sh builds it (cd plugins/{name} && npm ci && npm run build)",
        path.display()
    );
    path.display().to_string()
}

#[tokio::test]
#[ignore = "needs the JavaScript plugins built: ./scripts/test.sh builds them and runs this"]
async fn the_javascript_echo_sends_text_and_binary_back() {
    let gw = TestGateway::start(vec![app("echo-js", "/echo", &js_plugin("echo-js"))]).await;
    let mut one = gw.connect("/echo").await;
    let mut two = gw.connect("/echo").await;
    one.send_text("hello from js").await;
    assert_eq!(one.recv_text().await, "hello from js");
    two.send_binary(vec![0, 1, 2, 255]).await;
    assert_eq!(two.recv_binary().await, [0, 1, 2, 255]);
    one.send_text("é".repeat(1000)).await;
    assert_eq!(
        one.recv_text().await,
        "é".repeat(1000),
        "UTF-8 through QuickJS"
    );
    gw.stop().await;
}
