#!/usr/bin/env bash
# Builds and starts the gateway with its built-in demo: the chat page at
# http://localhost:8000/ (the chat plugin at ws://localhost:8000/ws), the echo plugin
# at ws://localhost:8000/echo, the relay plugin at ws://localhost:8000/relay and the
# dashboard (a tick a second) at ws://localhost:8000/dashboard.
# Needs only Rust (rustup). The first build takes a few minutes (wasmtime).
# Extra arguments go to `wsgate serve` (for example `--listen 0.0.0.0:8000`).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
needs "building wsgate (a C toolchain: cc links Rust programs, make builds jemalloc)" cc:build-essential make:make
rustup target add wasm32-wasip2
exec cargo run --release --locked -p wsgate -- serve "$@"
