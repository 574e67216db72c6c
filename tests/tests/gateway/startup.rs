use std::path::PathBuf;

use wsgate::config::{AppConfig, Limits, PluginSource};
use wsgate::{Config, Gateway};
use wsgate_tests::plugins;

/// Starts `config` on a runtime of its own (for the tests that are not async).
fn start(config: &Config) -> Result<Gateway, wsgate::StartError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(Gateway::start(config))
}

fn start_with(plugin: PathBuf) -> String {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        apps: vec![AppConfig {
            name: "broken".into(),
            route: "/b".into(),
            plugin: PluginSource::File(plugin),
            limits: Limits::default(),
            static_files: None,
        }],
        ..Config::default()
    };
    match start(&config) {
        Ok(_) => panic!("the gateway started with a bad plugin"),
        Err(e) => e.to_string(),
    }
}

fn file_with(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugin.wasm");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[test]
fn a_missing_plugin_file_is_named_with_its_app() {
    let err = start_with(PathBuf::from("/nonexistent/chat.wasm"));
    assert!(
        err.starts_with("app \"broken\": plugin /nonexistent/chat.wasm: cannot read"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let (_dir, path) = file_with(b"#!/bin/sh\necho not wasm\n");
    let err = start_with(path);
    assert!(
        err.contains("app \"broken\"") && err.contains("not a WebAssembly file"),
        "{err}"
    );
}

#[test]
fn a_core_module_is_refused_with_how_to_build_a_component() {
    let (_dir, path) = file_with(b"\0asm\x01\0\0\0");
    let err = start_with(path);
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );
    assert!(err.contains("wasm32-wasip2"), "{err}");
}

#[test]
fn a_truncated_component_is_refused() {
    let bytes = std::fs::read(plugins::ECHO).unwrap();
    let (_dir, path) = file_with(&bytes[..bytes.len() / 2]);
    let err = start_with(path);
    assert!(err.contains("cannot compile the component"), "{err}");
}

#[test]
fn a_component_without_the_plugin_world_is_refused() {
    let err = start_with(PathBuf::from(plugins::NO_HANDLER));
    assert!(
        err.contains(
            "does not export `wsgate:plugin/handler@0.2.0` or `wsgate:plugin/handler@0.1.0`"
        ),
        "{err}"
    );
}

#[test]
fn a_component_of_another_contract_version_is_refused_naming_both() {
    let err = start_with(PathBuf::from(plugins::OLD_CONTRACT));
    assert!(
        err.contains("exports `wsgate:plugin/handler@0.0.1`"),
        "{err}"
    );
    assert!(
        err.contains(
            "this host speaks `wsgate:plugin/handler@0.2.0` or `wsgate:plugin/handler@0.1.0`"
        ),
        "{err}"
    );
}

#[test]
fn a_missing_tls_certificate_is_named() {
    let config = Config {
        apps: vec![wsgate_tests::app("echo", "/echo", plugins::ECHO)],
        server: wsgate::config::ServerSettings {
            tls: Some(wsgate::config::TlsFiles {
                cert: PathBuf::from("/nonexistent/cert.pem"),
                key: PathBuf::from("/nonexistent/key.pem"),
            }),
            ..Default::default()
        },
        ..Config::default()
    };
    let err = start(&config)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("TLS: cannot read the certificate file /nonexistent/cert.pem"),
        "{err}"
    );
}

/// The compiled plugins under `dir` (wasmtime's cache entries, not its statistics).
fn cached_entries(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_none()
                && !path.file_name().unwrap().to_string_lossy().starts_with('.')
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn compiled_plugins_are_kept_in_cache_dir_and_the_next_start_loads_them() {
    let cache = tempfile::tempdir().unwrap();
    let config = || Config {
        apps: vec![wsgate_tests::app("echo", "/echo", plugins::ECHO)],
        server: wsgate::config::ServerSettings {
            cache_dir: Some(cache.path().join("compiled")),
            ..Default::default()
        },
        ..Config::default()
    };
    let first = wsgate_tests::TestGateway::start_with(config()).await;
    first.stop().await;
    let entries = cached_entries(cache.path());
    assert_eq!(entries.len(), 1, "one compiled plugin: {entries:?}");
    let written = std::fs::metadata(&entries[0]).unwrap().modified().unwrap();

    let second = wsgate_tests::TestGateway::start_with(config()).await;
    let mut client = second.connect("/echo").await;
    client.send_text("from the cache").await;
    assert_eq!(client.recv_text().await, "from the cache");
    second.stop().await;
    // Loaded, not compiled and written again.
    assert_eq!(cached_entries(cache.path()), entries);
    assert_eq!(
        std::fs::metadata(&entries[0]).unwrap().modified().unwrap(),
        written
    );
}

#[tokio::test]
async fn an_empty_cache_dir_turns_the_cache_off() {
    let text = "cache_dir = \"\"\n[[app]]\nname = \"e\"\nroute = \"/e\"\nplugin = \"e.wasm\"\n";
    let config = Config::parse(text, std::path::Path::new("/srv/gw.toml")).unwrap();
    assert_eq!(config.server.cache_dir, None);
    let text =
        "cache_dir = \"cache\"\n[[app]]\nname = \"e\"\nroute = \"/e\"\nplugin = \"e.wasm\"\n";
    let config = Config::parse(text, std::path::Path::new("/srv/gw.toml")).unwrap();
    assert_eq!(config.server.cache_dir, Some(PathBuf::from("/srv/cache")));
}

#[test]
fn the_demo_config_file_serves_the_plugins_built_from_this_repository() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/demo.toml");
    let config = Config::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["chat", "echo", "relay", "dashboard"]);
    let checks = wsgate::check::check(&config).unwrap();
    for app in &checks {
        assert!(app.result.is_ok(), "{}: {:?}", app.app, app.result);
    }
    assert!(config.apps[0].static_files.is_some(), "the chat page");
}
