//! Micro-benchmarks of the plugin layer (criterion): one `on-message` hook call into
//! the echo plugin with a 32 B and a 4 KiB message, one `on-connect` call with no
//! payload and no commands (the fixed cost of a call), compiling a plugin, and making
//! an instance. Timings are printed, never asserted.
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

fn plugin(c: &mut Criterion) {
    let engine = PluginEngine::new().unwrap();
    let echo = LoadedPlugin::compile(&engine, "echo", ECHO).unwrap();
    let mut instance = PluginInstance::standalone(&echo, "bench", limits()).unwrap();
    // The fixed cost of entering the plugin and back: a hook with no payload whose
    // answer is an empty list.
    c.bench_function("hook call: echo on-connect, no commands", |b| {
        b.iter(|| assert_eq!(instance.connect(black_box(1)).unwrap(), 0));
    });
    for size in [32, 4096] {
        let text = "x".repeat(size);
        c.bench_function(&format!("hook call: echo on-message, {size} B"), |b| {
            b.iter(|| instance.message(black_box(1), black_box(&text)).unwrap());
        });
    }
    c.bench_function("instantiate: echo (fresh store + instance)", |b| {
        b.iter(|| PluginInstance::standalone(&echo, "bench", limits()).unwrap());
    });
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

criterion_group!(benches, plugin);
criterion_main!(benches);
