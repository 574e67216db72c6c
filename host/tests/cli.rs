//! The `wsgate` binary as a user runs it: the demo without a config, config and
//! start-up errors on standard error with exit code 1, and SIGTERM.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

#[path = "../../tests/src/redis.rs"]
#[allow(
    unreachable_pub,
    dead_code,
    reason = "shared with the end-to-end harness"
)]
mod redis;

const TIMEOUT: Duration = Duration::from_secs(30);

fn wsgate(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsgate"));
    cmd.args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// The log lines of a running `wsgate`.
struct Log(tokio::sync::mpsc::UnboundedReceiver<String>);

impl Log {
    /// Waits for a line containing `needle` and returns it.
    async fn wait_for(&mut self, needle: &str) -> String {
        self.wait_for_within(needle, TIMEOUT).await
    }

    /// As [`Log::wait_for`], for up to `time`.
    async fn wait_for_within(&mut self, needle: &str, time: Duration) -> String {
        tokio::time::timeout(time, async {
            while let Some(line) = self.0.recv().await {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("wsgate exited before logging {needle:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {needle:?} in time"))
    }

    /// The lines not read yet, up to the gateway's exit or for `time` at most: for a
    /// failing test's message.
    async fn rest_within(&mut self, time: Duration) -> String {
        let mut lines = Vec::new();
        let _ = tokio::time::timeout(time, async {
            while let Some(line) = self.0.recv().await {
                lines.push(line);
            }
        })
        .await;
        lines.join("\n")
    }
}

/// Starts `wsgate serve ARGS` and waits for its "listening on ws://ADDR" line.
async fn serve(args: &[&str]) -> (Child, String, Log) {
    serve_command(wsgate(args), TIMEOUT).await
}

/// Starts `cmd` and waits up to `time` for its "listening on ws://ADDR" line.
async fn serve_command(mut cmd: Command, time: Duration) -> (Child, String, Log) {
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    // Keep draining the log so the gateway never blocks on a full pipe.
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    let mut log = Log(rx);
    let line = log.wait_for_within("listening on ws://", time).await;
    let addr = line
        .split_once("listening on ws://")
        .map(|(_, a)| a.trim().to_owned())
        .unwrap();
    (child, addr, log)
}

fn hang_up(child: &Child) {
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Runs `wsgate ARGS`, which must fail; returns its standard error.
async fn fails(args: &[&str]) -> String {
    let output = tokio::time::timeout(TIMEOUT, wsgate(args).output())
        .await
        .expect("wsgate did not exit")
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "exit status");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Starts `wsgate serve --config CONFIG` on a free port (see [`serve`]).
async fn serve_config(config: &std::path::Path) -> (Child, String, Log) {
    serve(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ])
    .await
}

/// A WebSocket client of `path` at `addr`.
async fn connect(
    addr: &str,
    path: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
        .await
        .unwrap();
    ws
}

async fn next_text(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> String {
    match tokio::time::timeout(TIMEOUT, ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn without_a_config_the_demo_serves_chat_and_echo_and_sigterm_closes_1001() {
    let (mut child, addr, mut log) = serve(&["serve", "--listen", "127.0.0.1:0"]).await;

    let mut chat = connect(&addr, "/ws").await;
    assert_eq!(
        next_text(&mut chat).await,
        r#"{"type":"welcome","message":"Connected!"}"#
    );
    chat.send(Message::text(r#"{"type":"join","username":"Ada"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut chat).await,
        r#"{"type":"join","user":"Ada"}"#
    );

    let mut echo = connect(&addr, "/echo").await;
    echo.send(Message::text("ping")).await.unwrap();
    assert_eq!(next_text(&mut echo).await, "ping");

    // The chat page is served at the root.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut tcp,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut page = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut tcp, &mut page)
        .await
        .unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<title>wsgate chat</title>"), "{page}");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    match tokio::time::timeout(TIMEOUT, chat.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 1001),
        other => {
            // Seen once under the full suite's load (an end of stream without the
            // close frame): say how the gateway ended and what it logged.
            let logged = log.rest_within(TIMEOUT).await;
            let status = tokio::time::timeout(TIMEOUT, child.wait()).await;
            panic!(
                "expected close 1001, got {other:?}; the gateway ended {status:?}, logging:\n{logged}"
            )
        }
    }
    let status = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_config_with_an_unknown_key_fails_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:0\"\n\n[[app]]\nname = \"a\"\nroute = \"/a\"\nplugin = \"a.wasm\"\nmax = 3\n").unwrap();
    let stderr = fails(&["serve", "--config", path.to_str().unwrap()]).await;
    let expected = format!("{}:7:1: unknown field `max`", path.display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[tokio::test]
async fn a_missing_config_file_fails_naming_it() {
    let stderr = fails(&["serve", "--config", "/nonexistent/wsgate.toml"]).await;
    assert!(
        stderr.contains("cannot read the config file /nonexistent/wsgate.toml"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_plugin_fails_naming_the_app_and_the_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    std::fs::write(
        &path,
        "[[app]]\nname = \"lobby\"\nroute = \"/lobby\"\nplugin = \"plugins/lobby.wasm\"\n",
    )
    .unwrap();
    let stderr = fails(&["serve", "--config", path.to_str().unwrap()]).await;
    let plugin = dir.path().join("plugins/lobby.wasm");
    let expected = format!(
        "app \"lobby\": plugin {}: cannot read the plugin file",
        plugin.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "said once: {stderr}"
    );
    assert!(stderr.contains("build the plugin first"), "{stderr}");
    assert!(!stderr.contains("Caused by"), "{stderr}");
    // A config file that is not there is named as given.
    let stderr = fails(&["serve", "--config", "gw.toml"]).await;
    assert!(
        stderr.contains("cannot read the config file gw.toml"),
        "{stderr}"
    );
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn a_listen_address_in_use_fails_clearly() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let stderr = fails(&["serve", "--listen", &addr]).await;
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
}

#[cfg(all(unix, feature = "demo"))]
#[tokio::test]
async fn sighup_adds_and_removes_apps_and_refuses_a_broken_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let app = |name: &str, plugin: &str| {
        format!("[[app]]\nname = \"{name}\"\nroute = \"/{name}\"\nplugin = {plugin:?}\n")
    };
    std::fs::write(&config, app("a", env!("WSGATE_DEMO_ECHO_WASM"))).unwrap();
    let (child, addr, mut log) = serve_config(&config).await;

    let mut a = connect(&addr, "/a").await;
    a.send(Message::text("one")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "one");

    std::fs::write(&config, app("b", env!("WSGATE_DEMO_CHAT_WASM"))).unwrap();
    hang_up(&child);
    log.wait_for("config reloaded").await;
    match tokio::time::timeout(TIMEOUT, a.next()).await {
        Ok(Some(Ok(Message::Close(Some(frame))))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected close 1001 for the removed app, got {other:?}"),
    }
    let mut b = connect(&addr, "/b").await;
    assert!(next_text(&mut b).await.contains("welcome"));

    std::fs::write(&config, "this is = not [valid").unwrap();
    hang_up(&child);
    let refused = log.wait_for("config reload refused").await;
    assert!(refused.contains("gw.toml:1:"), "{refused}");
    b.send(Message::text(r#"{"type":"join","username":"Bo"}"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut b).await,
        r#"{"type":"join","user":"Bo"}"#,
        "the running config stayed"
    );
}

/// Runs `wsgate ARGS` to the end; returns its exit code and standard output.
async fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = wsgate(args);
    cmd.stdout(Stdio::piped());
    let output = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .expect("wsgate did not exit")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn check_reports_each_app_and_exits_0_when_all_would_start() {
    let (code, stdout) = run(&["check"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    // The demo: chat, echo, relay and the dashboard, then its address.
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(
        lines[4].starts_with("ok     listen  127.0.0.1:8000  (free)")
            || lines[4].starts_with("warn   listen  127.0.0.1:8000: "),
        "{stdout}"
    );
    assert!(
        lines[0].starts_with("ok     chat  /ws  embedded:chat  (compiled in"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("ok     echo  /echo  embedded:echo"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("ok     dashboard  /dashboard  embedded:dashboard"),
        "{stdout}"
    );
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn check_says_when_the_listen_address_is_taken_but_still_passes() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let text = format!(
        "listen = \"{addr}\"\n[[app]]\nname = \"e\"\nroute = \"/e\"\nplugin = {:?}\n",
        env!("WSGATE_DEMO_ECHO_WASM")
    );
    std::fs::write(&config, text).unwrap();
    let (code, stdout) = run(&["check", "--config", config.to_str().unwrap()]).await;
    assert_eq!(code, Some(0), "a gateway serving it holds it too: {stdout}");
    assert!(
        stdout.contains(&format!("warn   listen  {addr}: "))
            && stdout.contains("another process listens there"),
        "{stdout}"
    );
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn check_reports_a_broken_app_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let config = dir.path().join("gw.toml");
    let text = format!(
        "[[app]]\nname = \"good\"\nroute = \"/g\"\nplugin = {:?}\n\n[[app]]\nname = \"bad\"\nroute = \"/b\"\nplugin = \"junk.wasm\"\n",
        env!("WSGATE_DEMO_ECHO_WASM")
    );
    std::fs::write(&config, text).unwrap();
    let (code, stdout) = run(&["check", "--config", config.to_str().unwrap()]).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("ok     good  /g"), "{stdout}");
    let expected = format!("error  bad  /b  {}: not a WebAssembly file", junk.display());
    assert!(stdout.contains(&expected), "{stdout}");
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let mut cmd = wsgate(&["--log-format", "json", "check"]);
    cmd.stdout(Stdio::null());
    let output = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().next().expect("a log line");
    let parsed: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert!(parsed["fields"]["message"].is_string(), "{parsed}");
}

/// `cargo ARGS` in `dir`, clean of the outer build's settings; panics unless it works.
fn cargo(dir: &std::path::Path, args: &[&str], target_dir: Option<&std::path::Path>) {
    let mut cmd =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir).args(args);
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    if let Some(target_dir) = target_dir {
        cmd.env("CARGO_TARGET_DIR", target_dir);
    }
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "cargo {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `wsgate check` of the `wsgate.toml` that `wsgate new NAME` wrote in `dir`: exit 0,
/// the app `name` served at `/name`.
async fn passes_check(dir: &std::path::Path, name: &str) {
    let config = dir.join("wsgate.toml");
    let (code, stdout) = run(&["check", "--config", config.to_str().unwrap()]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.starts_with(&format!("ok     {name}  /{name}")),
        "{stdout}"
    );
}

/// `wsgate dev` in the project `dir` that `wsgate new` made: its handler answers at
/// `route` ("you said: …"); an edit of `source` is built and hot-reloaded under the
/// open connection ("you wrote: …"); a `broken` edit fails to build and the previous
/// version keeps serving.
async fn dev_edit_and_see(dir: &std::path::Path, route: &str, source: &str, broken: &str) {
    let mut dev = wsgate(&["dev", "--listen", "127.0.0.1:0"]);
    dev.current_dir(dir);
    let (_child, addr, mut log) = serve_command(dev, Duration::from_secs(300)).await;
    let mut ws = connect(&addr, route).await;
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "you said: hi");
    let file = dir.join(source);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("you said: ", "you wrote: ")).unwrap();
    log.wait_for_within("reloaded", Duration::from_secs(300))
        .await;
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "you wrote: hi");
    std::fs::write(&file, broken).unwrap();
    log.wait_for_within("the build failed", Duration::from_secs(300))
        .await;
    ws.send(Message::text("still")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "you wrote: still");
}

#[tokio::test]
async fn new_makes_a_plugin_that_tests_builds_and_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = wsgate(&["new", "hello-plugin"]);
    cmd.current_dir(dir.path()).stdout(Stdio::piped());
    let output = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let crate_dir = dir.path().join("hello-plugin");
    for file in ["Cargo.toml", "src/lib.rs", "wsgate.toml", ".gitignore"] {
        assert!(crate_dir.join(file).is_file(), "{file}");
    }
    let again = tokio::time::timeout(TIMEOUT, {
        let mut cmd = wsgate(&["new", "hello-plugin"]);
        cmd.current_dir(dir.path());
        cmd.output()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "an existing folder is not overwritten"
    );

    // Its unit test passes natively (sharing a target folder across runs).
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/new-plugin-test");
    cargo(&crate_dir, &["test", "--quiet"], Some(&shared));

    // `wsgate dev` builds it as a component and serves it; an edit is built and
    // hot-reloaded under the open connection; a broken edit leaves it serving.
    dev_edit_and_see(
        &crate_dir,
        "/hello-plugin",
        "src/lib.rs",
        "this is not rust",
    )
    .await;

    passes_check(&crate_dir, "hello-plugin").await;
}

/// `npm ARGS` in `dir`; panics unless it works.
fn npm(dir: &std::path::Path, args: &[&str]) {
    let output = std::process::Command::new("npm")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run npm (Node.js is needed): {e}"));
    assert!(
        output.status.success(),
        "npm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
#[ignore = "needs Node.js and npm: ./scripts/test.sh runs it (WSGATE_SKIP_JS=1 skips it)"]
async fn js_new_makes_a_javascript_plugin_that_tests_builds_and_hot_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout) = {
        let mut cmd = wsgate(&["new", "hello-js", "--lang", "js"]);
        cmd.current_dir(dir.path()).stdout(Stdio::piped());
        let output = tokio::time::timeout(TIMEOUT, cmd.output())
            .await
            .unwrap()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("cd hello-js && npm install && wsgate dev"),
        "{stdout}"
    );
    let project = dir.path().join("hello-js");
    for file in [
        "package.json",
        "hello-js.js",
        "hello-js.test.mjs",
        "wsgate.toml",
        ".gitignore",
        ".npmrc",
    ] {
        assert!(project.join(file).is_file(), "{file}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("package.json")).unwrap())
            .unwrap();
    assert!(
        manifest["dependencies"]["wsgate-plugin"]
            .as_str()
            .is_some_and(|sdk| sdk.starts_with("file:") && sdk.ends_with("plugin-sdk/js")),
        "the SDK of this clone: {manifest}"
    );
    assert!(
        manifest["dependencies"]["componentize-qjs"]
            .as_str()
            .is_some_and(|v| v.starts_with("0.")),
        "componentize-qjs pinned: {manifest}"
    );

    // As the README has it: install, unit-test, then `wsgate dev`.
    npm(
        &project,
        &["install", "--no-audit", "--no-fund", "--silent"],
    );
    npm(&project, &["test", "--silent"]);
    dev_edit_and_see(
        &project,
        "/hello-js",
        "hello-js.js",
        "this is not ( javascript",
    )
    .await;

    passes_check(&project, "hello-js").await;
}

#[test]
fn new_refuses_a_javascript_name_with_capitals() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wsgate"))
        .current_dir(dir.path())
        .args(["new", "Hello", "--lang", "js"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a valid npm package name"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!dir.path().join("Hello").exists());
}

#[test]
fn new_refuses_an_sdk_folder_that_is_not_the_sdk() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wsgate"))
        .args(["new", "hello", "--sdk", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("/nonexistent is not the wsgate-plugin SDK's folder"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn new_refuses_a_name_that_is_not_a_crate_name() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_wsgate"))
        .args(["new", "../evil"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a valid plugin name"));
}

async fn http_get(addr: &str, path: &str) -> String {
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// Sends `request` raw and reads the whole response.
async fn http(addr: &str, request: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, request.as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut tcp, &mut response)
        .await
        .unwrap();
    response
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn admin_listen_moves_metrics_and_health_off_the_main_port() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let text = format!(
        "admin_listen = \"127.0.0.1:0\"\n[[app]]\nname = \"e\"\nroute = \"/e\"\nplugin = {:?}\n",
        env!("WSGATE_DEMO_ECHO_WASM")
    );
    std::fs::write(&config, text).unwrap();
    let mut cmd = wsgate(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let (mut admin, mut main) = (None, None);
    tokio::time::timeout(TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, a)) = line.split_once("metrics and health on http://") {
                admin = Some(a.trim().to_owned());
            }
            if let Some((_, a)) = line.split_once("listening on ws://") {
                main = Some(a.trim().to_owned());
                return;
            }
        }
    })
    .await
    .unwrap();
    let (admin, main) = (admin.unwrap(), main.unwrap());
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let metrics = http_get(&admin, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("wsgate_connections_open"), "{metrics}");
    assert!(
        http_get(&admin, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        http_get(&admin, "/e").await.starts_with("HTTP/1.1 404"),
        "apps are not on the admin port"
    );
    assert!(
        http_get(&main, "/metrics")
            .await
            .starts_with("HTTP/1.1 404"),
        "nor metrics on the main port"
    );
    child.kill().await.unwrap();
}

/// A WebSocket handshake on a raw socket that then reads and answers nothing.
async fn silent_client(addr: &str, path: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    tcp
}

#[cfg(all(unix, feature = "demo"))]
#[tokio::test]
async fn sigterm_runs_every_on_close_and_exits_in_time_while_a_hook_sleeps() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "drain_timeout_ms = 1000\n\n\
             [[app]]\nname = \"t\"\nroute = \"/t\"\nplugin = {testbed:?}\n\n\
             [[app]]\nname = \"h\"\nroute = \"/h\"\nplugin = {hostile:?}\n\
             [app.limits]\nhook_timeout_ms = 60000\n",
            testbed = env!("WSGATE_FIXTURE_TESTBED_WASM"),
            hostile = env!("WSGATE_FIXTURE_HOSTILE_WASM"),
        ),
    )
    .unwrap();
    let (mut child, addr, mut log) = serve_config(&config).await;
    // A client that answers the close frame, one that never does, and a hook that
    // sleeps for 50 s (within its own deadline of a minute).
    let mut polite = connect(&addr, "/t").await;
    polite.send(Message::text("whoami")).await.unwrap();
    let polite_id = next_text(&mut polite).await;
    // Reading answers the gateway's close frame.
    tokio::spawn(async move { while let Some(Ok(_)) = polite.next().await {} });
    let _silent = silent_client(&addr, "/t").await;
    let mut sleeper = connect(&addr, "/h").await;
    sleeper.send(Message::text("sleep 50000")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    // Drain 1 s, then at most 0.5 s for the apps' last hooks and 0.25 s for the
    // runtime: far inside this bound, and far from the sleeping hook's 50 s.
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("wsgate did not exit in time")
        .unwrap();
    assert!(status.success(), "{status}");
    log.wait_for(&format!("testbed on-close {polite_id} "))
        .await;
    let silent = log.wait_for("testbed on-close").await;
    let code = silent
        .split_once("testbed on-close ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(1));
    assert_eq!(code, Some("1001"), "{silent}");
}

/// The status code of the answer to `request` on a new connection to `addr`, or
/// `None` if there is none within `wait` (the connection waits in the backlog).
/// Upgraded connections are kept in `held` (they hold the gateway's descriptors).
async fn status_within(
    addr: &str,
    request: &str,
    wait: Duration,
    held: &mut Vec<tokio::net::TcpStream>,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        tcp.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head).await.ok()?;
        let status = std::str::from_utf8(&head[9..12]).ok()?.parse().ok()?;
        Some((status, tcp))
    };
    match tokio::time::timeout(wait, attempt).await {
        Ok(Some((status, tcp))) => {
            if status == 101 {
                held.push(tcp);
            }
            Some(status)
        }
        _ => None,
    }
}

#[cfg(all(target_os = "linux", feature = "demo"))]
#[tokio::test]
async fn at_the_open_file_limit_health_still_answers_and_the_log_stays_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "admin_listen = \"127.0.0.1:0\"\n\n[[app]]\nname = \"e\"\nroute = \"/e\"\nplugin = {:?}\n",
            env!("WSGATE_DEMO_ECHO_WASM")
        ),
    )
    .unwrap();
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=64:64", "--", env!("CARGO_BIN_EXE_wsgate")])
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("prlimit (util-linux) runs wsgate");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = tx.send(line);
        }
    });
    let mut log = Log(rx);
    let warned = log.wait_for("max_connections add up").await;
    assert!(warned.contains("open_file_limit=64"), "{warned}");
    let admin = log.wait_for("metrics and health on http://").await;
    let admin = admin.rsplit("http://").next().unwrap().trim().to_owned();
    let line = log.wait_for("listening on ws://").await;
    let addr = line.rsplit("ws://").next().unwrap().trim().to_owned();

    let upgrade = "GET /e HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let started = std::time::Instant::now();
    // Connections until the gateway has no descriptor left: then no more upgrades.
    let mut upgraded = 0;
    let mut refused = 0;
    let mut held = Vec::new();
    let second = Duration::from_secs(1);
    for _ in 0..100 {
        match status_within(&addr, upgrade, second, &mut held).await {
            Some(101) => upgraded += 1,
            _ => refused += 1,
        }
        if refused >= 3 {
            break;
        }
    }
    assert!((10..64).contains(&upgraded), "upgraded {upgraded}");
    // At the limit, the admin listener answers through the spare descriptor.
    for _ in 0..5 {
        let status = status_within(&admin, health, Duration::from_secs(5), &mut held).await;
        assert_eq!(status, Some(200));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seconds = started.elapsed().as_secs() + 1;
    let mut limit_lines = 0;
    while let Ok(line) = log.0.try_recv() {
        if line.contains("at the open-file limit") {
            limit_lines += 1;
        }
    }
    assert!(limit_lines >= 1, "the limit was never reported");
    assert!(
        limit_lines <= 2 * seconds,
        "{limit_lines} lines about the limit in {seconds} s"
    );
}

#[cfg(all(target_os = "linux", feature = "demo"))]
#[tokio::test]
async fn a_tight_address_space_limit_is_a_clear_error_not_a_crash() {
    let output = tokio::time::timeout(
        TIMEOUT,
        Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit -v 3145728 && exec {:?} serve --listen 127.0.0.1:0",
                env!("CARGO_BIN_EXE_wsgate")
            ))
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("wsgate did not exit")
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the address-space limit of this process (3072 MiB"),
        "{stderr}"
    );
    assert!(stderr.contains("ulimit -v unlimited"), "{stderr}");
}

/// The size of room `room` of app `t` as the server API of the node at `addr`
/// answers it.
async fn api_room_size(addr: &str, room: &str) -> u64 {
    let request = format!(
        "GET /api/v1/apps/t/rooms/{room} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Authorization: Bearer {API_TOKEN}\r\n\r\n"
    );
    let response = http(addr, &request).await;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    json["size"]
        .as_u64()
        .unwrap_or_else(|| panic!("{response}"))
}

const API_TOKEN: &str = "a-token-of-sixteen-or-more";

#[tokio::test]
async fn two_node_processes_share_a_room_and_a_killed_node_stops_counting_after_its_ttl() {
    let redis = redis::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\ntoken = \"{API_TOKEN}\"\n\n[cluster]\nredis = \"redis://127.0.0.1:1\"\n\
             prefix = \"cli\"\nnode_ttl_ms = 1500\n\n\
             [[app]]\nname = \"t\"\nroute = \"/t\"\nplugin = {testbed:?}\n",
            testbed = env!("WSGATE_FIXTURE_TESTBED_WASM"),
        ),
    )
    .unwrap();
    // --redis replaces the file's unreachable one; --node names each process.
    let node = |name: &'static str| {
        let (config, url) = (config.to_str().unwrap().to_owned(), redis.url());
        async move {
            serve(&[
                "serve",
                "--config",
                &config,
                "--listen",
                "127.0.0.1:0",
                "--redis",
                &url,
                "--node",
                name,
            ])
            .await
        }
    };
    // Each has joined when it listens.
    let (_a, addr_a, _log_a) = node("node-a").await;
    let (mut b, addr_b, _log_b) = node("node-b").await;
    let mut here = connect(&addr_a, "/t?room=r").await;
    let mut there = connect(&addr_b, "/t?room=r").await;
    let _also_there = connect(&addr_b, "/t?room=r").await;
    let until_size = |size: u64| {
        let addr = addr_a.clone();
        async move {
            tokio::time::timeout(TIMEOUT, async {
                while api_room_size(&addr, "r").await != size {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("room r never held {size}"));
        }
    };
    until_size(3).await;
    here.send(Message::text("publish r across processes"))
        .await
        .unwrap();
    assert_eq!(next_text(&mut there).await, "across processes");
    assert_eq!(next_text(&mut here).await, "across processes");

    b.start_kill().unwrap();
    let _ = b.wait().await;
    // No goodbye from a killed node: its entries expire with its heartbeat.
    until_size(1).await;
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn check_asks_the_clusters_redis() {
    let redis = redis::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let write = |url: &str| {
        let text = format!(
            "listen = \"127.0.0.1:0\"\n[cluster]\nredis = \"{url}\"\n[[app]]\nname = \"e\"\nroute = \"/e\"\nplugin = {:?}\n",
            env!("WSGATE_DEMO_ECHO_WASM")
        );
        std::fs::write(&config, text).unwrap();
    };
    write(&redis.url());
    let (code, stdout) = run(&["check", "--config", config.to_str().unwrap()]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("ok     cluster  {}  (answers)", redis.url())),
        "{stdout}"
    );
    write("redis://127.0.0.1:1");
    let (code, stdout) = run(&["check", "--config", config.to_str().unwrap()]).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("error  cluster  redis://127.0.0.1:1: cluster: Redis at 127.0.0.1:1"),
        "{stdout}"
    );
}

#[tokio::test]
async fn cluster_flags_are_checked() {
    let err = fails(&["serve", "--node", "n1"]).await;
    assert!(err.contains("--node names a node of a cluster"), "{err}");
    let err = fails(&["serve", "--redis", "localhost:6379"]).await;
    assert!(err.contains("--redis must be a URL such as"), "{err}");
    let err = fails(&[
        "serve",
        "--redis",
        "redis://127.0.0.1:1",
        "--listen",
        "127.0.0.1:0",
    ])
    .await;
    assert!(err.contains("cluster: Redis at 127.0.0.1:1"), "{err}");
}

#[cfg(feature = "demo")]
#[tokio::test]
async fn more_apps_than_tracing_has_thread_slots_all_serve() {
    // tracing's registry has 4,096 slots for threads that make spans; each app's
    // actor is a thread, so past 4,096 apps one that made its own span panicked.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gw.toml");
    let mut text = String::from("[limits]\nmax_connections = 10\n");
    for i in 0..4_200 {
        text.push_str(&format!(
            "[[app]]\nname = \"a{i}\"\nroute = \"/a{i}\"\nplugin = {:?}\n",
            env!("WSGATE_DEMO_ECHO_WASM")
        ));
    }
    std::fs::write(&config, text).unwrap();
    let (_child, addr, _log) = serve_config(&config).await;
    for app in ["/a0", "/a4099", "/a4199"] {
        let mut ws = connect(&addr, app).await;
        ws.send(Message::text("still here")).await.unwrap();
        assert_eq!(next_text(&mut ws).await, "still here", "{app}");
    }
}
