//! Micro-benchmarks of the plugin layer (criterion): one `on-message` hook call into
//! the echo plugin with a 32 B and a 4 KiB message, one `on-connect` call with no
//! payload and no commands (the fixed cost of a call), 16 messages of 32 B in one
//! `handle` call (as the gateway hands messages that wait together; criterion prints
//! it per message), compiling a plugin, and making an instance; the same calls into
//! the JavaScript echo (`plugins/echo-js`, when built: `npm run build` there), and the
//! memory one instance of each holds. Timings are printed, never asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "a benchmark"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wsgate::plugin::instance::InstanceLimits;
use wsgate::plugin::{LoadedPlugin, PluginEngine, PluginInstance};

const ECHO: &[u8] = include_bytes!(env!("WSGATE_DEMO_ECHO_WASM"));
const CHAT: &[u8] = include_bytes!(env!("WSGATE_DEMO_CHAT_WASM"));

fn limits() -> InstanceLimits {
    InstanceLimits {
        memory: 64 << 20,
        hook_timeout: Duration::from_millis(100),
    }
}

/// Hook calls into the echo plugin `echo` (named `name`), and making an instance.
fn hook_calls(c: &mut Criterion, echo: &LoadedPlugin, name: &str) {
    let mut instance = PluginInstance::standalone(echo, "bench", limits()).unwrap();
    // The fixed cost of entering the plugin and back: a hook with no payload whose
    // answer is an empty list.
    c.bench_function(&format!("hook call: {name} on-connect, no commands"), |b| {
        b.iter(|| assert_eq!(instance.connect(black_box(1)).unwrap(), 0));
    });
    for size in [32, 4096] {
        let text = "x".repeat(size);
        c.bench_function(&format!("hook call: {name} on-message, {size} B"), |b| {
            b.iter(|| instance.message(black_box(1), black_box(&text)).unwrap());
        });
    }
    // What the gateway does with messages that wait together: one call for all.
    let batch = vec!["x".repeat(32); 16];
    let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
    let mut group = c.benchmark_group("batch");
    group.throughput(criterion::Throughput::Elements(batch.len() as u64));
    group.bench_function(
        format!("hook call: {name} handle, 16 messages of 32 B"),
        |b| {
            b.iter(|| assert_eq!(instance.messages(black_box(1), &batch).unwrap(), 16));
        },
    );
    group.finish();
    c.bench_function(
        &format!("instantiate: {name} (fresh store + instance)"),
        |b| {
            b.iter(|| PluginInstance::standalone(echo, "bench", limits()).unwrap());
        },
    );
}

fn plugin(c: &mut Criterion) {
    let engine = PluginEngine::new().unwrap();
    let echo = LoadedPlugin::compile(&engine, "echo", ECHO).unwrap();
    hook_calls(c, &echo, "echo");
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("compile: echo (64 KB component)", |b| {
        b.iter(|| LoadedPlugin::compile(&engine, "echo", black_box(ECHO)).unwrap());
    });
    group.bench_function("compile: chat (209 KB component)", |b| {
        b.iter(|| LoadedPlugin::compile(&engine, "chat", black_box(CHAT)).unwrap());
    });
    group.finish();
}

/// The resident memory of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The memory 200 live instances of `plugin` add, per instance, each having
/// handled one message (printed).
fn memory_per_instance(plugin: &LoadedPlugin, name: &str) {
    let before = rss();
    let instances: Vec<PluginInstance> = (0..200)
        .map(|_| {
            let mut instance = PluginInstance::standalone(plugin, "bench", limits()).unwrap();
            instance.message(1, "warm").unwrap();
            instance
        })
        .collect();
    let per = (rss().saturating_sub(before)) / instances.len();
    println!(
        "memory: {name}: {} KiB resident per instance (200 instances)",
        per / 1024
    );
}

fn javascript(c: &mut Criterion) {
    let engine = PluginEngine::new().unwrap();
    let echo = LoadedPlugin::compile(&engine, "echo", ECHO).unwrap();
    memory_per_instance(&echo, "echo (Rust)");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins/echo-js/echo-js.wasm"
    );
    let Ok(bytes) = std::fs::read(path) else {
        println!(
            "{path} is not built (cd plugins/echo-js && npm ci && npm run build): no JavaScript figures"
        );
        return;
    };
    let echo_js = LoadedPlugin::compile(&engine, "echo-js", &bytes).unwrap();
    memory_per_instance(&echo_js, "echo-js (JavaScript)");
    hook_calls(c, &echo_js, "echo-js");
}

criterion_group!(benches, plugin, javascript);
criterion_main!(benches);
